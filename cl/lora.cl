/* The elementwise and reduction parts of the gated LoRA layer (core/lora.c); every product of
 * the layer is a CLBlast call and is not here.
 *
 * Shapes (lora.h): N rows, G members, R rank, IN input features, OUT output features per member.
 *     Y   (N, G·OUT)  output;      b (G·OUT) bias
 *     X   (N, IN)     input;       Xd (G, N, IN) per-member dropped input X̃_k
 *     U   (N, G·R)    X̃·Aᵀ;        V (N, G·R) = s·U ⊙ (g ⊙ m), what B multiplies
 *     g, m (G·R)      gates and active-rank mask (m optional: has_mask = 0 means all ones)
 *
 * Dropout (METHODS.md §0.1, PEFT's nn.Dropout): X̃_k = X ⊙ keep_k / (1 − p), keep_k(n, i) =
 * [u ≥ p] with u = ar_uniform(seed, stream(step, k), n·IN + i). The mask is a pure function of
 * (seed, step, member, element), so backward regenerates it instead of storing it, and it is the
 * same on every device.
 *
 * Work-item mapping: the elementwise kernels are 2-D, dimension 0 along the contiguous row
 * (columns), dimension 1 along rows; lora_gate_backward runs one work-group of AR_WGS items per
 * column j of U and reduces over the rows in local memory.
 * Tunables: AR_WGS (prelude.cl), the work-group size of lora_gate_backward (a power of two).
 */

/* Stream of member k at `step`: the step's two halves are hashed so that consecutive steps and
 * members give unrelated streams. */
inline uint lora_stream(uint step_lo, uint step_hi, uint member)
{
    return ar_hash(step_lo ^ ar_hash(step_hi)) + member;
}

inline float lora_keep(uint seed_lo, uint seed_hi, uint step_lo, uint step_hi, uint member,
                       uint index, float p)
{
    return ar_uniform(seed_lo, seed_hi, lora_stream(step_lo, step_hi, member), index) >= p ? 1.0f
                                                                                            : 0.0f;
}

/* Y[n, c] = b[c] (or 0 without bias), the C operand of the frozen GEMM (beta = 1). */
__kernel void lora_bias_fill(__global float *y, uint y_off, __global const float *b, uint b_off,
                             uint has_bias, uint n, uint cols)
{
    uint c = get_global_id(0), r = get_global_id(1);
    if (c >= cols || r >= n)
        return;
    y[y_off + (size_t)r * cols + c] = has_bias ? b[b_off + c] : 0.0f;
}

/* Xd[k, r, i] = X[r, i] · keep_k(r, i) · keep_scale for every member k: one item per (i, r).
 * keep_scale = 1/(1 − p) comes from the host (rounded once, like PyTorch's), since OpenCL's float
 * division is not correctly rounded and forward and backward must agree on every device. */
__kernel void lora_dropout(__global float *xd, uint xd_off, __global const float *x, uint x_off,
                           uint n, uint in, uint groups, float p, float keep_scale, uint seed_lo,
                           uint seed_hi, uint step_lo, uint step_hi)
{
    uint i = get_global_id(0), r = get_global_id(1);
    if (i >= in || r >= n)
        return;
    uint index = r * in + i;
    float xv = x[x_off + index] * keep_scale;
    for (uint k = 0; k < groups; k++)
        xd[xd_off + (size_t)k * n * in + index] =
            xv * lora_keep(seed_lo, seed_hi, step_lo, step_hi, k, index, p);
}

/* dX[r, i] += Σ_k T[k, r, i] · keep_k(r, i) · keep_scale: the LoRA branch's input gradient through
 * each member's dropout, with T_k = dU_k·A_k computed by CLBlast. */
__kernel void lora_dropout_dx(__global float *dx, uint dx_off, __global const float *t, uint t_off,
                              uint n, uint in, uint groups, float p, float keep_scale,
                              uint seed_lo, uint seed_hi, uint step_lo, uint step_hi)
{
    uint i = get_global_id(0), r = get_global_id(1);
    if (i >= in || r >= n)
        return;
    uint index = r * in + i;
    float sum = 0.0f;
    for (uint k = 0; k < groups; k++)
        sum += t[t_off + (size_t)k * n * in + index] *
               lora_keep(seed_lo, seed_hi, step_lo, step_hi, k, index, p);
    dx[dx_off + index] += sum * keep_scale;
}

/* V[r, j] = s · U[r, j] · g[j] · m[j]: the gate pass of the forward (U is kept for backward). */
__kernel void lora_gate_forward(__global float *v, uint v_off, __global const float *u, uint u_off,
                                __global const float *g, uint g_off, __global const float *m,
                                uint m_off, uint has_mask, uint n, uint cols, float scale)
{
    uint j = get_global_id(0), r = get_global_id(1);
    if (j >= cols || r >= n)
        return;
    float gm = scale * g[g_off + j] * (has_mask ? m[m_off + j] : 1.0f);
    size_t e = (size_t)r * cols + j;
    v[v_off + e] = u[u_off + e] * gm;
}

/* The gate pass of the backward, for column j of the (N, G·R) matrices (one work-group each):
 *     dg[j] += s · m[j] · Σ_r dV[r, j] · U[r, j]      (if has_dg)
 *     dU[r, j] = s · g[j] · m[j] · dV[r, j]          (in place over dV)
 * The reduction is a fixed tree over a fixed row split, so the result is deterministic. */
__kernel void lora_gate_backward(__global float *dv, uint dv_off, __global const float *u,
                                 uint u_off, __global const float *g, uint g_off,
                                 __global const float *m, uint m_off, uint has_mask,
                                 __global float *dg, uint dg_off, uint has_dg, uint n, uint cols,
                                 float scale)
{
    __local float partial[AR_WGS];
    uint j = get_group_id(0), lid = get_local_id(0);
    if (j >= cols) /* uniform across the group: no barrier is skipped by part of it */
        return;
    float sm = scale * (has_mask ? m[m_off + j] : 1.0f);
    float gsm = sm * g[g_off + j];
    float sum = 0.0f;
    for (uint r = lid; r < n; r += AR_WGS) {
        size_t e = (size_t)r * cols + j;
        float d = dv[dv_off + e];
        sum += d * u[u_off + e];
        dv[dv_off + e] = d * gsm;
    }
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint width = AR_WGS / 2; width > 0; width /= 2) {
        if (lid < width)
            partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && has_dg)
        dg[dg_off + j] += sm * partial[0];
}
