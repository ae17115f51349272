/* AutoLoRA: meta-learned rank selection (Zhang, Qiang, Somayajula, Xie, NAACL 2024;
 * METHODS.md §2).
 *
 * Every module i has selection logits β_i (R) and runs with gates g_i = softmax(β_i) (§2.1: the
 * code's B·diag(softmax(β)) at the module's own scale α/R). β is trained on a search split by
 * the bilevel step of core/hypergrad.c, once per optimizer step, before the trainer's own step on
 * the LoRA factors; the chain rule through the softmax is ∂L/∂β_j = α_j(h_j − Σ_i α_i h_i) with h
 * the hypergradient w.r.t. the gates. The gates are outputs of β, never trained by the trainer.
 *
 * Choices where paper and code differ (§2.2–§2.3, §6 items 4–6):
 *   - β starts at 1, as the code's Architecture.alphas (uniform softmax 1/R);
 *   - β's Adam uses the code's betas (0.5, 0.999) and eps 1e-8, at selection_lr (the paper's 1e-3
 *     by default; the code's 3e-4 is a parameter away);
 *   - the hypergradient is second order by default (DARTS' ξ on the second-order term unless
 *     darts_scale_by_lr is false, Betty's form), with an SGD inner step (see hypergrad.c);
 *   - the rank rule is the paper's softmax(β)_j ≥ 1/R (also lora_glue.py's), not the search
 *     script's β_j/Σβ ≥ 1/R on raw logits (§2.3 [AMBIGUITY]);
 *   - the 70/30 split (val_fraction) is made by the caller, who passes the search part to
 *     ar_method_set_search_data; the retraining at the found ranks (§2.4) is a fresh LoRA run with
 *     ar_lora_params.ranks from ar_method_final_ranks.
 * Masked components (m_j = 0) are outside the softmax: g_j = 0 and they never count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method_internal.h"

struct autolora_state {
    float *search_mask; /* (gate_total) the masks the search started with */
    double *p, *dp;     /* (gate_total) softmax(β) and a scratch gradient */
};

/* p = softmax(β) per module, over the components active when the search started. */
static void selection(struct ar_method *m)
{
    struct autolora_state *a = m->state;
    for (int i = 0; i < m->n_modules; i++) {
        size_t at = m->gate_at[i];
        ar__softmax(m->bilevel->x + at, a->search_mask + at, ar_model_module(m->model, i)->rank,
                    a->p + at);
    }
}

/* Component j of module i is kept when α_j ≥ 1/k, k the module's active components (§2.3: at
 * least one is, as the α sum to 1). Uses the p of the last selection(). */
static bool is_kept(const struct ar_method *m, int i, int j)
{
    const struct autolora_state *a = m->state;
    size_t at = m->gate_at[i];
    int active = 0;
    for (int k = 0; k < ar_model_module(m->model, i)->rank; k++)
        active += a->search_mask[at + (size_t)k] != 0.0f;
    return a->search_mask[at + (size_t)j] != 0.0f && a->p[at + (size_t)j] >= 1.0 / active;
}

static int selected_rank(const struct ar_method *m, int i)
{
    int kept = 0;
    for (int j = 0; j < ar_model_module(m->model, i)->rank; j++)
        kept += is_kept(m, i, j);
    return kept;
}

static enum ar_status autolora_apply(struct ar_method *m)
{
    struct autolora_state *a = m->state;
    selection(m);
    for (size_t e = 0; e < m->gate_total; e++)
        m->gates[e] = (float)a->p[e];
    return ar__method_write_gates(m);
}

static void autolora_chain(struct ar_method *m, const float *h, double *grad)
{
    struct autolora_state *a = m->state;
    selection(m);
    for (size_t e = 0; e < m->gate_total; e++)
        a->dp[e] = h[e];
    for (int i = 0; i < m->n_modules; i++) {
        size_t at = m->gate_at[i];
        ar__softmax_backward(a->p + at, a->dp + at, a->search_mask + at,
                             ar_model_module(m->model, i)->rank, grad + at);
    }
}

static void autolora_free(struct ar_method *m)
{
    struct autolora_state *a = m->state;
    if (a)
        free(a->search_mask), free(a->p), free(a->dp);
    free(a);
    m->state = NULL;
}

static enum ar_status autolora_init(struct ar_method *m)
{
    const struct ar_autolora_params *p = &m->p.autolora;
    if (!(p->selection_lr > 0) || !(p->darts_r > 0) || !isfinite(p->inner_lr))
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "autolora: selection_lr %g and darts_r %g must be > 0, inner_lr %g finite",
                        (double)p->selection_lr, (double)p->darts_r, (double)p->inner_lr);
    struct autolora_state *a = calloc(1, sizeof *a);
    if (!a)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "autolora state");
    m->state = a;
    size_t n = m->gate_total ? m->gate_total : 1;
    a->search_mask = malloc(n * sizeof *a->search_mask);
    a->p = calloc(n, sizeof *a->p);
    a->dp = calloc(n, sizeof *a->dp);
    if (!a->search_mask || !a->p || !a->dp)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "autolora state");
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        memcpy(a->search_mask + m->gate_at[i], mod->mask, (size_t)mod->rank * sizeof *mod->mask);
    }
    enum ar_status st = ar__bilevel_new(m, (int)m->gate_total, 1.0f);
    return st == AR_STATUS_OK ? autolora_apply(m) : st;
}

static enum ar_status autolora_before_forward(struct ar_method *m, const struct ar_train_state *s)
{
    const struct ar_autolora_params *p = &m->p.autolora;
    struct ar__hypergrad_opts o = {.inner_lr = p->inner_lr, .first_order = p->first_order,
                                   .darts_r = p->darts_r, .scale_by_lr = p->darts_scale_by_lr};
    return ar__bilevel_step(m, s, o, p->selection_lr, 0.5f, 0.999f);
}

/* values: softmax(β) (the gates); effective: the threshold rule; threshold 1/R. */
static enum ar_status autolora_report(struct ar_method *m)
{
    struct ar_method_report *r = &m->report;
    selection(m);
    int rmax = 0;
    for (int i = 0; i < m->n_modules; i++) {
        int rank = ar_model_module(m->model, i)->rank;
        r->effective[i] = selected_rank(m, i);
        r->sparsity[i] = rank ? 1.0f - (float)r->effective[i] / (float)rank : 0.0f;
        rmax = rank > rmax ? rank : rmax;
    }
    r->threshold = rmax ? 1.0 / rmax : NAN;
    return AR_STATUS_OK;
}

static enum ar_status autolora_final_ranks(struct ar_method *m, int *ranks)
{
    selection(m);
    for (int i = 0; i < m->n_modules; i++)
        ranks[i] = selected_rank(m, i);
    return AR_STATUS_OK;
}

/* The selection becomes the mask m_j = 1[α_j ≥ 1/R]; the gates keep α, so the export folds them
 * into B and the model as it stands is the thresholded one. */
static enum ar_status autolora_finish(struct ar_method *m)
{
    selection(m);
    for (int i = 0; i < m->n_modules; i++) {
        struct ar_model_module *mod = ar_model_module(m->model, i);
        for (int j = 0; j < mod->rank; j++)
            mod->mask[j] = is_kept(m, i, j) ? 1.0f : 0.0f;
    }
    return ar_model_sync_masks(m->model);
}

const struct ar__method_impl ar__method_autolora = {
    .values_kind = "selection",
    .trains_gates = false,
    .init = autolora_init,
    .before_forward = autolora_before_forward,
    .report = autolora_report,
    .finish = autolora_finish,
    .free = autolora_free,
    .final_ranks = autolora_final_ranks,
    .apply_hyper = autolora_apply,
    .chain_hyper = autolora_chain,
};
