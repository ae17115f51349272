/* AdamW and the sum of squares over flat ranges (adamw.h; kernels in cl/adamw.cl). */
#include <limits.h>
#include <math.h>

#include "internal.h"

/* The reductions launch exactly AR_WGS items per group, so the program is built with it. */
enum { SUMSQ_WGS = 64, SUMSQ_MAX_GROUPS = 256 };
#define ADAMW_DEFINES "-DAR_WGS=64"

struct ar_adamw_params ar_adamw_default_params(void)
{
    return (struct ar_adamw_params){.lr = 1e-3f,
                                    .beta1 = 0.9f,
                                    .beta2 = 0.999f,
                                    .eps = 1e-8f,
                                    .weight_decay = 1e-2f,
                                    .grad_scale = 1.0f,
                                    .step = 1};
}

/* A float-offset view handed to a kernel as a 32-bit offset. */
static enum ar_status off32(struct ar_ctx *ctx, const char *op, const char *what, struct ar_mem m,
                            cl_uint *out)
{
    if (m.off > UINT_MAX)
        return ar__fail(ctx, AR_STATUS_UNSUPPORTED, "%s: offset %zu of %s exceeds 32 bits", op,
                        m.off, what);
    *out = (cl_uint)m.off;
    return AR_STATUS_OK;
}

static enum ar_status check_hp(struct ar_ctx *ctx, const struct ar_adamw_params *hp)
{
    if (!hp)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "adamw: hyper-parameters are required");
    if (hp->step < 1)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "adamw: step %d must be >= 1", hp->step);
    if (!(hp->beta1 >= 0.0f && hp->beta1 < 1.0f) || !(hp->beta2 >= 0.0f && hp->beta2 < 1.0f))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "adamw: beta1 %g and beta2 %g must be in [0, 1)", (double)hp->beta1,
                        (double)hp->beta2);
    if (!(hp->lr >= 0.0f) || !(hp->eps > 0.0f) || !(hp->weight_decay >= 0.0f) ||
        !isfinite(hp->lr) || !isfinite(hp->grad_scale))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "adamw: lr %g, eps %g, weight decay %g and grad_scale %g must be finite "
                        "(lr, decay >= 0, eps > 0)",
                        (double)hp->lr, (double)hp->eps, (double)hp->weight_decay,
                        (double)hp->grad_scale);
    return AR_STATUS_OK;
}

enum ar_status ar_adamw_update(struct ar_ctx *ctx, const struct ar_adamw_params *hp, size_t n,
                               struct ar_mem param, struct ar_mem grad, struct ar_mem m,
                               struct ar_mem v, struct ar_mem decay_mask)
{
    if (!ctx) return AR_STATUS_INVALID_ARGUMENT;
    enum ar_status st = check_hp(ctx, hp);
    if (st != AR_STATUS_OK) return st;
    if (!ar_mem_present(param) || !ar_mem_present(grad) || !ar_mem_present(m) || !ar_mem_present(v))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "adamw: param, grad, m and v are required (a buffer is missing)");
    if (n == 0) return AR_STATUS_OK;
    if (n > UINT_MAX)
        return ar__fail(ctx, AR_STATUS_UNSUPPORTED, "adamw: %zu parameters exceed 32 bits", n);
    cl_uint p_off = 0, g_off = 0, m_off = 0, v_off = 0, mask_off = 0,
            has_mask = ar_mem_present(decay_mask);
    const char *op = "adamw";
    st = off32(ctx, op, "param", param, &p_off);
    if (st == AR_STATUS_OK) st = off32(ctx, op, "grad", grad, &g_off);
    if (st == AR_STATUS_OK) st = off32(ctx, op, "m", m, &m_off);
    if (st == AR_STATUS_OK) st = off32(ctx, op, "v", v, &v_off);
    if (st == AR_STATUS_OK && has_mask) st = off32(ctx, op, "decay_mask", decay_mask, &mask_off);
    cl_kernel k;
    if (st == AR_STATUS_OK) st = ar__kernel(ctx, "adamw", ADAMW_DEFINES, "adamw_update", &k);
    if (st != AR_STATUS_OK) return st;
    /* The scalar factors in double, then float: what torch does with its Python scalars. */
    double bc1 = 1.0 - pow((double)hp->beta1, hp->step);
    double bc2 = 1.0 - pow((double)hp->beta2, hp->step);
    float decay_factor = (float)(1.0 - (double)hp->lr * (double)hp->weight_decay);
    float step_size = (float)((double)hp->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    cl_mem mask_buf = has_mask ? decay_mask.buf : grad.buf; /* not read without a mask */
    cl_uint count = (cl_uint)n;
    st = ar__args(ctx, k, "adamw_update", 19, AR__ARG(param.buf), AR__ARG(p_off), AR__ARG(grad.buf),
                  AR__ARG(g_off), AR__ARG(m.buf), AR__ARG(m_off), AR__ARG(v.buf), AR__ARG(v_off),
                  AR__ARG(mask_buf), AR__ARG(mask_off), AR__ARG(has_mask), AR__ARG(count),
                  AR__ARG(decay_factor), AR__ARG(hp->beta1), AR__ARG(hp->beta2), AR__ARG(hp->eps),
                  AR__ARG(hp->grad_scale), AR__ARG(step_size), AR__ARG(bc2_sqrt));
    size_t global[1] = {n}, local[1] = {64};
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "adamw_update", 1, global, local) : st;
}

/* Stage 1 writes one partial per group into scratch[1..groups], stage 2 their sum to scratch[0]. */
static enum ar_status sum_squares_launch(struct ar_ctx *ctx, cl_uint n, struct ar_mem x,
                                         cl_uint x_off, struct ar_mem scratch, cl_uint groups)
{
    cl_kernel k1, k2;
    enum ar_status st = ar__kernel(ctx, "adamw", ADAMW_DEFINES, "sum_squares_partial", &k1);
    if (st == AR_STATUS_OK) st = ar__kernel(ctx, "adamw", ADAMW_DEFINES, "sum_squares_final", &k2);
    if (st != AR_STATUS_OK) return st;
    cl_uint zero = 0, one = 1;
    st = ar__args(ctx, k1, "sum_squares_partial", 5, AR__ARG(x.buf), AR__ARG(x_off), AR__ARG(n),
                  AR__ARG(scratch.buf), AR__ARG(one));
    size_t local[1] = {SUMSQ_WGS}, global1[1] = {(size_t)groups * SUMSQ_WGS};
    if (st == AR_STATUS_OK) st = ar__launch(ctx, k1, "sum_squares_partial", 1, global1, local);
    if (st == AR_STATUS_OK)
        st = ar__args(ctx, k2, "sum_squares_final", 5, AR__ARG(scratch.buf), AR__ARG(one),
                      AR__ARG(groups), AR__ARG(scratch.buf), AR__ARG(zero));
    size_t global2[1] = {SUMSQ_WGS};
    return st == AR_STATUS_OK ? ar__launch(ctx, k2, "sum_squares_final", 1, global2, local) : st;
}

enum ar_status ar_sum_squares(struct ar_ctx *ctx, size_t n, struct ar_mem x, double *out)
{
    if (!ctx) return AR_STATUS_INVALID_ARGUMENT;
    if (!out || !ar_mem_present(x))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "sum_squares: %s is missing",
                        out ? "the input x" : "the output pointer");
    *out = 0.0;
    if (n == 0) return AR_STATUS_OK;
    /* The grid-stride loop adds up to groups·WGS to an index below n: keep that in 32 bits. */
    if (n > UINT_MAX - (size_t)SUMSQ_MAX_GROUPS * SUMSQ_WGS)
        return ar__fail(ctx, AR_STATUS_UNSUPPORTED, "sum_squares: %zu elements exceed 32 bits", n);
    cl_uint x_off = 0;
    enum ar_status st = off32(ctx, "sum_squares", "x", x, &x_off);
    if (st != AR_STATUS_OK) return st;
    size_t groups = (n + SUMSQ_WGS - 1) / SUMSQ_WGS;
    if (groups > SUMSQ_MAX_GROUPS) groups = SUMSQ_MAX_GROUPS;
    struct ar_mem scratch;
    st = ar_mem_alloc(ctx, groups + 1, &scratch);
    if (st != AR_STATUS_OK) return st;
    st = sum_squares_launch(ctx, (cl_uint)n, x, x_off, scratch, (cl_uint)groups);
    float total = 0.0f;
    if (st == AR_STATUS_OK)
        st = ar_mem_read(ctx, scratch, &total, 1); /* blocking: also waits for the kernels */
    ar_mem_release(&scratch);
    *out = (double)total;
    return st;
}
