/* The gated LoRA layer: backward of the last forward (lora.h; METHODS.md §0.2).
 *
 * With V = s·U⊙(g⊙m) and dV = ∂L/∂V:
 *
 *     dX  = dY·W                        1 GEMM over all members (k = G·out sums them)
 *     dV_k = dY_k·B_k                   G batched GEMMs
 *     dB_k += dY_kᵀ·V_k                 G batched GEMMs
 *     dg  += s·m ⊙ Σ_rows dV⊙U,  dU = s·(g⊙m)⊙dV     lora_gate_backward (one pass; not plain)
 *     dA_k += dU_kᵀ·X̃_k                 1 GEMM (no dropout) or G batched on the regenerated X̃_k
 *     dX  += Σ_k (dU_k·A_k) ⊙ keep_k/(1−p)           1 GEMM, or G batched + lora_dropout_dx
 *
 * Plain mode folds s into the products instead (dU = s·dY_k·B_k, dB_k += s·dY_kᵀ·U_k), which is
 * PEFT's LoRA exactly. W never gets a gradient. */
#include "lora_layer.h"

static enum ar_status check_grads(struct ar_lora_layer *l, struct ar_mem dy,
                                  const struct ar_lora_grads *g)
{
    struct ar_ctx *ctx = l->ctx;
    if (!l->have_forward)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "lora backward: no successful forward to differentiate");
    if (!ar_mem_present(dy))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "lora backward: dY is missing");
    if (!g) return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "lora backward: grads are required");
    if (l->dims.rank > 0 && (!ar_mem_present(g->da) || !ar_mem_present(g->db)))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "lora backward: rank %d needs dA and dB (dA %s, dB %s)", l->dims.rank,
                        ar_mem_present(g->da) ? "given" : "missing",
                        ar_mem_present(g->db) ? "given" : "missing");
    return AR_STATUS_OK;
}

/* dg and dU from dV in place (see lora_gate_backward in cl/lora.cl). */
static enum ar_status gate_backward(struct ar_lora_layer *l, const struct ar_lora_weights *w,
                                    struct ar_mem dg)
{
    struct ar_ctx *ctx = l->ctx;
    cl_kernel k;
    enum ar_status st = ar__kernel(ctx, "lora", AR__LORA_DEFINES, "lora_gate_backward", &k);
    cl_uint g_off = 0, m_off = 0, dg_off = 0, has_mask = ar_mem_present(w->mask),
            has_dg = ar_mem_present(dg);
    if (st == AR_STATUS_OK) st = ar__lora_u32(ctx, w->gate.off, "offset of the gate", &g_off);
    if (st == AR_STATUS_OK && has_mask)
        st = ar__lora_u32(ctx, w->mask.off, "offset of the mask", &m_off);
    if (st == AR_STATUS_OK && has_dg) st = ar__lora_u32(ctx, dg.off, "offset of dg", &dg_off);
    if (st != AR_STATUS_OK) return st;
    cl_mem mbuf = has_mask ? w->mask.buf : w->gate.buf; /* not read when absent */
    cl_mem dgbuf = has_dg ? dg.buf : w->gate.buf;
    cl_uint dv_off = (cl_uint)l->dv.off, u_off = (cl_uint)l->u.off, rows = (cl_uint)l->n;
    cl_uint cols = (cl_uint)(l->dims.groups * l->dims.rank);
    float s = l->opts.scale;
    st = ar__args(ctx, k, "lora_gate_backward", 15, AR__ARG(l->dv.buf), AR__ARG(dv_off),
                  AR__ARG(l->u.buf), AR__ARG(u_off), AR__ARG(w->gate.buf), AR__ARG(g_off),
                  AR__ARG(mbuf), AR__ARG(m_off), AR__ARG(has_mask), AR__ARG(dgbuf), AR__ARG(dg_off),
                  AR__ARG(has_dg), AR__ARG(rows), AR__ARG(cols), AR__ARG(s));
    /* The kernel's local array is AR_WGS long: the work-group size must be exactly that. */
    size_t local[1] = {AR__LORA_WGS}, global[1] = {(size_t)cols * AR__LORA_WGS};
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "lora_gate_backward", 1, global, local) : st;
}

/* dX += Σ_k T_k ⊙ keep_k/(1−p), T (G, n, in) in the dropout buffer. */
static enum ar_status dropout_dx(struct ar_lora_layer *l, struct ar_mem dx)
{
    struct ar_ctx *ctx = l->ctx;
    cl_kernel k;
    cl_uint dx_off = 0;
    enum ar_status st = ar__kernel(ctx, "lora", AR__LORA_DEFINES, "lora_dropout_dx", &k);
    if (st == AR_STATUS_OK) st = ar__lora_u32(ctx, dx.off, "offset of dX", &dx_off);
    if (st != AR_STATUS_OK) return st;
    cl_uint t_off = (cl_uint)l->xd.off, rows = (cl_uint)l->n, in = (cl_uint)l->dims.in,
            groups = (cl_uint)l->dims.groups;
    cl_uint seed_lo = (cl_uint)l->seed, seed_hi = (cl_uint)(l->seed >> 32),
            step_lo = (cl_uint)l->step, step_hi = (cl_uint)(l->step >> 32);
    float p = l->opts.dropout, keep_scale = (float)(1.0 / (1.0 - (double)p));
    st = ar__args(ctx, k, "lora_dropout_dx", 13, AR__ARG(dx.buf), AR__ARG(dx_off),
                  AR__ARG(l->xd.buf), AR__ARG(t_off), AR__ARG(rows), AR__ARG(in), AR__ARG(groups),
                  AR__ARG(p), AR__ARG(keep_scale), AR__ARG(seed_lo), AR__ARG(seed_hi),
                  AR__ARG(step_lo), AR__ARG(step_hi));
    size_t global[2] = {in, rows}, local[2] = {64, 1};
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "lora_dropout_dx", 2, global, local) : st;
}

/* dU from dY: through B (and the gate pass unless plain), accumulating dB and dg on the way. */
static enum ar_status up_backward(struct ar_lora_layer *l, struct ar_mem dy,
                                  const struct ar_lora_weights *w, const struct ar_lora_grads *g)
{
    struct ar_ctx *ctx = l->ctx;
    size_t rows = (size_t)l->n, out = (size_t)l->dims.out, r = (size_t)l->dims.rank;
    size_t gs = (size_t)l->dims.groups, cols = gs * out;
    bool plain = l->opts.plain;
    float alpha = plain ? l->opts.scale : 1.0f;
    struct ar_mem vin = plain ? l->u : l->v;
    /* dB_k += alpha·dY_kᵀ·V_k  (out, R) */
    enum ar_status st = ar_gemm_strided_batched(ctx, true, false, out, r, rows, alpha, dy, cols,
                                                out, vin, gs * r, r, 1.0f, g->db, r, out * r, gs);
    /* dV_k = alpha·dY_k·B_k  (n, R), columns k·R.. of dV */
    if (st == AR_STATUS_OK)
        st = ar_gemm_strided_batched(ctx, false, false, rows, r, out, alpha, dy, cols, out, w->b, r,
                                     out * r, 0.0f, l->dv, gs * r, r, gs);
    if (st == AR_STATUS_OK && !plain) st = gate_backward(l, w, g->dgate);
    return st;
}

/* dA and the LoRA branch's part of dX from dU (in l->dv). */
static enum ar_status down_backward(struct ar_lora_layer *l, const struct ar_lora_weights *w,
                                    const struct ar_lora_grads *g)
{
    struct ar_ctx *ctx = l->ctx;
    size_t rows = (size_t)l->n, in = (size_t)l->dims.in, r = (size_t)l->dims.rank;
    size_t gs = (size_t)l->dims.groups, gr = gs * r;
    bool dx = ar_mem_present(g->dx);
    enum ar_status st = AR_STATUS_OK;
    if (!l->dropped) {
        /* Every member read the same X: dA (G·R, in) += dUᵀ·X and dX += dU·A are single
         * products, the second summing over the members through k = G·R. */
        st = ar_gemm(ctx, true, false, gr, in, rows, 1.0f, l->dv, gr, l->x, in, 1.0f, g->da, in);
        if (st == AR_STATUS_OK && dx)
            st = ar_gemm(ctx, false, false, rows, in, gr, 1.0f, l->dv, gr, w->a, in, 1.0f, g->dx,
                         in);
        return st;
    }
    /* Regenerate X̃_k from the stored X and the forward's (seed, step): no mask is stored. */
    st = ar__lora_dropout(l, l->n);
    if (st == AR_STATUS_OK)
        st = ar_gemm_strided_batched(ctx, true, false, r, in, rows, 1.0f, l->dv, gr, r, l->xd, in,
                                     rows * in, 1.0f, g->da, in, r * in, gs);
    if (st != AR_STATUS_OK || !dx) return st;
    /* T_k = dU_k·A_k overwrites X̃_k (no longer needed), then goes through the masks. */
    st = ar_gemm_strided_batched(ctx, false, false, rows, in, r, 1.0f, l->dv, gr, r, w->a, in,
                                 r * in, 0.0f, l->xd, in, rows * in, gs);
    return st == AR_STATUS_OK ? dropout_dx(l, g->dx) : st;
}

enum ar_status ar_lora_backward(struct ar_lora_layer *layer, struct ar_mem dy,
                                const struct ar_lora_weights *w, const struct ar_lora_grads *g)
{
    if (!layer) return AR_STATUS_INVALID_ARGUMENT;
    struct ar_lora_layer *l = layer;
    struct ar_ctx *ctx = l->ctx;
    enum ar_status st = check_grads(l, dy, g);
    if (st == AR_STATUS_OK) st = ar__lora_check_weights(l, w, "lora backward");
    if (st != AR_STATUS_OK) return st;
    size_t rows = (size_t)l->n, in = (size_t)l->dims.in;
    size_t cols = (size_t)l->dims.groups * (size_t)l->dims.out;
    /* dX = dY·W (or +=): the frozen path, and all of it at rank 0. */
    if (ar_mem_present(g->dx))
        st = ar_gemm(ctx, false, false, rows, in, cols, 1.0f, dy, cols, w->w, in,
                     g->dx_accumulate ? 1.0f : 0.0f, g->dx, in);
    if (st != AR_STATUS_OK || l->dims.rank == 0) return st;
    st = up_backward(l, dy, w, g);
    return st == AR_STATUS_OK ? down_backward(l, w, g) : st;
}
