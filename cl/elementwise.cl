/* Elementwise ops: residual add, bias add and its gradient, activations (forward and backward),
 * inverted dropout, strided row copy.
 *
 *   add:        y = a + b over n floats (y may alias a or b)
 *   bias_add:   y (N, C) += bias (C) on every row; 2-D range (C, N)
 *   bias_grad:  dbias (C) (+)= Σ_rows dy (N, C); one work-item per column, looping over rows
 *               (neighbouring work-items read neighbouring floats of each row)
 *   activation: AR_ACT = 0 exact GELU x·Φ(x), 1 tanh-GELU, 2 tanh (enum ar_activation's values);
 *               eight elements per work-item (global ⌈n/8⌉)
 *   dropout:    y = x·keep/(1 − p), keep = ar_uniform(seed, stream, i) ≥ p; the same kernel is
 *               the backward pass (dx = dy·keep/(1 − p)), as the mask is recomputed, not stored
 *   copy_rows:  dst[r·dst_stride + j] = src[r·src_stride + j]; 2-D range (C, rows)
 *
 * Work-items: one per output element unless said otherwise; ids are bounds-checked because the
 * host rounds global sizes up.
 * Compile-time choice: AR_ACT, the activation, set by the host with -D. A run-time switch kept
 * PoCL from vectorising the work-item loop (4x slower GELU on the CPU device).
 */

__kernel void add(int n, __global const float *a, uint a_off, __global const float *b, uint b_off,
                  __global float *y, uint y_off)
{
    int i = (int)get_global_id(0);
    if (i < n)
        y[y_off + i] = a[a_off + i] + b[b_off + i];
}

__kernel void bias_add(int n, int c, __global const float *bias, uint bias_off, __global float *y,
                       uint y_off)
{
    int j = (int)get_global_id(0);
    int r = (int)get_global_id(1);
    if (j < c && r < n)
        y[y_off + (size_t)r * c + j] += bias[bias_off + j];
}

__kernel void bias_grad(int n, int c, __global const float *dy, uint dy_off, __global float *dbias,
                        uint dbias_off, int accumulate)
{
    int j = (int)get_global_id(0);
    if (j >= c)
        return;
    float s = 0.0f;
    for (int r = 0; r < n; r++)
        s += dy[dy_off + (size_t)r * c + j];
    dbias[dbias_off + j] = accumulate ? dbias[dbias_off + j] + s : s;
}

#define AR_SQRT_2_OVER_PI 0.7978845608028654f
#define AR_GELU_CUBIC 0.044715f

/* erf and tanh from exp. PoCL's CPU device evaluates the built-in erf and tanh one element at a
 * time (about 10x the cost of exp, which it vectorises), which made GELU cost as much as a layer's
 * matrix products. The polynomials were fitted by tests/fixtures/fit_activations.py (near-minimax
 * relative error: P 1.2e-9, Q 5.7e-9, T 3.9e-9); replaying this float32 arithmetic there gives
 * |Φ error| ≤ 0.85 eps32 and tanh within 1.1 eps32 relative, inside the built-ins' allowances
 * (erf 16 ulp, tanh 5 ulp) that test_ops.c holds them to. */

/* Φ(x) = (1 + erf(x/√2))/2, the standard normal CDF. z = |x|/√2:
 *   z < 1:  erf(z) = z·P(z²)
 *   z ≥ 1:  erfc(z) = exp(−z²)·Q(t), t = 1/(1 + z/2), and Φ(−|x|) = erfc(z)/2 directly, so the
 *           left tail keeps its relative accuracy instead of cancelling in 1 + erf. */
inline float8 normal_cdf(float8 x)
{
    float8 z = fabs(x) * M_SQRT1_2_F, z2 = z * z;
    float8 p = 7.854182152e-05f;
    p = p * z2 - 8.010289198e-04f;
    p = p * z2 + 5.188338339e-03f;
    p = p * z2 - 2.685381740e-02f;
    p = p * z2 + 1.128358528e-01f;
    p = p * z2 - 3.761262583e-01f;
    p = p * z2 + 1.128379166e+00f;
    float8 half_erf = 0.5f * z * p;
    float8 t = 1.0f / (1.0f + 0.5f * z);
    float8 q = 8.089932046e-02f;
    q = q * t - 1.850633024e-01f;
    q = q * t + 2.508627466e-02f;
    q = q * t + 1.053268735e-01f;
    q = q * t + 1.580467309e-01f;
    q = q * t + 2.529664021e-01f;
    q = q * t + 2.809908387e-01f;
    q = q * t + 2.821994101e-01f;
    q = q * t - 4.103929889e-06f;
    float8 half_erfc = 0.5f * (exp(-z2) * q);
    float8 lower = select(half_erfc, 0.5f - half_erf, z < 1.0f);        /* Φ(−|x|) */
    float8 upper = select(1.0f - half_erfc, 0.5f + half_erf, z < 1.0f); /* Φ(|x|) */
    return select(upper, lower, x < 0.0f);
}

/* tanh(u): u·T(u²) for |u| < 0.625, else 1 − 2/(exp(2|u|) + 1) with the sign of u (the exp form
 * cancels for small |u|; at |u| ≥ 0.625 it loses under 2 eps32). */
inline float8 tanh_exp(float8 u)
{
    float8 a = fabs(u), u2 = u * u;
    float8 p = -5.660390598e-03f;
    p = p * u2 + 2.059136338e-02f;
    p = p * u2 - 5.372118980e-02f;
    p = p * u2 + 1.333112914e-01f;
    p = p * u2 - 3.333326060e-01f;
    p = p * u2 + 9.999999961e-01f;
    float8 big = 1.0f - 2.0f / (exp(2.0f * a) + 1.0f);
    return select(copysign(big, u), u * p, a < 0.625f);
}

/* 1 − tanh²(u) = 4e/(1 + e)², e = exp(−2|u|), accurate for every u. Forming 1 − t² from tanh loses
 * everything near |t| = 1: at x = 10, tanh-GELU's slope would be off by 0.5·x·u'(x)·2 ulp ≈ 7e-6
 * instead of ~1e-7. */
inline float8 sech2(float8 u)
{
    float8 e = exp(-2.0f * fabs(u));
    return 4.0f * e / ((1.0f + e) * (1.0f + e));
}

#ifndef AR_ACT
#define AR_ACT 0
#endif

/* act(x). tanh-GELU is written x·σ(2u) = x/(1 + exp(−2u)), the same value as 0.5·x·(1 + tanh u)
 * without the cancellation of 1 + tanh u for negative x. */
inline float8 act_value(int act, float8 x)
{
    if (act == 0)
        return x * normal_cdf(x);
    if (act == 1) {
        float8 u = AR_SQRT_2_OVER_PI * (x + AR_GELU_CUBIC * x * x * x);
        return x / (1.0f + exp(-2.0f * u));
    }
    return tanh_exp(x);
}

/* act'(x) */
inline float8 act_slope(int act, float8 x)
{
    if (act == 0) /* Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π) */
        return normal_cdf(x) + x * exp(-0.5f * x * x) * (0.5f * M_2_SQRTPI_F * M_SQRT1_2_F);
    if (act == 1) { /* σ(2u) + 0.5·x·sech²(u)·u'(x) */
        float8 u = AR_SQRT_2_OVER_PI * (x + AR_GELU_CUBIC * x * x * x);
        float8 du = AR_SQRT_2_OVER_PI * (1.0f + 3.0f * AR_GELU_CUBIC * x * x);
        return 1.0f / (1.0f + exp(-2.0f * u)) + 0.5f * x * sech2(u) * du;
    }
    return sech2(x);
}

/* Eight elements per work-item: PoCL vectorised the one-element kernels' work-item loop only in
 * part (5.4 ms for 2048·1536 exact-GELU values against 3.0 ms on float8s, in a micro-benchmark on
 * the development machine). The last work-item takes the n mod 8 tail through a private float8,
 * its unused lanes 0 (every activation is finite there) and never stored. */
inline float8 load8(__global const float *p, int i, int n)
{
    if (i + 8 <= n)
        return vload8(0, p + i);
    float v[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int j = 0; j < n - i; j++)
        v[j] = p[i + j];
    return vload8(0, v);
}

inline void store8(float8 value, __global float *p, int i, int n)
{
    if (i + 8 <= n) {
        vstore8(value, 0, p + i);
        return;
    }
    float v[8];
    vstore8(value, 0, v);
    for (int j = 0; j < n - i; j++)
        p[i + j] = v[j];
}

__kernel void activation_forward(int n, __global const float *x, uint x_off, __global float *y,
                                 uint y_off)
{
    int i = 8 * (int)get_global_id(0);
    if (i < n)
        store8(act_value(AR_ACT, load8(x + x_off, i, n)), y + y_off, i, n);
}

__kernel void activation_backward(int n, __global const float *x, uint x_off,
                                  __global const float *dy, uint dy_off, __global float *dx,
                                  uint dx_off)
{
    int i = 8 * (int)get_global_id(0);
    if (i < n)
        store8(act_slope(AR_ACT, load8(x + x_off, i, n)) * load8(dy + dy_off, i, n), dx + dx_off,
               i, n);
}

/* scale = 1/(1 − p), or 0 when p = 1 (everything dropped); p = 0 keeps everything. */
__kernel void dropout(int n, float p, float scale, uint seed_lo, uint seed_hi, uint stream,
                      __global const float *x, uint x_off, __global float *y, uint y_off)
{
    int i = (int)get_global_id(0);
    if (i >= n)
        return;
    float v = x[x_off + i];
    if (p > 0.0f)
        v = ar_uniform(seed_lo, seed_hi, stream, (uint)i) >= p ? v * scale : 0.0f;
    y[y_off + i] = v;
}

__kernel void copy_rows(int rows, int c, __global const float *src, uint src_off, uint src_stride,
                        __global float *dst, uint dst_off, uint dst_stride)
{
    int j = (int)get_global_id(0);
    int r = (int)get_global_id(1);
    if (j < c && r < rows)
        dst[dst_off + (size_t)r * dst_stride + j] = src[src_off + (size_t)r * src_stride + j];
}
