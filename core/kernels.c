/* OpenCL programs: sources embedded at build time (or read from $ADARANK_CL_DIR while
 * developing), the common prelude prepended, built once per (family, -D options) and cached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct cached_kernel {
    char *name;
    cl_kernel kernel;
    struct cached_kernel *next;
};

struct cached_program {
    char *family;
    char *defines;
    cl_program program;
    struct cached_kernel *kernels;
    struct cached_program *next;
};

struct ar__program_cache {
    struct cached_program *head;
};

void ar__program_cache_free(struct ar__program_cache *cache)
{
    if (!cache)
        return;
    struct cached_program *p = cache->head;
    while (p) {
        struct cached_program *pn = p->next;
        for (struct cached_kernel *k = p->kernels; k;) {
            struct cached_kernel *kn = k->next;
            clReleaseKernel(k->kernel);
            free(k->name);
            free(k);
            k = kn;
        }
        clReleaseProgram(p->program);
        free(p->family);
        free(p->defines);
        free(p);
        p = pn;
    }
    free(cache);
}

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Reads cl/<file> from the override directory or the embedded table into a new string. */
static enum ar_status load_source(struct ar_ctx *ctx, const char *file, char **out)
{
    *out = NULL;
    if (ctx->kernel_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", ctx->kernel_dir, file);
        FILE *f = fopen(path, "rb");
        if (!f)
            return ar__fail(ctx, AR_STATUS_IO, "kernel source %s: cannot open (ADARANK_CL_DIR=%s)",
                            path, ctx->kernel_dir);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
        size_t got = text ? fread(text, 1, (size_t)size, f) : 0;
        fclose(f);
        if (!text || got != (size_t)size) {
            free(text);
            return ar__fail(ctx, AR_STATUS_IO, "kernel source %s: read failed", path);
        }
        text[size] = '\0';
        *out = text;
        return AR_STATUS_OK;
    }
    for (size_t i = 0; i < ar__cl_files_count; i++) {
        if (strcmp(ar__cl_files[i].name, file) != 0)
            continue;
        char *text = malloc(ar__cl_files[i].size + 1);
        if (!text)
            return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "kernel source %s", file);
        memcpy(text, ar__cl_files[i].data, ar__cl_files[i].size);
        text[ar__cl_files[i].size] = '\0';
        *out = text;
        return AR_STATUS_OK;
    }
    return ar__fail(ctx, AR_STATUS_NOT_FOUND, "kernel source %s is not embedded in the library",
                    file);
}

static enum ar_status build_program(struct ar_ctx *ctx, const char *family, const char *defines,
                                    cl_program *out)
{
    char file[256];
    snprintf(file, sizeof file, "%s.cl", family);
    char *prelude = NULL, *body = NULL;
    enum ar_status st = load_source(ctx, "prelude.cl", &prelude);
    if (st == AR_STATUS_OK)
        st = load_source(ctx, file, &body);
    if (st != AR_STATUS_OK) {
        free(prelude);
        free(body);
        return st;
    }
    /* #line keeps compiler messages pointing at the family file, not the concatenation. */
    char line_directive[300];
    snprintf(line_directive, sizeof line_directive, "\n#line 1 \"%s\"\n", file);
    const char *parts[] = {prelude, line_directive, body};
    cl_int rc = CL_SUCCESS;
    cl_program program = clCreateProgramWithSource(ctx->context, 3, parts, NULL, &rc);
    free(prelude);
    free(body);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clCreateProgramWithSource(%s)", file);

    char options[2048];
    snprintf(options, sizeof options, "-cl-std=CL1.2 %s", defines ? defines : "");
    rc = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        st = ar__fail_cl(ctx, rc, "building cl/%s for %s with options \"%s\"", file,
                         ctx->info.name, options);
        size_t log_size = 0;
        clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
        char *log = log_size ? malloc(log_size + 1) : NULL;
        if (log) {
            clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, log_size, log, NULL);
            log[log_size] = '\0';
            ar__errmsg_append(ctx, "\nbuild log:\n");
            ar__errmsg_append(ctx, log);
            free(log);
        }
        clReleaseProgram(program);
        return rc == CL_BUILD_PROGRAM_FAILURE || rc == CL_INVALID_BUILD_OPTIONS
                   ? AR_STATUS_KERNEL_BUILD
                   : st;
    }
    *out = program;
    return AR_STATUS_OK;
}

static enum ar_status find_program(struct ar_ctx *ctx, const char *family, const char *defines,
                                   struct cached_program **out)
{
    if (!ctx->programs) {
        ctx->programs = calloc(1, sizeof *ctx->programs);
        if (!ctx->programs)
            return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "program cache");
    }
    for (struct cached_program *p = ctx->programs->head; p; p = p->next) {
        if (strcmp(p->family, family) == 0 && strcmp(p->defines, defines) == 0) {
            *out = p;
            return AR_STATUS_OK;
        }
    }
    cl_program program = NULL;
    enum ar_status st = build_program(ctx, family, defines, &program);
    if (st != AR_STATUS_OK)
        return st;
    struct cached_program *p = calloc(1, sizeof *p);
    if (p) {
        p->family = str_dup(family);
        p->defines = str_dup(defines);
    }
    if (!p || !p->family || !p->defines) {
        if (p) {
            free(p->family);
            free(p->defines);
        }
        free(p);
        clReleaseProgram(program);
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "program cache entry");
    }
    p->program = program;
    p->next = ctx->programs->head;
    ctx->programs->head = p;
    *out = p;
    return AR_STATUS_OK;
}

enum ar_status ar__kernel(struct ar_ctx *ctx, const char *family, const char *defines,
                          const char *kernel_name, cl_kernel *out)
{
    if (!defines)
        defines = "";
    struct cached_program *p = NULL;
    enum ar_status st = find_program(ctx, family, defines, &p);
    if (st != AR_STATUS_OK)
        return st;
    for (struct cached_kernel *k = p->kernels; k; k = k->next) {
        if (strcmp(k->name, kernel_name) == 0) {
            *out = k->kernel;
            return AR_STATUS_OK;
        }
    }
    cl_int rc = CL_SUCCESS;
    cl_kernel kernel = clCreateKernel(p->program, kernel_name, &rc);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clCreateKernel(%s) in cl/%s.cl", kernel_name, family);
    struct cached_kernel *k = calloc(1, sizeof *k);
    if (k)
        k->name = str_dup(kernel_name);
    if (!k || !k->name) {
        free(k);
        clReleaseKernel(kernel);
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "kernel cache entry");
    }
    k->kernel = kernel;
    k->next = p->kernels;
    p->kernels = k;
    *out = kernel;
    return AR_STATUS_OK;
}

enum ar_status ar__set_args(struct ar_ctx *ctx, cl_kernel kernel, const char *name, int count,
                            const size_t *sizes, const void *const *values)
{
    for (int i = 0; i < count; i++) {
        cl_int rc = clSetKernelArg(kernel, (cl_uint)i, sizes[i], values[i]);
        if (rc != CL_SUCCESS)
            return ar__fail_cl(ctx, rc, "clSetKernelArg(%s, argument %d)", name, i);
    }
    return AR_STATUS_OK;
}

enum ar_status ar__args(struct ar_ctx *ctx, cl_kernel kernel, const char *name, int count, ...)
{
    enum { MAX_ARGS = 32 };
    if (count > MAX_ARGS)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "%s: %d kernel arguments (max %d)", name,
                        count, MAX_ARGS);
    size_t sizes[MAX_ARGS];
    const void *values[MAX_ARGS];
    va_list ap;
    va_start(ap, count);
    for (int i = 0; i < count; i++) {
        sizes[i] = va_arg(ap, size_t);
        values[i] = va_arg(ap, const void *);
    }
    va_end(ap);
    return ar__set_args(ctx, kernel, name, count, sizes, values);
}

enum ar_status ar__launch(struct ar_ctx *ctx, cl_kernel kernel, const char *name, cl_uint dims,
                          const size_t *global, const size_t *local)
{
    size_t rounded[3];
    for (cl_uint d = 0; d < dims; d++) {
        size_t g = global[d] ? global[d] : 1;
        rounded[d] = local ? (g + local[d] - 1) / local[d] * local[d] : g;
    }
    double t0 = ar__profile_begin(ctx);
    cl_int rc = clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, rounded, local, 0, NULL,
                                       NULL);
    ar__profile_end(ctx, t0, name);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clEnqueueNDRangeKernel(%s)", name);
    return AR_STATUS_OK;
}
