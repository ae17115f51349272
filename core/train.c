/* The training loop (see train.h for the order of one step and the reproducibility contract). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adarank/train.h"
#include "internal.h"

struct ar_trainer {
    struct ar_ctx *ctx;
    struct ar_model *model;
    struct ar_train_params p;
    const struct ar_encoded *train, *val;
    struct ar_train_hooks hooks[AR_TRAIN_MAX_HOOKS];
    int n_hooks;
    struct ar_schedule sched;
    int batches_per_epoch, steps_per_epoch;
    struct ar_train_state state;
    struct ar_padded_batch batch;
    int *perm; /* (train->count) this epoch's order */
    int batch_in_epoch; /* micro-batches of perm consumed */
    /* evaluation */
    struct ar_eval_result last, best;
    int best_step, evals_without_gain, last_eval_step;
    bool early_stopped;
    struct ar_mem best_params; /* (arena total) when restore_best */
    /* step-event accumulators */
    double start, last_log;
    double elapsed_before; /* seconds of the run before it was resumed */
    double loss_sum;
    int loss_count;
    size_t tokens;
    double grad_norm;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum ar_status ar_trainer_fail(struct ar_trainer *t, enum ar_status status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ar__fail(t->ctx, status, "%s", msg);
}

static enum ar_status check_params(struct ar_ctx *ctx, const struct ar_train_params *p,
                                   const struct ar_encoded *train, const struct ar_encoded *val,
                                   bool lm)
{
#define NEED(cond, ...)                                                                            \
    if (!(cond))                                                                                   \
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, __VA_ARGS__);
    NEED(p->lr > 0 && isfinite(p->lr), "train: lr must be positive, not %g", p->lr);
    NEED(p->weight_decay >= 0, "train: weight_decay must be ≥ 0, not %g", p->weight_decay);
    NEED(p->beta1 >= 0 && p->beta1 < 1 && p->beta2 >= 0 && p->beta2 < 1,
         "train: betas must be in [0, 1), not %g, %g", p->beta1, p->beta2);
    NEED(p->eps > 0, "train: eps must be positive, not %g", p->eps);
    NEED(p->batch_size >= 1 && p->eval_batch_size >= 1, "train: batch sizes must be ≥ 1");
    NEED(p->grad_accum >= 1, "train: grad_accum must be ≥ 1, not %d", p->grad_accum);
    NEED(p->epochs >= 1 || p->max_steps > 0, "train: epochs must be ≥ 1 (or set max_steps)");
    NEED(p->max_steps >= 0 && p->eval_every >= 0 && p->patience >= 0 && p->log_every >= 0,
         "train: max_steps, eval_every, patience and log_every must be ≥ 0");
    NEED(p->warmup_ratio >= 0 && p->warmup_ratio <= 1,
         "train: warmup_ratio must be in [0, 1], not %g", p->warmup_ratio);
    NEED(train->count >= 1, "train: the training set is empty");
    if (lm) { /* causal LM: per-token targets instead of classes (ar_dataset_encode_lm) */
        NEED(train->token_labels && (!val || val->token_labels),
             "train: a causal LM trains on prompt/completion sets with next-token targets");
        return AR_STATUS_OK;
    }
    NEED(train->num_labels >= 2, "train: the training data has %d class(es); need at least 2",
         train->num_labels);
    for (int i = 0; !train->token_labels && i < train->count; i++) /* token sets: per token */
        NEED(train->labels[i] >= 0 && train->labels[i] < train->num_labels,
             "train: example from line %d has no class id", train->lines[i]);
    NEED(!val || val->num_labels == train->num_labels,
         "train: validation data has %d classes, training data %d", val ? val->num_labels : 0,
         train->num_labels);
#undef NEED
    return AR_STATUS_OK;
}

enum ar_status ar_trainer_new(struct ar_ctx *ctx, struct ar_model *model,
                              const struct ar_train_params *params,
                              const struct ar_encoded *train, const struct ar_encoded *val,
                              struct ar_trainer **out)
{
    *out = NULL;
    struct ar_train_params p = params ? *params : ar_train_default_params();
    enum ar_status st =
        check_params(ctx, &p, train, val, ar_model_task(model) == AR_TASK_CAUSAL_LM);
    if (st == AR_STATUS_OK && ar_model_task(model) == AR_TASK_TOKEN_CLS &&
        (!train->token_labels || (val && !val->token_labels)))
        st = ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                      "train: token classification trains on words/tags sets "
                      "(ar_dataset_encode_words)");
    if (st != AR_STATUS_OK)
        return st;
    struct ar_trainer *t = calloc(1, sizeof *t);
    if (!t || !(t->perm = malloc((size_t)train->count * sizeof *t->perm))) {
        free(t);
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "train: out of memory");
    }
    t->ctx = ctx, t->model = model, t->p = p, t->train = train, t->val = val;
    t->batches_per_epoch = (train->count + p.batch_size - 1) / p.batch_size;
    t->steps_per_epoch = (t->batches_per_epoch + p.grad_accum - 1) / p.grad_accum;
    int total = p.max_steps > 0 ? p.max_steps : t->steps_per_epoch * p.epochs;
    t->sched.kind = p.schedule;
    t->sched.lr = p.lr;
    t->sched.total_steps = total;
    t->sched.warmup_steps = p.warmup_steps >= 0 ? (p.warmup_steps < total ? p.warmup_steps : total)
                                                : ar_schedule_warmup_steps(p.warmup_ratio, total);
    t->state.total_steps = total;
    t->best_step = t->last_eval_step = -1;
    if (p.restore_best && val) {
        struct ar_arena *arena = ar_model_arena(model);
        st = ar_mem_alloc(ctx, arena->total, &t->best_params);
        if (st != AR_STATUS_OK) {
            ar_trainer_free(t);
            return st;
        }
    }
    *out = t;
    return AR_STATUS_OK;
}

void ar_trainer_free(struct ar_trainer *t)
{
    if (!t)
        return;
    ar_mem_release(&t->best_params);
    ar_padded_batch_free(&t->batch);
    free(t->perm);
    free(t);
}

enum ar_status ar_trainer_add_hooks(struct ar_trainer *t, const struct ar_train_hooks *hooks)
{
    if (t->n_hooks == AR_TRAIN_MAX_HOOKS)
        return ar__fail(t->ctx, AR_STATUS_INVALID_ARGUMENT, "train: more than %d hook sets",
                        AR_TRAIN_MAX_HOOKS);
    t->hooks[t->n_hooks++] = *hooks;
    return AR_STATUS_OK;
}

struct ar_ctx *ar_trainer_ctx(struct ar_trainer *t)
{
    return t->ctx;
}

struct ar_model *ar_trainer_model(struct ar_trainer *t)
{
    return t->model;
}

const struct ar_train_params *ar_trainer_params(const struct ar_trainer *t)
{
    return &t->p;
}

int ar_trainer_total_steps(const struct ar_trainer *t)
{
    return t->state.total_steps;
}

const struct ar_eval_result *ar_trainer_last_eval(const struct ar_trainer *t)
{
    return &t->last;
}

const struct ar_eval_result *ar_trainer_best_eval(const struct ar_trainer *t, int *best_step)
{
    if (best_step)
        *best_step = t->best_step;
    return &t->best;
}

bool ar_trainer_early_stopped(const struct ar_trainer *t)
{
    return t->early_stopped;
}

struct ar_mem ar_trainer_best_params(const struct ar_trainer *t)
{
    return t->best_params;
}

void ar_trainer_get_progress(const struct ar_trainer *t, struct ar_train_progress *out)
{
    *out = (struct ar_train_progress){
        .step = t->state.step,
        .total_steps = t->state.total_steps,
        .epoch = t->state.epoch,
        .batch_in_epoch = t->batch_in_epoch,
        .micro_step = t->state.micro_step,
        .lr = t->state.lr,
        .loss_sum = t->loss_sum,
        .loss_count = t->loss_count,
        .tokens = (uint64_t)t->tokens,
        .grad_norm = t->grad_norm,
        .elapsed_s = t->start > 0 ? now_s() - t->start : t->elapsed_before,
        .last = t->last,
        .best = t->best,
        .best_step = t->best_step,
        .evals_without_gain = t->evals_without_gain,
        .last_eval_step = t->last_eval_step,
        .early_stopped = t->early_stopped,
    };
}

enum ar_status ar_trainer_set_progress(struct ar_trainer *t, const struct ar_train_progress *p)
{
    if (p->total_steps != t->state.total_steps || p->step < 0 || p->step > p->total_steps ||
        p->epoch < 0 || p->batch_in_epoch < 0 || p->batch_in_epoch > t->batches_per_epoch ||
        p->micro_step < 0 || p->loss_count < 0)
        return ar__fail(t->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "train: the saved position (step %d of %d, epoch %d, batch %d) does not "
                        "fit this run (%d steps, %d batches per epoch)",
                        p->step, p->total_steps, p->epoch, p->batch_in_epoch,
                        t->state.total_steps, t->batches_per_epoch);
    t->state.step = p->step, t->state.epoch = p->epoch, t->state.micro_step = p->micro_step;
    t->state.lr = p->lr;
    t->state.epoch_frac = p->epoch + (double)p->batch_in_epoch / t->batches_per_epoch;
    t->batch_in_epoch = p->batch_in_epoch;
    t->loss_sum = p->loss_sum, t->loss_count = p->loss_count, t->tokens = (size_t)p->tokens;
    t->grad_norm = p->grad_norm;
    t->elapsed_before = p->elapsed_s >= 0 ? p->elapsed_s : 0;
    t->last = p->last, t->best = p->best;
    t->best_step = p->best_step, t->evals_without_gain = p->evals_without_gain;
    t->last_eval_step = p->last_eval_step, t->early_stopped = p->early_stopped;
    return AR_STATUS_OK;
}

/* ---- hooks and events ------------------------------------------------------------------------ */

enum hook_point { BEFORE_FORWARD, AFTER_BACKWARD, AFTER_STEP };

static enum ar_status call_hooks(struct ar_trainer *t, enum hook_point at)
{
    for (int i = 0; i < t->n_hooks; i++) {
        const struct ar_train_hooks *h = &t->hooks[i];
        enum ar_status (*fn)(void *, struct ar_trainer *, const struct ar_train_state *) =
            at == BEFORE_FORWARD ? h->before_forward
            : at == AFTER_BACKWARD ? h->after_backward
                                   : h->after_step;
        if (fn) {
            enum ar_status st = fn(h->user, t, &t->state);
            if (st != AR_STATUS_OK)
                return st;
        }
    }
    return AR_STATUS_OK;
}

static enum ar_status emit(struct ar_trainer *t, struct ar_train_event *ev)
{
    ev->state = &t->state;
    ev->elapsed_s = now_s() - t->start;
    for (int i = 0; i < t->n_hooks; i++)
        if (t->hooks[i].on_event) {
            enum ar_status st = t->hooks[i].on_event(t->hooks[i].user, t, ev);
            if (st != AR_STATUS_OK)
                return st;
        }
    return AR_STATUS_OK;
}

static enum ar_status emit_step(struct ar_trainer *t)
{
    double now = now_s();
    struct ar_train_event ev = {.kind = AR_TRAIN_EVENT_STEP};
    ev.loss = t->loss_count ? t->loss_sum / t->loss_count : NAN;
    ev.grad_norm = t->grad_norm;
    ev.tokens_per_s = now > t->last_log ? (double)t->tokens / (now - t->last_log) : 0;
    int left = t->state.total_steps - t->state.step;
    ev.eta_s = t->state.step ? (now - t->start) / t->state.step * left : NAN;
    t->loss_sum = 0, t->loss_count = 0, t->tokens = 0, t->last_log = now;
    return emit(t, &ev);
}

/* ---- evaluation and early stopping ---------------------------------------------------------- */

static bool better(enum ar_eval_metric m, double x, double best)
{
    if (isnan(x))
        return false;
    if (isnan(best))
        return true;
    return m == AR_EVAL_METRIC_LOSS ? x < best : x > best;
}

static enum ar_status evaluate(struct ar_trainer *t)
{
    struct ar_eval_result r;
    enum ar_status st = ar_evaluate(t->ctx, t->model, t->val, t->p.eval_batch_size, t->p.pad_id,
                                    &r, NULL);
    if (st != AR_STATUS_OK)
        return st;
    t->last = r;
    t->last_eval_step = t->state.step;
    double best = t->best.count ? ar_eval_result_metric(&t->best, t->p.metric) : NAN;
    bool improved = better(t->p.metric, ar_eval_result_metric(&r, t->p.metric), best);
    if (improved) {
        t->best = r, t->best_step = t->state.step, t->evals_without_gain = 0;
        if (ar_mem_present(t->best_params)) {
            struct ar_arena *arena = ar_model_arena(t->model);
            st = ar_mem_copy(t->ctx, t->best_params, arena->param, arena->total);
            if (st != AR_STATUS_OK)
                return st;
        }
    } else if (++t->evals_without_gain >= t->p.patience && t->p.patience > 0) {
        t->early_stopped = true;
    }
    struct ar_train_event ev = {.kind = AR_TRAIN_EVENT_EVAL, .split = "validation", .eval = &r,
                                .improved = improved};
    return emit(t, &ev);
}

/* ---- one optimizer step ---------------------------------------------------------------------- */

/* Forward and backward of `k` micro-batches from the epoch order starting at batch b. */
static enum ar_status accumulate(struct ar_trainer *t, int b, int k)
{
    int bs = t->p.batch_size;
    for (int j = 0; j < k; j++) {
        int first = (b + j) * bs;
        int n = t->train->count - first < bs ? t->train->count - first : bs;
        enum ar_status st = ar_padded_batch_fill(&t->batch, t->train, t->perm + first, n,
                                                 t->p.pad_id);
        if (st != AR_STATUS_OK)
            return ar__fail(t->ctx, st, "train: cannot build a batch");
        t->state.batch = &t->batch;
        t->state.epoch_frac = t->state.epoch + (double)(b + j) / t->batches_per_epoch;
        if ((st = call_hooks(t, BEFORE_FORWARD)) != AR_STATUS_OK)
            return st;
        const struct ar_padded_batch *pb = &t->batch;
        struct ar_batch batch = {pb->batch, pb->time, pb->ids, pb->type_ids, pb->attn_mask,
                                 pb->labels};
        batch.token_labels = pb->token_labels; /* per-token sets (causal LM), else NULL */
        float loss = 0;
        st = ar_model_forward(t->model, &batch, true, (uint64_t)t->state.micro_step, &loss);
        if (st != AR_STATUS_OK)
            return st;
        if (!isfinite(loss))
            return ar__fail(t->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "train: the loss is %g at step %d (diverged: lower the lr)",
                            (double)loss, t->state.step);
        if ((st = ar_model_backward(t->model, 1.0f / (float)k)) != AR_STATUS_OK)
            return st;
        if ((st = call_hooks(t, AFTER_BACKWARD)) != AR_STATUS_OK)
            return st;
        t->loss_sum += loss, t->loss_count++;
        t->tokens += pb->tokens;
        t->state.micro_step++;
    }
    t->state.batch = NULL;
    return AR_STATUS_OK;
}

/* Clip by the global norm (torch.nn.utils.clip_grad_norm_: coefficient max/(norm + 1e-6),
 * applied only when below 1) and take one AdamW step at the scheduled lr. */
static enum ar_status optimizer_step(struct ar_trainer *t)
{
    struct ar_arena *arena = ar_model_arena(t->model);
    double sq = 0;
    enum ar_status st = ar_sum_squares(t->ctx, arena->total, arena->grad, &sq);
    if (st != AR_STATUS_OK)
        return st;
    t->grad_norm = sqrt(sq);
    if (!isfinite(t->grad_norm))
        return ar__fail(t->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "train: the gradient norm is %g at step %d (diverged: lower the lr)",
                        t->grad_norm, t->state.step);
    double scale = 1.0;
    if (t->p.max_grad_norm > 0) {
        double coef = t->p.max_grad_norm / (t->grad_norm + 1e-6);
        scale = coef < 1.0 ? coef : 1.0;
    }
    t->state.lr = ar_schedule_lr(&t->sched, t->state.step);
    struct ar_adamw_params hp = ar_adamw_default_params();
    hp.lr = (float)t->state.lr;
    hp.beta1 = (float)t->p.beta1, hp.beta2 = (float)t->p.beta2, hp.eps = (float)t->p.eps;
    hp.weight_decay = (float)t->p.weight_decay;
    hp.grad_scale = (float)scale;
    hp.step = t->state.step + 1;
    return ar_adamw_update(t->ctx, &hp, arena->total, arena->param, arena->grad, arena->m,
                           arena->v, arena->decay_mask);
}

static enum ar_status step_end(struct ar_trainer *t)
{
    for (int i = 0; i < t->n_hooks; i++)
        if (t->hooks[i].step_end) {
            enum ar_status st = t->hooks[i].step_end(t->hooks[i].user, t, &t->state);
            if (st != AR_STATUS_OK)
                return st;
        }
    return AR_STATUS_OK;
}

/* The position is kept in the trainer (epoch, batch_in_epoch, step), not in locals, so that a
 * checkpoint's ar_trainer_set_progress resumes in the middle of an epoch. */
static enum ar_status train_loop(struct ar_trainer *t)
{
    struct ar_arena *arena = ar_model_arena(t->model);
    enum ar_status st = ar_arena_zero_grad(t->ctx, arena);
    int total = t->state.total_steps;
    while (st == AR_STATUS_OK && t->state.step < total && !t->early_stopped) {
        ar_dataset_permutation(t->train->count, t->p.seed, (uint64_t)t->state.epoch, t->perm);
        while (t->batch_in_epoch < t->batches_per_epoch && t->state.step < total) {
            /* stop only between steps: the state is then a whole step's, fit for a checkpoint */
            if (t->p.stop && *t->p.stop)
                return AR_STATUS_INTERRUPTED;
            int b = t->batch_in_epoch;
            int k = t->batches_per_epoch - b < t->p.grad_accum ? t->batches_per_epoch - b
                                                               : t->p.grad_accum;
            if ((st = accumulate(t, b, k)) != AR_STATUS_OK)
                return st;
            b = t->batch_in_epoch += k;
            if ((st = optimizer_step(t)) != AR_STATUS_OK)
                return st;
            t->state.step++;
            t->state.epoch_frac = t->state.epoch + (double)b / t->batches_per_epoch;
            if ((st = call_hooks(t, AFTER_STEP)) != AR_STATUS_OK)
                return st;
            if ((st = ar_arena_zero_grad(t->ctx, arena)) != AR_STATUS_OK)
                return st;
            int step = t->state.step;
            if (t->p.log_every > 0 && (step % t->p.log_every == 0 || step == total))
                if ((st = emit_step(t)) != AR_STATUS_OK)
                    return st;
            if (t->val && t->p.eval_every > 0 && step % t->p.eval_every == 0 && step < total)
                if ((st = evaluate(t)) != AR_STATUS_OK)
                    return st;
            if ((st = step_end(t)) != AR_STATUS_OK || t->early_stopped)
                return st;
        }
        if (t->batch_in_epoch == t->batches_per_epoch)
            t->state.epoch++, t->batch_in_epoch = 0;
    }
    return st;
}

enum ar_status ar_trainer_run(struct ar_trainer *t)
{
    t->start = t->last_log = now_s();
    t->start -= t->elapsed_before; /* a resumed run's clock goes on */
    struct ar_train_event ev = {.kind = AR_TRAIN_EVENT_START};
    enum ar_status st = emit(t, &ev);
    if (st == AR_STATUS_OK)
        st = train_loop(t);
    if (st == AR_STATUS_OK && t->p.stop && *t->p.stop)
        st = AR_STATUS_INTERRUPTED;
    if (st == AR_STATUS_INTERRUPTED)
        ar__fail(t->ctx, st, "train: interrupted at step %d of %d", t->state.step,
                 t->state.total_steps);
    if (st == AR_STATUS_OK && t->val && t->last_eval_step != t->state.step)
        st = evaluate(t);
    if (st == AR_STATUS_OK && ar_mem_present(t->best_params) && t->best_step >= 0 &&
        t->best_step != t->last_eval_step) {
        struct ar_arena *arena = ar_model_arena(t->model);
        st = ar_mem_copy(t->ctx, arena->param, t->best_params, arena->total);
        if (st == AR_STATUS_OK)
            ar__log(t->ctx, AR_LOG_INFO, "restored the parameters of step %d", t->best_step);
    }
    if (st == AR_STATUS_OK)
        st = ar_ctx_finish(t->ctx);
    struct ar_train_event end = {.kind = AR_TRAIN_EVENT_END, .status = st};
    enum ar_status end_st = emit(t, &end);
    return st != AR_STATUS_OK ? st : end_st;
}
