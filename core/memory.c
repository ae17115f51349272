/* Device buffers as (cl_mem, float offset) views. */
#include "internal.h"

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
    cl_int rc = clEnqueueWriteBuffer(ctx->queue, dst.buf, CL_TRUE, dst.off * sizeof(float),
                                     n * sizeof(float), src, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clEnqueueWriteBuffer(%zu floats at offset %zu)", n, dst.off);
    return AR_STATUS_OK;
}

enum ar_status ar_mem_read(struct ar_ctx *ctx, struct ar_mem src, float *dst, size_t n)
{
    if (n == 0)
        return AR_STATUS_OK;
    cl_int rc = clEnqueueReadBuffer(ctx->queue, src.buf, CL_TRUE, src.off * sizeof(float),
                                    n * sizeof(float), dst, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clEnqueueReadBuffer(%zu floats at offset %zu)", n, src.off);
    return AR_STATUS_OK;
}

enum ar_status ar_mem_fill(struct ar_ctx *ctx, struct ar_mem dst, float value, size_t n)
{
    if (n == 0)
        return AR_STATUS_OK;
    cl_int rc = clEnqueueFillBuffer(ctx->queue, dst.buf, &value, sizeof value,
                                    dst.off * sizeof(float), n * sizeof(float), 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clEnqueueFillBuffer(%zu floats at offset %zu)", n, dst.off);
    return AR_STATUS_OK;
}

enum ar_status ar_mem_copy(struct ar_ctx *ctx, struct ar_mem dst, struct ar_mem src, size_t n)
{
    if (n == 0)
        return AR_STATUS_OK;
    cl_int rc = clEnqueueCopyBuffer(ctx->queue, src.buf, dst.buf, src.off * sizeof(float),
                                    dst.off * sizeof(float), n * sizeof(float), 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return ar__fail_cl(ctx, rc, "clEnqueueCopyBuffer(%zu floats)", n);
    return AR_STATUS_OK;
}
