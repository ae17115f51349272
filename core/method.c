/* Rank methods: the registry, defaults, hooks, the per-module report and the export of folded
 * plain-LoRA factors. Each method's own behaviour is in core/method_<name>.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method_internal.h"
#include "model_internal.h"

static const char *const kind_names[] = {"lora", "sora", "autolora", "dylora", "flexora", "adalora"};

const char *ar_method_kind_name(enum ar_method_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "?";
}

bool ar_method_kind_parse(const char *name, enum ar_method_kind *out)
{
    for (size_t i = 0; name && i < sizeof kind_names / sizeof kind_names[0]; i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (enum ar_method_kind)i;
            return true;
        }
    }
    return false;
}

struct ar_method_params ar_method_default_params(enum ar_method_kind kind)
{
    struct ar_method_params p = {.kind = kind};
    /* SoRA: the no-schedule script's ξ = 3e-4 and N(0, 1) gates (METHODS.md §1.5); its L1 weight
     * of 10 is normalised by the gate count, so it matters little; the sparsifying scheduler is
     * on, raising ξ to 1e-3 over 4 stages so short runs show the rank falling. */
    p.sora = (struct ar_sora_params){.l1_weight = 10.0f, .xi = 3e-4f, .xi_max = 1e-3f,
                                     .stages = 4, .xi_times_lr = false, .gate_init_normal = true};
    /* DyLoRA: b ~ U{1..R}; the paper's non-frozen mode, which its ablation prefers (§3.2). */
    p.dylora = (struct ar_dylora_params){.min_rank = 1, .frozen = false};
    /* AdaLoRA: PEFT's defaults (§5.5) but for the schedule, whose phases default to 10% and 30% of
     * the run (PEFT has no defaults for them; it needs total_step). */
    p.adalora = (struct ar_adalora_params){.target_rank = 4, .tinit = -1, .tfinal = -1,
                                           .delta_t = 10, .beta1 = 0.85f, .beta2 = 0.85f,
                                           .orth_reg = 0.5f};
    /* AutoLoRA: the paper's 1e-3 for the selection variables, Betty's R = 0.01 (§2.2).
     * The unrolled step runs at the trainer's scheduled lr, with DARTS' ξ on the second-order
     * term (Betty's form without it is darts_scale_by_lr = false). */
    p.autolora = (struct ar_autolora_params){.selection_lr = 1e-3f, .darts_r = 0.01f,
                                             .first_order = false, .val_fraction = 0.3f,
                                             .inner_lr = 0.0f, .darts_scale_by_lr = true};
    /* Flexora: Adam lr 0.01 on zero-initialised logits, the paper's w_l (§4.1), and the unrolled
     * hypergradient the paper describes (first_order is the released code's). */
    p.flexora = (struct ar_flexora_params){.hyper_lr = 0.01f, .power = 1, .select_layers = 0,
                                           .first_order = false, .search_fraction = 0.5f,
                                           .inner_lr = 0.0f, .darts_r = 0.01f,
                                           .darts_scale_by_lr = true};
    /* LoRA: every module at the allocated rank R and the model's scale. */
    p.lora = (struct ar_lora_params){.ranks = NULL, .scale_by_rank = false};
    return p;
}

static const struct ar__method_impl *impl_for(enum ar_method_kind kind)
{
    switch (kind) {
    case AR_METHOD_LORA:
        return &ar__method_lora;
    case AR_METHOD_SORA:
        return &ar__method_sora;
    case AR_METHOD_DYLORA:
        return &ar__method_dylora;
    case AR_METHOD_ADALORA:
        return &ar__method_adalora;
    case AR_METHOD_AUTOLORA:
        return &ar__method_autolora;
    case AR_METHOD_FLEXORA:
        return &ar__method_flexora;
    default:
        return NULL;
    }
}

void ar_method_free(struct ar_method *m)
{
    if (!m)
        return;
    if (m->impl && m->impl->free)
        m->impl->free(m);
    ar__bilevel_free(m->bilevel);
    struct ar_method_report *r = &m->report;
    free(r->effective);
    free(r->allocated);
    free(r->sparsity);
    free(r->values);
    free(r->values_count);
    free(r->layer_score);
    free(r->layer_selected);
    free(m->gates);
    free(m->gate_at);
    free(m);
}

enum ar_status ar_method_new(struct ar_ctx *ctx, struct ar_model *model,
                             const struct ar_method_params *params, uint64_t seed,
                             struct ar_method **out)
{
    *out = NULL;
    const struct ar__method_impl *impl = impl_for(params->kind);
    if (!impl)
        return ar__fail(ctx, AR_STATUS_UNSUPPORTED, "method %s is not available yet",
                        ar_method_kind_name(params->kind));
    int n = ar_model_module_count(model);
    if (n <= 0)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "method %s: the model has no adapted modules (check the targets)",
                        ar_method_kind_name(params->kind));
    struct ar_method *m = calloc(1, sizeof *m);
    if (!m)
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "method");
    *m = (struct ar_method){.ctx = ctx, .model = model, .p = *params, .seed = seed, .impl = impl,
                            .n_modules = n};
    m->gate_at = calloc((size_t)n, sizeof *m->gate_at);
    for (int i = 0; m->gate_at && i < n; i++) {
        m->gate_at[i] = m->gate_total;
        m->gate_total += (size_t)ar_model_module(model, i)->rank;
    }
    struct ar_method_report *r = &m->report;
    m->gates = calloc(m->gate_total ? m->gate_total : 1, sizeof *m->gates);
    r->effective = calloc((size_t)n, sizeof *r->effective);
    r->allocated = calloc((size_t)n, sizeof *r->allocated);
    r->sparsity = calloc((size_t)n, sizeof *r->sparsity);
    r->values = calloc((size_t)n, sizeof *r->values);
    r->values_count = calloc((size_t)n, sizeof *r->values_count);
    if (!m->gate_at || !m->gates || !r->effective || !r->allocated || !r->sparsity ||
        !r->values || !r->values_count) {
        ar_method_free(m);
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "method state for %d modules", n);
    }
    r->n_modules = n;
    r->values_kind = impl->values_kind;
    r->threshold = NAN;
    enum ar_status st = impl->init ? impl->init(m) : AR_STATUS_OK;
    if (st != AR_STATUS_OK) {
        ar_method_free(m);
        return st;
    }
    *out = m;
    return AR_STATUS_OK;
}

/* ---- hooks ------------------------------------------------------------------------------------ */

static enum ar_status hook_before_forward(void *user, struct ar_trainer *t,
                                          const struct ar_train_state *s)
{
    (void)t;
    struct ar_method *m = user;
    return m->impl->before_forward ? m->impl->before_forward(m, s) : AR_STATUS_OK;
}

static enum ar_status hook_after_backward(void *user, struct ar_trainer *t,
                                          const struct ar_train_state *s)
{
    (void)t;
    struct ar_method *m = user;
    enum ar_status st = m->impl->trains_gates ? AR_STATUS_OK : ar__method_freeze_gates(m);
    if (st == AR_STATUS_OK && m->impl->after_backward)
        st = m->impl->after_backward(m, s);
    return st;
}

static enum ar_status hook_after_step(void *user, struct ar_trainer *t,
                                      const struct ar_train_state *s)
{
    (void)t;
    struct ar_method *m = user;
    return m->impl->after_step ? m->impl->after_step(m, s) : AR_STATUS_OK;
}

enum ar_status ar_method_attach(struct ar_method *m, struct ar_trainer *trainer)
{
    if (ar_trainer_model(trainer) != m->model)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "method %s: the trainer was built on another model",
                        ar_method_kind_name(m->p.kind));
    m->trainer = trainer;
    if (m->bilevel)
        m->bilevel->last_step = -1; /* a new run counts its steps from 0 */
    struct ar_train_hooks hooks = {.user = m,
                                   .before_forward = hook_before_forward,
                                   .after_backward = hook_after_backward,
                                   .after_step = hook_after_step};
    return ar_trainer_add_hooks(trainer, &hooks);
}

/* ---- report, finish, export ------------------------------------------------------------------ */

enum ar_status ar_method_report(struct ar_method *m, const struct ar_method_report **out)
{
    enum ar_status st = ar__method_read_gates(m);
    if (st != AR_STATUS_OK)
        return st;
    struct ar_method_report *r = &m->report;
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        const float *g = m->gates + m->gate_at[i];
        int eff = 0;
        for (int j = 0; j < mod->rank; j++)
            eff += g[j] * mod->mask[j] != 0.0f;
        r->effective[i] = eff;
        r->allocated[i] = mod->rank;
        r->sparsity[i] = mod->rank ? 1.0f - (float)eff / (float)mod->rank : 0.0f;
        r->values[i] = m->gates + m->gate_at[i];
        r->values_count[i] = mod->rank;
    }
    if (m->impl->report && (st = m->impl->report(m)) != AR_STATUS_OK)
        return st;
    *out = r;
    return AR_STATUS_OK;
}

enum ar_status ar_method_final_ranks(struct ar_method *m, int *ranks)
{
    if (m->impl->final_ranks)
        return m->impl->final_ranks(m, ranks);
    const struct ar_method_report *r = NULL;
    enum ar_status st = ar_method_report(m, &r);
    /* DyLoRA's adapter works at every rank: the retraining rank is the allocated one (§3.3). */
    for (int i = 0; st == AR_STATUS_OK && i < m->n_modules; i++)
        ranks[i] = m->p.kind == AR_METHOD_DYLORA ? r->allocated[i] : r->effective[i];
    return st;
}

enum ar_status ar_method_finish(struct ar_method *m)
{
    enum ar_status st = m->impl->finish ? m->impl->finish(m) : AR_STATUS_OK;
    if (st == AR_STATUS_OK)
        m->finished = true;
    return st;
}

enum ar_status ar_method_export_module(struct ar_method *m, int i, float *a_out, float *b_out,
                                       int *rank, float *scale)
{
    if (i < 0 || i >= m->n_modules)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT, "export: module %d of %d", i,
                        m->n_modules);
    const struct ar_model_module *mod = ar_model_module(m->model, i);
    struct ar_arena *arena = ar_model_arena(m->model);
    size_t r = (size_t)mod->rank, in = (size_t)mod->in, outf = (size_t)mod->out;
    float *a = malloc(r * in * sizeof *a), *b = malloc(outf * r * sizeof *b),
          *g = malloc(r * sizeof *g);
    enum ar_status st = a && b && g ? AR_STATUS_OK
                                    : ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "export buffers");
    if (st == AR_STATUS_OK)
        st = ar_mem_read(m->ctx, ar_mem_at(arena->param, mod->a_off), a, r * in);
    if (st == AR_STATUS_OK)
        st = ar_mem_read(m->ctx, ar_mem_at(arena->param, mod->b_off), b, outf * r);
    if (st == AR_STATUS_OK)
        st = ar_mem_read(m->ctx, ar_mem_at(arena->param, mod->gate_off), g, r);
    int kept = 0;
    for (size_t j = 0; st == AR_STATUS_OK && j < r; j++) {
        float w = g[j] * mod->mask[j];
        if (w == 0.0f)
            continue; /* a pruned component: SoRA's "delete row j of A and column j of B" */
        memcpy(a_out + (size_t)kept * in, a + j * in, in * sizeof *a);
        for (size_t o = 0; o < outf; o++)
            b_out[o * r + (size_t)kept] = b[o * r + j] * w; /* B' = B·diag(g ⊙ m), §1.4 */
        kept++;
    }
    /* b_out was filled with row stride R; close the gaps so it is (out, kept) row-major. */
    for (size_t o = 1; st == AR_STATUS_OK && o < outf; o++)
        memmove(b_out + o * (size_t)kept, b_out + o * r, (size_t)kept * sizeof *b_out);
    free(a);
    free(b);
    free(g);
    if (st == AR_STATUS_OK) {
        *rank = kept;
        *scale = mod->scale;
    }
    return st;
}

/* ---- plain LoRA: frozen gates, optionally a per-module rank pattern ------------------------- */

/* The scale PEFT gives a module of rank r (its rank_pattern: α/r, or α/√r under rsLoRA). */
static float pattern_scale(const struct ar_method *m, int r)
{
    float alpha = m->model->opts.lora_alpha;
    return m->model->opts.use_rslora ? alpha / sqrtf((float)r) : alpha / (float)r;
}

/* Module i keeps components j < r_i (m_j = 1) at gate (α/r_i)/scale_i, so that it computes
 * PEFT's (α/r_i)·B·A at the allocated rank's kernel (§2.4: AutoLoRA retrains at 16/r_l per
 * module); without scale_by_rank the gate is 1 (the model's α/R). Masked components get g = 0. */
static enum ar_status lora_init(struct ar_method *m)
{
    const struct ar_lora_params *p = &m->p.lora;
    if (!p->ranks && !p->scale_by_rank)
        return AR_STATUS_OK; /* the model's gates 1 and masks 1 */
    for (int i = 0; p->ranks && i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        if (p->ranks[i] < 0 || p->ranks[i] > mod->rank)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "lora: rank %d of module %d (%s) is outside [0, %d]", p->ranks[i], i,
                            mod->name, mod->rank);
    }
    for (int i = 0; i < m->n_modules; i++) {
        struct ar_model_module *mod = ar_model_module(m->model, i);
        int r = p->ranks ? p->ranks[i] : mod->rank;
        float g = p->scale_by_rank && r > 0 ? pattern_scale(m, r) / mod->scale : 1.0f;
        for (int j = 0; j < mod->rank; j++) {
            mod->mask[j] = j < r ? 1.0f : 0.0f;
            m->gates[m->gate_at[i] + (size_t)j] = j < r ? g : 0.0f;
        }
    }
    enum ar_status st = ar_model_sync_masks(m->model);
    return st == AR_STATUS_OK ? ar__method_write_gates(m) : st;
}

const struct ar__method_impl ar__method_lora = {
    .values_kind = "gate", .trains_gates = false, .init = lora_init};
