/* The bilevel machinery of AutoLoRA (METHODS.md §2.2) and Flexora (§4.1): both methods' selection
 * variables reach the model only through the gates g of the gated LoRA modules, so one
 * hypergradient w.r.t. the gates serves both, and each method chains it to its own variables on
 * the host (the gates are tiny: Σ R floats).
 *
 * The hypergradient is DARTS' (Liu et al., ICLR 2019, eqs. 6–8) through one unrolled inner step.
 * With θ every arena parameter except the gates (LoRA factors and the head), ξ the inner lr:
 *
 *     F(g)   = L_val(θ', g),   θ' = θ − ξ·∇θ L_tr(θ, g)
 *     dF/dg  = ∂g L_val(θ', g) − ξ·∇²_{gθ} L_tr(θ, g)·v,   v = ∇θ' L_val(θ', g)
 *            ≈ d − ξ·(∇g L_tr(θ + ε·v, g) − ∇g L_tr(θ − ε·v, g)) / (2ε),   ε = R/‖v‖
 *
 * Choices where the references differ (§2.2, §6 item 6, §4.1, §6 item 9):
 *   - the inner step is plain SGD, as DARTS unrolls it; Betty's AutoLoRA search takes a tentative
 *     Adam step instead, whose Jacobian its "darts" hypergradient ignores anyway;
 *   - the mixed second derivative is taken at θ (the exact derivative of F above); Betty perturbs
 *     the stepped weights W' instead;
 *   - scale_by_lr keeps DARTS' ξ on the second-order term; false gives Betty's form without it;
 *   - first_order drops that term (h = d): Flexora's released code, which differentiates the
 *     validation loss at the already-updated weights;
 *   - every forward here runs without dropout (training = false), so that F is deterministic;
 *   - Betty rolls W back after the β step and redoes the inner step with the new β: here the
 *     search runs in the trainer's before_forward hook, and the trainer's own step that follows
 *     uses the new gates, which is that redo;
 *   - with gradient accumulation the inner step's training batch is the step's first
 *     micro-batch (one search step per optimizer step).
 * The selection variables live on the host: a trainer's restore_best brings back earlier gates
 * but not the x that gave them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method_internal.h"
#include "model_internal.h"

#define SEARCH_ORDER_TAG 0x53454152ULL /* "SEAR": the search split's order, apart from others */

void ar__bilevel_free(struct ar__bilevel *b)
{
    if (!b)
        return;
    free(b->x), free(b->grad), free(b->adam_m), free(b->adam_v);
    free(b->h), free(b->d), free(b->gp), free(b->gm), free(b->order);
    ar_mem_release(&b->theta);
    ar_mem_release(&b->v);
    ar_padded_batch_free(&b->val_batch);
    free(b);
}

enum ar_status ar__bilevel_new(struct ar_method *m, int n, float init)
{
    struct ar__bilevel *b = calloc(1, sizeof *b);
    if (!b)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "bilevel state");
    m->bilevel = b; /* ar_method_free releases it, also when the rest fails */
    b->n = n;
    b->last_step = -1;
    size_t nn = n > 0 ? (size_t)n : 1, ng = m->gate_total ? m->gate_total : 1;
    b->x = malloc(nn * sizeof *b->x);
    b->grad = calloc(nn, sizeof *b->grad);
    b->adam_m = calloc(nn, sizeof *b->adam_m);
    b->adam_v = calloc(nn, sizeof *b->adam_v);
    b->h = calloc(ng, sizeof *b->h);
    b->d = calloc(ng, sizeof *b->d);
    b->gp = calloc(ng, sizeof *b->gp);
    b->gm = calloc(ng, sizeof *b->gm);
    if (!b->x || !b->grad || !b->adam_m || !b->adam_v || !b->h || !b->d || !b->gp || !b->gm)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "bilevel state for %d variables", n);
    for (int i = 0; i < n; i++)
        b->x[i] = init;
    size_t total = ar_model_arena(m->model)->total;
    enum ar_status st = ar_mem_alloc(m->ctx, total, &b->theta);
    return st == AR_STATUS_OK ? ar_mem_alloc(m->ctx, total, &b->v) : st;
}

/* ---- softmax and its backward, shared by the two chain rules ------------------------------- */

void ar__softmax(const float *z, const float *active, int n, double *p)
{
    double top = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++)
        if (!active || active[j] != 0.0f)
            top = fmax(top, (double)z[j]);
    for (int j = 0; j < n; j++) {
        p[j] = !active || active[j] != 0.0f ? exp((double)z[j] - top) : 0.0;
        sum += p[j];
    }
    for (int j = 0; sum > 0 && j < n; j++)
        p[j] /= sum;
}

void ar__softmax_backward(const double *p, const double *dp, const float *active, int n,
                          double *dz)
{
    double mean = 0;
    for (int j = 0; j < n; j++)
        if (!active || active[j] != 0.0f)
            mean += p[j] * dp[j];
    for (int j = 0; j < n; j++)
        dz[j] = !active || active[j] != 0.0f ? p[j] * (dp[j] - mean) : 0.0;
}

/* ---- the hypergradient ------------------------------------------------------------------------ */

/* Deterministic loss and its gradient (added to the zeroed arena gradient) on one batch. */
static enum ar_status loss_and_grad(struct ar_method *m, const struct ar_batch *batch, float *loss)
{
    float l = 0;
    enum ar_status st = ar_model_forward(m->model, batch, false, 0, &l);
    if (st == AR_STATUS_OK)
        st = ar_model_backward(m->model, 1.0f);
    if (st == AR_STATUS_OK && !isfinite(l))
        st = ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                      "%s search: the loss is %g (diverged: lower the lr)",
                      ar_method_kind_name(m->p.kind), (double)l);
    if (loss)
        *loss = l;
    return st;
}

static enum ar_status read_gate_grads(struct ar_method *m, float *out)
{
    struct ar_arena *arena = ar_model_arena(m->model);
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        enum ar_status st = ar_mem_read(m->ctx, ar_mem_at(arena->grad, mod->gate_off),
                                        out + m->gate_at[i], (size_t)mod->rank);
        if (st != AR_STATUS_OK)
            return st;
    }
    return AR_STATUS_OK;
}

/* ∇g L_tr(θ + a·v, g) into out (zero gradients in, zero gradients out). */
static enum ar_status gate_grad_at(struct ar_method *m, const struct ar_batch *train, float a,
                                   float *out)
{
    struct ar__bilevel *b = m->bilevel;
    struct ar_arena *arena = ar_model_arena(m->model);
    enum ar_status st = ar_mem_copy(m->ctx, arena->param, b->theta, arena->total);
    if (st == AR_STATUS_OK)
        st = ar__arena_axpy(m->ctx, arena->param, b->v, arena->total, a);
    if (st == AR_STATUS_OK)
        st = loss_and_grad(m, train, NULL);
    if (st == AR_STATUS_OK)
        st = read_gate_grads(m, out);
    return st == AR_STATUS_OK ? ar_arena_zero_grad(m->ctx, arena) : st;
}

/* Steps 1–4, θ saved in b->theta; the arena may be left anywhere (the caller restores θ). */
static enum ar_status unrolled(struct ar_method *m, const struct ar_batch *train,
                               const struct ar_batch *val, const struct ar__hypergrad_opts *o,
                               float *h, float *val_loss)
{
    struct ar__bilevel *b = m->bilevel;
    struct ar_arena *arena = ar_model_arena(m->model);
    size_t total = arena->total, ng = m->gate_total;
    /* 1–2: θ' = θ − ξ·∇θ L_tr(θ, g); the gate entries of the gradient are zeroed first, so the
     * gates are not part of the step. */
    enum ar_status st = loss_and_grad(m, train, NULL);
    if (st == AR_STATUS_OK)
        st = ar__method_freeze_gates(m);
    if (st == AR_STATUS_OK)
        st = ar__arena_axpy(m->ctx, arena->param, arena->grad, total, -o->inner_lr);
    if (st == AR_STATUS_OK)
        st = ar_arena_zero_grad(m->ctx, arena);
    /* 3: d = ∂g L_val(θ', g); v = ∇θ' L_val (the rest of the gradient). */
    if (st == AR_STATUS_OK)
        st = loss_and_grad(m, val, val_loss);
    if (st == AR_STATUS_OK)
        st = read_gate_grads(m, b->d);
    if (st == AR_STATUS_OK)
        st = ar__method_freeze_gates(m);
    if (st != AR_STATUS_OK)
        return st;
    memcpy(h, b->d, ng * sizeof *h);
    double xi = o->scale_by_lr ? (double)o->inner_lr : 1.0;
    if (o->first_order || xi == 0.0)
        return AR_STATUS_OK;
    /* 4: the Hessian-vector product by central differences along v, at θ. */
    double sq = 0;
    if ((st = ar_sum_squares(m->ctx, total, arena->grad, &sq)) != AR_STATUS_OK)
        return st;
    if (!isfinite(sq))
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s search: the validation gradient norm is %g (diverged)",
                        ar_method_kind_name(m->p.kind), sqrt(sq));
    if (sq == 0.0)
        return AR_STATUS_OK; /* v = 0: no second-order term */
    float eps = (float)(o->darts_r / sqrt(sq));
    st = ar_mem_copy(m->ctx, b->v, arena->grad, total);
    if (st == AR_STATUS_OK)
        st = ar_arena_zero_grad(m->ctx, arena);
    if (st == AR_STATUS_OK)
        st = gate_grad_at(m, train, eps, b->gp);
    if (st == AR_STATUS_OK)
        st = gate_grad_at(m, train, -eps, b->gm);
    double coef = xi / (2.0 * (double)eps);
    for (size_t j = 0; st == AR_STATUS_OK && j < ng; j++)
        h[j] = (float)((double)b->d[j] - coef * ((double)b->gp[j] - (double)b->gm[j]));
    return st;
}

enum ar_status ar__hypergrad_gates(struct ar_method *m, const struct ar_batch *train,
                                   const struct ar_batch *val, const struct ar__hypergrad_opts *o,
                                   float *h, float *val_loss)
{
    struct ar_arena *arena = ar_model_arena(m->model);
    if (!m->bilevel)
        return ar__fail(m->ctx, AR_STATUS_UNSUPPORTED, "hypergradient: method %s has no search",
                        ar_method_kind_name(m->p.kind));
    if (!(o->inner_lr >= 0) || !(o->darts_r > 0))
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "hypergradient: inner lr %g must be ≥ 0 and darts_r %g > 0",
                        (double)o->inner_lr, (double)o->darts_r);
    /* 0: save θ (the whole parameter region: the gates in it do not change). */
    enum ar_status st = ar_mem_copy(m->ctx, m->bilevel->theta, arena->param, arena->total);
    if (st != AR_STATUS_OK)
        return st;
    float loss = NAN;
    st = unrolled(m, train, val, o, h, &loss);
    /* 5: restore θ and zero the gradients, also after a failure. */
    enum ar_status back = ar_mem_copy(m->ctx, arena->param, m->bilevel->theta, arena->total);
    if (back == AR_STATUS_OK)
        back = ar_arena_zero_grad(m->ctx, arena);
    if (val_loss)
        *val_loss = loss;
    return st != AR_STATUS_OK ? st : back;
}

enum ar_status ar__bilevel_hyper_grad(struct ar_method *m, const struct ar_batch *train,
                                      const struct ar_batch *val,
                                      const struct ar__hypergrad_opts *o)
{
    struct ar__bilevel *b = m->bilevel;
    enum ar_status st = ar__hypergrad_gates(m, train, val, o, b ? b->h : NULL, b ? &b->val_loss
                                                                                 : NULL);
    if (st == AR_STATUS_OK)
        m->impl->chain_hyper(m, b->h, b->grad);
    return st;
}

enum ar_status ar__bilevel_set(struct ar_method *m, const float *x)
{
    if (!m->bilevel)
        return ar__fail(m->ctx, AR_STATUS_UNSUPPORTED, "method %s has no selection variables",
                        ar_method_kind_name(m->p.kind));
    memcpy(m->bilevel->x, x, (size_t)m->bilevel->n * sizeof *x);
    return m->impl->apply_hyper(m);
}

/* ---- the search step of the training loop --------------------------------------------------- */

enum ar_status ar_method_set_search_data(struct ar_method *m, const struct ar_encoded *val,
                                         int batch_size, int32_t pad_id)
{
    const char *name = ar_method_kind_name(m->p.kind);
    struct ar__bilevel *b = m->bilevel;
    if (!b)
        return ar__fail(m->ctx, AR_STATUS_UNSUPPORTED,
                        "search data: method %s has no search stage (autolora, flexora do)", name);
    if (!val || val->count < 1)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT, "%s: the search set is empty", name);
    const struct ar_model_options *opts = &m->model->opts;
    if (batch_size < 1 || batch_size > opts->max_batch)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: search batch size %d must be in [1, %d] (the model's max_batch)",
                        name, batch_size, opts->max_batch);
    if (val->max_len > opts->max_time)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: search examples of %d tokens exceed the model's max_time %d", name,
                        val->max_len, opts->max_time);
    for (int i = 0; !val->token_labels && i < val->count; i++) /* per-token sets: no class */
        if (val->labels[i] < 0 || val->labels[i] >= m->model->num_labels)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "%s: search example from line %d has class %d; the model has %d",
                            name, val->lines ? val->lines[i] : i + 1, val->labels[i],
                            m->model->num_labels);
    int *order = realloc(b->order, (size_t)val->count * sizeof *order);
    if (!order)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "%s: search order", name);
    b->order = order;
    b->search = val;
    b->batch_size = batch_size < val->count ? batch_size : val->count;
    b->pad_id = pad_id;
    b->cursor = -1;
    b->epoch = 0;
    return AR_STATUS_OK;
}

/* The next search batch of the seeded order; an epoch's last partial batch is skipped. */
static enum ar_status next_search_batch(struct ar_method *m, struct ar_batch *out)
{
    struct ar__bilevel *b = m->bilevel;
    int n = b->search->count, bs = b->batch_size;
    if (b->cursor < 0 || b->cursor + bs > n) {
        if (b->cursor >= 0)
            b->epoch++;
        ar_dataset_permutation(n, m->seed ^ SEARCH_ORDER_TAG, b->epoch, b->order);
        b->cursor = 0;
    }
    enum ar_status st =
        ar_padded_batch_fill(&b->val_batch, b->search, b->order + b->cursor, bs, b->pad_id);
    if (st != AR_STATUS_OK)
        return ar__fail(m->ctx, st, "%s: cannot build a search batch",
                        ar_method_kind_name(m->p.kind));
    b->cursor += bs;
    const struct ar_padded_batch *pb = &b->val_batch;
    *out = (struct ar_batch){pb->batch, pb->time, pb->ids, pb->type_ids, pb->attn_mask,
                             pb->labels};
    out->token_labels = pb->token_labels; /* per-token sets (causal LM), else NULL */
    return AR_STATUS_OK;
}

/* The lr the trainer schedules for `step`, as ar_trainer_new sets its schedule up. */
static double scheduled_lr(const struct ar_method *m, int step)
{
    const struct ar_train_params *p = ar_trainer_params(m->trainer);
    int total = ar_trainer_total_steps(m->trainer);
    struct ar_schedule sc = {.kind = p->schedule, .lr = p->lr, .total_steps = total};
    sc.warmup_steps = p->warmup_steps >= 0 ? (p->warmup_steps < total ? p->warmup_steps : total)
                                           : ar_schedule_warmup_steps(p->warmup_ratio, total);
    return ar_schedule_lr(&sc, step);
}

/* Adam on the host in double (torch.optim.Adam, no weight decay). */
static void adam_step(struct ar__bilevel *b, double lr, double beta1, double beta2)
{
    b->adam_t++;
    double bc1 = 1.0 - pow(beta1, b->adam_t), bc2 = 1.0 - pow(beta2, b->adam_t);
    for (int j = 0; j < b->n; j++) {
        double g = b->grad[j];
        b->adam_m[j] = beta1 * b->adam_m[j] + (1.0 - beta1) * g;
        b->adam_v[j] = beta2 * b->adam_v[j] + (1.0 - beta2) * g * g;
        double denom = sqrt(b->adam_v[j]) / sqrt(bc2) + 1e-8;
        b->x[j] = (float)((double)b->x[j] - lr / bc1 * b->adam_m[j] / denom);
    }
}

enum ar_status ar__bilevel_step(struct ar_method *m, const struct ar_train_state *s,
                                struct ar__hypergrad_opts o, float lr, float beta1, float beta2)
{
    struct ar__bilevel *b = m->bilevel;
    if (b->last_step == s->step || !s->batch)
        return AR_STATUS_OK; /* once per optimizer step, at its first micro-batch */
    if (!b->search)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "%s: no search data: call ar_method_set_search_data before training",
                        ar_method_kind_name(m->p.kind));
    b->last_step = s->step;
    if (o.inner_lr <= 0)
        o.inner_lr = (float)scheduled_lr(m, s->step);
    const struct ar_padded_batch *pb = s->batch;
    struct ar_batch train = {pb->batch, pb->time, pb->ids, pb->type_ids, pb->attn_mask,
                             pb->labels};
    train.token_labels = pb->token_labels;
    struct ar_batch val;
    enum ar_status st = next_search_batch(m, &val);
    if (st == AR_STATUS_OK)
        st = ar__bilevel_hyper_grad(m, &train, &val, &o);
    if (st != AR_STATUS_OK)
        return st;
    adam_step(b, lr, beta1, beta2);
    return m->impl->apply_hyper(m);
}
