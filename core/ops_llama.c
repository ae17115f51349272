/* Llama's building blocks, host side of cl/rmsnorm.cl, cl/rope.cl and cl/swiglu.cl (ops.h):
 * RMSNorm, rotary embeddings fused with grouped-query key/value expansion, and the SwiGLU
 * product.
 *
 * GQA choice: key/value heads are expanded while packing [q | k | v] for ar_attention (the
 * backward sums the repeated heads' gradients), so the attention op stays the one BERT and GPT-2
 * use, at the cost of H/KV copies of k and v in its (N, 3C) input.
 */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

enum ar_status ar_rmsnorm_forward(struct ar_ctx *ctx, int n, int c, float eps, struct ar_mem x,
                                  struct ar_mem w, struct ar_mem y, struct ar_mem rstd)
{
    const char *what = "ar_rmsnorm_forward";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, c);
    if (st == AR_STATUS_OK && !(eps >= 0.0f))
        st = ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "%s: eps=%g must be >= 0", what,
                      (double)eps);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"x", x}, {"w", w}, {"y", y}, {"rstd", rstd});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__ops_row_kernel(ctx, "rmsnorm", "rmsnorm_forward", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint x_off = ar__ops_off(x), w_off = ar__ops_off(w), y_off = ar__ops_off(y),
            r_off = ar__ops_off(rstd);
    st = ar__args(ctx, k, "rmsnorm_forward", 11, AR__ARG(n), AR__ARG(c), AR__ARG(eps),
                  AR__ARG(x.buf), AR__ARG(x_off), AR__ARG(w.buf), AR__ARG(w_off), AR__ARG(y.buf),
                  AR__ARG(y_off), AR__ARG(rstd.buf), AR__ARG(r_off));
    if (st != AR_STATUS_OK)
        return st;
    return ar__ops_launch_rows(ctx, k, "rmsnorm_forward", n);
}

enum ar_status ar_rmsnorm_backward(struct ar_ctx *ctx, int n, int c, struct ar_mem dy,
                                   struct ar_mem x, struct ar_mem w, struct ar_mem rstd,
                                   struct ar_mem dx, bool accumulate)
{
    const char *what = "ar_rmsnorm_backward";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, c);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"dy", dy}, {"x", x}, {"w", w}, {"rstd", rstd}, {"dx", dx});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__ops_row_kernel(ctx, "rmsnorm", "rmsnorm_backward", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint dy_off = ar__ops_off(dy), x_off = ar__ops_off(x), w_off = ar__ops_off(w),
            r_off = ar__ops_off(rstd), dx_off = ar__ops_off(dx);
    cl_int acc = accumulate;
    st = ar__args(ctx, k, "rmsnorm_backward", 13, AR__ARG(n), AR__ARG(c), AR__ARG(dy.buf),
                  AR__ARG(dy_off), AR__ARG(x.buf), AR__ARG(x_off), AR__ARG(w.buf),
                  AR__ARG(w_off), AR__ARG(rstd.buf), AR__ARG(r_off), AR__ARG(dx.buf),
                  AR__ARG(dx_off), AR__ARG(acc));
    if (st != AR_STATUS_OK)
        return st;
    return ar__ops_launch_rows(ctx, k, "rmsnorm_backward", n);
}

/* ---- rotary embeddings ---------------------------------------------------------------------- */

static enum ar_status check_rope(struct ar_ctx *ctx, const char *what, const struct ar_rope_dims *d)
{
    if (!d || d->batch < 1 || d->time < 1 || d->heads < 1 || d->kv_heads < 1 ||
        d->heads % d->kv_heads != 0 || d->head_size < 2 || d->head_size % 2 != 0)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: batch %d, time %d, heads %d (a multiple of kv_heads %d) and an even "
                        "head_size %d must be positive",
                        what, d ? d->batch : 0, d ? d->time : 0, d ? d->heads : 0,
                        d ? d->kv_heads : 0, d ? d->head_size : 0);
    size_t n = (size_t)d->batch * (size_t)d->time;
    return ar__ops_check_count(ctx, what, n * 3 * (size_t)d->heads * (size_t)d->head_size);
}

enum ar_status ar_rope_tables(struct ar_ctx *ctx, int time, int head_size, float theta,
                              struct ar_mem cos_t, struct ar_mem sin_t)
{
    const char *what = "ar_rope_tables";
    if (time < 1 || head_size < 2 || head_size % 2 || !(theta > 0))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: time %d, even head_size %d and theta %g must be positive", what, time,
                        head_size, (double)theta);
    size_t half = (size_t)head_size / 2, n = (size_t)time * half;
    float *c = malloc(n * sizeof *c), *s = malloc(n * sizeof *s);
    if (!c || !s) {
        free(c);
        free(s);
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "%s: %zu floats", what, 2 * n);
    }
    for (size_t t = 0; t < (size_t)time; t++)
        for (size_t i = 0; i < half; i++) {
            /* transformers' inv_freq = 1 / base^(2i/D), angle = t·inv_freq */
            double angle = (double)t * pow((double)theta, -2.0 * (double)i / (double)head_size);
            c[t * half + i] = (float)cos(angle);
            s[t * half + i] = (float)sin(angle);
        }
    enum ar_status st = ar_mem_write(ctx, cos_t, c, n);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(ctx, sin_t, s, n);
    free(c);
    free(s);
    return st;
}

enum ar_status ar_rope_qkv_forward(struct ar_ctx *ctx, const struct ar_rope_dims *d,
                                   struct ar_mem q, struct ar_mem kv, struct ar_mem cos_t,
                                   struct ar_mem sin_t, struct ar_mem qkv)
{
    const char *what = "ar_rope_qkv_forward";
    enum ar_status st = check_rope(ctx, what, d);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"q", q}, {"kv", kv}, {"cos", cos_t}, {"sin", sin_t},
                          {"qkv", qkv});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__kernel(ctx, "rope", "", "rope_qkv_forward", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_int n = d->batch * d->time;
    cl_uint q_off = ar__ops_off(q), kv_off = ar__ops_off(kv), c_off = ar__ops_off(cos_t),
            s_off = ar__ops_off(sin_t), o_off = ar__ops_off(qkv);
    st = ar__args(ctx, k, "rope_qkv_forward", 15, AR__ARG(n), AR__ARG(d->time), AR__ARG(d->heads),
                  AR__ARG(d->kv_heads), AR__ARG(d->head_size), AR__ARG(q.buf), AR__ARG(q_off),
                  AR__ARG(kv.buf), AR__ARG(kv_off), AR__ARG(cos_t.buf), AR__ARG(c_off),
                  AR__ARG(sin_t.buf), AR__ARG(s_off), AR__ARG(qkv.buf), AR__ARG(o_off));
    if (st != AR_STATUS_OK)
        return st;
    return ar__ops_launch_2d(ctx, k, "rope_qkv_forward",
                             3 * (size_t)d->heads * (size_t)d->head_size, (size_t)n);
}

enum ar_status ar_rope_qkv_backward(struct ar_ctx *ctx, const struct ar_rope_dims *d,
                                    struct ar_mem dqkv, struct ar_mem cos_t, struct ar_mem sin_t,
                                    struct ar_mem dq, struct ar_mem dkv)
{
    const char *what = "ar_rope_qkv_backward";
    enum ar_status st = check_rope(ctx, what, d);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"dqkv", dqkv}, {"cos", cos_t}, {"sin", sin_t}, {"dq", dq},
                          {"dkv", dkv});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__kernel(ctx, "rope", "", "rope_qkv_backward", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_int n = d->batch * d->time;
    cl_uint g_off = ar__ops_off(dqkv), c_off = ar__ops_off(cos_t), s_off = ar__ops_off(sin_t),
            q_off = ar__ops_off(dq), kv_off = ar__ops_off(dkv);
    st = ar__args(ctx, k, "rope_qkv_backward", 15, AR__ARG(n), AR__ARG(d->time),
                  AR__ARG(d->heads), AR__ARG(d->kv_heads), AR__ARG(d->head_size),
                  AR__ARG(dqkv.buf), AR__ARG(g_off), AR__ARG(cos_t.buf), AR__ARG(c_off),
                  AR__ARG(sin_t.buf), AR__ARG(s_off), AR__ARG(dq.buf), AR__ARG(q_off),
                  AR__ARG(dkv.buf), AR__ARG(kv_off));
    if (st != AR_STATUS_OK)
        return st;
    size_t cols = (size_t)(d->heads + 2 * d->kv_heads) * (size_t)d->head_size;
    return ar__ops_launch_2d(ctx, k, "rope_qkv_backward", cols, (size_t)n);
}

/* ---- SwiGLU ----------------------------------------------------------------------------------- */

static enum ar_status swiglu(struct ar_ctx *ctx, bool backward, int n, int i, struct ar_mem gu,
                             struct ar_mem dy, struct ar_mem out)
{
    const char *what = backward ? "ar_swiglu_backward" : "ar_swiglu_forward";
    const char *name = backward ? "swiglu_backward" : "swiglu_forward";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, i);
    if (st == AR_STATUS_OK)
        st = ar__ops_check_count(ctx, what, (size_t)n * 2 * (size_t)i);
    if (st == AR_STATUS_OK)
        st = ar__ops_need(ctx, what, "gu", gu);
    if (st == AR_STATUS_OK && backward)
        st = ar__ops_need(ctx, what, "dy", dy);
    if (st == AR_STATUS_OK)
        st = ar__ops_need(ctx, what, backward ? "dgu" : "y", out);
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__kernel(ctx, "swiglu", "", name, &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint gu_off = ar__ops_off(gu), o_off = ar__ops_off(out);
    if (backward) {
        cl_uint dy_off = ar__ops_off(dy);
        st = ar__args(ctx, k, name, 8, AR__ARG(n), AR__ARG(i), AR__ARG(gu.buf), AR__ARG(gu_off),
                      AR__ARG(dy.buf), AR__ARG(dy_off), AR__ARG(out.buf), AR__ARG(o_off));
    } else {
        st = ar__args(ctx, k, name, 6, AR__ARG(n), AR__ARG(i), AR__ARG(gu.buf), AR__ARG(gu_off),
                      AR__ARG(out.buf), AR__ARG(o_off));
    }
    return st != AR_STATUS_OK ? st : ar__ops_launch_2d(ctx, k, name, (size_t)i, (size_t)n);
}

enum ar_status ar_swiglu_forward(struct ar_ctx *ctx, int n, int i, struct ar_mem gu,
                                 struct ar_mem y)
{
    return swiglu(ctx, false, n, i, gu, (struct ar_mem){0}, y);
}

enum ar_status ar_swiglu_backward(struct ar_ctx *ctx, int n, int i, struct ar_mem gu,
                                  struct ar_mem dy, struct ar_mem dgu)
{
    return swiglu(ctx, true, n, i, gu, dy, dgu);
}
