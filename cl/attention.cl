/* Scaled dot-product attention: everything except the two big products (those are CLBlast
 * strided-batched GEMMs over B·H, see core/attention.c).
 *
 *   attention_permute:   src (B, T, C) with row stride ld → dst (B, H, T, DP), C = H·D, or
 *                        (B, H, DP, T) when transposed: one of q, k, v out of BERT's / GPT-2's
 *                        fused projection (ld = 3C, src at the block's column), or dout into
 *                        per-head layout for the backward pass. DP ≥ D is the head size as
 *                        stored (core/attention.c pads it on CPU devices); the DP − D padding
 *                        entries are written as zeros, so the products over DP equal those
 *                        over D whatever the buffer held before.
 *   attention_unpermute: the inverse, (B, H, T, DP) or (B, H, DP, T) → (B, T, C) with row stride
 *                        ld, the padding left out: the heads of the output concatenated, or dq,
 *                        dkᵀ, dvᵀ each into its block of dqkv.
 *   attention_softmax_forward: in place over the scaled scores (B, H, T, T): row (b, h, i)
 *                        becomes softmax over the keys j that are kept — key_mask[b, j] ≠ 0 (when
 *                        has_mask) and j ≤ i (when causal). Masked keys get probability exactly 0,
 *                        and a row with no kept key (a fully padded sequence) is all zeros
 *                        instead of the 0/0 = NaN a −∞ mask would give.
 *   attention_softmax_backward: in place over dP (B, H, T, T): dS = P ⊙ (dP − Σ_j P·dP), the
 *                        softmax Jacobian-vector product; masked entries have P = 0, so dS = 0.
 *
 * Work-items: the permutes use a 3-D range (DP or D, H, B·T), one work-item per element, a head's
 * contiguous floats along dimension 0 so both sides' accesses are contiguous. The softmaxes use one
 * work-group of AR_WGS work-items per row of T (global B·H·T·AR_WGS) with local-memory reductions;
 * their _rows variants, for CPU devices, one work-item per row.
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

/* Offset of element (b, h, t, d) of a (B, H, T, DP) tensor, or of a (B, H, DP, T) one (each
 * head's matrix transposed) when transposed. */
inline size_t att_head_index(int bi, int hi, int ti, int di, int h, int t, int dp, int transposed)
{
    size_t head = ((size_t)bi * h + hi) * t * dp;
    return head + (transposed ? (size_t)di * t + ti : (size_t)ti * dp + di);
}

/* One work-item per element, in a 3-D range (DP, H, B·T): dimension 0 runs along a head's
 * contiguous floats on both sides, and the divisions that split B·T are uniform over a
 * work-group (one head vector), not paid per element as a flat index would. */
__kernel void attention_permute(int b, int t, int h, int d, int dp, int ld, int transposed,
                                __global const float *src, uint src_off, __global float *dst,
                                uint dst_off)
{
    int di = (int)get_global_id(0), hi = (int)get_global_id(1), bt = (int)get_global_id(2);
    if (di >= dp || hi >= h || bt >= b * t)
        return;
    dst[dst_off + att_head_index(bt / t, hi, bt % t, di, h, t, dp, transposed)] =
        di < d ? src[src_off + (size_t)bt * ld + (size_t)hi * d + di] : 0.0f;
}

/* Range (D, H, B·T): the padding is not read. */
__kernel void attention_unpermute(int b, int t, int h, int d, int dp, int ld, int transposed,
                                  __global const float *src, uint src_off, __global float *dst,
                                  uint dst_off)
{
    int di = (int)get_global_id(0), hi = (int)get_global_id(1), bt = (int)get_global_id(2);
    if (di >= d || hi >= h || bt >= b * t)
        return;
    dst[dst_off + (size_t)bt * ld + (size_t)hi * d + di] =
        src[src_off + att_head_index(bt / t, hi, bt % t, di, h, t, dp, transposed)];
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

/* The same two softmaxes with one work-item per row, for CPU devices (the host picks, see
 * core/attention.c): a work-item walks its row three times (max, exponentials and their sum,
 * scaling), with no local memory and no barriers. On PoCL's CPU device each barrier splits the
 * kernel into regions run as separate loops over the work-group, and a group per row paid that
 * for each of the B·H·T rows: 41 ms against 13 ms per MiniLM layer at batch 16 × 128. The
 * exponentials are computed once and kept in the row between the second and third walk.
 *
 * Each walk takes the row eight floats at a time (vload8/vstore8, then a scalar tail). PoCL
 * vectorises across work-items only in straight-line code; inside a per-row loop a scalar exp
 * ran one element at a time (18 ms for 16·12·128 rows of 128 in a micro-benchmark), exp on a
 * float8 runs its SIMD form (2.4 ms). The sums are then eight partial sums added at the end,
 * a different rounding order from the group kernels (each within float32 rounding of the
 * exact sum; test_attention compares both with a double reference). */

/* Eight keys' mask: all-ones lanes where the key is dropped (key_mask 0). */
inline int8 att_dropped8(__global const float *km, int j, int has_mask)
{
    return has_mask ? isequal(vload8(0, km + j), (float8)(0.0f)) : (int8)(0);
}

__kernel void attention_softmax_forward_rows(int b, int h, int t, int causal,
                                             __global const float *key_mask, uint key_mask_off,
                                             int has_mask, __global float *s, uint s_off)
{
    int row = (int)get_global_id(0); /* (bi·H + hi)·T + i */
    if (row >= b * h * t)
        return;
    int i = row % t, bi = row / (h * t);
    int keys = causal ? min(i + 1, t) : t;
    int vec = keys & ~7; /* keys in whole float8s */
    __global const float *km = key_mask + key_mask_off + (size_t)bi * t;
    __global float *sr = s + s_off + (size_t)row * t;
    float8 m8 = (float8)(-INFINITY);
    for (int j = 0; j < vec; j += 8) {
        float8 v = vload8(0, sr + j);
        m8 = fmax(m8, select(v, (float8)(-INFINITY), att_dropped8(km, j, has_mask)));
    }
    float m = ar_max8(m8);
    for (int j = vec; j < keys; j++)
        if (!has_mask || km[j] != 0.0f)
            m = fmax(m, sr[j]);
    float8 sum8 = (float8)(0.0f);
    for (int j = 0; j < vec; j += 8) {
        float8 e = exp(vload8(0, sr + j) - m);
        e = select(e, (float8)(0.0f), att_dropped8(km, j, has_mask));
        vstore8(e, 0, sr + j);
        sum8 += e;
    }
    float sum = ar_sum8(sum8);
    for (int j = vec; j < keys; j++) {
        float e = !has_mask || km[j] != 0.0f ? exp(sr[j] - m) : 0.0f;
        sr[j] = e;
        sum += e;
    }
    float inv = m == -INFINITY ? 0.0f : 1.0f / sum; /* no kept key: all zeros, not NaN */
    for (int j = 0; j < vec; j += 8)
        vstore8(vload8(0, sr + j) * inv, 0, sr + j);
    for (int j = vec; j < t; j++)
        sr[j] = j < keys ? sr[j] * inv : 0.0f;
}

__kernel void attention_softmax_backward_rows(int rows, int t, __global const float *p,
                                              uint p_off, __global float *dp, uint dp_off)
{
    int row = (int)get_global_id(0);
    if (row >= rows)
        return;
    __global const float *pr = p + p_off + (size_t)row * t;
    __global float *dr = dp + dp_off + (size_t)row * t;
    int vec = t & ~7;
    float8 dot8 = (float8)(0.0f);
    for (int j = 0; j < vec; j += 8)
        dot8 += vload8(0, pr + j) * vload8(0, dr + j);
    float dot = ar_sum8(dot8);
    for (int j = vec; j < t; j++)
        dot += pr[j] * dr[j];
    for (int j = 0; j < vec; j += 8)
        vstore8(vload8(0, pr + j) * (vload8(0, dr + j) - dot), 0, dr + j);
    for (int j = vec; j < t; j++)
        dr[j] = pr[j] * (dr[j] - dot);
}
