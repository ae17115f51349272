/* Rotary position embedding (Su et al. 2021, "RoFormer", eq. 34) in transformers' rotate-half
 * layout, fused with grouped-query key/value expansion and packing into the [q | k | v] layout
 * ar_attention reads (ops.h).
 *
 *   rope(x)_i       = x_i·cos(t·θ_i) − x_{i+D/2}·sin(t·θ_i)       i < D/2
 *   rope(x)_{i+D/2} = x_{i+D/2}·cos(t·θ_i) + x_i·sin(t·θ_i),      θ_i = base^(−2i/D)
 *
 *   forward:  q (N, H·D), kv (N, 2·KV·D) = [k | v]; cos, sin (T, D/2) tables;
 *             qkv (N, 3·H·D): [rope(q) | rope(k) | v], query head h reading key/value head
 *             h / (H/KV) (transformers' repeat_kv), t = row mod T.
 *   backward: dq (N, H·D) = ropeᵀ(dq block); dkv (N, 2·KV·D) = Σ over the H/KV query heads
 *             sharing a key/value head of ropeᵀ(dk block) and of the dv block (no atomics: each
 *             output element sums its own heads, so the result is deterministic).
 *
 * Work-items: one per output element, 2-D (column, row); global sizes rounded up, bounds-checked.
 * h2 = D/2 ("half" is an OpenCL type name).
 */

__kernel void rope_qkv_forward(int n, int t, int heads, int kv_heads, int d,
                               __global const float *q, uint q_off, __global const float *kv,
                               uint kv_off, __global const float *cosv, uint cos_off,
                               __global const float *sinv, uint sin_off, __global float *qkv,
                               uint qkv_off)
{
    int col = (int)get_global_id(0), row = (int)get_global_id(1);
    int c = heads * d, ckv = kv_heads * d, h2 = d / 2;
    if (col >= 3 * c || row >= n)
        return;
    int block = col / c, h = (col % c) / d, i = col % d;
    int kvh = h / (heads / kv_heads);
    float out;
    if (block == 2) {
        out = kv[kv_off + (size_t)row * 2 * ckv + ckv + kvh * d + i];
    } else {
        __global const float *x = block == 0 ? q + q_off + (size_t)row * c + h * d
                                             : kv + kv_off + (size_t)row * 2 * ckv + kvh * d;
        int pos = row % t, j = i < h2 ? i : i - h2;
        float cs = cosv[cos_off + pos * h2 + j], sn = sinv[sin_off + pos * h2 + j];
        out = i < h2 ? x[i] * cs - x[i + h2] * sn : x[i] * cs + x[j] * sn;
    }
    qkv[qkv_off + (size_t)row * 3 * c + col] = out;
}

__kernel void rope_qkv_backward(int n, int t, int heads, int kv_heads, int d,
                                __global const float *dqkv, uint dqkv_off,
                                __global const float *cosv, uint cos_off,
                                __global const float *sinv, uint sin_off, __global float *dq,
                                uint dq_off, __global float *dkv, uint dkv_off)
{
    int col = (int)get_global_id(0), row = (int)get_global_id(1);
    int c = heads * d, ckv = kv_heads * d, h2 = d / 2, rep = heads / kv_heads;
    if (col >= c + 2 * ckv || row >= n)
        return;
    __global const float *g = dqkv + dqkv_off + (size_t)row * 3 * c;
    int pos = row % t;
    if (col >= c + ckv) { /* dv: the sum over the query heads sharing this value head */
        int kvh = (col - c - ckv) / d, i = (col - c - ckv) % d;
        float s = 0.0f;
        for (int r = 0; r < rep; r++)
            s += g[2 * c + (kvh * rep + r) * d + i];
        dkv[dkv_off + (size_t)row * 2 * ckv + ckv + kvh * d + i] = s;
        return;
    }
    bool is_q = col < c;
    int h0 = is_q ? col / d : (col - c) / d, i = (is_q ? col : col - c) % d;
    int j = i < h2 ? i : i - h2;
    float cs = cosv[cos_off + pos * h2 + j], sn = sinv[sin_off + pos * h2 + j];
    float s = 0.0f;
    int first = is_q ? h0 : h0 * rep, count = is_q ? 1 : rep, base = is_q ? 0 : c;
    for (int r = 0; r < count; r++) {
        __global const float *gh = g + base + (first + r) * d;
        /* ropeᵀ: dx_i = dy_i·cos + dy_{i+D/2}·sin;  dx_{i+D/2} = dy_{i+D/2}·cos − dy_i·sin */
        s += i < h2 ? gh[i] * cs + gh[i + h2] * sn : gh[i] * cs - gh[j] * sn;
    }
    if (is_q)
        dq[dq_off + (size_t)row * c + col] = s;
    else
        dkv[dkv_off + (size_t)row * 2 * ckv + h0 * d + i] = s;
}
