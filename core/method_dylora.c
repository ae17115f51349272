/* DyLoRA: one adapter trained for a whole range of ranks (Valipour et al., EACL 2023;
 * METHODS.md §3).
 *
 * Every optimizer step draws b uniformly from [min_rank, R] (one b for all modules, as the code
 * does) and trains the truncated adapter Δy = (α/b)·B[:, :b]·A[:b, :]·x̃ (the paper's α/b scaling,
 * §3.1). On the gated kernel that is m_j = 1[j < b] and, since the module's own scale is α/R,
 * g_j = (α/b)/(α/R) = R/b on the kept components (√R/b under rsLoRA, whose scale is α/√R). The
 * gates are set, never trained. In `frozen` mode (the released code) only component b − 1 gets a
 * gradient; by default all kept components do (the paper's non-frozen mode, which its Table 4
 * ablation prefers). After training, ar_method_set_rank evaluates or exports at any rank.
 */
#include <math.h>

#include "method_internal.h"
#include "model_internal.h"

struct dylora_state {
    int b; /* the current rank */
};

/* Sets masks and gates so that every module runs truncated to min(b, R) at scale α/b. */
static enum ar_status apply_rank(struct ar_method *m, int b)
{
    struct dylora_state *d = m->state;
    d->b = b;
    for (int i = 0; i < m->n_modules; i++) {
        struct ar_model_module *mod = ar_model_module(m->model, i);
        int keep = b < mod->rank ? b : mod->rank;
        float want = m->model->opts.lora_alpha / (float)keep; /* α/b */
        float g = want / mod->scale;
        float *gates = m->gates + m->gate_at[i];
        for (int j = 0; j < mod->rank; j++) {
            mod->mask[j] = j < keep ? 1.0f : 0.0f;
            gates[j] = j < keep ? g : 0.0f;
        }
    }
    enum ar_status st = ar_model_sync_masks(m->model);
    return st == AR_STATUS_OK ? ar__method_write_gates(m) : st;
}

static int max_rank(const struct ar_method *m)
{
    int r = 0;
    for (int i = 0; i < m->n_modules; i++) {
        int ri = ar_model_module(m->model, i)->rank;
        r = ri > r ? ri : r;
    }
    return r;
}

static enum ar_status dylora_init(struct ar_method *m)
{
    int r = max_rank(m);
    if (m->p.dylora.min_rank < 1 || m->p.dylora.min_rank > r)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "dylora: min_rank %d must be in [1, %d] (the allocated rank)",
                        m->p.dylora.min_rank, r);
    m->state = calloc(1, sizeof(struct dylora_state));
    if (!m->state)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "dylora state");
    return apply_rank(m, r);
}

static enum ar_status dylora_before_forward(struct ar_method *m, const struct ar_train_state *s)
{
    int accum = ar_trainer_params(m->trainer)->grad_accum;
    if (accum > 1 && s->micro_step % accum != 0)
        return AR_STATUS_OK; /* one b per optimizer step, drawn at its first micro-batch */
    /* b depends on (seed, step) only, so a resumed run draws the same ranks. */
    uint64_t rng = m->seed ^ (0x44594c4fULL << 20) ^ ((uint64_t)s->step * 0x9e3779b97f4a7c15ULL);
    int lo = m->p.dylora.min_rank, hi = max_rank(m);
    int b = lo + (int)(ar__method_rand(&rng) % (uint64_t)(hi - lo + 1));
    return apply_rank(m, b);
}

static enum ar_status dylora_after_backward(struct ar_method *m, const struct ar_train_state *s)
{
    (void)s;
    if (!m->p.dylora.frozen)
        return AR_STATUS_OK;
    struct dylora_state *d = m->state;
    struct ar_arena *arena = ar_model_arena(m->model);
    for (int i = 0; i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        int keep = d->b < mod->rank ? d->b : mod->rank;
        enum ar_status st = ar__lora_component_keep(
            m->ctx, ar_mem_at(arena->grad, mod->a_off), ar_mem_at(arena->grad, mod->b_off),
            mod->rank, mod->in, mod->out, keep - 1, keep);
        if (st != AR_STATUS_OK)
            return st;
    }
    return AR_STATUS_OK;
}

/* The report shows the active-rank mask; the effective rank is the current b. */
static enum ar_status dylora_report(struct ar_method *m)
{
    for (int i = 0; i < m->n_modules; i++)
        m->report.values[i] = ar_model_module(m->model, i)->mask;
    return AR_STATUS_OK;
}

/* Training ends at full rank; ar_method_set_rank picks another for evaluation or export. */
static enum ar_status dylora_finish(struct ar_method *m)
{
    return apply_rank(m, max_rank(m));
}

static void dylora_free(struct ar_method *m)
{
    free(m->state);
}

const struct ar__method_impl ar__method_dylora = {
    .values_kind = "mask",
    .trains_gates = false,
    .init = dylora_init,
    .before_forward = dylora_before_forward,
    .after_backward = dylora_after_backward,
    .report = dylora_report,
    .finish = dylora_finish,
    .free = dylora_free,
};

enum ar_status ar_method_set_rank(struct ar_method *m, int rank)
{
    if (m->p.kind != AR_METHOD_DYLORA)
        return ar__fail(m->ctx, AR_STATUS_UNSUPPORTED,
                        "set_rank: only DyLoRA adapters work at any rank (method %s)",
                        ar_method_kind_name(m->p.kind));
    if (rank < 1 || rank > max_rank(m))
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT, "set_rank: %d outside [1, %d]", rank,
                        max_rank(m));
    return apply_rank(m, rank);
}
