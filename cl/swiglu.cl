/* The SwiGLU product of Llama's MLP (Shazeer 2020, "GLU Variants Improve Transformer", eq. 6):
 * y = silu(gate) ⊙ up, silu(x) = x·σ(x), forward and backward.
 *
 *   gu (N, 2·I): row n is [gate (I) | up (I)], the output of the gate_proj/up_proj lora group
 *   forward:  y (N, I) = silu(gate)·up
 *   backward: dgu (N, 2·I): dgate = dy·up·σ(gate)·(1 + gate·(1 − σ(gate))), dup = dy·silu(gate)
 *
 * Work-items: one per element of y, 2-D (column, row); bounds-checked.
 */

__kernel void swiglu_forward(int n, int i_size, __global const float *gu, uint gu_off,
                             __global float *y, uint y_off)
{
    int j = (int)get_global_id(0), row = (int)get_global_id(1);
    if (j >= i_size || row >= n)
        return;
    __global const float *r = gu + gu_off + (size_t)row * 2 * i_size;
    float g = r[j], s = 1.0f / (1.0f + exp(-g));
    y[y_off + (size_t)row * i_size + j] = g * s * r[i_size + j];
}

__kernel void swiglu_backward(int n, int i_size, __global const float *gu, uint gu_off,
                              __global const float *dy, uint dy_off, __global float *dgu,
                              uint dgu_off)
{
    int j = (int)get_global_id(0), row = (int)get_global_id(1);
    if (j >= i_size || row >= n)
        return;
    __global const float *r = gu + gu_off + (size_t)row * 2 * i_size;
    __global float *o = dgu + dgu_off + (size_t)row * 2 * i_size;
    float g = r[j], u = r[i_size + j], s = 1.0f / (1.0f + exp(-g));
    float d = dy[dy_off + (size_t)row * i_size + j];
    o[j] = d * u * s * (1.0f + g * (1.0f - s));
    o[i_size + j] = d * g * s;
}
