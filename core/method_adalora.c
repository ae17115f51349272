/* AdaLoRA: budgeted rank allocation by sensitivity (Zhang et al., ICLR 2023), as PEFT implements it
 * (METHODS.md §5), checked step by step against peft 0.10 by tests/test_method_adalora_peft.c.
 *
 * On the gated kernel, Δy = s·P·(λ ⊙ (Q·x̃)) is B = P, A = Q, g = λ with s = α/r0 (PEFT's ranknum
 * r0 never changes, §5.1; PEFT divides by r0 + 1e-5, a 1e-6 relative difference left out). P and
 * Q start N(0, 0.02²) and λ at 0 (the paper and PEFT since 0.11; peft 0.10 also drew λ from
 * N(0, 0.02²)). λ is weight-decayed like P and Q: it is a LoRA parameter (`lora_E`) to HF
 * Trainer's grouping and to torch.optim.AdamW in PEFT's examples. Per optimizer step:
 *   after backward  the orthogonality regulariser γ/(2n)·Σ_k(‖QQᵀ − I‖_F + ‖PᵀP − I‖_F) adds
 *                   (γ/(n·‖M‖))·M·Q to dQ (M = QQᵀ − I) and (γ/(n·‖N‖))·P·N to dP (N = PᵀP − I):
 *                   the norm is not squared, as in PEFT and the original code (§5.2); the
 *                   gradient is clipped with the task's (it is part of PEFT's loss);
 *   after the step  PEFT's update_and_allocate(t) with t = the steps done before this one (its
 *                   examples' global_step, from 0). For t < T − tfinal the sensitivity
 *                   I = |p·∇p| of every P, λ, Q entry (∇p as clipping left it) is smoothed into
 *                   Ī and its uncertainty Ū (eqs. 8–9, kernel adalora_sensitivity); for
 *                   tinit < t < T − tfinal and t % ΔT == 0 the triplet scores
 *                   S_i = s(λ_i) + mean_j s(Q_ij) + mean_j s(P_ji) (s = Ī·Ū) are pooled over all
 *                   modules and the λ of the (b0 − b(t)) lowest are zeroed, with the cubic
 *                   budget b(t) of §5.4; at t = T − tfinal the last scores (not updated at that
 *                   step) mask to the target budget and the pattern is frozen, re-applied at
 *                   every later step. Only λ is masked: P and Q keep training.
 * tinit/tfinal < 0 mean "10% / 30% of the run", for runs whose length is only known at start.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method_adalora.h"


static void adalora_free(struct ar_method *m)
{
    struct adalora_state *a = m->state;
    if (!a)
        return;
    ar_mem_release(&a->ibar);
    ar_mem_release(&a->ubar);
    ar_mem_release(&a->gram);
    free(a->host_gram), free(a->ib), free(a->ub), free(a->score), free(a->keep);
    free(a);
}

static void phases(const struct ar_method *m, int total, int *tinit, int *tfinal)
{
    const struct ar_adalora_params *p = &m->p.adalora;
    *tinit = p->tinit >= 0 ? p->tinit : total / 10;
    *tfinal = p->tfinal >= 0 ? p->tfinal : (3 * total) / 10;
}

/* P, Q ~ N(0, 0.02²) and λ = 0 on active components (§5.1), written over the model's LoRA init. */
static enum ar_status init_factors(struct ar_method *m)
{
    uint64_t rng = m->seed ^ 0x4144414cULL;
    struct ar_arena *arena = ar_model_arena(m->model);
    enum ar_status st = AR_STATUS_OK;
    for (int i = 0; st == AR_STATUS_OK && i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        size_t r = (size_t)mod->rank, na = r * (size_t)mod->in, nb = (size_t)mod->out * r;
        float *buf = malloc((na > nb ? na : nb) * sizeof *buf);
        if (!buf)
            return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "adalora init");
        for (size_t e = 0; e < na; e++)
            buf[e] = mod->mask[e / (size_t)mod->in] ? 0.02f * (float)ar__method_normal(&rng) : 0;
        st = ar_mem_write(m->ctx, ar_mem_at(arena->param, mod->a_off), buf, na);
        for (size_t e = 0; st == AR_STATUS_OK && e < nb; e++)
            buf[e] = mod->mask[e % r] ? 0.02f * (float)ar__method_normal(&rng) : 0;
        if (st == AR_STATUS_OK)
            st = ar_mem_write(m->ctx, ar_mem_at(arena->param, mod->b_off), buf, nb);
        free(buf);
        memset(m->gates + m->gate_at[i], 0, r * sizeof *m->gates);
    }
    return st == AR_STATUS_OK ? ar__method_write_gates(m) : st;
}

/* λ's weight decay: 1 while AdaLoRA trains it (a LoRA parameter to HF Trainer and PEFT, unlike
 * the other methods' gates), back to the arena's 0 when it finishes. */
static enum ar_status gate_decay(struct ar_method *m, float value)
{
    struct ar_arena *arena = ar_model_arena(m->model);
    float ones[256];
    enum ar_status st = AR_STATUS_OK;
    for (int i = 0; st == AR_STATUS_OK && i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        for (size_t at = 0; st == AR_STATUS_OK && at < (size_t)mod->rank; at += 256) {
            size_t n = (size_t)mod->rank - at < 256 ? (size_t)mod->rank - at : 256;
            for (size_t e = 0; e < n; e++)
                ones[e] = value;
            st = ar_mem_write(m->ctx, ar_mem_at(arena->decay_mask, mod->gate_off + at), ones, n);
        }
    }
    return st;
}

static enum ar_status adalora_init(struct ar_method *m)
{
    const struct ar_adalora_params *p = &m->p.adalora;
    if (p->target_rank < 1 || p->delta_t < 1 || !(p->beta1 >= 0 && p->beta1 < 1) ||
        !(p->beta2 >= 0 && p->beta2 < 1) || !(p->orth_reg >= 0))
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "adalora: target_rank %d and delta_t %d must be ≥ 1, beta1 %g and beta2 "
                        "%g in [0, 1), orth_reg %g ≥ 0",
                        p->target_rank, p->delta_t, p->beta1, p->beta2, p->orth_reg);
    struct adalora_state *a = calloc(1, sizeof *a);
    if (!a)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "adalora state");
    m->state = a;
    for (int i = 0; i < m->n_modules; i++) {
        int r = ar_model_module(m->model, i)->rank;
        a->max_rank = r > a->max_rank ? r : a->max_rank;
    }
    if (p->target_rank > a->max_rank)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "adalora: target_rank %d exceeds the allocated rank %d", p->target_rank,
                        a->max_rank);
    size_t total = ar_model_arena(m->model)->total, rr = (size_t)a->max_rank * a->max_rank;
    a->host_gram = malloc(rr * sizeof *a->host_gram);
    a->ib = malloc(total * sizeof *a->ib);
    a->ub = malloc(total * sizeof *a->ub);
    a->score = calloc(m->gate_total, sizeof *a->score);
    a->keep = malloc(m->gate_total);
    if (!a->host_gram || !a->ib || !a->ub || !a->score || !a->keep)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "adalora scores");
    memset(a->keep, 1, m->gate_total);
    a->budget = (double)m->gate_total;
    a->orth_loss = NAN;
    enum ar_status st = ar_mem_alloc(m->ctx, total, &a->ibar);
    if (st == AR_STATUS_OK)
        st = ar_mem_alloc(m->ctx, total, &a->ubar);
    if (st == AR_STATUS_OK)
        st = ar_mem_alloc(m->ctx, rr, &a->gram);
    if (st == AR_STATUS_OK)
        st = ar_mem_fill(m->ctx, a->ibar, 0.0f, total);
    if (st == AR_STATUS_OK)
        st = ar_mem_fill(m->ctx, a->ubar, 0.0f, total);
    if (st == AR_STATUS_OK)
        st = gate_decay(m, 1.0f);
    return st == AR_STATUS_OK ? init_factors(m) : st;
}

/* gram (R, R) ← gram − I on the host; returns ‖gram − I‖_F and uploads it. */
static enum ar_status gram_minus_identity(struct ar_method *m, int r, double *norm)
{
    struct adalora_state *a = m->state;
    size_t rr = (size_t)r * (size_t)r;
    enum ar_status st = ar_mem_read(m->ctx, a->gram, a->host_gram, rr);
    double sum = 0;
    for (size_t e = 0; st == AR_STATUS_OK && e < rr; e++) {
        a->host_gram[e] -= e / (size_t)r == e % (size_t)r ? 1.0f : 0.0f;
        sum += (double)a->host_gram[e] * a->host_gram[e];
    }
    *norm = sqrt(sum);
    return st == AR_STATUS_OK ? ar_mem_write(m->ctx, a->gram, a->host_gram, rr) : st;
}

static enum ar_status adalora_after_backward(struct ar_method *m, const struct ar_train_state *s)
{
    (void)s;
    struct adalora_state *a = m->state;
    float gamma = m->p.adalora.orth_reg;
    a->orth_loss = 0;
    if (gamma == 0.0f)
        return AR_STATUS_OK;
    struct ar_arena *arena = ar_model_arena(m->model);
    int accum = ar_trainer_params(m->trainer)->grad_accum;
    double c = gamma / (double)m->n_modules / (double)(accum > 0 ? accum : 1), sum = 0;
    enum ar_status st = AR_STATUS_OK;
    for (int i = 0; st == AR_STATUS_OK && i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        size_t r = (size_t)mod->rank, in = (size_t)mod->in, out = (size_t)mod->out;
        struct ar_mem q = ar_mem_at(arena->param, mod->a_off), dq = ar_mem_at(arena->grad, mod->a_off);
        struct ar_mem p = ar_mem_at(arena->param, mod->b_off), dp = ar_mem_at(arena->grad, mod->b_off);
        double norm = 0;
        /* M = Q·Qᵀ − I (R, R); dQ += c/‖M‖ · M·Q */
        st = ar_gemm(m->ctx, false, true, r, r, in, 1.0f, q, in, q, in, 0.0f, a->gram, r);
        if (st == AR_STATUS_OK)
            st = gram_minus_identity(m, (int)r, &norm);
        if (st == AR_STATUS_OK && norm > 0)
            st = ar_gemm(m->ctx, false, false, r, in, r, (float)(c / norm), a->gram, r, q, in,
                         1.0f, dq, in);
        sum += norm;
        /* N = Pᵀ·P − I (R, R); dP += c/‖N‖ · P·N */
        if (st == AR_STATUS_OK)
            st = ar_gemm(m->ctx, true, false, r, r, out, 1.0f, p, r, p, r, 0.0f, a->gram, r);
        if (st == AR_STATUS_OK)
            st = gram_minus_identity(m, (int)r, &norm);
        if (st == AR_STATUS_OK && norm > 0)
            st = ar_gemm(m->ctx, false, false, out, r, r, (float)(c / norm), p, r, a->gram, r,
                         1.0f, dp, r);
        sum += norm;
    }
    a->orth_loss = gamma * sum / (2.0 * m->n_modules);
    return st;
}

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

/* Keeps the `budget` best-scored components over all modules: τ is the (b0 − b)-th smallest
 * score and every S ≤ τ is masked, so ties may mask a few more (torch.kthvalue, §5.4). */
static enum ar_status mask_to_budget(struct ar_method *m, int budget)
{
    struct adalora_state *a = m->state;
    size_t k = m->gate_total > (size_t)budget ? m->gate_total - (size_t)budget : 0;
    if (k == 0)
        return AR_STATUS_OK;
    float *sorted = malloc(m->gate_total * sizeof *sorted);
    if (!sorted)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "adalora budget");
    memcpy(sorted, a->score, m->gate_total * sizeof *sorted);
    qsort(sorted, m->gate_total, sizeof *sorted, cmp_float);
    float tau = sorted[k - 1];
    free(sorted);
    for (size_t e = 0; e < m->gate_total; e++)
        a->keep[e] = a->score[e] > tau;
    return AR_STATUS_OK;
}

/* λ ← 0 where the pattern masks a component. */
static enum ar_status apply_pattern(struct ar_method *m)
{
    struct adalora_state *a = m->state;
    enum ar_status st = ar__method_read_gates(m);
    for (size_t e = 0; st == AR_STATUS_OK && e < m->gate_total; e++)
        if (!a->keep[e])
            m->gates[e] = 0.0f;
    return st == AR_STATUS_OK ? ar__method_write_gates(m) : st;
}

/* Ī, Ū from the parameters after the step and the gradient the step used: torch's
 * clip_grad_norm_ scales .grad in place, so PEFT's RankAllocator sees the clipped gradient. The
 * trainer clips inside the AdamW kernel instead; the gradient is scaled here the same way (it is
 * zeroed right after the step's hooks). */
static enum ar_status update_sensitivity(struct ar_method *m)
{
    struct adalora_state *a = m->state;
    struct ar_arena *arena = ar_model_arena(m->model);
    double max_norm = ar_trainer_params(m->trainer)->max_grad_norm;
    struct ar_train_progress prog;
    ar_trainer_get_progress(m->trainer, &prog);
    double clip = max_norm > 0 ? max_norm / (prog.grad_norm + 1e-6) : 1.0; /* train.c's */
    enum ar_status st = AR_STATUS_OK;
    if (clip < 1.0)
        st = ar__arena_axpy(m->ctx, arena->grad, arena->grad, arena->total, (float)(clip - 1.0));
    if (st == AR_STATUS_OK)
        st = ar__adalora_sensitivity(m->ctx, arena->param, arena->grad, a->ibar, a->ubar,
                                     arena->total, m->p.adalora.beta1, m->p.adalora.beta2);
    return st;
}

/* PEFT's AdaLoraModel.update_and_allocate(t), called after the optimizer step with t = the steps
 * done before it (PEFT's examples count global_step from 0). */
static enum ar_status adalora_after_step(struct ar_method *m, const struct ar_train_state *s)
{
    struct adalora_state *a = m->state;
    const struct ar_adalora_params *p = &m->p.adalora;
    int t = s->step - 1, tinit, tfinal;
    phases(m, s->total_steps, &tinit, &tfinal);
    int end = s->total_steps - tfinal;
    if (a->frozen)
        return apply_pattern(m);
    enum ar_status st = AR_STATUS_OK;
    double b0 = (double)m->gate_total, bt = (double)p->target_rank * m->n_modules;
    if (t < end) {
        if ((st = update_sensitivity(m)) != AR_STATUS_OK || t <= tinit)
            return st;
        /* int((b0 − bT)·(1 − (t − tinit)/(T − tfinal − tinit))**3 + bT), in PEFT's order */
        double left = 1.0 - (double)(t - tinit) / (double)(end - tinit);
        a->budget = floor((b0 - bt) * pow(left, 3.0) + bt);
        if (t % p->delta_t != 0)
            return AR_STATUS_OK;
    } else {
        /* t = T − tfinal: the final mask with the scores of the step before (PEFT updates no
         * score at this step), then the pattern is frozen */
        a->budget = bt;
        a->frozen = true;
    }
    st = ar__adalora_score(m);
    if (st == AR_STATUS_OK)
        st = mask_to_budget(m, (int)a->budget);
    return st == AR_STATUS_OK ? apply_pattern(m) : st;
}

/* The final pattern becomes the model's mask, so the model is the pruned one. */
static enum ar_status adalora_finish(struct ar_method *m)
{
    struct adalora_state *a = m->state;
    enum ar_status st = apply_pattern(m);
    for (int i = 0; st == AR_STATUS_OK && i < m->n_modules; i++) {
        struct ar_model_module *mod = ar_model_module(m->model, i);
        for (int j = 0; j < mod->rank; j++)
            if (!a->keep[m->gate_at[i] + j])
                mod->mask[j] = 0.0f;
    }
    if (st == AR_STATUS_OK)
        st = gate_decay(m, 0.0f);
    return st == AR_STATUS_OK ? ar_model_sync_masks(m->model) : st;
}

const struct ar__method_impl ar__method_adalora = {
    .values_kind = "importance",
    .trains_gates = true,
    .init = adalora_init,
    .after_backward = adalora_after_backward,
    .after_step = adalora_after_step,
    .report = ar__adalora_report,
    .finish = adalora_finish,
    .free = adalora_free,
    .save_state = ar__adalora_save_state,
    .load_state = ar__adalora_load_state,
};
