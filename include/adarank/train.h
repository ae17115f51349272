/* Fine-tuning: the learning-rate schedule, classification metrics, the training loop with its
 * hooks, and a whole job as `adarank-cl train` runs it.
 *
 * One optimizer step (METHODS.md §0.3, HF Trainer's order):
 *     for each of grad_accum micro-batches: before_forward hooks, forward, backward(1/k)
 *     after_backward hooks; global-norm clip (ar_sum_squares → grad_scale); AdamW with the
 *     decay mask of the arena (no decay on gates and biases) at the scheduled lr;
 *     after_step hooks (SoRA's proximal step, AdaLoRA's masking); zero the gradients.
 * Every random choice comes from the seed: the epoch order from (seed, epoch)
 * (ar_dataset_permutation), dropout from (seed, micro-step), so a run is reproducible.
 */
#ifndef ADARANK_TRAIN_H
#define ADARANK_TRAIN_H

#include <signal.h>

#include "dataset.h"
#include "method_params.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- learning-rate schedule (schedule.c) ----------------------------------------------------- */

enum ar_lr_schedule {
    AR_LR_SCHEDULE_LINEAR,   /* linear warm-up, then linear decay to 0 at total_steps */
    AR_LR_SCHEDULE_COSINE,   /* linear warm-up, then half a cosine down to 0 */
    AR_LR_SCHEDULE_CONSTANT, /* linear warm-up, then constant */
};

struct ar_schedule {
    enum ar_lr_schedule kind;
    double lr; /* peak learning rate */
    int warmup_steps;
    int total_steps;
};

/* The lr of optimizer update number `step` (0-based), as transformers' get_*_schedule_with_warmup
 * computes it: lr·step/warmup during warm-up (so the first update of a warm-up has lr 0), then
 * lr·(total − step)/(total − warmup) (linear) or lr·½(1 + cos(π·progress)) (cosine). */
double ar_schedule_lr(const struct ar_schedule *s, int step);
/* warmup_steps from a ratio of the total, rounded up (transformers' get_warmup_steps). */
int ar_schedule_warmup_steps(double ratio, int total_steps);
/* "linear", "cosine", "constant"; parse returns false for anything else. */
const char *ar_lr_schedule_name(enum ar_lr_schedule kind);
bool ar_lr_schedule_parse(const char *name, enum ar_lr_schedule *out);

/* ---- classification metrics (eval_metrics.c) ---------------------------------------------- */

/* A K×K confusion matrix: counts[truth·K + predicted]. */
struct ar_confusion {
    int k;
    int64_t *counts;
};

enum ar_status ar_confusion_init(struct ar_confusion *c, int k);
void ar_confusion_free(struct ar_confusion *c);
/* Out-of-range ids are ignored (returns false). */
bool ar_confusion_add(struct ar_confusion *c, int truth, int predicted);
int64_t ar_confusion_total(const struct ar_confusion *c);

/* Fraction of correct predictions; NaN for an empty matrix. */
double ar_metric_accuracy(const struct ar_confusion *c);
/* Unweighted mean over classes of F1 = 2TP/(2TP + FP + FN), over the classes that occur in the
 * truth or the predictions (scikit-learn's f1_score(average="macro"); a class with TP = FP = FN = 0
 * does not count); NaN for an empty matrix. */
double ar_metric_macro_f1(const struct ar_confusion *c);
/* Matthews correlation, in its K-class form (Gorodkin 2004, as scikit-learn computes it):
 * (c·s − Σ p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)), c correct, s total, t_k / p_k the true /
 * predicted counts of class k; 0 when a factor of the denominator is 0; NaN for an empty matrix. */
double ar_metric_mcc(const struct ar_confusion *c);

/* ---- token classification metrics (eval_tokens.c) ------------------------------------------ */

/* Entity-level counts over IOB2-tagged sequences, as seqeval's default mode finds entities: a
 * chunk starts at B-X, at an I-X after O or after another type, and ends before B, O or a change
 * of type; an entity is its (type, start, end). */
struct ar_entity_counts {
    int64_t truth, predicted, correct; /* correct: exact matches of span and type */
};

/* True when every tag name is "O", "B-<type>" or "I-<type>", and one is not "O". */
bool ar_tags_are_iob(const char *const *names, int n);
/* Adds the entities of one sequence of n tag ids (ids outside [0, k) count as O). */
void ar_entity_count(const char *const *names, int k, const int32_t *truth, const int32_t *pred,
                     int n, struct ar_entity_counts *c);
/* Micro F1 = 2·correct / (truth + predicted), seqeval's f1_score; 0 when there is no entity. */
double ar_entity_f1(const struct ar_entity_counts *c);

/* ---- evaluation (eval.c) ------------------------------------------------------------------- */

struct ar_eval_result {
    int count;
    double loss; /* mean cross-entropy (causal LM: per counted token, over the whole set) */
    double accuracy, macro_f1, mcc;
    double perplexity; /* causal LM: exp(loss); NaN otherwise */
    int64_t tokens;    /* causal LM: the tokens counted (completions and their eos) */
};

/* Token classification (AR_TASK_TOKEN_CLS, eval_tokens.c) counts the labelled tokens (first
 * sub-tokens of words; `tokens` is their number): loss per token, accuracy and mcc over them,
 * and macro_f1 holds the entity-level micro F1 (seqeval) when the tags are IOB2, else the macro
 * F1 over tags; predictions are unused. */
/* Runs the model (no dropout) over a labelled set in batches. predictions (count, may be NULL)
 * receives the argmax class of every example. A causal-LM model (ar_dataset_encode_lm's sets)
 * gets loss and perplexity only (eval_lm.c; predictions unused, accuracy etc. NaN). */
enum ar_status ar_evaluate(struct ar_ctx *ctx, struct ar_model *model, const struct ar_encoded *set,
                           int batch_size, int32_t pad_id, struct ar_eval_result *out,
                           int32_t *predictions);

/* Per-example outputs of an evaluation, for inspecting its errors. Every array is the caller's
 * and optional (NULL: not computed, at no cost); each belongs to one task, the others' are
 * ignored. Rows are in the set's order, whatever order the batches ran in. */
struct ar_eval_outputs {
    int32_t *predictions; /* SEQ_CLS (count): the argmax class of every example */
    float *probabilities; /* SEQ_CLS (count, num_labels): softmax of every example's logits */
    /* TOKEN_CLS (offsets[count]): the argmax tag of every token, special tokens and sub-tokens
     * included; the evaluation counts those whose token_labels are ≥ 0, the first sub-token of
     * each word (dataset_words.c) */
    int32_t *token_predictions;
    double *losses;  /* CAUSAL_LM (count): mean loss over the example's counted tokens (NaN: none) */
    int32_t *tokens; /* CAUSAL_LM (count): its counted tokens (completion and eos) */
};

/* ar_evaluate with per-example outputs (outputs may be NULL: metrics only, as ar_evaluate). For
 * a causal LM, the mean of `losses` weighted by `tokens` is out->loss (up to float rounding). */
enum ar_status ar_evaluate_outputs(struct ar_ctx *ctx, struct ar_model *model,
                                   const struct ar_encoded *set, int batch_size, int32_t pad_id,
                                   struct ar_eval_result *out,
                                   const struct ar_eval_outputs *outputs);

/* ---- the training loop (train.c) ------------------------------------------------------------ */

enum ar_eval_metric {
    AR_EVAL_METRIC_LOSS, /* lower is better */
    AR_EVAL_METRIC_ACCURACY,
    AR_EVAL_METRIC_F1,
    AR_EVAL_METRIC_MCC,
};

const char *ar_eval_metric_name(enum ar_eval_metric metric);
bool ar_eval_metric_parse(const char *name, enum ar_eval_metric *out);
double ar_eval_result_metric(const struct ar_eval_result *r, enum ar_eval_metric metric);

struct ar_train_params {
    double lr;
    double weight_decay;
    double beta1, beta2, eps;
    enum ar_lr_schedule schedule;
    double warmup_ratio; /* used when warmup_steps < 0 */
    int warmup_steps;
    double max_grad_norm; /* ≤ 0: no clipping */
    int batch_size;       /* examples per micro-batch */
    int grad_accum;       /* micro-batches per optimizer step */
    int epochs;
    int max_steps;        /* > 0: stop after this many optimizer steps (epochs then repeat) */
    int eval_every;       /* optimizer steps between evaluations; 0: at the end only */
    int eval_batch_size;
    int log_every;        /* optimizer steps between step events */
    int patience;         /* > 0: stop after this many evaluations without improvement */
    enum ar_eval_metric metric; /* what early stopping and "best" watch */
    bool restore_best;    /* end with the parameters of the best evaluation */
    uint64_t seed;
    int32_t pad_id;
    volatile sig_atomic_t *stop; /* optional: a nonzero value (a signal handler) stops cleanly */
};

struct ar_train_params ar_train_default_params(void);

struct ar_trainer;

/* What a hook or an event sees of the run. */
struct ar_train_state {
    int step;        /* optimizer steps done */
    int total_steps;
    int epoch;       /* current epoch (0-based) */
    double epoch_frac; /* fractional epochs done */
    int micro_step;  /* micro-batches done (the dropout stream) */
    double lr;       /* of the current or last update */
    const struct ar_padded_batch *batch; /* the current micro-batch (before_forward, after_backward) */
};

enum ar_train_event_kind {
    AR_TRAIN_EVENT_START,
    AR_TRAIN_EVENT_STEP, /* every log_every steps */
    AR_TRAIN_EVENT_EVAL,
    AR_TRAIN_EVENT_END,
};

struct ar_train_event {
    enum ar_train_event_kind kind;
    const struct ar_train_state *state;
    double loss;         /* STEP: mean training loss since the last STEP event */
    double grad_norm;    /* STEP: before clipping, of the last step */
    double tokens_per_s; /* STEP: real (unpadded) tokens per second since the last STEP */
    double elapsed_s;
    double eta_s;        /* STEP: estimated seconds left (training only) */
    const char *split;   /* EVAL: "validation" */
    const struct ar_eval_result *eval; /* EVAL */
    bool improved;       /* EVAL: best so far */
    enum ar_status status; /* END: how the loop ended */
};

/* Callbacks; any may be NULL. A non-OK status stops training with that status (the hook should
 * record why with its own message: ar_trainer_fail). */
struct ar_train_hooks {
    void *user;
    enum ar_status (*before_forward)(void *user, struct ar_trainer *t,
                                     const struct ar_train_state *s);
    enum ar_status (*after_backward)(void *user, struct ar_trainer *t,
                                     const struct ar_train_state *s);
    enum ar_status (*after_step)(void *user, struct ar_trainer *t, const struct ar_train_state *s);
    enum ar_status (*on_event)(void *user, struct ar_trainer *t, const struct ar_train_event *ev);
    /* After every optimizer step's events (its log record, its evaluation): the loop's state is
     * complete here, so a checkpoint taken now resumes exactly (checkpoint.h). */
    enum ar_status (*step_end)(void *user, struct ar_trainer *t, const struct ar_train_state *s);
};

#define AR_TRAIN_MAX_HOOKS 8

/* A trainer for `model` on `train` (validated against params: batch sizes, labels vs the model).
 * val may be NULL (no evaluation). The sets and the model are borrowed. */
enum ar_status ar_trainer_new(struct ar_ctx *ctx, struct ar_model *model,
                              const struct ar_train_params *params,
                              const struct ar_encoded *train, const struct ar_encoded *val,
                              struct ar_trainer **out);
void ar_trainer_free(struct ar_trainer *t); /* NULL is fine */
/* Appends a hook set (called in the order added); the struct is copied. */
enum ar_status ar_trainer_add_hooks(struct ar_trainer *t, const struct ar_train_hooks *hooks);

/* Runs the loop to the end: OK, AR_STATUS_INTERRUPTED when *params.stop became nonzero (checked
 * between optimizer steps, so the state is that of a whole step; the END event is still sent), or
 * the first failure. */
enum ar_status ar_trainer_run(struct ar_trainer *t);

struct ar_ctx *ar_trainer_ctx(struct ar_trainer *t);
struct ar_model *ar_trainer_model(struct ar_trainer *t);
const struct ar_train_params *ar_trainer_params(const struct ar_trainer *t);
int ar_trainer_total_steps(const struct ar_trainer *t);
/* The last and the best evaluation (count 0 when none yet). */
const struct ar_eval_result *ar_trainer_last_eval(const struct ar_trainer *t);
const struct ar_eval_result *ar_trainer_best_eval(const struct ar_trainer *t, int *best_step);
bool ar_trainer_early_stopped(const struct ar_trainer *t);
/* The loop's position and bookkeeping between two optimizer steps: what a checkpoint stores
 * besides the arena (checkpoint.h). Restoring it (before ar_trainer_run) continues at the exact
 * micro-batch: the epoch order is a function of (seed, epoch) and dropout of micro_step. */
struct ar_train_progress {
    int step, total_steps, epoch;
    int batch_in_epoch; /* micro-batches of this epoch's order already consumed */
    int micro_step;
    double lr;
    double loss_sum;    /* the STEP event accumulators since the last STEP event */
    int loss_count;
    uint64_t tokens;
    double grad_norm;
    double elapsed_s;   /* of training so far: a resumed run's elapsed times go on from it */
    struct ar_eval_result last, best;
    int best_step, evals_without_gain, last_eval_step;
    bool early_stopped;
};
void ar_trainer_get_progress(const struct ar_trainer *t, struct ar_train_progress *out);
/* Checks that total_steps and the position fit this trainer (AR_STATUS_INVALID_ARGUMENT). */
enum ar_status ar_trainer_set_progress(struct ar_trainer *t, const struct ar_train_progress *p);
/* The parameters of the best evaluation kept for restore_best (arena total floats), or an absent
 * ar_mem when the run does not keep them. */
struct ar_mem ar_trainer_best_params(const struct ar_trainer *t);

/* For hooks: records "what" as the context's message (ar_ctx_errmsg) and returns status. */
enum ar_status ar_trainer_fail(struct ar_trainer *t, enum ar_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- a whole job: the configuration of `adarank-cl train` (train_config.c) ------------------ */

/* Every key of a JSON config file is a member here and a command-line option (underscores as
 * dashes): "max_length" is --max-length. Unset strings are NULL. */
struct ar_train_config {
    char *model;      /* checkpoint folder (config.json, model.safetensors, tokenizer.json) */
    char *train;      /* data files (dataset.h) */
    char *validation; /* NULL: split validation_fraction off the training file */
    char *test;       /* optional, evaluated once at the end */
    char *out;        /* the run folder */
    char *device;
    char *method;  /* a method.h kind name: "lora", "sora", ... (with its default parameters) */
    /* "seq-cls", "causal-lm" or "token-cls"; NULL: from the data and the model (prompt/
     * completion data with a GPT-2 or Llama checkpoint: causal-lm; otherwise seq-cls) */
    char *task;
    char *targets; /* PEFT target_modules, comma-separated */
    char *text_column, *text_b_column, *label_column;
    char **labels; /* class names in id order, or NULL */
    int label_count;
    double validation_fraction;
    int rank;
    double alpha, lora_dropout, hidden_dropout;
    bool rslora;
    int max_length;
    bool skip_bad_rows;
    int checkpoint_every; /* optimizer steps between checkpoints in the run folder (0: only on
                           * SIGINT/SIGTERM) */
    struct ar_train_params params; /* lr, schedule, batch, epochs, seed... (stop is unused) */
    /* The method's parameters (keys "sora_xi", "adalora_target_rank", ...; kind is set from
     * `method` when the job starts; lora.ranks is unused). */
    struct ar_method_params method_params;
    /* AutoLoRA and Flexora run two stages (METHODS.md §2.4, §4.2): a search on a split of the
     * training set, then a fresh LoRA retrained at the found ranks on the whole training set.
     * autolora_search_fraction: search steps as a share of the retraining's steps (Flexora's is
     * method_params.flexora.search_fraction); flexora_val_fraction: share of the training set
     * held out as Flexora's search split (AutoLoRA's is method_params.autolora.val_fraction). */
    double autolora_search_fraction;
    double flexora_val_fraction;
    /* A PEFT LoRA adapter folder (peft.h) the run starts from instead of a fresh adapter: its
     * modules are the targets and its largest rank the rank unless those keys are given, and
     * alpha, rslora and the labels of its run come from it likewise (core/cli/train_adapter.c). */
    char *init_adapter;
    uint64_t given[4]; /* bit i: key i was set by ar_train_config_set or _load */
};

/* The defaults (LoRA r 8, alpha 16 on query,value; max length 128; validation 10%). */
void ar_train_config_init(struct ar_train_config *c);
void ar_train_config_clear(struct ar_train_config *c); /* frees the strings; init again to reuse */

/* Sets one key from its text form (a command-line value): "lr" "5e-4", "targets" "query,value",
 * "labels" "neg,pos". Errors name the key: "lr: expected a number, got \"fast\"". An unknown key is
 * AR_STATUS_NOT_FOUND. */
enum ar_status ar_train_config_set(struct ar_train_config *c, const char *key, const char *value,
                                   char *err, size_t err_size);
/* Sets the class names (copied); n = 0 clears them. */
enum ar_status ar_train_config_set_labels(struct ar_train_config *c, const char *const *names,
                                          int n);
/* Applies a JSON object file over c. Every key is checked: an unknown key or a wrong type fails
 * with "PATH: key: what". Relative paths in the file are taken relative to the file's folder;
 * null unsets a string. */
enum ar_status ar_train_config_load(struct ar_train_config *c, const char *path, char *err,
                                    size_t err_size);
/* The whole configuration as a JSON object (malloc'd), loadable again: one key per line and a
 * final newline when pretty, else one line (for embedding in metrics.jsonl). */
char *ar_train_config_to_json(const struct ar_train_config *c, bool pretty);
/* Checks what must be present and consistent (model, train, out; method known). */
enum ar_status ar_train_config_check(const struct ar_train_config *c, char *err, size_t err_size);

/* Key names and one-line help, in file order, for --help. Returns NULL past the last key. */
const char *ar_train_config_key(int i, const char **help);
/* True for the true/false keys (command-line flags without a value). */
bool ar_train_config_key_is_bool(const char *key);
/* True when `key` was set by ar_train_config_set or ar_train_config_load (not a default). */
bool ar_train_config_given(const struct ar_train_config *c, const char *key);

#ifdef __cplusplus
}
#endif

#endif
