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
    enum ar_task task; /* from the config, the data and the model (train_task.c) */
    struct ar_tokenizer *tok;
    int32_t pad_id;
    struct ar_dataset *train_ds, *val_ds, *test_ds;
    struct ar_encoded *train, *val, *test;
    struct ar_model *model;
    struct ar_method *method;
    struct ar_peft_adapter *init_adapter; /* --init-adapter, read (train_adapter.c) */
    struct ar_metrics_writer *metrics;
    struct ar_tb_writer *tb; /* TensorBoard events; NULL when it could not be opened */
    struct ar_trainer *trainer;
    char *config_json;
    char made_dir[4096]; /* the outermost folder `train` made for the run ("" if none) */
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
    int stage; /* AutoLoRA / Flexora: 1 the search, 2 the retraining; 0 for the other methods */
    /* resume (resume.c): the checkpoint the run continues from ("" for a retraining resumed
     * before its first checkpoint), and the ui of a retraining after a resumed search, which
     * starts fresh */
    char resume_path[4096];
    int resume_step;
    struct cli_train_ui fresh_ui;
    /* progress line */
    double last_loss, tokens_per_s;
    bool line_open;
};

/* Runs the whole job; returns the exit code. */
int cli_train_job(struct ar_train_config *cfg, const struct cli_train_ui *ui,
                  volatile sig_atomic_t *stop);
/* The same with SIGINT/SIGTERM asking it to stop after the current step (signals.c). */
int cli_train_job_interruptible(struct ar_train_config *cfg, const struct cli_train_ui *ui);
/* Frees the model and method and loads a fresh model with plain LoRA at `ranks` (train_job.c). */
int cli_job_reload_lora(struct cli_job *job, const int *ranks, bool scale_by_rank);
/* AutoLoRA / Flexora: the search stage, then cli_job_reload_lora at its ranks (train_stages.c);
 * resumed in the retraining (job->stage 2), only the latter. Does nothing for other methods. */
int cli_job_search_stage(struct cli_job *job, const struct ar_train_hooks *hooks);
/* DyLoRA: evaluation at every rank, RUN_DIR/dylora_ranks.tsv and eval events (train_stages.c). */
int cli_job_dylora_sweep(struct cli_job *job);
/* Checkpoints (resume.c). Resuming, before metrics.jsonl is opened: the newest good checkpoint
 * and metrics.jsonl cut back to its step. */
int cli_job_resume_prepare(struct cli_job *job);
/* After the trainer's hooks are added (of either stage of AutoLoRA / Flexora too): the periodic
 * checkpoints and, resuming, the load; a retraining's start also records the search's result
 * (RUN_DIR/stage.json) for `resume`. */
int cli_job_checkpoints(struct cli_job *job);
/* After an interrupted run (SIGINT/SIGTERM): a checkpoint of its last whole step. */
void cli_job_checkpoint_stop(struct cli_job *job);

/* The run folder (run_dir.c). Before anything loads: --out is a folder that may be (re)used or
 * one that can be made; nothing is created. */
int cli_run_dir_check(const char *out, char *err, size_t err_size);
/* Makes --out and its missing parents; made gets the outermost folder made ("" if none). */
int cli_run_dir_make(const char *out, char *made, size_t made_size, char *err, size_t err_size);
/* Removes the folder `made` and all in it: for a start that failed right after making it. */
void cli_run_dir_undo(const char *made);
/* A new run in a reused run folder: the old run's checkpoints and stage record go. */
void cli_run_dir_reset(const char *dir);

/* AutoLoRA / Flexora: RUN_DIR/stage.json, the search's result, written when the retraining
 * starts; the search's own checkpoints are in RUN_DIR/search-checkpoints/. */
#define CLI_STAGE_FILE "stage.json"
#define CLI_SEARCH_DIR "search-checkpoints"
struct cli_stage_record {
    int stage; /* 2: the retraining has started (the file exists) */
    int search_steps;
    int64_t step_offset;   /* the search's last step: the retraining's steps continue from it */
    double elapsed_offset; /* seconds the search took */
    int *ranks;            /* the found rank of every adapted module (read: malloc'd) */
    int n_ranks;
};
/* Written durably: a temporary file, fsync'd, renamed into place, the folder fsync'd. */
bool cli_stage_write(const char *dir, const char *method, const struct cli_stage_record *r,
                     char *err, size_t err_size);
/* AR_STATUS_NOT_FOUND when dir has none (a run still in its search); BAD_FORMAT, with err, for a
 * file that is not a stage record. */
enum ar_status cli_stage_read(const char *dir, struct cli_stage_record *r, char *err,
                              size_t err_size);
/* Deletes RUN_DIR/search-checkpoints/ (once the stage record is written). */
void cli_stage_remove_search(const char *run_dir);
/* Makes the config's relative data, model and run paths absolute, so that RUN_DIR/config.json
 * means the same files wherever `resume` runs from. */
void cli_config_absolute_paths(struct ar_train_config *c);
/* The task (train_task.c): the config's "task", else causal-lm for prompt/completion data with a
 * decoder and seq-cls otherwise; refuses data the task cannot use. For decoders without a pad id
 * the padding is the eos (the attention mask hides it). Needs model_cfg, tok and train_ds. */
int cli_job_choose_task(struct cli_job *job);
/* A data set encoded for the job's task when it is causal-lm (ar_dataset_encode_lm). */
int cli_job_encode_lm(struct cli_job *job, const struct ar_dataset *ds, struct ar_encoded **out);
/* The same for `eval` (cmd names the command in messages). */
int cli_encode_lm(const char *cmd, struct ar_tokenizer *tok, const struct ar_model_config *cfg,
                  const struct ar_dataset *ds, int max_length, struct ar_encoded **out);
/* The eos id: config.json's eos_token_id, else the tokenizer's <|endoftext|>, </s>,
 * <|end_of_text|> or <eos>; −1 when none. */
int32_t cli_eos_id(const struct ar_tokenizer *tok, const struct ar_model_config *cfg);
/* PEFT's task_type of a task: "SEQ_CLS", "CAUSAL_LM", "TOKEN_CLS". */
const char *cli_task_peft_name(enum ar_task task);

/* --init-adapter (train_adapter.c): before the data is read, the adapter and the keys it
 * decides (targets, rank, alpha, rslora, class names); after the method is set up, its weights. */
int cli_job_adapter_prepare(struct cli_job *job);
int cli_job_adapter_load(struct cli_job *job);
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
