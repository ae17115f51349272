/* The trainer object (train.h): what train_state.c (creation, accessors, the saved progress) and
 * train.c (the loop) share. Library-internal. */
#ifndef ADARANK_CORE_TRAIN_INTERNAL_H
#define ADARANK_CORE_TRAIN_INTERNAL_H

#include "adarank/train.h"

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

/* Seconds on CLOCK_MONOTONIC: the run's elapsed time and throughput (train.c). */
double ar__train_now_s(void);

#endif
