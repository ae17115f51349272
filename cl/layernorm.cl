/* LayerNorm over the last dimension, forward and backward (gamma, beta frozen).
 *
 *   forward:  y = (x − mean)·rstd·gamma + beta,  rstd = 1/sqrt(var + eps) (biased variance)
 *             x, y (N, C); gamma, beta (C); mean, rstd (N) saved for backward. y may alias x.
 *   backward: dx (+)= rstd·(dŷ − mean(dŷ) − x̂·mean(dŷ·x̂)),  dŷ = dy·gamma, x̂ = (x − mean)·rstd
 *
 * Work-items: one work-group of AR_WGS work-items per row (global = N·AR_WGS, local = AR_WGS);
 * each work-item strides over the row's columns, then a tree reduction in local memory combines
 * the partial sums. The _rows variants (CPU devices): one work-item per row, global ≥ N. The variance is a second pass over the row (two-pass, not E[x²] − E[x]²,
 * which cancels catastrophically when |mean| ≫ std).
 * Tunables: AR_WGS (power of two, set by the host with -D to the launch's local size).
 */

/* Sum of one value per work-item over the work-group; every work-item gets the result. */
inline float ln_group_sum(float v, __local float *scratch)
{
    int lid = (int)get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = AR_WGS / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch is reused by the next reduction */
    return total;
}

__kernel void layernorm_forward(int n, int c, float eps, __global const float *x, uint x_off,
                                __global const float *gamma, uint gamma_off,
                                __global const float *beta, uint beta_off, __global float *y,
                                uint y_off, __global float *mean, uint mean_off,
                                __global float *rstd, uint rstd_off)
{
    __local float scratch[AR_WGS];
    int row = (int)get_group_id(0);
    int lid = (int)get_local_id(0);
    /* No early return before the barriers, although a group-uniform one is legal OpenCL: with
     * it, PoCL 3.1 (LLVM 15) ran layernorm_backward's last loop for j ≥ c and wrote past the row.
     * The host launches one group per row; a spare group would work on an empty row. */
    if (row >= n)
        c = 0;
    __global const float *xr = x + x_off + (size_t)row * c;
    __global float *yr = y + y_off + (size_t)row * c;

    float s = 0.0f;
    for (int j = lid; j < c; j += AR_WGS)
        s += xr[j];
    float mu = ln_group_sum(s, scratch) / (float)c;
    float q = 0.0f;
    for (int j = lid; j < c; j += AR_WGS) {
        float d = xr[j] - mu;
        q += d * d;
    }
    float rs = rsqrt(ln_group_sum(q, scratch) / (float)c + eps);
    /* Each work-item reads x[j] before writing y[j] of the same j: safe when y aliases x. */
    for (int j = lid; j < c; j += AR_WGS)
        yr[j] = (xr[j] - mu) * rs * gamma[gamma_off + j] + beta[beta_off + j];
    if (lid == 0 && row < n) {
        mean[mean_off + row] = mu;
        rstd[rstd_off + row] = rs;
    }
}

__kernel void layernorm_backward(int n, int c, __global const float *dy, uint dy_off,
                                 __global const float *x, uint x_off,
                                 __global const float *gamma, uint gamma_off,
                                 __global const float *mean, uint mean_off,
                                 __global const float *rstd, uint rstd_off, __global float *dx,
                                 uint dx_off, int accumulate)
{
    __local float scratch[AR_WGS];
    int row = (int)get_group_id(0);
    int lid = (int)get_local_id(0);
    /* No early return before the barriers (see layernorm_forward). */
    if (row >= n)
        c = 0;
    __global const float *dyr = dy + dy_off + (size_t)row * c;
    __global const float *xr = x + x_off + (size_t)row * c;
    __global float *dxr = dx + dx_off + (size_t)row * c;
    float mu = c ? mean[mean_off + row] : 0.0f;
    float rs = c ? rstd[rstd_off + row] : 0.0f;

    float s1 = 0.0f, s2 = 0.0f;
    for (int j = lid; j < c; j += AR_WGS) {
        float dyh = dyr[j] * gamma[gamma_off + j];
        s1 += dyh;
        s2 += dyh * (xr[j] - mu) * rs;
    }
    float m1 = ln_group_sum(s1, scratch) / (float)c; /* mean(dŷ) */
    float m2 = ln_group_sum(s2, scratch) / (float)c; /* mean(dŷ·x̂) */
    for (int j = lid; j < c; j += AR_WGS) {
        float xh = (xr[j] - mu) * rs;
        float g = rs * (dyr[j] * gamma[gamma_off + j] - m1 - xh * m2);
        dxr[j] = accumulate ? dxr[j] + g : g;
    }
}

/* The same two kernels with one work-item per row, for CPU devices (the host picks, see
 * ar__ops_row_per_item): no local memory, no barriers, and the row walked eight floats at a time
 * (vload8/vstore8, then a scalar tail), which PoCL compiles to SIMD where a per-row loop of
 * scalars stays scalar. The sums are eight partial sums added at the end. On PoCL's CPU device
 * each barrier region of the group kernels ran as its own loop over the work-group, for every
 * one of the N rows. */

__kernel void layernorm_forward_rows(int n, int c, float eps, __global const float *x, uint x_off,
                                     __global const float *gamma, uint gamma_off,
                                     __global const float *beta, uint beta_off,
                                     __global float *y, uint y_off, __global float *mean,
                                     uint mean_off, __global float *rstd, uint rstd_off)
{
    int row = (int)get_global_id(0);
    if (row >= n)
        return;
    __global const float *xr = x + x_off + (size_t)row * c;
    __global const float *g = gamma + gamma_off, *bt = beta + beta_off;
    __global float *yr = y + y_off + (size_t)row * c;
    int vec = c & ~7;
    float8 s8 = (float8)(0.0f);
    for (int j = 0; j < vec; j += 8)
        s8 += vload8(0, xr + j);
    float s = ar_sum8(s8);
    for (int j = vec; j < c; j++)
        s += xr[j];
    float mu = s / (float)c;
    float8 q8 = (float8)(0.0f);
    for (int j = 0; j < vec; j += 8) {
        float8 d = vload8(0, xr + j) - mu;
        q8 += d * d;
    }
    float q = ar_sum8(q8);
    for (int j = vec; j < c; j++) {
        float d = xr[j] - mu;
        q += d * d;
    }
    float rs = rsqrt(q / (float)c + eps);
    /* x[j..j+7] is read before y[j..j+7] is written: safe when y aliases x. */
    for (int j = 0; j < vec; j += 8)
        vstore8((vload8(0, xr + j) - mu) * rs * vload8(0, g + j) + vload8(0, bt + j), 0, yr + j);
    for (int j = vec; j < c; j++)
        yr[j] = (xr[j] - mu) * rs * g[j] + bt[j];
    mean[mean_off + row] = mu;
    rstd[rstd_off + row] = rs;
}

__kernel void layernorm_backward_rows(int n, int c, __global const float *dy, uint dy_off,
                                      __global const float *x, uint x_off,
                                      __global const float *gamma, uint gamma_off,
                                      __global const float *mean, uint mean_off,
                                      __global const float *rstd, uint rstd_off,
                                      __global float *dx, uint dx_off, int accumulate)
{
    int row = (int)get_global_id(0);
    if (row >= n)
        return;
    __global const float *dyr = dy + dy_off + (size_t)row * c;
    __global const float *xr = x + x_off + (size_t)row * c;
    __global const float *g = gamma + gamma_off;
    __global float *dxr = dx + dx_off + (size_t)row * c;
    float mu = mean[mean_off + row], rs = rstd[rstd_off + row];
    int vec = c & ~7;
    float8 a8 = (float8)(0.0f), b8 = (float8)(0.0f);
    for (int j = 0; j < vec; j += 8) {
        float8 dyh = vload8(0, dyr + j) * vload8(0, g + j);
        a8 += dyh;
        b8 += dyh * (vload8(0, xr + j) - mu) * rs;
    }
    float s1 = ar_sum8(a8), s2 = ar_sum8(b8);
    for (int j = vec; j < c; j++) {
        float dyh = dyr[j] * g[j];
        s1 += dyh;
        s2 += dyh * (xr[j] - mu) * rs;
    }
    float m1 = s1 / (float)c, m2 = s2 / (float)c; /* mean(dŷ), mean(dŷ·x̂) */
    for (int j = 0; j < vec; j += 8) {
        float8 xh = (vload8(0, xr + j) - mu) * rs;
        float8 gr = rs * (vload8(0, dyr + j) * vload8(0, g + j) - m1 - xh * m2);
        vstore8(accumulate ? vload8(0, dxr + j) + gr : gr, 0, dxr + j);
    }
    for (int j = vec; j < c; j++) {
        float xh = (xr[j] - mu) * rs;
        float gr = rs * (dyr[j] * g[j] - m1 - xh * m2);
        dxr[j] = accumulate ? dxr[j] + gr : gr;
    }
}
