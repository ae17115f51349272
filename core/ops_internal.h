/* Helpers shared by the host side of the transformer ops (core/ops_*.c, core/attention.c):
 * argument checks that turn a bad call into a clear message, and the work-group size of the
 * one-work-group-per-row reductions. Library-internal. */
#ifndef ADARANK_CORE_OPS_INTERNAL_H
#define ADARANK_CORE_OPS_INTERNAL_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Work-group size of the row reductions (layernorm, loss, attention softmax) and of the flat
 * elementwise launches: a power of two, at most the device's limit. 64 fills a GPU wavefront
 * (two NVIDIA warps); the reduction kernels size their local scratch with AR_WGS, so the host
 * passes the same value as -DAR_WGS (see ar__ops_row_kernel). */
#define AR__OPS_ROW_WGS 64

static inline size_t ar__ops_row_wgs(const struct ar_ctx *ctx)
{
    size_t wgs = AR__OPS_ROW_WGS;
    while (wgs > 1 && wgs > ctx->info.max_work_group_size)
        wgs /= 2;
    return wgs;
}

/* A kernel of a row-reduction family, built with -DAR_WGS=<the size it is launched with>. */
static inline enum ar_status ar__ops_row_kernel(struct ar_ctx *ctx, const char *family,
                                                const char *name, cl_kernel *k)
{
    char defines[64];
    snprintf(defines, sizeof defines, "-DAR_WGS=%zu", ar__ops_row_wgs(ctx));
    return ar__kernel(ctx, family, defines, name, k);
}

/* Whether the row kernels (attention softmax, LayerNorm) run one work-item per row, their
 * _rows variants, instead of one work-group per row. CPU devices take the _rows variants: PoCL
 * runs each barrier region of a group-per-row kernel as its own loop over the work-group, paid
 * once per row (cl/attention.cl, cl/layernorm.cl). ADARANK_ROW_KERNELS=group or =item overrides
 * the choice: for kernel development, and so the tests run both on one device. */
static inline bool ar__ops_row_per_item(const struct ar_ctx *ctx)
{
    const char *forced = getenv("ADARANK_ROW_KERNELS");
    if (forced && !strcmp(forced, "item")) return true;
    if (forced && !strcmp(forced, "group")) return false;
    return ctx->info.type == AR_DEVICE_TYPE_CPU;
}

/* Launches a flat 1-D range of n work-items in groups of ar__ops_row_wgs (rounded up: the
 * kernels bounds-check). */
static inline enum ar_status ar__ops_launch_1d(struct ar_ctx *ctx, cl_kernel k, const char *name,
                                               size_t n)
{
    size_t local = ar__ops_row_wgs(ctx);
    return ar__launch(ctx, k, name, 1, &n, &local);
}

/* Launches a row kernel over n rows: one work-group of ar__ops_row_wgs work-items per row (the
 * group-per-row reductions, built with the same size as AR_WGS, ar__ops_row_kernel), or one
 * work-item per row for the _rows variants (per_item, see ar__ops_row_per_item). */
static inline enum ar_status ar__ops_launch_rows_as(struct ar_ctx *ctx, cl_kernel k,
                                                    const char *name, size_t n, bool per_item)
{
    size_t wgs = ar__ops_row_wgs(ctx), global = per_item ? n : n * wgs;
    return ar__launch(ctx, k, name, 1, &global, &wgs);
}

/* One work-group per row, n rows (ar__ops_launch_rows_as). */
static inline enum ar_status ar__ops_launch_rows(struct ar_ctx *ctx, cl_kernel k, const char *name,
                                                 int n)
{
    return ar__ops_launch_rows_as(ctx, k, name, (size_t)n, false);
}

/* Launches a 2-D (cols, rows) range, one work-item per element, in groups of one row segment
 * min(cols, ar__ops_row_wgs) wide, so neighbouring work-items touch neighbouring floats. */
static inline enum ar_status ar__ops_launch_2d(struct ar_ctx *ctx, cl_kernel k, const char *name,
                                               size_t cols, size_t rows)
{
    size_t w = ar__ops_row_wgs(ctx);
    size_t global[2] = {cols, rows}, local[2] = {cols < w ? cols : w, 1};
    return ar__launch(ctx, k, name, 2, global, local);
}

/* n > 0 and c > 0 (row count and row length). */
static inline enum ar_status ar__ops_check_nc(struct ar_ctx *ctx, const char *what, int n, int c)
{
    if (n <= 0 || c <= 0)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: n=%d rows and c=%d columns must both be positive", what, n, c);
    return AR_STATUS_OK;
}

/* A flat element count the kernels can index with 32-bit ids. */
static inline enum ar_status ar__ops_check_count(struct ar_ctx *ctx, const char *what, size_t n)
{
    if (n == 0 || n > (size_t)INT_MAX)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: element count %zu must be in 1..%d", what, n, INT_MAX);
    return AR_STATUS_OK;
}

/* A required operand: a buffer whose offset fits the kernels' uint offsets. */
static inline enum ar_status ar__ops_need(struct ar_ctx *ctx, const char *what, const char *name,
                                          struct ar_mem m)
{
    if (!ar_mem_present(m))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "%s: operand %s is missing (NULL buffer)",
                        what, name);
    if (m.off > (size_t)UINT_MAX)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: operand %s offset %zu exceeds the kernels' 32-bit offsets", what,
                        name, m.off);
    return AR_STATUS_OK;
}

/* One required operand of a call, for AR__OPS_NEED: its name in messages and its view. */
struct ar__ops_operand {
    const char *name;
    struct ar_mem mem;
};

/* ar__ops_need on each operand of a list ended by a NULL name; the first failure. */
static inline enum ar_status ar__ops_need_all(struct ar_ctx *ctx, const char *what,
                                              const struct ar__ops_operand *ops)
{
    enum ar_status st = AR_STATUS_OK;
    for (; ops->name && st == AR_STATUS_OK; ops++)
        st = ar__ops_need(ctx, what, ops->name, ops->mem);
    return st;
}

/* Checks a call's required operands in order, each given as {"name", view}:
 *     st = AR__OPS_NEED(ctx, what, {"x", x}, {"y", y});                                      */
#define AR__OPS_NEED(ctx, what, ...)                                                               \
    ar__ops_need_all((ctx), (what),                                                                \
                     (const struct ar__ops_operand[]){__VA_ARGS__, {NULL, {NULL, 0}}})

/* Kernel offset argument of a (checked) view. */
static inline cl_uint ar__ops_off(struct ar_mem m)
{
    return (cl_uint)m.off;
}

#endif
