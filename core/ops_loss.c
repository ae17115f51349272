/* Softmax cross-entropy (host side of cl/loss.cl). The per-row losses stay on the device; the
 * caller reads them back and takes the mean over the counted (label ≥ 0) rows, which is also
 * where it learns the scale 1/counted for the backward pass. */
#include <math.h>

#include "ops_internal.h"

static enum ar_status check_operands(struct ar_ctx *ctx, const char *what, int n, int v,
                                     const char *const *names, const struct ar_mem *mems,
                                     int count)
{
    enum ar_status st = ar__ops_check_nc(ctx, what, n, v);
    for (int i = 0; i < count && st == AR_STATUS_OK; i++)
        st = ar__ops_need(ctx, what, names[i], mems[i]);
    return st;
}

enum ar_status ar_cross_entropy_forward(struct ar_ctx *ctx, int n, int v, struct ar_mem logits,
                                        struct ar_mem labels, struct ar_mem probs,
                                        struct ar_mem losses)
{
    const char *names[] = {"logits", "labels", "probs", "losses"};
    struct ar_mem mems[] = {logits, labels, probs, losses};
    enum ar_status st = check_operands(ctx, "ar_cross_entropy_forward", n, v, names, mems, 4);
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
    size_t wgs = ar__ops_row_wgs(ctx), global = (size_t)n * wgs;
    return ar__launch(ctx, k, "cross_entropy_forward", 1, &global, &wgs);
}

enum ar_status ar_cross_entropy_backward(struct ar_ctx *ctx, int n, int v, struct ar_mem probs,
                                         struct ar_mem labels, float scale, struct ar_mem dlogits)
{
    const char *names[] = {"probs", "labels", "dlogits"};
    struct ar_mem mems[] = {probs, labels, dlogits};
    enum ar_status st = check_operands(ctx, "ar_cross_entropy_backward", n, v, names, mems, 3);
    if (st == AR_STATUS_OK && !isfinite(scale))
        st = ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                      "ar_cross_entropy_backward: scale %g is not finite (no counted rows?)",
                      (double)scale);
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
