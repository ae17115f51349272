/* Softmax cross-entropy (host side of cl/loss.cl). The per-row losses stay on the device; the
 * caller reads them back and takes the mean over the counted (label ≥ 0) rows, which is also
 * where it learns the scale 1/counted for the backward pass. */
#include <math.h>

#include "ops_internal.h"

enum ar_status ar_cross_entropy_forward(struct ar_ctx *ctx, int n, int v, struct ar_mem logits,
                                        struct ar_mem labels, struct ar_mem probs,
                                        struct ar_mem losses)
{
    const char *what = "ar_cross_entropy_forward";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, v);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"logits", logits}, {"labels", labels}, {"probs", probs},
                          {"losses", losses});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__ops_row_kernel(ctx, "loss", "cross_entropy_forward", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint x_off = ar__ops_off(logits), l_off = ar__ops_off(labels), p_off = ar__ops_off(probs),
            o_off = ar__ops_off(losses);
    st = ar__args(ctx, k, "cross_entropy_forward", 10, AR__ARG(n), AR__ARG(v),
                  AR__ARG(logits.buf), AR__ARG(x_off), AR__ARG(labels.buf), AR__ARG(l_off),
                  AR__ARG(probs.buf), AR__ARG(p_off), AR__ARG(losses.buf), AR__ARG(o_off));
    if (st != AR_STATUS_OK)
        return st;
    return ar__ops_launch_rows(ctx, k, "cross_entropy_forward", n);
}

enum ar_status ar_cross_entropy_backward(struct ar_ctx *ctx, int n, int v, struct ar_mem probs,
                                         struct ar_mem labels, float scale, struct ar_mem dlogits)
{
    const char *what = "ar_cross_entropy_backward";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, v);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"probs", probs}, {"labels", labels}, {"dlogits", dlogits});
    if (st == AR_STATUS_OK && !isfinite(scale))
        st = ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                      "%s: scale %g is not finite (no counted rows?)", what, (double)scale);
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__ops_row_kernel(ctx, "loss", "cross_entropy_backward", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint p_off = ar__ops_off(probs), l_off = ar__ops_off(labels), d_off = ar__ops_off(dlogits);
    st = ar__args(ctx, k, "cross_entropy_backward", 9, AR__ARG(n), AR__ARG(v), AR__ARG(probs.buf),
                  AR__ARG(p_off), AR__ARG(labels.buf), AR__ARG(l_off), AR__ARG(scale),
                  AR__ARG(dlogits.buf), AR__ARG(d_off));
    if (st != AR_STATUS_OK)
        return st;
    return ar__ops_launch_2d(ctx, k, "cross_entropy_backward", (size_t)v, (size_t)n);
}
