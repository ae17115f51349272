/* The configuration of a training job (see train.h): one table of keys drives the defaults, the
 * command-line values, the JSON config file (every key and type checked) and the effective
 * config.json a run writes. This file holds the table, the lookups on it, the defaults and the
 * final checks; setting a key is train_config_set.c's, the JSON file train_config_file.c's. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/method.h"
#include "adarank/train.h"
#include "train_config_internal.h"

#define C(m) offsetof(struct ar_train_config, m)
#define P(m) (offsetof(struct ar_train_config, params) + offsetof(struct ar_train_params, m))
#define ANY -1e300, 1e300
/* A member of one method's parameter struct: M(sora, ar_sora_params, xi). */
#define M(method, type, m)                                                                    \
    (offsetof(struct ar_train_config, method_params) +                                        \
     offsetof(struct ar_method_params, method) + offsetof(struct type, m))

const struct ar__train_key ar__train_keys[] = {
    {"model", AR__TRAIN_KEY_PATH, C(model), ANY,
     "checkpoint folder (config.json, model.safetensors, tokenizer.json)"},
    {"train", AR__TRAIN_KEY_PATH, C(train), ANY,
     "training data (.tsv, .csv or .jsonl with a header)"},
    {"validation", AR__TRAIN_KEY_PATH, C(validation), ANY,
     "validation data (default: split off train)"},
    {"test", AR__TRAIN_KEY_PATH, C(test), ANY, "test data, evaluated once at the end"},
    {"out", AR__TRAIN_KEY_PATH, C(out), ANY, "run folder"},
    {"device", AR__TRAIN_KEY_STRING, C(device), ANY, "OpenCL device index or name"},
    {"method", AR__TRAIN_KEY_STRING, C(method), ANY,
     "rank method: lora, sora, dylora, adalora, ..."},
    {"task", AR__TRAIN_KEY_STRING, C(task), ANY,
     "seq-cls, causal-lm or token-cls (default: from the data)"},
    {"targets", AR__TRAIN_KEY_LIST, C(targets), ANY,
     "LoRA target modules (PEFT names), e.g. query,value"},
    {"rank", AR__TRAIN_KEY_INT, C(rank), 1, 4096, "LoRA rank r"},
    {"alpha", AR__TRAIN_KEY_DOUBLE, C(alpha), 1e-12, 1e12, "LoRA alpha (scale alpha/r)"},
    {"lora_dropout", AR__TRAIN_KEY_DOUBLE, C(lora_dropout), 0, 0.99, "dropout on the LoRA input"},
    {"rslora", AR__TRAIN_KEY_BOOL, C(rslora), ANY, "scale alpha/sqrt(r) (rsLoRA)"},
    {"hidden_dropout", AR__TRAIN_KEY_DOUBLE, C(hidden_dropout), 0, 0.99,
     "dropout on hidden states"},
    {"max_length", AR__TRAIN_KEY_INT, C(max_length), 2, 1 << 20,
     "tokens per example (longer ones are cut)"},
    {"validation_fraction", AR__TRAIN_KEY_DOUBLE, C(validation_fraction), 1e-9, 1 - 1e-9,
     "share of train held out when no validation file is given"},
    {"skip_bad_rows", AR__TRAIN_KEY_BOOL, C(skip_bad_rows), ANY,
     "skip (and count) malformed data rows"},
    {"text_column", AR__TRAIN_KEY_STRING, C(text_column), ANY,
     "name of the text (or text_a) column"},
    {"text_b_column", AR__TRAIN_KEY_STRING, C(text_b_column), ANY, "name of the text_b column"},
    {"label_column", AR__TRAIN_KEY_STRING, C(label_column), ANY, "name of the label column"},
    {"labels", AR__TRAIN_KEY_LIST, C(labels), ANY,
     "class names in id order (default: from the data)"},
    {"lr", AR__TRAIN_KEY_DOUBLE, P(lr), 1e-12, 10, "peak learning rate"},
    {"weight_decay", AR__TRAIN_KEY_DOUBLE, P(weight_decay), 0, 10, "AdamW decoupled weight decay"},
    {"beta1", AR__TRAIN_KEY_DOUBLE, P(beta1), 0, 0.999999, "AdamW beta1"},
    {"beta2", AR__TRAIN_KEY_DOUBLE, P(beta2), 0, 0.999999999, "AdamW beta2"},
    {"eps", AR__TRAIN_KEY_DOUBLE, P(eps), 1e-30, 1, "AdamW epsilon"},
    {"schedule", AR__TRAIN_KEY_SCHEDULE, P(schedule), ANY,
     "lr schedule: linear, cosine or constant"},
    {"warmup_ratio", AR__TRAIN_KEY_DOUBLE, P(warmup_ratio), 0, 1, "warm-up share of the steps"},
    {"warmup_steps", AR__TRAIN_KEY_INT, P(warmup_steps), -1, INT_MAX,
     "warm-up steps (-1: use the ratio)"},
    {"max_grad_norm", AR__TRAIN_KEY_DOUBLE, P(max_grad_norm), 0, 1e12,
     "global-norm clip (0: none)"},
    {"batch", AR__TRAIN_KEY_INT, P(batch_size), 1, 1 << 16, "examples per micro-batch"},
    {"grad_accum", AR__TRAIN_KEY_INT, P(grad_accum), 1, 1 << 16,
     "micro-batches per optimizer step"},
    {"epochs", AR__TRAIN_KEY_INT, P(epochs), 1, 1 << 20, "passes over the training data"},
    {"max_steps", AR__TRAIN_KEY_INT, P(max_steps), 0, INT_MAX,
     "stop after N optimizer steps (0: epochs)"},
    {"eval_every", AR__TRAIN_KEY_INT, P(eval_every), 0, INT_MAX,
     "validate every N steps (0: at the end)"},
    {"eval_batch", AR__TRAIN_KEY_INT, P(eval_batch_size), 1, 1 << 16,
     "examples per evaluation batch"},
    {"log_every", AR__TRAIN_KEY_INT, P(log_every), 0, INT_MAX, "steps between step records"},
    {"checkpoint_every", AR__TRAIN_KEY_INT, C(checkpoint_every), 0, INT_MAX,
     "steps between checkpoints for `resume` (0: only on SIGINT/SIGTERM)"},
    {"patience", AR__TRAIN_KEY_INT, P(patience), 0, INT_MAX,
     "early stopping after N evaluations without gain (0: off)"},
    {"metric", AR__TRAIN_KEY_METRIC, P(metric), ANY,
     "what early stopping watches: loss, accuracy, f1, mcc"},
    {"restore_best", AR__TRAIN_KEY_BOOL, P(restore_best), ANY,
     "end with the best validated parameters"},
    {"seed", AR__TRAIN_KEY_SEED, P(seed), ANY, "seed of every random choice"},
    {"init_adapter", AR__TRAIN_KEY_PATH, C(init_adapter), ANY,
     "start from a PEFT adapter (RUN/adapter); its targets, rank, alpha by default"},
    /* the rank methods' parameters (METHODS.md; defaults in ar_method_default_params) */
    {"sora_l1_weight", AR__TRAIN_KEY_FLOAT, M(sora, ar_sora_params, l1_weight), 0, 1e12,
     "SoRA: weight of the L1 term on the gates"},
    {"sora_xi", AR__TRAIN_KEY_FLOAT, M(sora, ar_sora_params, xi), 0, 1e6,
     "SoRA: proximal threshold xi of the first stage"},
    {"sora_xi_max", AR__TRAIN_KEY_FLOAT, M(sora, ar_sora_params, xi_max), 0, 1e6,
     "SoRA: xi raised linearly to this over the stages"},
    {"sora_stages", AR__TRAIN_KEY_INT, M(sora, ar_sora_params, stages), 1, 1 << 20,
     "SoRA: stages of the sparsifying scheduler"},
    {"sora_xi_times_lr", AR__TRAIN_KEY_BOOL, M(sora, ar_sora_params, xi_times_lr), ANY,
     "SoRA: threshold lr*xi (paper) instead of xi (code)"},
    {"sora_gate_init_normal", AR__TRAIN_KEY_BOOL, M(sora, ar_sora_params, gate_init_normal), ANY,
     "SoRA: gates start N(0,1) (code) instead of 1"},
    {"dylora_min_rank", AR__TRAIN_KEY_INT, M(dylora, ar_dylora_params, min_rank), 1, 4096,
     "DyLoRA: smallest sampled rank (<= rank)"},
    {"dylora_frozen", AR__TRAIN_KEY_BOOL, M(dylora, ar_dylora_params, frozen), ANY,
     "DyLoRA: train only the sampled component (released code)"},
    {"adalora_target_rank", AR__TRAIN_KEY_INT, M(adalora, ar_adalora_params, target_rank), 0, 4096,
     "AdaLoRA: average final rank per module (<= rank)"},
    {"adalora_tinit", AR__TRAIN_KEY_INT, M(adalora, ar_adalora_params, tinit), -1, INT_MAX,
     "AdaLoRA: steps at full budget (-1: 10% of the run)"},
    {"adalora_tfinal", AR__TRAIN_KEY_INT, M(adalora, ar_adalora_params, tfinal), -1, INT_MAX,
     "AdaLoRA: final steps with fixed masks (-1: 30%)"},
    {"adalora_delta_t", AR__TRAIN_KEY_INT, M(adalora, ar_adalora_params, delta_t), 1, INT_MAX,
     "AdaLoRA: steps between budget maskings"},
    {"adalora_beta1", AR__TRAIN_KEY_FLOAT, M(adalora, ar_adalora_params, beta1), 0, 0.999999,
     "AdaLoRA: smoothing of the sensitivity"},
    {"adalora_beta2", AR__TRAIN_KEY_FLOAT, M(adalora, ar_adalora_params, beta2), 0, 0.999999,
     "AdaLoRA: smoothing of its uncertainty"},
    {"adalora_orth_reg", AR__TRAIN_KEY_FLOAT, M(adalora, ar_adalora_params, orth_reg), 0, 1e6,
     "AdaLoRA: weight of the orthogonality term"},
    {"autolora_selection_lr", AR__TRAIN_KEY_FLOAT, M(autolora, ar_autolora_params, selection_lr),
     1e-12, 10, "AutoLoRA: Adam lr of the selection logits"},
    {"autolora_first_order", AR__TRAIN_KEY_BOOL, M(autolora, ar_autolora_params, first_order), ANY,
     "AutoLoRA: first-order hypergradient"},
    {"autolora_val_fraction", AR__TRAIN_KEY_FLOAT, M(autolora, ar_autolora_params, val_fraction),
     1e-6, 0.999999, "AutoLoRA: share of train held out for the search"},
    {"autolora_inner_lr", AR__TRAIN_KEY_FLOAT, M(autolora, ar_autolora_params, inner_lr), -1, 10,
     "AutoLoRA: lr of the unrolled step (<= 0: scheduled)"},
    {"autolora_darts_r", AR__TRAIN_KEY_FLOAT, M(autolora, ar_autolora_params, darts_r), 1e-12, 1e6,
     "AutoLoRA: finite-difference R (eps = R/|v|)"},
    {"autolora_darts_scale_by_lr", AR__TRAIN_KEY_BOOL,
     M(autolora, ar_autolora_params, darts_scale_by_lr), ANY,
     "AutoLoRA: DARTS' xi on the 2nd-order term"},
    {"autolora_search_fraction", AR__TRAIN_KEY_DOUBLE, C(autolora_search_fraction), 1e-6, 100,
     "AutoLoRA: search steps / retraining steps"},
    {"flexora_hyper_lr", AR__TRAIN_KEY_FLOAT, M(flexora, ar_flexora_params, hyper_lr), 1e-12, 10,
     "Flexora: Adam lr of the layer logits"},
    {"flexora_power", AR__TRAIN_KEY_INT, M(flexora, ar_flexora_params, power), 1, 3,
     "Flexora: k in w^k (1 paper, 3 released code)"},
    {"flexora_select_layers", AR__TRAIN_KEY_INT, M(flexora, ar_flexora_params, select_layers), 0,
     4096, "Flexora: keep the top N layers (0: logit > 0)"},
    {"flexora_first_order", AR__TRAIN_KEY_BOOL, M(flexora, ar_flexora_params, first_order), ANY,
     "Flexora: first-order hypergradient (code)"},
    {"flexora_search_fraction", AR__TRAIN_KEY_FLOAT, M(flexora, ar_flexora_params, search_fraction),
     1e-6, 100, "Flexora: search steps / retraining steps"},
    {"flexora_val_fraction", AR__TRAIN_KEY_DOUBLE, C(flexora_val_fraction), 1e-6, 0.999999,
     "Flexora: share of train held out for the search"},
    {"flexora_inner_lr", AR__TRAIN_KEY_FLOAT, M(flexora, ar_flexora_params, inner_lr), -1, 10,
     "Flexora: lr of the unrolled step (<= 0: scheduled)"},
    {"flexora_darts_r", AR__TRAIN_KEY_FLOAT, M(flexora, ar_flexora_params, darts_r), 1e-12, 1e6,
     "Flexora: finite-difference R"},
    {"flexora_darts_scale_by_lr", AR__TRAIN_KEY_BOOL,
     M(flexora, ar_flexora_params, darts_scale_by_lr), ANY,
     "Flexora: DARTS' xi on the 2nd-order term"},
};

#define N_KEYS (sizeof ar__train_keys / sizeof ar__train_keys[0])
const size_t ar__train_key_count = N_KEYS;

const char *ar_train_config_key(int i, const char **help)
{
    if (i < 0 || (size_t)i >= N_KEYS)
        return NULL;
    if (help)
        *help = ar__train_keys[i].help;
    return ar__train_keys[i].name;
}

const struct ar__train_key *ar__train_config_find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(ar__train_keys[i].name, name))
            return &ar__train_keys[i];
    return NULL;
}

bool ar_train_config_key_is_bool(const char *key)
{
    const struct ar__train_key *k = ar__train_config_find_key(key);
    return k && k->kind == AR__TRAIN_KEY_BOOL;
}

/* ar_train_config.given: one bit per key of the table */
#define GIVEN_BITS (64 * (sizeof(((struct ar_train_config *)0)->given) / sizeof(uint64_t)))
_Static_assert(N_KEYS <= GIVEN_BITS, "more keys than bits in ar_train_config.given");

void ar__train_config_mark_given(struct ar_train_config *c, const struct ar__train_key *k)
{
    size_t i = (size_t)(k - ar__train_keys);
    c->given[i / 64] |= 1ull << (i % 64);
}

bool ar_train_config_given(const struct ar_train_config *c, const char *key)
{
    const struct ar__train_key *k = ar__train_config_find_key(key);
    size_t i = k ? (size_t)(k - ar__train_keys) : 0;
    return k && (c->given[i / 64] >> (i % 64) & 1);
}

struct ar_train_params ar_train_default_params(void)
{
    struct ar_train_params p = {0};
    p.lr = 5e-4;
    p.weight_decay = 0.01;
    p.beta1 = 0.9, p.beta2 = 0.999, p.eps = 1e-8; /* torch.optim.AdamW (METHODS.md §0.3) */
    p.schedule = AR_LR_SCHEDULE_LINEAR;
    p.warmup_ratio = 0.06; /* the LoRA/SoRA GLUE scripts' warm-up ratio */
    p.warmup_steps = -1;
    p.max_grad_norm = 1.0; /* HF Trainer's default */
    p.batch_size = 16;
    p.grad_accum = 1;
    p.epochs = 1;
    p.eval_batch_size = 64;
    p.log_every = 10;
    p.metric = AR_EVAL_METRIC_ACCURACY;
    p.pad_id = 0;
    return p;
}

void ar_train_config_init(struct ar_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->method = strdup("lora");
    c->targets = strdup("query,value");
    c->validation_fraction = 0.1;
    c->checkpoint_every = 100; /* a killed run loses at most 100 steps */
    c->rank = 8;
    c->alpha = 16;
    c->lora_dropout = 0.0; /* PEFT's LoraConfig default (METHODS.md §0.1) */
    c->hidden_dropout = 0.1; /* BERT's hidden_dropout_prob */
    c->max_length = 128;
    c->params = ar_train_default_params();
    c->method_params = ar_method_default_params(AR_METHOD_LORA); /* every method's defaults */
    c->autolora_search_fraction = 0.5; /* half a run of search, then the full retraining */
    c->flexora_val_fraction = 0.3;     /* as AutoLoRA's 70/30 split (METHODS.md §2.2) */
}

enum ar_status ar_train_config_check(const struct ar_train_config *c, char *err, size_t err_size)
{
    const char *missing = !c->model ? "model" : !c->train ? "train" : !c->out ? "out" : NULL;
    if (missing) {
        snprintf(err, err_size, "%s: required (give --%s or \"%s\" in the config file)", missing,
                 missing, missing);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    enum ar_method_kind kind;
    if (!c->method || !ar_method_kind_parse(c->method, &kind)) {
        snprintf(err, err_size,
                 "method: \"%s\" is not a rank method (lora, sora, autolora, dylora, flexora, "
                 "adalora)",
                 c->method ? c->method : "");
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (c->task && strcmp(c->task, "seq-cls") && strcmp(c->task, "causal-lm") &&
        strcmp(c->task, "token-cls")) {
        snprintf(err, err_size, "task: \"%s\" is not a task (seq-cls, causal-lm, token-cls)",
                 c->task);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (!c->targets || !c->targets[0]) {
        snprintf(err, err_size, "targets: at least one target module is needed");
        return AR_STATUS_INVALID_ARGUMENT;
    }
    const struct ar_method_params *mp = &c->method_params;
    if (kind == AR_METHOD_DYLORA && mp->dylora.min_rank > c->rank) {
        snprintf(err, err_size, "dylora_min_rank: %d is above rank %d", mp->dylora.min_rank,
                 c->rank);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (kind == AR_METHOD_ADALORA && mp->adalora.target_rank > c->rank) {
        snprintf(err, err_size, "adalora_target_rank: %d is above rank %d",
                 mp->adalora.target_rank, c->rank);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (kind == AR_METHOD_SORA && mp->sora.xi_max < mp->sora.xi) {
        snprintf(err, err_size, "sora_xi_max: %g is below sora_xi %g", mp->sora.xi_max,
                 mp->sora.xi);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (c->init_adapter && (kind == AR_METHOD_AUTOLORA || kind == AR_METHOD_FLEXORA)) {
        snprintf(err, err_size,
                 "init_adapter: %s retrains a fresh adapter after its search; start from an "
                 "adapter with lora, sora, dylora or adalora",
                 c->method);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (c->label_count == 1) {
        snprintf(err, err_size, "labels: a classifier needs at least 2 classes");
        return AR_STATUS_INVALID_ARGUMENT;
    }
    return AR_STATUS_OK;
}
