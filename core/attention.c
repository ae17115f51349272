/* Scaled dot-product attention over a fused q|k|v projection (host side of cl/attention.cl).
 *
 * Forward, for the B·H (batch, head) pairs at once:
 *     q, k, v (B, H, T, D)  = permute(qkv (B, T, 3C))                       our kernel
 *     S (B, H, T, T)        = q·kᵀ / sqrt(D)                                 CLBlast, batched
 *     P                     = masked softmax over each row of S              our kernel
 *     out_h (B, H, T, D)    = P·v                                            CLBlast, batched
 *     out (B, T, C)         = heads concatenated                            our kernel
 * Backward (Vaswani et al. 2017 eq. 1 differentiated; dS is the softmax Jacobian-vector product):
 *     dv = Pᵀ·dout_h,  dP = dout_h·vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),
 *     dq = dS·k / sqrt(D),  dk = dSᵀ·q / sqrt(D).
 * The workspace holds q, k, v and P of the last forward call, so backward needs only dout.
 *
 * k and v are kept transposed per head, (D, T), and dk, dv are computed transposed
 * (dkᵀ = qᵀ·dS, dvᵀ = dout_hᵀ·P): the permute kernels transpose for free on the way in and
 * out, and CLBlast's batched products are faster in these forms. On PoCL's CPU device, with
 * T = 128 and D = 32, the products with 32 output columns took 18-25 ms per call as NN or TN
 * with 128 rows, and 10-17 ms as NT, or as TN with 32 rows; S = q·kᵀ took 2.5-3.2 ms as NN
 * against 3.8-5.1 as NT.
 *
 * On CPU devices a head size D from 32 to 63 is stored padded to DP = 64 (zeros, written by
 * the permute kernel), and every product runs over DP instead of D: the results are the same,
 * since the padding adds exact zeros. CLBlast pads a 32-wide operand to its 64-wide tiles
 * itself, copying every one of the B·H matrices to do so; on PoCL's CPU device (T = 128, 192
 * matrices, D = 32) the products with D output columns or rows took 10-13 ms a call, and over
 * DP = 64, twice the multiply-adds, 4.7-6.5 ms in the same forms; S = q·kᵀ and dP went from
 * 2.3 to 4.6 ms. Memory: the six per-head tensors double. Calls with T < 64 keep D (see
 * ar_attention_forward). ADARANK_ATTENTION_HEAD_PAD=N overrides the choice: pad to a multiple
 * of N, 0 for none.
 */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

struct ar_attention {
    struct ar_ctx *ctx;
    struct ar_attention_dims dims;
    /* Per-head tensors, one buffer each so that every operand of the batched products starts
     * at offset 0 and is packed (CLBlast's strided-batched routine needs that; blas.c would
     * otherwise copy each view into scratch first). k, v and their gradients are stored with
     * each head's matrix transposed, (D, T): see the header comment. */
    struct ar_mem heads[3];  /* q (B, H, T, DP), kᵀ and vᵀ (B, H, DP, T) of the last forward */
    struct ar_mem probs;     /* (B, H, T, T): P of the last forward */
    struct ar_mem dprobs;    /* (B, H, T, T): dP, then dS in place, during backward */
    struct ar_mem dheads[3]; /* [0] (B, H, T, DP): out_h in forward, dout_h then dq in backward;
                              * [1] dkᵀ, [2] dvᵀ (B, H, DP, T) */
    int dp_max;              /* the buffers' head size: D, or D padded (see the header) */
    int dp;                  /* the last forward's stored head size: dp_max, or D when T is short */
    int b, t;             /* shape of the last forward; 0 before the first */
    bool row_per_item;       /* softmax kernels: one work-item per row (else a group per row) */
};

void ar_attention_free(struct ar_attention *att)
{
    if (!att)
        return;
    for (int g = 0; g < 3; g++) {
        ar_mem_release(&att->heads[g]);
        ar_mem_release(&att->dheads[g]);
    }
    ar_mem_release(&att->probs);
    ar_mem_release(&att->dprobs);
    free(att);
}

static enum ar_status check_dims(struct ar_ctx *ctx, const struct ar_attention_dims *d)
{
    if (!d)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "ar_attention_new: dims is NULL");
    if (d->batch <= 0 || d->time <= 0 || d->heads <= 0 || d->head_size <= 0)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "ar_attention_new: batch=%d time=%d heads=%d head_size=%d must all be "
                        "positive",
                        d->batch, d->time, d->heads, d->head_size);
    /* The kernels index with 32-bit ints: the largest tensors must stay below INT_MAX. */
    double bh = (double)d->batch * d->heads;
    double big = fmax(bh * d->time * d->time, 3.0 * bh * d->time * (d->head_size + 64.0));
    if (big > (double)INT_MAX)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "ar_attention_new: workspace of %.0f floats per tensor exceeds %d", big,
                        INT_MAX);
    return AR_STATUS_OK;
}

#define PAD_MIN_TIME 64 /* shortest sequence whose per-head tensors are stored padded */

/* The stored head size (see the header comment): D rounded up to a multiple of
 * ADARANK_ATTENTION_HEAD_PAD when that is set (0: no padding), else 64 for 32 ≤ D < 64 on CPU
 * devices, where it was measured, and D elsewhere. */
static int choose_padded_head(const struct ar_ctx *ctx, int d)
{
    const char *forced = getenv("ADARANK_ATTENTION_HEAD_PAD");
    int multiple = forced && *forced ? atoi(forced) : -1;
    if (multiple < 0 || multiple > 1024)
        multiple = ctx->info.type == AR_DEVICE_TYPE_CPU && d >= 32 && d < 64 ? 64 : 0;
    return multiple > 0 ? (d + multiple - 1) / multiple * multiple : d;
}

enum ar_status ar_attention_new(struct ar_ctx *ctx, const struct ar_attention_dims *dims,
                                struct ar_attention **out)
{
    if (!out)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "ar_attention_new: out is NULL");
    *out = NULL;
    enum ar_status st = check_dims(ctx, dims);
    if (st != AR_STATUS_OK)
        return st;
    struct ar_attention *att = calloc(1, sizeof *att);
    if (!att)
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "ar_attention_new: host struct");
    att->ctx = ctx;
    att->dims = *dims;
    att->row_per_item = ar__ops_row_per_item(ctx); /* softmax: ops_internal.h */
    /* A workspace that never sees T >= PAD_MIN_TIME never pads: no memory for it. */
    att->dp_max = dims->time >= PAD_MIN_TIME ? choose_padded_head(ctx, dims->head_size)
                                             : dims->head_size;
    size_t bh = (size_t)dims->batch * (size_t)dims->heads;
    size_t n_head = bh * (size_t)dims->time * (size_t)att->dp_max;
    size_t n_probs = bh * (size_t)dims->time * (size_t)dims->time;
    for (int g = 0; g < 3 && st == AR_STATUS_OK; g++) {
        st = ar_mem_alloc(ctx, n_head, &att->heads[g]);
        if (st == AR_STATUS_OK)
            st = ar_mem_alloc(ctx, n_head, &att->dheads[g]);
        /* Zeroed once so that no product ever meets uninitialised memory (NaN bit patterns). */
        if (st == AR_STATUS_OK)
            st = ar_mem_fill(ctx, att->dheads[g], 0.0f, n_head);
    }
    if (st == AR_STATUS_OK)
        st = ar_mem_alloc(ctx, n_probs, &att->probs);
    if (st == AR_STATUS_OK)
        st = ar_mem_alloc(ctx, n_probs, &att->dprobs);
    if (st == AR_STATUS_OK)
        st = ar_mem_fill(ctx, att->dprobs, 0.0f, n_probs);
    if (st != AR_STATUS_OK) {
        ar_attention_free(att);
        return st;
    }
    *out = att;
    return AR_STATUS_OK;
}

/* The (B, T, C) view src, rows ld floats apart, into the per-head dst (B, H, T, DP), or
 * (B, H, DP, T) when transposed, padding zeroed; inverse: the per-head src back into the view
 * dst, padding left out. */
static enum ar_status permute(struct ar_attention *att, bool inverse, struct ar_mem src,
                              struct ar_mem dst, int ld, bool transposed)
{
    struct ar_ctx *ctx = att->ctx;
    const char *name = inverse ? "attention_unpermute" : "attention_permute";
    cl_kernel k;
    enum ar_status st = ar__ops_row_kernel(ctx, "attention", name, &k);
    if (st != AR_STATUS_OK)
        return st;
    int h = att->dims.heads, d = att->dims.head_size, dp = att->dp;
    cl_uint s_off = ar__ops_off(src), d_off = ar__ops_off(dst);
    cl_int tr = transposed;
    st = ar__args(ctx, k, name, 11, AR__ARG(att->b), AR__ARG(att->t), AR__ARG(h), AR__ARG(d),
                  AR__ARG(dp), AR__ARG(ld), AR__ARG(tr), AR__ARG(src.buf), AR__ARG(s_off),
                  AR__ARG(dst.buf), AR__ARG(d_off));
    if (st != AR_STATUS_OK)
        return st;
    /* Work-groups of one head vector (the permute writes its padding too) when the device
     * allows, else the driver's choice. */
    size_t width = inverse ? (size_t)d : (size_t)dp;
    size_t global[3] = {width, (size_t)h, (size_t)att->b * att->t};
    size_t local[3] = {width, 1, 1};
    bool fits = width <= ctx->info.max_work_group_size;
    return ar__launch(ctx, k, name, 3, global, fits ? local : NULL);
}

/* One launch of a softmax kernel over the B·H·T rows; args already set. */
static enum ar_status launch_rows(struct ar_attention *att, cl_kernel k, const char *name)
{
    size_t rows = (size_t)att->b * att->dims.heads * att->t;
    return ar__ops_launch_rows_as(att->ctx, k, name, rows, att->row_per_item);
}

static enum ar_status softmax_forward(struct ar_attention *att, struct ar_mem key_mask)
{
    struct ar_ctx *ctx = att->ctx;
    cl_kernel k;
    const char *name =
        att->row_per_item ? "attention_softmax_forward_rows" : "attention_softmax_forward";
    enum ar_status st = ar__ops_row_kernel(ctx, "attention", name, &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_int has_mask = ar_mem_present(key_mask), causal = att->dims.causal;
    if (!has_mask)
        key_mask = att->probs; /* never read: the kernel needs some buffer in the slot */
    cl_uint m_off = ar__ops_off(key_mask), p_off = ar__ops_off(att->probs);
    st = ar__args(ctx, k, name, 9, AR__ARG(att->b), AR__ARG(att->dims.heads), AR__ARG(att->t),
                  AR__ARG(causal), AR__ARG(key_mask.buf), AR__ARG(m_off), AR__ARG(has_mask),
                  AR__ARG(att->probs.buf), AR__ARG(p_off));
    return st != AR_STATUS_OK ? st : launch_rows(att, k, name);
}

static enum ar_status softmax_backward(struct ar_attention *att)
{
    struct ar_ctx *ctx = att->ctx;
    cl_kernel k;
    const char *name =
        att->row_per_item ? "attention_softmax_backward_rows" : "attention_softmax_backward";
    enum ar_status st = ar__ops_row_kernel(ctx, "attention", name, &k);
    if (st != AR_STATUS_OK)
        return st;
    cl_int rows = att->b * att->dims.heads * att->t;
    cl_uint p_off = ar__ops_off(att->probs), d_off = ar__ops_off(att->dprobs);
    st = ar__args(ctx, k, name, 6, AR__ARG(rows), AR__ARG(att->t), AR__ARG(att->probs.buf),
                  AR__ARG(p_off), AR__ARG(att->dprobs.buf), AR__ARG(d_off));
    return st != AR_STATUS_OK ? st : launch_rows(att, k, name);
}

/* Batched product over the B·H pairs of (T, ·) per-head matrices: c = alpha·op(a)·op(b). */
static enum ar_status heads_gemm(struct ar_attention *att, bool ta, bool tb, size_t m, size_t n,
                                 size_t k, float alpha, struct ar_mem a, struct ar_mem b,
                                 struct ar_mem c)
{
    size_t lda = ta ? m : k, ldb = tb ? k : n;
    size_t rows_a = ta ? k : m, rows_b = tb ? n : k;
    size_t batch = (size_t)att->b * att->dims.heads;
    return ar_gemm_strided_batched(att->ctx, ta, tb, m, n, k, alpha, a, lda, rows_a * lda, b, ldb,
                                   rows_b * ldb, 0.0f, c, n, m * n, batch);
}

enum ar_status ar_attention_forward(struct ar_attention *att, int b, int t, struct ar_mem qkv,
                                    struct ar_mem key_mask, struct ar_mem out)
{
    if (!att)
        return AR_STATUS_INVALID_ARGUMENT; /* no context to record a message in */
    struct ar_ctx *ctx = att->ctx;
    const char *what = "ar_attention_forward";
    att->b = att->t = 0; /* a failed forward leaves nothing for backward */
    if (b <= 0 || t <= 0 || b > att->dims.batch || t > att->dims.time)
        return ar__fail(ctx, AR_STATUS_SHAPE_MISMATCH,
                        "%s: b=%d t=%d must be in 1..%d and 1..%d (the workspace's dims)", what, b,
                        t, att->dims.batch, att->dims.time);
    enum ar_status st = ar__ops_need(ctx, what, "qkv", qkv);
    if (st == AR_STATUS_OK)
        st = ar__ops_need(ctx, what, "out", out);
    if (st == AR_STATUS_OK && ar_mem_present(key_mask))
        st = ar__ops_need(ctx, what, "key_mask", key_mask);
    if (st != AR_STATUS_OK)
        return st;
    att->b = b;
    att->t = t;
    /* Padding pays from T = 64 on. Shorter, the products stay on XgemmDirect either way (the
     * PoCL tables send products below 64³ multiply-adds there), where twice the multiply-adds
     * cost about twice the time: a MiniLM step at batch 16 × 32 took 6-16% longer padded; at
     * 16 × 64, where the padded products reach the tiled kernel, 20-41% less. */
    att->dp = t >= PAD_MIN_TIME ? att->dp_max : att->dims.head_size;
    size_t dp = (size_t)att->dp; /* the products run over the stored head size */
    int c = att->dims.heads * att->dims.head_size;
    struct ar_mem q = att->heads[0], kt = att->heads[1], vt = att->heads[2];
    float scale = 1.0f / sqrtf((float)att->dims.head_size);
    for (int g = 0; g < 3 && st == AR_STATUS_OK; g++) /* q, kᵀ, vᵀ: column blocks of qkv */
        st = permute(att, false, ar_mem_at(qkv, (size_t)g * c), att->heads[g],
                     3 * c, g > 0);
    if (st == AR_STATUS_OK) /* S = q·kᵀ/sqrt(D) */
        st = heads_gemm(att, false, false, t, t, dp, scale, q, kt, att->probs);
    if (st == AR_STATUS_OK)
        st = softmax_forward(att, key_mask);
    if (st == AR_STATUS_OK) /* out_h = P·v = P·(vᵀ)ᵀ */
        st = heads_gemm(att, false, true, t, dp, t, 1.0f, att->probs, vt, att->dheads[0]);
    if (st == AR_STATUS_OK)
        st = permute(att, true, att->dheads[0], out, c, false);
    if (st != AR_STATUS_OK)
        att->b = att->t = 0;
    return st;
}

enum ar_status ar_attention_backward(struct ar_attention *att, struct ar_mem dout,
                                     struct ar_mem dqkv)
{
    if (!att)
        return AR_STATUS_INVALID_ARGUMENT;
    struct ar_ctx *ctx = att->ctx;
    const char *what = "ar_attention_backward";
    if (att->b == 0)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: no successful forward call to differentiate", what);
    enum ar_status st = ar__ops_need(ctx, what, "dout", dout);
    if (st == AR_STATUS_OK)
        st = ar__ops_need(ctx, what, "dqkv", dqkv);
    if (st != AR_STATUS_OK)
        return st;
    size_t t = (size_t)att->t, d = (size_t)att->dp; /* products over the stored head size */
    int c = att->dims.heads * att->dims.head_size;
    struct ar_mem q = att->heads[0], kt = att->heads[1], vt = att->heads[2];
    struct ar_mem dq = att->dheads[0], dkt = att->dheads[1], dvt = att->dheads[2];
    struct ar_mem dout_h = dq; /* dq is written last, after dout_h's two readers */
    float scale = 1.0f / sqrtf((float)att->dims.head_size);
    st = permute(att, false, dout, dout_h, c, false);
    if (st == AR_STATUS_OK) /* dvᵀ = (Pᵀ·dout_h)ᵀ = dout_hᵀ·P */
        st = heads_gemm(att, true, false, d, t, t, 1.0f, dout_h, att->probs, dvt);
    if (st == AR_STATUS_OK) /* dP = dout_h·vᵀ */
        st = heads_gemm(att, false, false, t, t, d, 1.0f, dout_h, vt, att->dprobs);
    if (st == AR_STATUS_OK) /* dS, in place */
        st = softmax_backward(att);
    if (st == AR_STATUS_OK) /* dkᵀ = (dSᵀ·q)ᵀ/sqrt(D) = qᵀ·dS/sqrt(D) */
        st = heads_gemm(att, true, false, d, t, t, scale, q, att->dprobs, dkt);
    if (st == AR_STATUS_OK) /* dq = dS·k/sqrt(D) = dS·(kᵀ)ᵀ/sqrt(D) */
        st = heads_gemm(att, false, true, t, d, t, scale, att->dprobs, kt, dq);
    for (int g = 0; g < 3 && st == AR_STATUS_OK; g++) /* dq, dk, dv: column blocks of dqkv */
        st = permute(att, true, att->dheads[g], ar_mem_at(dqkv, (size_t)g * c),
                     3 * c, g > 0);
    return st;
}
