/* Scaled dot-product attention: everything except the two big products (those are CLBlast
 * strided-batched GEMMs over B·H, see core/attention.c).
 *
 *   attention_permute:   src (B, T, G·C) → dst (G, B, H, T, D), C = H·D. G = 3 splits BERT's /
 *                        GPT-2's fused q|k|v projection into per-head q, k, v; G = 1 turns dout
 *                        into per-head layout for the backward pass.
 *   attention_unpermute: the inverse, src (G, B, H, T, D) → dst (B, T, G·C): G = 1 concatenates
 *                        the heads of the output, G = 3 gathers dq, dk, dv into dqkv.
 *   attention_softmax_forward: in place over the scaled scores (B, H, T, T): row (b, h, i)
 *                        becomes softmax over the keys j that are kept — key_mask[b, j] ≠ 0 (when
 *                        has_mask) and j ≤ i (when causal). Masked keys get probability exactly 0,
 *                        and a row with no kept key (a fully padded sequence) is all zeros
 *                        instead of the 0/0 = NaN a −∞ mask would give.
 *   attention_softmax_backward: in place over dP (B, H, T, T): dS = P ⊙ (dP − Σ_j P·dP), the
 *                        softmax Jacobian-vector product; masked entries have P = 0, so dS = 0.
 *
 * Work-items: the permutes use a 2-D range (G·C, B·T), one work-item per element, the contiguous
 * (B, T, G·C) side indexed by dimension 0 so its accesses are coalesced. The softmaxes use one
 * work-group of AR_WGS work-items per row of T (global B·H·T·AR_WGS) with local-memory reductions.
 * Tunables: AR_WGS (power of two, set by the host with -D to the launch's local size).
 */

/* op(v) over the work-group (op: 0 sum, 1 max); every work-item gets the result. */
inline float att_group_reduce(float v, int op, __local float *scratch)
{
    int lid = (int)get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = AR_WGS / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] = op ? fmax(scratch[lid], scratch[lid + s])
                              : scratch[lid] + scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Offset of element (g, b, h, t, d) of a (G, B, H, T, D) tensor. */
inline size_t att_head_index(int g, int bi, int hi, int ti, int di, int b, int h, int t, int d)
{
    return ((((size_t)g * b + bi) * h + hi) * t + ti) * d + di;
}

__kernel void attention_permute(int b, int t, int h, int d, int groups, __global const float *src,
                                uint src_off, __global float *dst, uint dst_off)
{
    int col = (int)get_global_id(0); /* column of the (B·T, G·C) matrix */
    int bt = (int)get_global_id(1);
    int c = h * d;
    if (col >= groups * c || bt >= b * t)
        return;
    int g = col / c, hi = (col % c) / d, di = col % d;
    dst[dst_off + att_head_index(g, bt / t, hi, bt % t, di, b, h, t, d)] =
        src[src_off + (size_t)bt * groups * c + col];
}

__kernel void attention_unpermute(int b, int t, int h, int d, int groups,
                                  __global const float *src, uint src_off, __global float *dst,
                                  uint dst_off)
{
    int col = (int)get_global_id(0);
    int bt = (int)get_global_id(1);
    int c = h * d;
    if (col >= groups * c || bt >= b * t)
        return;
    int g = col / c, hi = (col % c) / d, di = col % d;
    dst[dst_off + (size_t)bt * groups * c + col] =
        src[src_off + att_head_index(g, bt / t, hi, bt % t, di, b, h, t, d)];
}

__kernel void attention_softmax_forward(int b, int h, int t, int causal,
                                        __global const float *key_mask, uint key_mask_off,
                                        int has_mask, __global float *s, uint s_off)
{
    __local float scratch[AR_WGS];
    int row = (int)get_group_id(0); /* (bi·H + hi)·T + i */
    int lid = (int)get_local_id(0);
    /* No early return before the barriers (PoCL 3.1, see layernorm.cl): a spare group works
     * on an empty row. */
    int len = row < b * h * t ? t : 0; /* length of this group's row */
    int i = row % t, bi = row / (h * t);
    int keys = causal ? min(i + 1, len) : len; /* keys j ≥ keys are masked by causality */
    __global const float *km = key_mask + key_mask_off + (size_t)bi * t;
    __global float *sr = s + s_off + (size_t)row * t;

    float m = -INFINITY;
    for (int j = lid; j < keys; j += AR_WGS)
        if (!has_mask || km[j] != 0.0f)
            m = fmax(m, sr[j]);
    m = att_group_reduce(m, 1, scratch);
    bool none_kept = m == -INFINITY;
    float sum = 0.0f;
    for (int j = lid; j < keys; j += AR_WGS)
        if (!has_mask || km[j] != 0.0f)
            sum += exp(sr[j] - m);
    sum = att_group_reduce(sum, 0, scratch);
    float inv = none_kept ? 0.0f : 1.0f / sum;
    for (int j = lid; j < len; j += AR_WGS) {
        bool kept = j < keys && (!has_mask || km[j] != 0.0f);
        sr[j] = kept ? exp(sr[j] - m) * inv : 0.0f;
    }
}

__kernel void attention_softmax_backward(int rows, int t, __global const float *p, uint p_off,
                                         __global float *dp, uint dp_off)
{
    __local float scratch[AR_WGS];
    int row = (int)get_group_id(0);
    int lid = (int)get_local_id(0);
    /* No early return before the barriers (PoCL 3.1, see layernorm.cl): a spare group works
     * on an empty row. */
    if (row >= rows)
        t = 0;
    __global const float *pr = p + p_off + (size_t)row * t;
    __global float *dr = dp + dp_off + (size_t)row * t;
    float dot = 0.0f;
    for (int j = lid; j < t; j += AR_WGS)
        dot += pr[j] * dr[j];
    dot = att_group_reduce(dot, 0, scratch);
    for (int j = lid; j < t; j += AR_WGS)
        dr[j] = pr[j] * (dr[j] - dot);
}
