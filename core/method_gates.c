/* Gate plumbing shared by the rank methods: host copies of the gates, frozen gates, and the
 * launches of cl/gate.cl. */
#include <math.h>

#include "method_internal.h"

enum ar_status ar__method_read_gates(struct ar_method *m)
{
    struct ar_arena *arena = ar_model_arena(m->model);
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        enum ar_status st = ar_mem_read(m->ctx, ar_mem_at(arena->param, mod->gate_off),
                                        m->gates + m->gate_at[i], (size_t)mod->rank);
        if (st != AR_STATUS_OK)
            return st;
    }
    return AR_STATUS_OK;
}

enum ar_status ar__method_write_gates(struct ar_method *m)
{
    struct ar_arena *arena = ar_model_arena(m->model);
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        enum ar_status st = ar_mem_write(m->ctx, ar_mem_at(arena->param, mod->gate_off),
                                         m->gates + m->gate_at[i], (size_t)mod->rank);
        if (st != AR_STATUS_OK)
            return st;
    }
    return AR_STATUS_OK;
}

/* With a zero gradient from the first step on, AdamW's moments stay zero and its update is
 * 0/(0 + eps) = 0; gates carry no weight decay (arena flags), so a frozen gate never moves. */
enum ar_status ar__method_freeze_gates(struct ar_method *m)
{
    struct ar_arena *arena = ar_model_arena(m->model);
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        enum ar_status st =
            ar_mem_fill(m->ctx, ar_mem_at(arena->grad, mod->gate_off), 0.0f, (size_t)mod->rank);
        if (st != AR_STATUS_OK)
            return st;
    }
    return AR_STATUS_OK;
}

static enum ar_status u32(struct ar_ctx *ctx, size_t v, const char *what, cl_uint *out)
{
    if (v > 0xffffffffu)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "%s: %zu does not fit a 32-bit index",
                        what, v);
    *out = (cl_uint)v;
    return AR_STATUS_OK;
}

enum ar_status ar__gate_l1_grad(struct ar_ctx *ctx, struct ar_mem g, struct ar_mem grad, size_t n,
                                float coeff)
{
    cl_kernel k;
    cl_uint g_off, grad_off, count;
    enum ar_status st = ar__kernel(ctx, "gate", "", "gate_l1_grad", &k);
    if (st == AR_STATUS_OK)
        st = u32(ctx, g.off, "gate offset", &g_off);
    if (st == AR_STATUS_OK)
        st = u32(ctx, grad.off, "gate gradient offset", &grad_off);
    if (st == AR_STATUS_OK)
        st = u32(ctx, n, "gate count", &count);
    if (st == AR_STATUS_OK)
        st = ar__args(ctx, k, "gate_l1_grad", 6, AR__ARG(g.buf), AR__ARG(g_off),
                      AR__ARG(grad.buf), AR__ARG(grad_off), AR__ARG(count), AR__ARG(coeff));
    size_t local = 64, global = n;
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "gate_l1_grad", 1, &global, &local) : st;
}

enum ar_status ar__gate_soft_threshold(struct ar_ctx *ctx, struct ar_mem g, size_t n, float xi)
{
    cl_kernel k;
    cl_uint g_off, count;
    enum ar_status st = ar__kernel(ctx, "gate", "", "gate_soft_threshold", &k);
    if (st == AR_STATUS_OK)
        st = u32(ctx, g.off, "gate offset", &g_off);
    if (st == AR_STATUS_OK)
        st = u32(ctx, n, "gate count", &count);
    if (st == AR_STATUS_OK)
        st = ar__args(ctx, k, "gate_soft_threshold", 4, AR__ARG(g.buf), AR__ARG(g_off),
                      AR__ARG(count), AR__ARG(xi));
    size_t local = 64, global = n;
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "gate_soft_threshold", 1, &global, &local) : st;
}

enum ar_status ar__lora_component_keep(struct ar_ctx *ctx, struct ar_mem da, struct ar_mem db,
                                       int rank, int in, int out, int lo, int hi)
{
    if (rank <= 0 || in <= 0 || out <= 0 || lo < 0 || hi < lo || hi > rank)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "lora_component_keep: rank %d, in %d, out %d, range [%d, %d)", rank, in,
                        out, lo, hi);
    cl_kernel k;
    cl_uint da_off, db_off;
    cl_uint r = (cl_uint)rank, ci = (cl_uint)in, co = (cl_uint)out, l = (cl_uint)lo,
            h = (cl_uint)hi;
    enum ar_status st = ar__kernel(ctx, "gate", "", "lora_component_keep", &k);
    if (st == AR_STATUS_OK)
        st = u32(ctx, da.off, "dA offset", &da_off);
    if (st == AR_STATUS_OK)
        st = u32(ctx, db.off, "dB offset", &db_off);
    if (st == AR_STATUS_OK)
        st = ar__args(ctx, k, "lora_component_keep", 9, AR__ARG(da.buf), AR__ARG(da_off),
                      AR__ARG(db.buf), AR__ARG(db_off), AR__ARG(r), AR__ARG(ci), AR__ARG(co),
                      AR__ARG(l), AR__ARG(h));
    size_t n = (size_t)rank * (size_t)(in > out ? in : out), local = 64;
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "lora_component_keep", 1, &n, &local) : st;
}

uint64_t ar__method_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double ar__method_normal(uint64_t *state)
{
    /* Box–Muller on two uniforms in (0, 1]: 53 random bits each. */
    double u1 = ((double)(ar__method_rand(state) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = (double)(ar__method_rand(state) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

enum ar_status ar__adalora_sensitivity(struct ar_ctx *ctx, struct ar_mem p, struct ar_mem g,
                                       struct ar_mem ibar, struct ar_mem ubar, size_t n,
                                       float beta1, float beta2)
{
    if (ibar.off || ubar.off)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "adalora_sensitivity: the score buffers must start at offset 0");
    cl_kernel k;
    cl_uint p_off, g_off, count;
    enum ar_status st = ar__kernel(ctx, "gate", "", "adalora_sensitivity", &k);
    if (st == AR_STATUS_OK)
        st = u32(ctx, p.off, "parameter offset", &p_off);
    if (st == AR_STATUS_OK)
        st = u32(ctx, g.off, "gradient offset", &g_off);
    if (st == AR_STATUS_OK)
        st = u32(ctx, n, "parameter count", &count);
    if (st == AR_STATUS_OK)
        st = ar__args(ctx, k, "adalora_sensitivity", 9, AR__ARG(p.buf), AR__ARG(p_off),
                      AR__ARG(g.buf), AR__ARG(g_off), AR__ARG(ibar.buf), AR__ARG(ubar.buf),
                      AR__ARG(count), AR__ARG(beta1), AR__ARG(beta2));
    size_t local = 64, global = n;
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "adalora_sensitivity", 1, &global, &local) : st;
}

enum ar_status ar__arena_axpy(struct ar_ctx *ctx, struct ar_mem y, struct ar_mem x, size_t n,
                              float a)
{
    if (n == 0)
        return AR_STATUS_OK;
    cl_kernel k;
    cl_uint y_off, x_off, count;
    enum ar_status st = ar__kernel(ctx, "gate", "", "arena_axpy", &k);
    if (st == AR_STATUS_OK)
        st = u32(ctx, y.off, "axpy destination offset", &y_off);
    if (st == AR_STATUS_OK)
        st = u32(ctx, x.off, "axpy source offset", &x_off);
    if (st == AR_STATUS_OK)
        st = u32(ctx, n, "axpy count", &count);
    if (st == AR_STATUS_OK)
        st = ar__args(ctx, k, "arena_axpy", 6, AR__ARG(y.buf), AR__ARG(y_off), AR__ARG(x.buf),
                      AR__ARG(x_off), AR__ARG(count), AR__ARG(a));
    size_t local = 64, global = n;
    return st == AR_STATUS_OK ? ar__launch(ctx, k, "arena_axpy", 1, &global, &local) : st;
}
