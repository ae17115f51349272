/* Device buffers as (cl_mem, float offset) views, and the count of device bytes they hold. */
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

/* ---- accounting ------------------------------------------------------------------------------
 * ar_mem_release has no context, and OpenCL frees a buffer only once queued commands are done
 * with it, so every buffer gets a destructor callback that subtracts its size. The callback may
 * run on a driver thread and after ar_ctx_free, hence atomics and a reference count: the context
 * holds one reference and every live buffer one. */

struct ar__mem_stats {
    atomic_size_t current, peak;
    atomic_size_t refs;
};

struct mem_record { /* the destructor callback's user data: what to subtract from where */
    struct ar__mem_stats *stats;
    size_t bytes;
};

static void stats_unref(struct ar__mem_stats *stats)
{
    if (stats && atomic_fetch_sub(&stats->refs, 1) == 1)
        free(stats);
}

void ar__mem_stats_release(struct ar__mem_stats *stats)
{
    stats_unref(stats);
}

static void CL_CALLBACK on_buffer_freed(cl_mem buf, void *user)
{
    (void)buf;
    struct mem_record *rec = user;
    atomic_fetch_sub(&rec->stats->current, rec->bytes);
    stats_unref(rec->stats);
    free(rec);
}

/* Counts a new buffer; on failure the buffer is still valid, just not counted. */
static void count_buffer(struct ar_ctx *ctx, cl_mem buf, size_t bytes)
{
    if (!ctx->mem_stats) {
        ctx->mem_stats = calloc(1, sizeof *ctx->mem_stats);
        if (!ctx->mem_stats)
            return;
        atomic_init(&ctx->mem_stats->refs, 1);
    }
    struct ar__mem_stats *stats = ctx->mem_stats;
    struct mem_record *rec = malloc(sizeof *rec);
    if (!rec)
        return;
    *rec = (struct mem_record){stats, bytes};
    atomic_fetch_add(&stats->refs, 1);
    size_t now = atomic_fetch_add(&stats->current, bytes) + bytes;
    if (clSetMemObjectDestructorCallback(buf, on_buffer_freed, rec) != CL_SUCCESS) {
        atomic_fetch_sub(&stats->current, bytes);
        stats_unref(stats);
        free(rec);
        return;
    }
    size_t peak = atomic_load(&stats->peak);
    while (now > peak && !atomic_compare_exchange_weak(&stats->peak, &peak, now)) {
    }
}

size_t ar_ctx_device_bytes(const struct ar_ctx *ctx, size_t *peak)
{
    struct ar__mem_stats *stats = ctx ? ctx->mem_stats : NULL;
    if (peak)
        *peak = stats ? atomic_load(&stats->peak) : 0;
    return stats ? atomic_load(&stats->current) : 0;
}

/* ---- buffers --------------------------------------------------------------------------------- */

enum ar_status ar_mem_alloc(struct ar_ctx *ctx, size_t n, struct ar_mem *out)
{
    *out = (struct ar_mem){0};
    if (n == 0)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "ar_mem_alloc: zero-sized buffer");
    size_t bytes = n * sizeof(float);
    if (bytes / sizeof(float) != n || bytes > ctx->info.max_alloc_bytes)
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY,
                        "ar_mem_alloc: %zu floats (%zu MiB) exceed the device's largest "
                        "allocation (%llu MiB) on %s",
                        n, bytes >> 20, (unsigned long long)(ctx->info.max_alloc_bytes >> 20),
                        ctx->info.name);
    cl_int rc = CL_SUCCESS;
    cl_mem buf = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clCreateBuffer(%zu bytes)", bytes);
    count_buffer(ctx, buf, bytes);
    out->buf = buf;
    return AR_STATUS_OK;
}

void ar_mem_release(struct ar_mem *m)
{
    if (m && m->buf)
        clReleaseMemObject(m->buf);
    if (m)
        *m = (struct ar_mem){0};
}

enum ar_status ar_mem_write(struct ar_ctx *ctx, struct ar_mem dst, const float *src, size_t n)
{
    if (n == 0)
        return AR_STATUS_OK;
    double t0 = ar__profile_begin(ctx);
    cl_int rc = clEnqueueWriteBuffer(ctx->queue, dst.buf, CL_TRUE, dst.off * sizeof(float),
                                     n * sizeof(float), src, 0, NULL, NULL);
    ar__profile_end(ctx, t0, "write (host to device)");
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clEnqueueWriteBuffer(%zu floats at offset %zu)", n, dst.off);
    return AR_STATUS_OK;
}

enum ar_status ar_mem_read(struct ar_ctx *ctx, struct ar_mem src, float *dst, size_t n)
{
    if (n == 0)
        return AR_STATUS_OK;
    double t0 = ar__profile_begin(ctx);
    cl_int rc = clEnqueueReadBuffer(ctx->queue, src.buf, CL_TRUE, src.off * sizeof(float),
                                    n * sizeof(float), dst, 0, NULL, NULL);
    ar__profile_end(ctx, t0, "read (device to host)");
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clEnqueueReadBuffer(%zu floats at offset %zu)", n, src.off);
    return AR_STATUS_OK;
}

enum ar_status ar_mem_fill(struct ar_ctx *ctx, struct ar_mem dst, float value, size_t n)
{
    if (n == 0)
        return AR_STATUS_OK;
    double t0 = ar__profile_begin(ctx);
    cl_int rc = clEnqueueFillBuffer(ctx->queue, dst.buf, &value, sizeof value,
                                    dst.off * sizeof(float), n * sizeof(float), 0, NULL, NULL);
    ar__profile_end(ctx, t0, "fill");
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clEnqueueFillBuffer(%zu floats at offset %zu)", n, dst.off);
    return AR_STATUS_OK;
}

enum ar_status ar_mem_copy(struct ar_ctx *ctx, struct ar_mem dst, struct ar_mem src, size_t n)
{
    if (n == 0)
        return AR_STATUS_OK;
    double t0 = ar__profile_begin(ctx);
    cl_int rc = clEnqueueCopyBuffer(ctx->queue, src.buf, dst.buf, src.off * sizeof(float),
                                    dst.off * sizeof(float), n * sizeof(float), 0, NULL, NULL);
    ar__profile_end(ctx, t0, "copy");
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clEnqueueCopyBuffer(%zu floats)", n);
    return AR_STATUS_OK;
}
