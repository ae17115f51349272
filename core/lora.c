/* The gated LoRA layer: set-up and forward (lora.h; METHODS.md §0.2).
 *
 * Forward for a group of G members, n rows (the kernels are in cl/lora.cl):
 *
 *     Y = broadcast(b)                                      lora_bias_fill
 *     Y += X·Wᵀ                                             1 GEMM, (n, G·out), k = in
 *     U = X̃·Aᵀ                                              1 GEMM (no dropout: X̃_k = X for all
 *                                                           k, so the G products share X), or G
 *                                                           batched ones on the dropped copies
 *     V = s·U⊙(g⊙m)                                         lora_gate_forward (skipped: plain)
 *     Y_k += V_k·B_kᵀ                                       G batched GEMMs, k = R
 *
 * Only the gate pass is extra over plain LoRA: n·G·R elements, against n·G·out·(in + R)
 * multiply-adds of the products, which is why the gates are (nearly) free. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "lora_layer.h"

enum ar_status ar__lora_u32(struct ar_ctx *ctx, size_t value, const char *what, cl_uint *out)
{
    if (value > UINT_MAX)
        return ar__fail(ctx, AR_STATUS_UNSUPPORTED,
                        "lora: %s = %zu does not fit the kernels' 32-bit indices", what, value);
    *out = (cl_uint)value;
    return AR_STATUS_OK;
}

static enum ar_status check_dims(struct ar_ctx *ctx, const struct ar_lora_dims *d,
                                 const struct ar_lora_opts *o)
{
    if (d->n < 1 || d->in < 1 || d->out < 1 || d->groups < 1 || d->rank < 0)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "lora layer: dims n=%d in=%d out=%d groups=%d must be >= 1 and "
                        "rank=%d >= 0",
                        d->n, d->in, d->out, d->groups, d->rank);
    if (!(o->dropout >= 0.0f && o->dropout < 1.0f))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "lora layer: dropout %g is not in [0, 1)",
                        (double)o->dropout);
    if (!isfinite(o->scale))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "lora layer: scale %g is not finite",
                        (double)o->scale);
    /* The largest index a kernel forms is G·n·in (the dropped copies) or n·G·out (Y). */
    size_t n = (size_t)d->n, g = (size_t)d->groups;
    cl_uint unused;
    enum ar_status st = ar__lora_u32(ctx, g * n * (size_t)d->in, "groups·n·in", &unused);
    if (st == AR_STATUS_OK) st = ar__lora_u32(ctx, g * n * (size_t)d->out, "n·groups·out", &unused);
    return st;
}

static enum ar_status alloc_workspace(struct ar_lora_layer *l)
{
    struct ar_ctx *ctx = l->ctx;
    const struct ar_lora_dims *d = &l->dims;
    if (d->rank == 0)
        return AR_STATUS_OK; /* a frozen linear keeps nothing: dX = dY·W needs no activation */
    size_t n = (size_t)d->n, in = (size_t)d->in, gr = (size_t)d->groups * (size_t)d->rank;
    enum ar_status st = ar_mem_alloc(ctx, n * in, &l->x);
    if (st == AR_STATUS_OK && l->opts.dropout > 0.0f)
        st = ar_mem_alloc(ctx, (size_t)d->groups * n * in, &l->xd);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, n * gr, &l->u);
    if (st == AR_STATUS_OK && !l->opts.plain) st = ar_mem_alloc(ctx, n * gr, &l->v);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, n * gr, &l->dv);
    return st;
}

enum ar_status ar_lora_layer_new(struct ar_ctx *ctx, const struct ar_lora_dims *dims,
                                 const struct ar_lora_opts *opts, struct ar_lora_layer **out)
{
    if (!ctx || !out) return AR_STATUS_INVALID_ARGUMENT;
    *out = NULL;
    if (!dims || !opts)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "lora layer: dims and opts are required");
    enum ar_status st = check_dims(ctx, dims, opts);
    if (st != AR_STATUS_OK) return st;
    struct ar_lora_layer *l = calloc(1, sizeof *l);
    if (!l) return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "lora layer");
    l->ctx = ctx;
    l->dims = *dims;
    l->opts = *opts;
    st = alloc_workspace(l);
    if (st != AR_STATUS_OK) {
        ar_lora_layer_free(l);
        return st;
    }
    *out = l;
    return AR_STATUS_OK;
}

void ar_lora_layer_free(struct ar_lora_layer *layer)
{
    if (!layer) return;
    ar_mem_release(&layer->x);
    ar_mem_release(&layer->xd);
    ar_mem_release(&layer->u);
    ar_mem_release(&layer->v);
    ar_mem_release(&layer->dv);
    free(layer);
}

enum ar_status ar_lora_layer_set_scale(struct ar_lora_layer *layer, float scale)
{
    if (!layer) return AR_STATUS_INVALID_ARGUMENT;
    if (!isfinite(scale))
        return ar__fail(layer->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "lora layer: scale %g is not finite", (double)scale);
    layer->opts.scale = scale;
    return AR_STATUS_OK;
}

struct ar_lora_dims ar_lora_layer_dims(const struct ar_lora_layer *layer)
{
    return layer->dims;
}

enum ar_status ar__lora_check_weights(const struct ar_lora_layer *layer,
                                      const struct ar_lora_weights *w, const char *what)
{
    struct ar_ctx *ctx = layer->ctx;
    if (!w) return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "%s: weights are required", what);
    if (!ar_mem_present(w->w))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "%s: the frozen weight W is missing",
                        what);
    if (layer->dims.rank == 0) return AR_STATUS_OK;
    if (!ar_mem_present(w->a) || !ar_mem_present(w->b))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: rank %d needs both LoRA factors A and B (A %s, B %s)", what,
                        layer->dims.rank, ar_mem_present(w->a) ? "given" : "missing",
                        ar_mem_present(w->b) ? "given" : "missing");
    if (!layer->opts.plain && !ar_mem_present(w->gate))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: the gate g is missing (gated mode; use opts.plain for plain LoRA)",
                        what);
    return AR_STATUS_OK;
}

static enum ar_status bias_fill(struct ar_lora_layer *l, int n, struct ar_mem y, struct ar_mem b)
{
    struct ar_ctx *ctx = l->ctx;
    cl_kernel k;
    enum ar_status st = ar__kernel(ctx, "lora", AR__LORA_DEFINES, "lora_bias_fill", &k);
    cl_uint y_off = 0, b_off = 0, has_bias = ar_mem_present(b), rows = (cl_uint)n,
            cols = (cl_uint)(l->dims.groups * l->dims.out);
    if (st == AR_STATUS_OK) st = ar__lora_u32(ctx, y.off, "offset of Y", &y_off);
    if (st == AR_STATUS_OK && has_bias) st = ar__lora_u32(ctx, b.off, "offset of the bias", &b_off);
    if (st != AR_STATUS_OK) return st;
    cl_mem bbuf = has_bias ? b.buf : y.buf; /* any valid buffer: it is not read */
    st = ar__args(ctx, k, "lora_bias_fill", 7, AR__ARG(y.buf), AR__ARG(y_off), AR__ARG(bbuf),
                  AR__ARG(b_off), AR__ARG(has_bias), AR__ARG(rows), AR__ARG(cols));
    size_t global[2] = {cols, rows}, local[2] = {64, 1};
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "lora_bias_fill", 2, global, local) : st;
}

enum ar_status ar__lora_dropout(struct ar_lora_layer *l, int n)
{
    struct ar_ctx *ctx = l->ctx;
    cl_kernel k;
    enum ar_status st = ar__kernel(ctx, "lora", AR__LORA_DEFINES, "lora_dropout", &k);
    if (st != AR_STATUS_OK) return st;
    cl_uint xd_off = (cl_uint)l->xd.off, x_off = (cl_uint)l->x.off, rows = (cl_uint)n,
            in = (cl_uint)l->dims.in, groups = (cl_uint)l->dims.groups;
    cl_uint seed_lo = (cl_uint)l->seed, seed_hi = (cl_uint)(l->seed >> 32),
            step_lo = (cl_uint)l->step, step_hi = (cl_uint)(l->step >> 32);
    float p = l->opts.dropout, keep_scale = (float)(1.0 / (1.0 - (double)p));
    st = ar__args(ctx, k, "lora_dropout", 13, AR__ARG(l->xd.buf), AR__ARG(xd_off),
                  AR__ARG(l->x.buf), AR__ARG(x_off), AR__ARG(rows), AR__ARG(in), AR__ARG(groups),
                  AR__ARG(p), AR__ARG(keep_scale), AR__ARG(seed_lo), AR__ARG(seed_hi),
                  AR__ARG(step_lo), AR__ARG(step_hi));
    size_t global[2] = {in, rows}, local[2] = {64, 1};
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "lora_dropout", 2, global, local) : st;
}

static enum ar_status gate_forward(struct ar_lora_layer *l, int n, const struct ar_lora_weights *w)
{
    struct ar_ctx *ctx = l->ctx;
    cl_kernel k;
    enum ar_status st = ar__kernel(ctx, "lora", AR__LORA_DEFINES, "lora_gate_forward", &k);
    cl_uint g_off = 0, m_off = 0, has_mask = ar_mem_present(w->mask), rows = (cl_uint)n;
    cl_uint cols = (cl_uint)(l->dims.groups * l->dims.rank);
    cl_uint v_off = (cl_uint)l->v.off, u_off = (cl_uint)l->u.off;
    if (st == AR_STATUS_OK) st = ar__lora_u32(ctx, w->gate.off, "offset of the gate", &g_off);
    if (st == AR_STATUS_OK && has_mask)
        st = ar__lora_u32(ctx, w->mask.off, "offset of the mask", &m_off);
    if (st != AR_STATUS_OK) return st;
    cl_mem mbuf = has_mask ? w->mask.buf : w->gate.buf; /* not read without a mask */
    float s = l->opts.scale;
    st = ar__args(ctx, k, "lora_gate_forward", 12, AR__ARG(l->v.buf), AR__ARG(v_off),
                  AR__ARG(l->u.buf), AR__ARG(u_off), AR__ARG(w->gate.buf), AR__ARG(g_off),
                  AR__ARG(mbuf), AR__ARG(m_off), AR__ARG(has_mask), AR__ARG(rows), AR__ARG(cols),
                  AR__ARG(s));
    size_t global[2] = {cols, rows}, local[2] = {cols < 64 ? cols : 64, 1};
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "lora_gate_forward", 2, global, local) : st;
}

/* U = X̃·Aᵀ (n, G·R): one shared product without dropout, G batched ones with it. */
static enum ar_status down_projection(struct ar_lora_layer *l, int n,
                                      const struct ar_lora_weights *w)
{
    struct ar_ctx *ctx = l->ctx;
    size_t rows = (size_t)n, in = (size_t)l->dims.in, r = (size_t)l->dims.rank;
    size_t g = (size_t)l->dims.groups;
    if (!l->dropped)
        return ar_gemm(ctx, false, true, rows, g * r, in, 1.0f, l->x, in, w->a, in, 0.0f, l->u,
                       g * r);
    enum ar_status st = ar__lora_dropout(l, n);
    if (st != AR_STATUS_OK) return st;
    return ar_gemm_strided_batched(ctx, false, true, rows, r, in, 1.0f, l->xd, in, rows * in, w->a,
                                   in, r * in, 0.0f, l->u, g * r, r, g);
}

enum ar_status ar_lora_forward(struct ar_lora_layer *layer, int n, struct ar_mem x,
                               const struct ar_lora_weights *w, struct ar_mem y, bool training,
                               uint64_t seed, uint64_t step)
{
    if (!layer) return AR_STATUS_INVALID_ARGUMENT;
    struct ar_lora_layer *l = layer;
    struct ar_ctx *ctx = l->ctx;
    const struct ar_lora_dims *d = &l->dims;
    if (n < 1 || n > d->n)
        return ar__fail(ctx, AR_STATUS_SHAPE_MISMATCH,
                        "lora forward: n=%d rows, but the layer was made for 1..%d (dims.n)", n,
                        d->n);
    if (!ar_mem_present(x) || !ar_mem_present(y))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "lora forward: input X %s, output Y %s",
                        ar_mem_present(x) ? "given" : "missing",
                        ar_mem_present(y) ? "given" : "missing");
    enum ar_status st = ar__lora_check_weights(l, w, "lora forward");
    if (st != AR_STATUS_OK) return st;
    l->have_forward = false;
    size_t rows = (size_t)n, in = (size_t)d->in, out = (size_t)d->out, g = (size_t)d->groups;
    size_t r = (size_t)d->rank, cols = g * out;

    /* Frozen part: Y = X·Wᵀ + b, all members in one product. */
    bool bias = ar_mem_present(w->bias);
    if (bias) st = bias_fill(l, n, y, w->bias);
    if (st == AR_STATUS_OK)
        st = ar_gemm(ctx, false, true, rows, cols, in, 1.0f, x, in, w->w, in, bias ? 1.0f : 0.0f, y,
                     cols);
    if (st != AR_STATUS_OK || r == 0) {
        l->n = n;
        l->dropped = false;
        l->have_forward = st == AR_STATUS_OK;
        return st;
    }

    /* LoRA branch. X is copied because backward needs it (dA) after the caller moved on. */
    l->dropped = training && l->opts.dropout > 0.0f;
    l->seed = seed;
    l->step = step;
    st = ar_mem_copy(ctx, l->x, x, rows * in);
    if (st == AR_STATUS_OK) st = down_projection(l, n, w);
    struct ar_mem vin = l->u;
    float alpha = l->opts.scale;
    if (st == AR_STATUS_OK && !l->opts.plain) {
        st = gate_forward(l, n, w);
        vin = l->v;
        alpha = 1.0f; /* s is folded into V */
    }
    /* Y_k += alpha·V_k·B_kᵀ: V_k is columns k·R.. of V, B_k the k-th (out, R) block. */
    if (st == AR_STATUS_OK)
        st = ar_gemm_strided_batched(ctx, false, true, rows, out, r, alpha, vin, g * r, r, w->b, r,
                                     out * r, 1.0f, y, cols, out, g);
    l->n = n;
    l->have_forward = st == AR_STATUS_OK;
    return st;
}
