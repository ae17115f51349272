/* The training loop (see train.h for the order of one step and the reproducibility contract):
 * hooks and events, evaluation with early stopping, one optimizer step and the loop over epochs.
 * Creating the trainer and its saved progress are train_state.c's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adarank/train.h"
#include "internal.h"
#include "train_internal.h"

double ar__train_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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
    ev->elapsed_s = ar__train_now_s() - t->start;
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
    double now = ar__train_now_s();
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
    t->start = t->last_log = ar__train_now_s();
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
