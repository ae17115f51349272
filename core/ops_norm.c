/* The input end of a transformer layer stack: the embedding sum and LayerNorm (forward and
 * backward), host side of cl/embedding.cl and cl/layernorm.cl. */
#include "ops_internal.h"

enum ar_status ar_embedding_forward(struct ar_ctx *ctx, int n, int c, struct ar_mem ids,
                                    struct ar_mem pos, struct ar_mem types, struct ar_mem wte,
                                    struct ar_mem wpe, struct ar_mem wtt, struct ar_mem out)
{
    const char *what = "ar_embedding_forward";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, c);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"ids", ids}, {"pos", pos}, {"wte", wte}, {"wpe", wpe},
                          {"out", out});
    if (st != AR_STATUS_OK)
        return st;
    bool has_types = ar_mem_present(types);
    if (has_types != ar_mem_present(wtt))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: token types and the token-type table wtt come together (types %s, "
                        "wtt %s)",
                        what, has_types ? "given" : "missing",
                        ar_mem_present(wtt) ? "given" : "missing");
    if (has_types) {
        st = AR__OPS_NEED(ctx, what, {"types", types}, {"wtt", wtt});
        if (st != AR_STATUS_OK)
            return st;
    } else {
        types = wtt = ids; /* never read: the kernel needs some buffer in the slot */
    }

    cl_kernel k;
    st = ar__kernel(ctx, "embedding", "", "embedding_forward", &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint ids_off = ar__ops_off(ids), pos_off = ar__ops_off(pos),
            types_off = ar__ops_off(types), wte_off = ar__ops_off(wte),
            wpe_off = ar__ops_off(wpe), wtt_off = ar__ops_off(wtt), out_off = ar__ops_off(out);
    cl_int flag = has_types;
    st = ar__args(ctx, k, "embedding_forward", 17, AR__ARG(n), AR__ARG(c), AR__ARG(ids.buf),
                  AR__ARG(ids_off), AR__ARG(pos.buf), AR__ARG(pos_off), AR__ARG(types.buf),
                  AR__ARG(types_off), AR__ARG(flag), AR__ARG(wte.buf), AR__ARG(wte_off),
                  AR__ARG(wpe.buf), AR__ARG(wpe_off), AR__ARG(wtt.buf), AR__ARG(wtt_off),
                  AR__ARG(out.buf), AR__ARG(out_off));
    if (st != AR_STATUS_OK)
        return st;
    return ar__ops_launch_2d(ctx, k, "embedding_forward", (size_t)c, (size_t)n);
}

enum ar_status ar_layernorm_forward(struct ar_ctx *ctx, int n, int c, float eps, struct ar_mem x,
                                    struct ar_mem gamma, struct ar_mem beta, struct ar_mem y,
                                    struct ar_mem mean, struct ar_mem rstd)
{
    const char *what = "ar_layernorm_forward";
    bool per_item = ar__ops_row_per_item(ctx);
    const char *name = per_item ? "layernorm_forward_rows" : "layernorm_forward";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, c);
    if (st == AR_STATUS_OK && !(eps >= 0.0f))
        st = ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "%s: eps=%g must be >= 0", what,
                      (double)eps);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"x", x}, {"gamma", gamma}, {"beta", beta}, {"y", y},
                          {"mean", mean}, {"rstd", rstd});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__ops_row_kernel(ctx, "layernorm", name, &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint x_off = ar__ops_off(x), g_off = ar__ops_off(gamma), b_off = ar__ops_off(beta),
            y_off = ar__ops_off(y), m_off = ar__ops_off(mean), r_off = ar__ops_off(rstd);
    st = ar__args(ctx, k, name, 15, AR__ARG(n), AR__ARG(c), AR__ARG(eps),
                  AR__ARG(x.buf), AR__ARG(x_off), AR__ARG(gamma.buf), AR__ARG(g_off),
                  AR__ARG(beta.buf), AR__ARG(b_off), AR__ARG(y.buf), AR__ARG(y_off),
                  AR__ARG(mean.buf), AR__ARG(m_off), AR__ARG(rstd.buf), AR__ARG(r_off));
    if (st != AR_STATUS_OK)
        return st;
    return ar__ops_launch_rows_as(ctx, k, name, (size_t)n, per_item);
}

enum ar_status ar_layernorm_backward(struct ar_ctx *ctx, int n, int c, struct ar_mem dy,
                                     struct ar_mem x, struct ar_mem gamma, struct ar_mem mean,
                                     struct ar_mem rstd, struct ar_mem dx, bool accumulate)
{
    const char *what = "ar_layernorm_backward";
    bool per_item = ar__ops_row_per_item(ctx);
    const char *name = per_item ? "layernorm_backward_rows" : "layernorm_backward";
    enum ar_status st = ar__ops_check_nc(ctx, what, n, c);
    if (st == AR_STATUS_OK)
        st = AR__OPS_NEED(ctx, what, {"dy", dy}, {"x", x}, {"gamma", gamma}, {"mean", mean},
                          {"rstd", rstd}, {"dx", dx});
    cl_kernel k;
    if (st == AR_STATUS_OK)
        st = ar__ops_row_kernel(ctx, "layernorm", name, &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_uint dy_off = ar__ops_off(dy), x_off = ar__ops_off(x), g_off = ar__ops_off(gamma),
            m_off = ar__ops_off(mean), r_off = ar__ops_off(rstd), dx_off = ar__ops_off(dx);
    cl_int acc = accumulate;
    st = ar__args(ctx, k, name, 15, AR__ARG(n), AR__ARG(c), AR__ARG(dy.buf),
                  AR__ARG(dy_off), AR__ARG(x.buf), AR__ARG(x_off), AR__ARG(gamma.buf),
                  AR__ARG(g_off), AR__ARG(mean.buf), AR__ARG(m_off), AR__ARG(rstd.buf),
                  AR__ARG(r_off), AR__ARG(dx.buf), AR__ARG(dx_off), AR__ARG(acc));
    if (st != AR_STATUS_OK)
        return st;
    return ar__ops_launch_rows_as(ctx, k, name, (size_t)n, per_item);
}
