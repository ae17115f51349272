/* The trainer object (train.h): creation with the check of its parameters, its accessors and the
 * progress a checkpoint saves and restores (ar_trainer_get_progress / ar_trainer_set_progress).
 * The loop that drives it is train.c's. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/train.h"
#include "internal.h"
#include "train_internal.h"

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
        .elapsed_s = t->start > 0 ? ar__train_now_s() - t->start : t->elapsed_before,
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
