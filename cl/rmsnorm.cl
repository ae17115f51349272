/* RMSNorm over the last dimension (Zhang & Sennrich 2019), forward and backward (weight frozen),
 * as transformers' LlamaRMSNorm computes it.
 *
 *   forward:  y = x·rstd·w,  rstd = 1/sqrt(mean(x²) + eps)
 *             x, y (N, C); w (C); rstd (N) saved for backward. y may alias x.
 *   backward: dx (+)= rstd·(dŷ − x̂·mean(dŷ·x̂)),  dŷ = dy·w, x̂ = x·rstd
 *
 * Work-items: one work-group of AR_WGS work-items per row (global = N·AR_WGS, local = AR_WGS);
 * each strides over the row's columns, then a tree reduction in local memory.
 * Tunables: AR_WGS (power of two, set by the host with -D to the launch's local size).
 */

inline float rms_group_sum(float v, __local float *scratch)
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

__kernel void rmsnorm_forward(int n, int c, float eps, __global const float *x, uint x_off,
                              __global const float *w, uint w_off, __global float *y, uint y_off,
                              __global float *rstd, uint rstd_off)
{
    __local float scratch[AR_WGS];
    int row = (int)get_group_id(0);
    int lid = (int)get_local_id(0);
    /* No early return before a barrier (PoCL 3.1, see layernorm.cl): a spare group has c = 0. */
    if (row >= n)
        c = 0;
    __global const float *xr = x + x_off + (size_t)row * c;
    __global float *yr = y + y_off + (size_t)row * c;
    float q = 0.0f;
    for (int j = lid; j < c; j += AR_WGS)
        q += xr[j] * xr[j];
    float rs = rsqrt(rms_group_sum(q, scratch) / (float)(c ? c : 1) + eps);
    for (int j = lid; j < c; j += AR_WGS)
        yr[j] = xr[j] * rs * w[w_off + j];
    if (lid == 0 && row < n)
        rstd[rstd_off + row] = rs;
}

__kernel void rmsnorm_backward(int n, int c, __global const float *dy, uint dy_off,
                               __global const float *x, uint x_off, __global const float *w,
                               uint w_off, __global const float *rstd, uint rstd_off,
                               __global float *dx, uint dx_off, int accumulate)
{
    __local float scratch[AR_WGS];
    int row = (int)get_group_id(0);
    int lid = (int)get_local_id(0);
    if (row >= n)
        c = 0;
    __global const float *dyr = dy + dy_off + (size_t)row * c;
    __global const float *xr = x + x_off + (size_t)row * c;
    __global float *dxr = dx + dx_off + (size_t)row * c;
    float rs = c ? rstd[rstd_off + row] : 0.0f;
    float s = 0.0f;
    for (int j = lid; j < c; j += AR_WGS)
        s += dyr[j] * w[w_off + j] * xr[j] * rs;
    float m = rms_group_sum(s, scratch) / (float)(c ? c : 1); /* mean(dŷ·x̂) */
    for (int j = lid; j < c; j += AR_WGS) {
        float g = rs * (dyr[j] * w[w_off + j] - xr[j] * rs * m);
        dxr[j] = accumulate ? dxr[j] + g : g;
    }
}
