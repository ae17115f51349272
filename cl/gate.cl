/* Gate and component kernels of the rank methods (core/method*.c).
 *
 * A module's gate g is R contiguous floats of the arena; its LoRA factors are A (R, in) and
 * B (out, R). One work-item per element, 1-D; every id is bounds-checked (the host rounds the
 * global size up).
 *
 *   gate_l1_grad        grad += coeff·sign(g)            SoRA's L1 term (METHODS.md §1.2 step 1)
 *   gate_soft_threshold g ← sign(g)·max(|g| − ξ, 0)      SoRA's proximal step (§1.2 step 4)
 *   lora_component_keep zero dA rows and dB columns outside [lo, hi)   DyLoRA's frozen mode (§3.2)
 *   adalora_sensitivity AdaLoRA's smoothed sensitivity Ī and uncertainty Ū   (§5.3)
 *   arena_axpy          y += a·x over n floats of the arena: the unrolled inner step θ − ξ∇θ and
 *                       the perturbed θ ± ε·v of the DARTS hypergradient (§2.2, core/hypergrad.c)
 */

__kernel void gate_l1_grad(__global const float *g, uint g_off, __global float *grad, uint grad_off,
                           uint n, float coeff)
{
    uint i = get_global_id(0);
    if (i >= n)
        return;
    float v = g[g_off + i];
    /* sign(0) = 0, as torch.sign: a pruned gate gets no push from the L1 term. */
    float s = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f);
    grad[grad_off + i] += coeff * s;
}

__kernel void gate_soft_threshold(__global float *g, uint g_off, uint n, float xi)
{
    uint i = get_global_id(0);
    if (i >= n)
        return;
    float v = g[g_off + i];
    float shrunk = fabs(v) - xi;
    g[g_off + i] = shrunk > 0.0f ? copysign(shrunk, v) : 0.0f;
}

/* dA (rank, in) and dB (out, rank): work-item i covers element i of each when in range. */
__kernel void lora_component_keep(__global float *da, uint da_off, __global float *db, uint db_off,
                                  uint rank, uint in, uint out, uint lo, uint hi)
{
    uint i = get_global_id(0);
    if (i < rank * in) {
        uint j = i / in;
        if (j < lo || j >= hi)
            da[da_off + i] = 0.0f;
    }
    if (i < out * rank) {
        uint j = i % rank;
        if (j < lo || j >= hi)
            db[db_off + i] = 0.0f;
    }
}

/* AdaLoRA's smoothed sensitivity (Zhang et al. 2023, eqs. 8–9; METHODS.md §5.3), elementwise over
 * the parameters p (after the optimizer step) and their gradient g (the one that step used):
 *     I = |p·g|,  Ī ← β1·Ī + (1 − β1)·I,  Ū ← β2·Ū + (1 − β2)·|I − Ī|
 * Ū uses the Ī just updated, as PEFT's RankAllocator does. */
__kernel void adalora_sensitivity(__global const float *p, uint p_off, __global const float *g,
                                  uint g_off, __global float *ibar, __global float *ubar,
                                  uint n, float beta1, float beta2)
{
    uint i = get_global_id(0);
    if (i >= n)
        return;
    float sens = fabs(p[p_off + i] * g[g_off + i]);
    float ib = beta1 * ibar[i] + (1.0f - beta1) * sens;
    ibar[i] = ib;
    ubar[i] = beta2 * ubar[i] + (1.0f - beta2) * fabs(sens - ib);
}

/* y[y_off + i] += a·x[x_off + i] for i < n. x and y may be views of different arena regions (the
 * gradient into the parameters) or of a scratch copy. */
__kernel void arena_axpy(__global float *y, uint y_off, __global const float *x, uint x_off,
                         uint n, float a)
{
    uint i = get_global_id(0);
    if (i >= n)
        return;
    y[y_off + i] += a * x[x_off + i];
}
