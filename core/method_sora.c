/* SoRA: sparse low-rank adaptation (Ding et al., EMNLP 2023; METHODS.md §1).
 *
 * Every module's gate g (R) is trained with the LoRA factors and, after each optimizer step, shrunk
 * by the proximal operator of the L1 norm, g ← sign(g)·max(|g| − ξ_t, 0) (the paper's eq. for
 * T_ξ). Components whose gate reaches 0 are dead: they contribute nothing and are dropped on
 * export (B' = B·diag(g), A' = A[keep], scale unchanged, §1.4).
 *
 * Choices, each written down because paper and code differ (§1.2, §1.3, §6):
 *   - as the released code, the loss also carries λ·Σ|g|/N_g: its subgradient is added to the
 *     gate gradients after every backward (weighted by 1/grad_accum, since each micro-batch adds
 *     its share);
 *   - the threshold is the code's absolute ξ per step by default; xi_times_lr gives the paper's
 *     η_t·ξ;
 *   - gates go through the same AdamW as everything else, without weight decay (the code's
 *     SparseAdamW also has wd 0; its eps is 1e-6 where ours is the run's);
 *   - the sparsifying scheduler follows the paper's reading ("gradually increasing ξ while
 *     continuing training"): the run is cut into `stages` equal spans, stage k uses
 *     ξ_k = linspace(ξ, ξ_max, stages)[k], and the learning rate keeps its schedule (the code's
 *     stages run at lr 0 because its schedulers are exhausted — a quirk we do not copy).
 */
#include <math.h>

#include "method_internal.h"

static float current_xi(const struct ar_method *m, int step, int total)
{
    const struct ar_sora_params *p = &m->p.sora;
    if (p->stages <= 1 || total <= 0)
        return p->xi;
    int stage = (int)((long long)step * p->stages / total);
    if (stage >= p->stages)
        stage = p->stages - 1;
    return p->xi + (p->xi_max - p->xi) * (float)stage / (float)(p->stages - 1);
}

static enum ar_status sora_init(struct ar_method *m)
{
    const struct ar_sora_params *p = &m->p.sora;
    if (!(p->xi >= 0) || !(p->xi_max >= 0) || !(p->l1_weight >= 0) || p->stages < 1)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "sora: xi %g, xi_max %g and l1_weight %g must be ≥ 0 and stages %d ≥ 1",
                        p->xi, p->xi_max, p->l1_weight, p->stages);
    if (!p->gate_init_normal)
        return AR_STATUS_OK; /* the model initialised active gates to 1 */
    /* g ~ N(0, 1) on the active components (the code's torch.randn, §1.1); inactive stay 0. */
    uint64_t rng = m->seed ^ 0x50524f58ULL; /* "SORA"-tagged stream, apart from the model's */
    enum ar_status st = ar__method_read_gates(m);
    for (int i = 0; st == AR_STATUS_OK && i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        float *g = m->gates + m->gate_at[i];
        for (int j = 0; j < mod->rank; j++) {
            float draw = (float)ar__method_normal(&rng);
            g[j] = mod->mask[j] != 0.0f ? draw : 0.0f;
        }
    }
    return st == AR_STATUS_OK ? ar__method_write_gates(m) : st;
}

static enum ar_status sora_after_backward(struct ar_method *m, const struct ar_train_state *s)
{
    (void)s;
    if (m->p.sora.l1_weight == 0.0f || m->gate_total == 0)
        return AR_STATUS_OK;
    int accum = ar_trainer_params(m->trainer)->grad_accum;
    float coeff = m->p.sora.l1_weight / (float)m->gate_total / (float)(accum > 0 ? accum : 1);
    struct ar_arena *arena = ar_model_arena(m->model);
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        enum ar_status st = ar__gate_l1_grad(m->ctx, ar_mem_at(arena->param, mod->gate_off),
                                             ar_mem_at(arena->grad, mod->gate_off),
                                             (size_t)mod->rank, coeff);
        if (st != AR_STATUS_OK)
            return st;
    }
    return AR_STATUS_OK;
}

static enum ar_status sora_after_step(struct ar_method *m, const struct ar_train_state *s)
{
    float xi = current_xi(m, s->step, s->total_steps);
    if (m->p.sora.xi_times_lr)
        xi *= (float)s->lr;
    m->report.threshold = xi;
    if (xi <= 0.0f)
        return AR_STATUS_OK;
    struct ar_arena *arena = ar_model_arena(m->model);
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        enum ar_status st = ar__gate_soft_threshold(
            m->ctx, ar_mem_at(arena->param, mod->gate_off), (size_t)mod->rank, xi);
        if (st != AR_STATUS_OK)
            return st;
    }
    return AR_STATUS_OK;
}

/* Pruning: a zero gate's component is switched off in the mask too, so the model as it stands is
 * the pruned one (its outputs are unchanged: the component contributed g_j = 0 already). */
static enum ar_status sora_finish(struct ar_method *m)
{
    enum ar_status st = ar__method_read_gates(m);
    for (int i = 0; st == AR_STATUS_OK && i < m->n_modules; i++) {
        struct ar_model_module *mod = ar_model_module(m->model, i);
        const float *g = m->gates + m->gate_at[i];
        for (int j = 0; j < mod->rank; j++)
            if (g[j] == 0.0f)
                mod->mask[j] = 0.0f;
    }
    return st == AR_STATUS_OK ? ar_model_sync_masks(m->model) : st;
}

const struct ar__method_impl ar__method_sora = {
    .values_kind = "gate",
    .trains_gates = true,
    .init = sora_init,
    .after_backward = sora_after_backward,
    .after_step = sora_after_step,
    .finish = sora_finish,
};
