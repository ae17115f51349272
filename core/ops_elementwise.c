/* Elementwise ops (host side of cl/elementwise.cl): residual add, bias add and gradient,
 * activations, inverted dropout and the strided row copy. */
#include "ops_internal.h"

enum ar_status ar_add(struct ar_ctx *ctx, size_t n, struct ar_mem a, struct ar_mem b,
                      struct ar_mem y)
{
    const char *what = "ar_add";
    enum ar_status st = ar__ops_check_count(ctx, what, n);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"a", a}, {"b", b}, {"y", y});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__kernel(ctx, "elementwise", "", "add", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_int ni = (cl_int)n;
    cl_uint a_off = ar__ops_off(a), b_off = ar__ops_off(b), y_off = ar__ops_off(y);
    st = ar__args(ctx, k, "add", 7, AR__ARG(ni), AR__ARG(a.buf), AR__ARG(a_off), AR__ARG(b.buf),
                  AR__ARG(b_off), AR__ARG(y.buf), AR__ARG(y_off));
    return st != AR_STATUS_OK ? st : ar__ops_launch_1d(ctx, k, "add", n);
}

enum ar_status ar_bias_add(struct ar_ctx *ctx, int n, int c, struct ar_mem bias, struct ar_mem y)
{
    const char *what = "ar_bias_add";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, c);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"bias", bias}, {"y", y});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__kernel(ctx, "elementwise", "", "bias_add", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint b_off = ar__ops_off(bias), y_off = ar__ops_off(y);
    st = ar__args(ctx, k, "bias_add", 6, AR__ARG(n), AR__ARG(c), AR__ARG(bias.buf),
                  AR__ARG(b_off), AR__ARG(y.buf), AR__ARG(y_off));
    return st != AR_STATUS_OK ? st : ar__ops_launch_2d(ctx, k, "bias_add", (size_t)c, (size_t)n);
}

enum ar_status ar_bias_grad(struct ar_ctx *ctx, int n, int c, struct ar_mem dy,
                            struct ar_mem dbias, bool accumulate)
{
    const char *what = "ar_bias_grad";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, c);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"dy", dy}, {"dbias", dbias});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__kernel(ctx, "elementwise", "", "bias_grad", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint dy_off = ar__ops_off(dy), db_off = ar__ops_off(dbias);
    cl_int acc = accumulate;
    st = ar__args(ctx, k, "bias_grad", 7, AR__ARG(n), AR__ARG(c), AR__ARG(dy.buf),
                  AR__ARG(dy_off), AR__ARG(dbias.buf), AR__ARG(db_off), AR__ARG(acc));
    return st != AR_STATUS_OK ? st : ar__ops_launch_1d(ctx, k, "bias_grad", (size_t)c);
}

static enum ar_status check_activation(struct ar_ctx *ctx, const char *what,
                                       enum ar_activation act)
{
    if (act != AR_ACTIVATION_GELU && act != AR_ACTIVATION_GELU_TANH && act != AR_ACTIVATION_TANH)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "%s: unknown activation %d", what,
                        (int)act);
    return AR_STATUS_OK;
}

/* The activation is a compile-time constant of its kernels (see cl/elementwise.cl). */
static enum ar_status activation_kernel(struct ar_ctx *ctx, enum ar_activation act,
                                        const char *name, cl_kernel *k)
{
    char defines[32];
    snprintf(defines, sizeof defines, "-DAR_ACT=%d", (int)act);
    return ar__kernel(ctx, "elementwise", defines, name, k);
}

enum ar_status ar_activation_forward(struct ar_ctx *ctx, enum ar_activation act, size_t n,
                                     struct ar_mem x, struct ar_mem y)
{
    const char *what = "ar_activation_forward";
    enum ar_status st = check_activation(ctx, what, act);
    if (st == AR_STATUS_OK)
        st = ar__ops_check_count(ctx, what, n);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"x", x}, {"y", y});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = activation_kernel(ctx, act, "activation_forward", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_int ni = (cl_int)n;
    cl_uint x_off = ar__ops_off(x), y_off = ar__ops_off(y);
    st = ar__args(ctx, k, "activation_forward", 5, AR__ARG(ni), AR__ARG(x.buf), AR__ARG(x_off),
                  AR__ARG(y.buf), AR__ARG(y_off));
    return st != AR_STATUS_OK ? st : ar__ops_launch_1d(ctx, k, "activation_forward", (n + 7) / 8);
}

enum ar_status ar_activation_backward(struct ar_ctx *ctx, enum ar_activation act, size_t n,
                                      struct ar_mem x, struct ar_mem dy, struct ar_mem dx)
{
    const char *what = "ar_activation_backward";
    enum ar_status st = check_activation(ctx, what, act);
    if (st == AR_STATUS_OK)
        st = ar__ops_check_count(ctx, what, n);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"x", x}, {"dy", dy}, {"dx", dx});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = activation_kernel(ctx, act, "activation_backward", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_int ni = (cl_int)n;
    cl_uint x_off = ar__ops_off(x), dy_off = ar__ops_off(dy), dx_off = ar__ops_off(dx);
    st = ar__args(ctx, k, "activation_backward", 7, AR__ARG(ni), AR__ARG(x.buf), AR__ARG(x_off),
                  AR__ARG(dy.buf), AR__ARG(dy_off), AR__ARG(dx.buf), AR__ARG(dx_off));
    return st != AR_STATUS_OK ? st : ar__ops_launch_1d(ctx, k, "activation_backward", (n + 7) / 8);
}

/* Forward and backward are the same kernel: the mask is recomputed from (seed, stream, index),
 * so the backward pass multiplies dy by exactly the forward's keep/(1 − p). */
static enum ar_status dropout(struct ar_ctx *ctx, const char *what, size_t n, float p,
                              uint64_t seed, uint32_t stream, struct ar_mem x, struct ar_mem y)
{
    enum ar_status st = ar__ops_check_count(ctx, what, n);
    if (st == AR_STATUS_OK && !(p >= 0.0f && p <= 1.0f))
        st = ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "%s: probability p=%g is not in [0, 1]",
                      what, (double)p);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"input", x}, {"output", y});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__kernel(ctx, "elementwise", "", "dropout", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_int ni = (cl_int)n;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    cl_uint lo = (cl_uint)(seed & 0xffffffffu), hi = (cl_uint)(seed >> 32), s = stream;
    cl_uint x_off = ar__ops_off(x), y_off = ar__ops_off(y);
    st = ar__args(ctx, k, "dropout", 10, AR__ARG(ni), AR__ARG(p), AR__ARG(scale), AR__ARG(lo),
                  AR__ARG(hi), AR__ARG(s), AR__ARG(x.buf), AR__ARG(x_off), AR__ARG(y.buf),
                  AR__ARG(y_off));
    return st != AR_STATUS_OK ? st : ar__ops_launch_1d(ctx, k, "dropout", n);
}

enum ar_status ar_dropout_forward(struct ar_ctx *ctx, size_t n, float p, uint64_t seed,
                                  uint32_t stream, struct ar_mem x, struct ar_mem y)
{
    return dropout(ctx, "ar_dropout_forward", n, p, seed, stream, x, y);
}

enum ar_status ar_dropout_backward(struct ar_ctx *ctx, size_t n, float p, uint64_t seed,
                                   uint32_t stream, struct ar_mem dy, struct ar_mem dx)
{
    return dropout(ctx, "ar_dropout_backward", n, p, seed, stream, dy, dx);
}

enum ar_status ar_copy_rows(struct ar_ctx *ctx, int rows, int c, struct ar_mem src,
                            size_t src_stride, struct ar_mem dst, size_t dst_stride)
{
    const char *what = "ar_copy_rows";
    enum ar_status st = ar__ops_check_nc(ctx, what, rows, c);
    if (st == AR_STATUS_OK && (src_stride < (size_t)c || dst_stride < (size_t)c ||
                               src_stride > UINT_MAX || dst_stride > UINT_MAX))
        st = ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                      "%s: row strides (src %zu, dst %zu) must be in c=%d..%u", what, src_stride,
                      dst_stride, c, UINT_MAX);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"src", src}, {"dst", dst});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__kernel(ctx, "elementwise", "", "copy_rows", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint s_off = ar__ops_off(src), d_off = ar__ops_off(dst);
    cl_uint ss = (cl_uint)src_stride, ds = (cl_uint)dst_stride;
    st = ar__args(ctx, k, "copy_rows", 8, AR__ARG(rows), AR__ARG(c), AR__ARG(src.buf),
                  AR__ARG(s_off), AR__ARG(ss), AR__ARG(dst.buf), AR__ARG(d_off), AR__ARG(ds));
    if (st != AR_STATUS_OK)
        return st;
    return ar__ops_launch_2d(ctx, k, "copy_rows", (size_t)c, (size_t)rows);
}
