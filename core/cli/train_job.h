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
    bool resume; /* `resume`: continue the run in cfg->out from its newest checkpoint (resume.c) */
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
    /* AutoLoRA / Flexora: the search stage's results, and where the retraining's steps start in
     * metrics.jsonl (its steps continue the search's numbering, so a heatmap shows both) */
    int64_t step_offset;
    double elapsed_offset; /* seconds the search stage took */
    int search_steps;
    int stage_examples; /* the search stage's training examples (0 outside it) */
    int *search_ranks;
    char *state_json; /* the adapter sidecar's method state (adarank_state.json), or NULL */
    /* resume (resume.c): the checkpoint the run continues from */
    char resume_path[4096];
    int resume_step;
    /* progress line */
    double last_loss, tokens_per_s;
    bool line_open;
};

/* Runs the whole job; returns the exit code. */
int cli_train_job(struct ar_train_config *cfg, const struct cli_train_ui *ui,
                  volatile sig_atomic_t *stop);
/* Frees the model and method and loads a fresh model with plain LoRA at `ranks` (train_job.c). */
int cli_job_reload_lora(struct cli_job *job, const int *ranks, bool scale_by_rank);
/* AutoLoRA / Flexora: the search stage, then cli_job_reload_lora at its ranks (train_stages.c);
 * does nothing for the other methods. */
int cli_job_search_stage(struct cli_job *job, const struct ar_train_hooks *hooks);
/* DyLoRA: evaluation at every rank, RUN_DIR/dylora_ranks.tsv and eval events (train_stages.c). */
int cli_job_dylora_sweep(struct cli_job *job);
/* Checkpoints (resume.c). Resuming, before metrics.jsonl is opened: the newest good checkpoint
 * and metrics.jsonl cut back to its step. */
int cli_job_resume_prepare(struct cli_job *job);
/* After the trainer's hooks are added: the periodic checkpoints and, resuming, the load. */
int cli_job_checkpoints(struct cli_job *job);
/* After an interrupted run (SIGINT/SIGTERM): a checkpoint of its last whole step. */
void cli_job_checkpoint_stop(struct cli_job *job);
/* Makes the config's relative data, model and run paths absolute, so that RUN_DIR/config.json
 * means the same files wherever `resume` runs from. */
void cli_config_absolute_paths(struct ar_train_config *c);
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
