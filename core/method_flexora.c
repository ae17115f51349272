/* Flexora: flexible layer selection (Wei, Shu, He, Yu, 2024; METHODS.md §4).
 *
 * One logit α_l per transformer layer, w_l = L·softmax(α)_l (1 everywhere at α = 0), and every
 * adapted module of layer l runs at w_l^k times its LoRA output, i.e. every gate of the module is
 * w_l^k. α is trained on a search split by the bilevel step of core/hypergrad.c, with the chain
 *     ∂L/∂w_l = Σ_{modules of layer l} Σ_j h_j·k·w_l^{k−1},
 *     ∂L/∂α_j = Σ_l ∂L/∂w_l·L·p_l(δ_lj − p_j)   (§4.1, p = softmax(α)).
 * The selection is the top select_layers layers by α, or {l : α_l > 0} (the code's
 * selected_layer()); finishing masks the other layers' modules off, and ar_method_final_ranks
 * gives R / 0 per module for the retraining stage (§4.2: a fresh LoRA on the selected layers).
 *
 * Choices where paper and code differ (§4.1, §6 item 9):
 *   - k = power: 1 as the paper (a scalar on each layer's LoRA output), 3 as the released code
 *     (its three pre-hooks on dropout, lora_A and lora_B);
 *   - the hypergradient unrolls one inner step, as the paper describes ("unrolled
 *     differentiation"); first_order gives the released code's gradient at the updated weights;
 *   - one search batch of the set's batch size per optimizer step, where the code sums 8
 *     validation mini-batches of one example;
 *   - α's Adam has torch's defaults (betas 0.9, 0.999, eps 1e-8) at hyper_lr, as the code;
 *   - the code resets the LoRA optimizer's Adam state every step (a BAdam quirk, §4.1): not
 *     copied, the trainer's AdamW runs as for every method;
 *   - at least one layer is selected: when no α_l > 0, the best-scored layer.
 * Modules outside the transformer layers (BERT's pooler, layer = L when "dense" is a target) have
 * no α: their gates stay 1 and they are always kept.
 */
#include <math.h>
#include <stdlib.h>

#include "method_internal.h"

struct flexora_state {
    int layers; /* L */
    double *p, *dp, *grad_w; /* (L) softmax(α), scratch */
    bool *selected;          /* (L) */
};

static bool in_layers(const struct flexora_state *f, int layer)
{
    return layer >= 0 && layer < f->layers;
}

static enum ar_status flexora_apply(struct ar_method *m)
{
    struct flexora_state *f = m->state;
    ar__softmax(m->bilevel->x, NULL, f->layers, f->p);
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        double w = in_layers(f, mod->layer) ? f->layers * f->p[mod->layer] : 1.0;
        float g = in_layers(f, mod->layer) ? (float)pow(w, m->p.flexora.power) : 1.0f;
        for (int j = 0; j < mod->rank; j++)
            m->gates[m->gate_at[i] + (size_t)j] = g;
    }
    return ar__method_write_gates(m);
}

static void flexora_chain(struct ar_method *m, const float *h, double *grad)
{
    struct flexora_state *f = m->state;
    int k = m->p.flexora.power, L = f->layers;
    ar__softmax(m->bilevel->x, NULL, L, f->p);
    for (int l = 0; l < L; l++)
        f->grad_w[l] = 0;
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        if (!in_layers(f, mod->layer))
            continue;
        double w = L * f->p[mod->layer], sum = 0;
        for (int j = 0; j < mod->rank; j++)
            sum += h[m->gate_at[i] + (size_t)j];
        f->grad_w[mod->layer] += sum * k * pow(w, k - 1);
    }
    for (int l = 0; l < L; l++)
        f->dp[l] = L * f->grad_w[l]; /* w = L·p */
    ar__softmax_backward(f->p, f->dp, NULL, L, grad);
}

/* The current selection into f->selected. */
static void select_layers(struct ar_method *m)
{
    struct flexora_state *f = m->state;
    const float *alpha = m->bilevel->x;
    int k = m->p.flexora.select_layers, best = 0, count = 0;
    for (int l = 0; l < f->layers; l++) {
        best = alpha[l] > alpha[best] ? l : best;
        if (k > 0) {
            /* top-k: fewer than k layers score higher (ties go to the lower index). */
            int above = 0;
            for (int o = 0; o < f->layers; o++)
                above += alpha[o] > alpha[l] || (alpha[o] == alpha[l] && o < l);
            f->selected[l] = above < k;
        } else {
            f->selected[l] = alpha[l] > 0.0f;
        }
        count += f->selected[l];
    }
    if (count == 0 && f->layers > 0)
        f->selected[best] = true;
}

static bool module_kept(const struct ar_method *m, int i)
{
    const struct flexora_state *f = m->state;
    int layer = ar_model_module(m->model, i)->layer;
    return !in_layers(f, layer) || f->selected[layer];
}

static void flexora_free(struct ar_method *m)
{
    struct flexora_state *f = m->state;
    if (f)
        free(f->p), free(f->dp), free(f->grad_w), free(f->selected);
    free(f);
    m->state = NULL;
}

static enum ar_status flexora_init(struct ar_method *m)
{
    const struct ar_flexora_params *p = &m->p.flexora;
    int L = ar_model_config(m->model)->num_layers;
    if (!(p->hyper_lr > 0) || p->power < 1 || p->select_layers < 0 || p->select_layers > L ||
        !(p->darts_r > 0) || !isfinite(p->inner_lr))
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "flexora: hyper_lr %g and darts_r %g must be > 0, power %d ≥ 1, "
                        "select_layers %d in [0, %d], inner_lr %g finite",
                        (double)p->hyper_lr, (double)p->darts_r, p->power, p->select_layers, L,
                        (double)p->inner_lr);
    struct flexora_state *f = calloc(1, sizeof *f);
    if (!f)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "flexora state");
    m->state = f;
    f->layers = L;
    size_t n = L > 0 ? (size_t)L : 1;
    f->p = calloc(n, sizeof *f->p);
    f->dp = calloc(n, sizeof *f->dp);
    f->grad_w = calloc(n, sizeof *f->grad_w);
    f->selected = calloc(n, sizeof *f->selected);
    struct ar_method_report *r = &m->report;
    r->layer_score = calloc(n, sizeof *r->layer_score);
    r->layer_selected = calloc(n, sizeof *r->layer_selected);
    if (!f->p || !f->dp || !f->grad_w || !f->selected || !r->layer_score || !r->layer_selected)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "flexora state for %d layers", L);
    r->n_layers = L;
    enum ar_status st = ar__bilevel_new(m, L, 0.0f); /* α = 0: the code's zero init */
    return st == AR_STATUS_OK ? flexora_apply(m) : st;
}

static enum ar_status flexora_before_forward(struct ar_method *m, const struct ar_train_state *s)
{
    const struct ar_flexora_params *p = &m->p.flexora;
    struct ar__hypergrad_opts o = {.inner_lr = p->inner_lr, .first_order = p->first_order,
                                   .darts_r = p->darts_r, .scale_by_lr = p->darts_scale_by_lr};
    return ar__bilevel_step(m, s, o, p->hyper_lr, 0.9f, 0.999f);
}

/* values: the gates w_l^k; layer_score: α; layer_selected: the selection as it stands. The
 * effective rank is the shared one (R while every layer searches, 0 once finished and dropped). */
static enum ar_status flexora_report(struct ar_method *m)
{
    struct flexora_state *f = m->state;
    select_layers(m);
    for (int l = 0; l < f->layers; l++) {
        m->report.layer_score[l] = m->bilevel->x[l];
        m->report.layer_selected[l] = f->selected[l];
    }
    return AR_STATUS_OK;
}

static enum ar_status flexora_final_ranks(struct ar_method *m, int *ranks)
{
    select_layers(m);
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        int active = 0;
        for (int j = 0; j < mod->rank; j++)
            active += mod->mask[j] != 0.0f;
        ranks[i] = module_kept(m, i) ? active : 0;
    }
    return AR_STATUS_OK;
}

static enum ar_status flexora_finish(struct ar_method *m)
{
    select_layers(m);
    for (int i = 0; i < m->n_modules; i++) {
        struct ar_model_module *mod = ar_model_module(m->model, i);
        for (int j = 0; !module_kept(m, i) && j < mod->rank; j++)
            mod->mask[j] = 0.0f;
    }
    return ar_model_sync_masks(m->model);
}

const struct ar__method_impl ar__method_flexora = {
    .values_kind = "gate",
    .trains_gates = false,
    .init = flexora_init,
    .before_forward = flexora_before_forward,
    .report = flexora_report,
    .finish = flexora_finish,
    .free = flexora_free,
    .final_ranks = flexora_final_ranks,
    .apply_hyper = flexora_apply,
    .chain_hyper = flexora_chain,
};
