/* The adarank context: one OpenCL device, its queue, its program cache and its last error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ar_ctx_params ar_ctx_default_params(void)
{
    return (struct ar_ctx_params){.apply_tuning = true};
}

static char *dup_or_null(const char *s)
{
    if (!s || !*s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static const char *param_or_env(const char *value, const char *env)
{
    if (value && *value)
        return value;
    const char *e = getenv(env);
    return e && *e ? e : NULL;
}

static enum ar_status open_device(struct ar_ctx *ctx, const char *selector)
{
    char err[2048] = "";
    struct ar_device_info *list = NULL;
    int count = 0;
    enum ar_status st = ar_device_list(&list, &count, err, sizeof err);
    if (st != AR_STATUS_OK)
        return ar__fail(ctx, st, "listing OpenCL devices: %s", err);
    int pick = ar_device_select(list, count, selector, err, sizeof err);
    if (pick < 0) {
        free(list);
        return ar__fail(ctx, AR_STATUS_NO_DEVICE, "%s", err);
    }
    ctx->info = list[pick];
    free(list);
    st = ar__device_ids(ctx->info.index, &ctx->platform, &ctx->device, err, sizeof err);
    if (st != AR_STATUS_OK)
        return ar__fail(ctx, st, "%s", err);

    cl_int rc = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &rc);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clCreateContext for device %d (%s)", ctx->info.index,
                           ctx->info.name);
    /* clCreateCommandQueue is deprecated in 2.0 but is the one call every 1.2+ driver has. */
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->device, 0, &rc);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clCreateCommandQueue for device %d (%s)", ctx->info.index,
                           ctx->info.name);
    return AR_STATUS_OK;
}

enum ar_status ar_ctx_new(const struct ar_ctx_params *params, struct ar_ctx **out)
{
    struct ar_ctx_params defaults = ar_ctx_default_params();
    if (!params)
        params = &defaults;
    struct ar_ctx *ctx = calloc(1, sizeof *ctx);
    *out = ctx;
    if (!ctx)
        return AR_STATUS_OUT_OF_MEMORY;
    ctx->log = params->log;
    ctx->log_user = params->log_user;
    ctx->kernel_dir = dup_or_null(param_or_env(params->kernel_dir, "ADARANK_CL_DIR"));
    ctx->tuning_dir = dup_or_null(param_or_env(params->tuning_dir, "ADARANK_TUNING_DIR"));

    enum ar_status st = open_device(ctx, param_or_env(params->device, "ADARANK_DEVICE"));
    if (st != AR_STATUS_OK)
        return st;
    if (params->apply_tuning) {
        st = ar__tuning_apply(ctx);
        if (st != AR_STATUS_OK)
            return st;
    }
    ar__errmsg_clear(ctx);
    return AR_STATUS_OK;
}

void ar_ctx_free(struct ar_ctx *ctx)
{
    if (!ctx)
        return;
    ar__program_cache_free(ctx->programs);
    if (ctx->queue) {
        clFinish(ctx->queue);
        clReleaseCommandQueue(ctx->queue);
    }
    if (ctx->context)
        clReleaseContext(ctx->context);
    free(ctx->kernel_dir);
    free(ctx->tuning_dir);
    free(ctx->tuning_source);
    ar__profile_free(ctx->profile);
    free(ctx->errmsg);
    for (int i = 0; i < 3; i++)
        ar_mem_release(&ctx->gemm_scratch[i]);
    ar__mem_stats_release(ctx->mem_stats);
    free(ctx);
}

const struct ar_device_info *ar_ctx_device(const struct ar_ctx *ctx)
{
    return &ctx->info;
}

cl_context ar_ctx_cl_context(const struct ar_ctx *ctx)
{
    return ctx->context;
}

cl_command_queue ar_ctx_queue(const struct ar_ctx *ctx)
{
    return ctx->queue;
}

cl_device_id ar_ctx_cl_device(const struct ar_ctx *ctx)
{
    return ctx->device;
}

const char *ar_ctx_tuning_source(const struct ar_ctx *ctx)
{
    return ctx->tuning_source;
}

enum ar_status ar_ctx_finish(struct ar_ctx *ctx)
{
    cl_int rc = clFinish(ctx->queue);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clFinish on %s", ctx->info.name);
    return AR_STATUS_OK;
}
