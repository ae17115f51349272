/* AdamW over a flat range of parameters, and the sum of squares for global-norm clipping
 * (core/adamw.c; include/adarank/adamw.h).
 *
 * adamw_update: torch.optim.AdamW (PyTorch 1.13, single-tensor path; METHODS.md §0.3), one
 * work-item per parameter i < n, 1-D:
 *     grad ← grad·grad_scale
 *     p ← p·(1 − lr·wd)  where mask_i ≠ 0 (everywhere without a decay mask)
 *     m ← β1·m + (1 − β1)·grad,   v ← β2·v + (1 − β2)·grad²
 *     p ← p − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
 * with 1 − lr·wd, lr/bc1 and sqrt(bc2) (bc1 = 1 − β1ᵗ, bc2 = 1 − β2ᵗ) computed on the host in
 * double and rounded to float, as PyTorch turns its Python-scalar factors into the tensor's type.
 *
 * sum_squares_partial: stage 1 of a two-stage reduction. Work-group w (AR_WGS items) sums x_i²
 * over i ≡ w·AR_WGS + lid (mod groups·AR_WGS), reduces in local memory and writes partial[w].
 * sum_squares_final: stage 2, one work-group reduces the partials into out[0]. The split depends
 * only on n and the group count, so the result is the same on every run.
 * Tunables: AR_WGS (prelude.cl), a power of two; the host launches exactly AR_WGS per group.
 */

__kernel void adamw_update(__global float *p, uint p_off, __global const float *grad,
                           uint grad_off, __global float *m, uint m_off, __global float *v,
                           uint v_off, __global const float *mask, uint mask_off, uint has_mask,
                           uint n, float decay_factor, float beta1, float beta2, float eps,
                           float grad_scale, float step_size, float bc2_sqrt)
{
    uint i = get_global_id(0);
    if (i >= n)
        return;
    float g = grad[grad_off + i] * grad_scale;
    bool decay = !has_mask || mask[mask_off + i] != 0.0f;
    float pi = decay ? p[p_off + i] * decay_factor : p[p_off + i];
    float mi = beta1 * m[m_off + i] + (1.0f - beta1) * g;
    float vi = beta2 * v[v_off + i] + (1.0f - beta2) * g * g;
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    p[p_off + i] = pi - step_size * mi / (sqrt(vi) / bc2_sqrt + eps);
}

/* Sums `partial` in local memory (AR_WGS entries) with a fixed tree; result in partial[0]. */
inline void sum_local(__local float *partial, uint lid)
{
    for (uint width = AR_WGS / 2; width > 0; width /= 2) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < width)
            partial[lid] += partial[lid + width];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

__kernel void sum_squares_partial(__global const float *x, uint x_off, uint n,
                                  __global float *partial, uint partial_off)
{
    __local float local_sum[AR_WGS];
    uint lid = get_local_id(0);
    uint stride = get_num_groups(0) * AR_WGS;
    float sum = 0.0f;
    for (uint i = get_group_id(0) * AR_WGS + lid; i < n; i += stride) {
        float xi = x[x_off + i];
        sum += xi * xi;
    }
    local_sum[lid] = sum;
    sum_local(local_sum, lid);
    if (lid == 0)
        partial[partial_off + get_group_id(0)] = local_sum[0];
}

__kernel void sum_squares_final(__global float *partial, uint partial_off, uint count,
                                __global float *out, uint out_off)
{
    __local float local_sum[AR_WGS];
    uint lid = get_local_id(0);
    float sum = 0.0f;
    for (uint i = lid; i < count; i += AR_WGS)
        sum += partial[partial_off + i];
    local_sum[lid] = sum;
    sum_local(local_sum, lid);
    if (lid == 0)
        out[out_off] = local_sum[0];
}
