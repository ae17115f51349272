/* `adarank-cl train` internals shared by train.c (options, signals), train_job.c (the job) and
 * train_hooks.c (progress, metrics, outputs). */
#ifndef ADARANK_CLI_TRAIN_JOB_H
#define ADARANK_CLI_TRAIN_JOB_H

#include <signal.h>

#include "adarank/adarank.h"
#include "adarank/tensorboard.h"

struct cli_train_ui {
    bool quiet; /* plain log lines, no progress line */
    bool json;  /* a JSON summary on stdout at the end */
    bool tty;   /* stderr is a terminal: a live progress line */
};

struct cli_job {
    struct ar_train_config *cfg; /* the labels are filled in from the training data */
    const struct cli_train_ui *ui;
    volatile sig_atomic_t *stop;
    struct ar_ctx *ctx;
    struct ar_model_config model_cfg;
    int max_length;
    struct ar_tokenizer *tok;
    int32_t pad_id;
    struct ar_dataset *train_ds, *val_ds, *test_ds;
    struct ar_encoded *train, *val, *test;
    struct ar_model *model;
    struct ar_method *method;
    struct ar_metrics_writer *metrics;
    struct ar_tb_writer *tb; /* TensorBoard events; NULL when it could not be opened */
    struct ar_trainer *trainer;
    char *config_json;
    /* results */
    struct ar_eval_result test_result;
    int64_t final_step;
    int ranks_step; /* step of the last "ranks" record */
    double elapsed;
    int *final_ranks;
    char end_message[512];
    /* progress line */
    double last_loss, tokens_per_s;
    bool line_open;
};

/* Runs the whole job; returns the exit code. */
int cli_train_job(struct ar_train_config *cfg, const struct cli_train_ui *ui,
                  volatile sig_atomic_t *stop);
/* Trainer, hooks, the run and the test evaluation (train_hooks.c). */
int cli_job_train(struct cli_job *job);
/* The adapter, heatmap.png and the summary, after metrics.jsonl is closed (train_outputs.c);
 * returns the exit code of a failed export, else 0. */
int cli_job_outputs(struct cli_job *job);
/* Validation/test metrics as TensorBoard scalars "<split>/<metric>" (train_hooks.c). */
void cli_job_tb_eval(struct cli_job *job, int64_t step, const char *split,
                     const struct ar_eval_result *r);
/* A log line on stderr (ends an open progress line first). */
void cli_job_log(struct cli_job *job, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
