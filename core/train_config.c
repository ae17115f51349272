/* The configuration of a training job (see train.h): one table of keys drives the defaults, the
 * command-line values, the JSON config file (every key and type checked) and the effective
 * config.json a run writes. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/method.h"
#include "adarank/train.h"
#include "json.h"

enum kind {
    K_STRING,
    K_PATH, /* a string; relative to the config file's folder when read from one */
    K_INT,
    K_DOUBLE,
    K_FLOAT, /* a float member (the method parameters) */
    K_BOOL,
    K_SCHEDULE,
    K_METRIC,
    K_SEED,
    K_LIST, /* a comma-separated string or an array of strings */
};

struct key {
    const char *name;
    enum kind kind;
    size_t off;
    double min, max; /* numbers: the allowed closed range */
    const char *help;
};

#define C(m) offsetof(struct ar_train_config, m)
#define P(m) (offsetof(struct ar_train_config, params) + offsetof(struct ar_train_params, m))
#define ANY -1e300, 1e300
/* A member of one method's parameter struct: M(sora, ar_sora_params, xi). */
#define M(method, type, m)                                                                    \
    (offsetof(struct ar_train_config, method_params) +                                        \
     offsetof(struct ar_method_params, method) + offsetof(struct type, m))

static const struct key keys[] = {
    {"model", K_PATH, C(model), ANY, "checkpoint folder (config.json, model.safetensors, "
                                     "tokenizer.json)"},
    {"train", K_PATH, C(train), ANY, "training data (.tsv, .csv or .jsonl with a header)"},
    {"validation", K_PATH, C(validation), ANY, "validation data (default: split off train)"},
    {"test", K_PATH, C(test), ANY, "test data, evaluated once at the end"},
    {"out", K_PATH, C(out), ANY, "run folder"},
    {"device", K_STRING, C(device), ANY, "OpenCL device index or name"},
    {"method", K_STRING, C(method), ANY, "rank method: lora, sora, dylora, adalora, ..."},
    {"task", K_STRING, C(task), ANY, "seq-cls, causal-lm or token-cls (default: from the data)"},
    {"targets", K_LIST, C(targets), ANY, "LoRA target modules (PEFT names), e.g. query,value"},
    {"rank", K_INT, C(rank), 1, 4096, "LoRA rank r"},
    {"alpha", K_DOUBLE, C(alpha), 1e-12, 1e12, "LoRA alpha (scale alpha/r)"},
    {"lora_dropout", K_DOUBLE, C(lora_dropout), 0, 0.99, "dropout on the LoRA input"},
    {"rslora", K_BOOL, C(rslora), ANY, "scale alpha/sqrt(r) (rsLoRA)"},
    {"hidden_dropout", K_DOUBLE, C(hidden_dropout), 0, 0.99, "dropout on hidden states"},
    {"max_length", K_INT, C(max_length), 2, 1 << 20, "tokens per example (longer ones are cut)"},
    {"validation_fraction", K_DOUBLE, C(validation_fraction), 1e-9, 1 - 1e-9,
     "share of train held out when no validation file is given"},
    {"skip_bad_rows", K_BOOL, C(skip_bad_rows), ANY, "skip (and count) malformed data rows"},
    {"text_column", K_STRING, C(text_column), ANY, "name of the text (or text_a) column"},
    {"text_b_column", K_STRING, C(text_b_column), ANY, "name of the text_b column"},
    {"label_column", K_STRING, C(label_column), ANY, "name of the label column"},
    {"labels", K_LIST, C(labels), ANY, "class names in id order (default: from the data)"},
    {"lr", K_DOUBLE, P(lr), 1e-12, 10, "peak learning rate"},
    {"weight_decay", K_DOUBLE, P(weight_decay), 0, 10, "AdamW decoupled weight decay"},
    {"beta1", K_DOUBLE, P(beta1), 0, 0.999999, "AdamW beta1"},
    {"beta2", K_DOUBLE, P(beta2), 0, 0.999999999, "AdamW beta2"},
    {"eps", K_DOUBLE, P(eps), 1e-30, 1, "AdamW epsilon"},
    {"schedule", K_SCHEDULE, P(schedule), ANY, "lr schedule: linear, cosine or constant"},
    {"warmup_ratio", K_DOUBLE, P(warmup_ratio), 0, 1, "warm-up share of the steps"},
    {"warmup_steps", K_INT, P(warmup_steps), -1, INT_MAX, "warm-up steps (-1: use the ratio)"},
    {"max_grad_norm", K_DOUBLE, P(max_grad_norm), 0, 1e12, "global-norm clip (0: none)"},
    {"batch", K_INT, P(batch_size), 1, 1 << 16, "examples per micro-batch"},
    {"grad_accum", K_INT, P(grad_accum), 1, 1 << 16, "micro-batches per optimizer step"},
    {"epochs", K_INT, P(epochs), 1, 1 << 20, "passes over the training data"},
    {"max_steps", K_INT, P(max_steps), 0, INT_MAX, "stop after N optimizer steps (0: epochs)"},
    {"eval_every", K_INT, P(eval_every), 0, INT_MAX, "validate every N steps (0: at the end)"},
    {"eval_batch", K_INT, P(eval_batch_size), 1, 1 << 16, "examples per evaluation batch"},
    {"log_every", K_INT, P(log_every), 0, INT_MAX, "steps between step records"},
    {"checkpoint_every", K_INT, C(checkpoint_every), 0, INT_MAX,
     "steps between checkpoints for `resume` (0: only on SIGINT/SIGTERM)"},
    {"patience", K_INT, P(patience), 0, INT_MAX, "early stopping after N evaluations without "
                                                 "gain (0: off)"},
    {"metric", K_METRIC, P(metric), ANY, "what early stopping watches: loss, accuracy, f1, mcc"},
    {"restore_best", K_BOOL, P(restore_best), ANY, "end with the best validated parameters"},
    {"seed", K_SEED, P(seed), ANY, "seed of every random choice"},
    {"init_adapter", K_PATH, C(init_adapter), ANY,
     "start from a PEFT adapter (RUN/adapter); its targets, rank, alpha by default"},
    /* the rank methods' parameters (METHODS.md; defaults in ar_method_default_params) */
    {"sora_l1_weight", K_FLOAT, M(sora, ar_sora_params, l1_weight), 0, 1e12,
     "SoRA: weight of the L1 term on the gates"},
    {"sora_xi", K_FLOAT, M(sora, ar_sora_params, xi), 0, 1e6,
     "SoRA: proximal threshold xi of the first stage"},
    {"sora_xi_max", K_FLOAT, M(sora, ar_sora_params, xi_max), 0, 1e6,
     "SoRA: xi raised linearly to this over the stages"},
    {"sora_stages", K_INT, M(sora, ar_sora_params, stages), 1, 1 << 20,
     "SoRA: stages of the sparsifying scheduler"},
    {"sora_xi_times_lr", K_BOOL, M(sora, ar_sora_params, xi_times_lr), ANY,
     "SoRA: threshold lr*xi (paper) instead of xi (code)"},
    {"sora_gate_init_normal", K_BOOL, M(sora, ar_sora_params, gate_init_normal), ANY,
     "SoRA: gates start N(0,1) (code) instead of 1"},
    {"dylora_min_rank", K_INT, M(dylora, ar_dylora_params, min_rank), 1, 4096,
     "DyLoRA: smallest sampled rank (<= rank)"},
    {"dylora_frozen", K_BOOL, M(dylora, ar_dylora_params, frozen), ANY,
     "DyLoRA: train only the sampled component (released code)"},
    {"adalora_target_rank", K_INT, M(adalora, ar_adalora_params, target_rank), 0, 4096,
     "AdaLoRA: average final rank per module (<= rank)"},
    {"adalora_tinit", K_INT, M(adalora, ar_adalora_params, tinit), -1, INT_MAX,
     "AdaLoRA: steps at full budget (-1: 10% of the run)"},
    {"adalora_tfinal", K_INT, M(adalora, ar_adalora_params, tfinal), -1, INT_MAX,
     "AdaLoRA: final steps with fixed masks (-1: 30%)"},
    {"adalora_delta_t", K_INT, M(adalora, ar_adalora_params, delta_t), 1, INT_MAX,
     "AdaLoRA: steps between budget maskings"},
    {"adalora_beta1", K_FLOAT, M(adalora, ar_adalora_params, beta1), 0, 0.999999,
     "AdaLoRA: smoothing of the sensitivity"},
    {"adalora_beta2", K_FLOAT, M(adalora, ar_adalora_params, beta2), 0, 0.999999,
     "AdaLoRA: smoothing of its uncertainty"},
    {"adalora_orth_reg", K_FLOAT, M(adalora, ar_adalora_params, orth_reg), 0, 1e6,
     "AdaLoRA: weight of the orthogonality term"},
    {"autolora_selection_lr", K_FLOAT, M(autolora, ar_autolora_params, selection_lr), 1e-12, 10,
     "AutoLoRA: Adam lr of the selection logits"},
    {"autolora_first_order", K_BOOL, M(autolora, ar_autolora_params, first_order), ANY,
     "AutoLoRA: first-order hypergradient"},
    {"autolora_val_fraction", K_FLOAT, M(autolora, ar_autolora_params, val_fraction), 1e-6,
     0.999999, "AutoLoRA: share of train held out for the search"},
    {"autolora_inner_lr", K_FLOAT, M(autolora, ar_autolora_params, inner_lr), -1, 10,
     "AutoLoRA: lr of the unrolled step (<= 0: scheduled)"},
    {"autolora_darts_r", K_FLOAT, M(autolora, ar_autolora_params, darts_r), 1e-12, 1e6,
     "AutoLoRA: finite-difference R (eps = R/|v|)"},
    {"autolora_darts_scale_by_lr", K_BOOL,
     M(autolora, ar_autolora_params, darts_scale_by_lr), ANY,
     "AutoLoRA: DARTS' xi on the 2nd-order term"},
    {"autolora_search_fraction", K_DOUBLE, C(autolora_search_fraction), 1e-6, 100,
     "AutoLoRA: search steps / retraining steps"},
    {"flexora_hyper_lr", K_FLOAT, M(flexora, ar_flexora_params, hyper_lr), 1e-12, 10,
     "Flexora: Adam lr of the layer logits"},
    {"flexora_power", K_INT, M(flexora, ar_flexora_params, power), 1, 3,
     "Flexora: k in w^k (1 paper, 3 released code)"},
    {"flexora_select_layers", K_INT, M(flexora, ar_flexora_params, select_layers), 0, 4096,
     "Flexora: keep the top N layers (0: logit > 0)"},
    {"flexora_first_order", K_BOOL, M(flexora, ar_flexora_params, first_order), ANY,
     "Flexora: first-order hypergradient (code)"},
    {"flexora_search_fraction", K_FLOAT, M(flexora, ar_flexora_params, search_fraction), 1e-6,
     100, "Flexora: search steps / retraining steps"},
    {"flexora_val_fraction", K_DOUBLE, C(flexora_val_fraction), 1e-6, 0.999999,
     "Flexora: share of train held out for the search"},
    {"flexora_inner_lr", K_FLOAT, M(flexora, ar_flexora_params, inner_lr), -1, 10,
     "Flexora: lr of the unrolled step (<= 0: scheduled)"},
    {"flexora_darts_r", K_FLOAT, M(flexora, ar_flexora_params, darts_r), 1e-12, 1e6,
     "Flexora: finite-difference R"},
    {"flexora_darts_scale_by_lr", K_BOOL, M(flexora, ar_flexora_params, darts_scale_by_lr),
     ANY, "Flexora: DARTS' xi on the 2nd-order term"},
};

#define N_KEYS (sizeof keys / sizeof keys[0])

const char *ar_train_config_key(int i, const char **help)
{
    if (i < 0 || (size_t)i >= N_KEYS)
        return NULL;
    if (help)
        *help = keys[i].help;
    return keys[i].name;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

bool ar_train_config_key_is_bool(const char *key)
{
    const struct key *k = find_key(key);
    return k && k->kind == K_BOOL;
}

/* ar_train_config.given: one bit per key of the table */
#define GIVEN_BITS (64 * (sizeof(((struct ar_train_config *)0)->given) / sizeof(uint64_t)))
_Static_assert(N_KEYS <= GIVEN_BITS, "more keys than bits in ar_train_config.given");

static void mark_given(struct ar_train_config *c, const struct key *k)
{
    size_t i = (size_t)(k - keys);
    c->given[i / 64] |= 1ull << (i % 64);
}

bool ar_train_config_given(const struct ar_train_config *c, const char *key)
{
    const struct key *k = find_key(key);
    size_t i = k ? (size_t)(k - keys) : 0;
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

static void free_list(char ***list, int *count)
{
    for (int i = 0; *list && i < *count; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL, *count = 0;
}

void ar_train_config_clear(struct ar_train_config *c)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].kind == K_STRING || keys[i].kind == K_PATH ||
            (keys[i].kind == K_LIST && keys[i].off == C(targets))) {
            char **s = (char **)((char *)c + keys[i].off);
            free(*s);
            *s = NULL;
        }
    free_list(&c->labels, &c->label_count);
}

/* ---- setting one key --------------------------------------------------------------------- */

static enum ar_status set_string(char **slot, const char *value)
{
    char *copy = value ? strdup(value) : NULL;
    if (value && !copy)
        return AR_STATUS_OUT_OF_MEMORY;
    free(*slot);
    *slot = copy;
    return AR_STATUS_OK;
}

/* "a, b,c" → {"a", "b", "c"}: the labels list. Empty items are an error. */
static enum ar_status set_labels(struct ar_train_config *c, const char *const *items, int n,
                                 char *err, size_t err_size)
{
    char **list = calloc((size_t)(n > 0 ? n : 1), sizeof *list);
    if (!list)
        return AR_STATUS_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++) {
        if (!items[i][0] || !(list[i] = strdup(items[i]))) {
            bool empty = !items[i][0];
            if (empty)
                snprintf(err, err_size, "labels: item %d is empty", i + 1);
            free_list(&list, &i); /* the i names copied so far */
            return empty ? AR_STATUS_INVALID_ARGUMENT : AR_STATUS_OUT_OF_MEMORY;
        }
    }
    free_list(&c->labels, &c->label_count);
    c->labels = n ? list : NULL, c->label_count = n;
    if (!n)
        free(list);
    return AR_STATUS_OK;
}

enum ar_status ar_train_config_set_labels(struct ar_train_config *c, const char *const *names,
                                          int n)
{
    char err[128];
    return set_labels(c, names, n, err, sizeof err);
}

static enum ar_status set_list_text(struct ar_train_config *c, const struct key *k,
                                    const char *value, char *err, size_t err_size)
{
    if (k->off == C(targets))
        return set_string(&c->targets, value);
    /* split at commas, trimming blanks */
    char *copy = strdup(value);
    const char **items = calloc(strlen(value) + 1, sizeof *items);
    if (!copy || !items) {
        free(copy), free(items);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    int n = 0;
    for (char *tok = copy, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = '\0';
        while (*tok == ' ')
            tok++;
        for (char *e = tok + strlen(tok); e > tok && e[-1] == ' ';)
            *--e = '\0';
        items[n++] = tok;
    }
    enum ar_status st = value[0] ? set_labels(c, items, n, err, err_size)
                                 : set_labels(c, items, 0, err, err_size);
    free(items), free(copy);
    return st;
}

static enum ar_status range_error(const struct key *k, double v, char *err, size_t err_size)
{
    if (v >= k->min && v <= k->max)
        return AR_STATUS_OK;
    snprintf(err, err_size, "%s: %g is out of range [%g, %g]", k->name, v, k->min, k->max);
    return AR_STATUS_INVALID_ARGUMENT;
}

/* Stores a number into an int/double/seed slot after the range check. */
static enum ar_status set_number(struct ar_train_config *c, const struct key *k, double v,
                                 bool integral, char *err, size_t err_size)
{
    void *slot = (char *)c + k->off;
    if ((k->kind == K_INT || k->kind == K_SEED) && !integral) {
        snprintf(err, err_size, "%s: expected an integer, got %g", k->name, v);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (k->kind == K_SEED) {
        if (v < 0 || v > 9007199254740992.0) { /* 2^53: exact in a double and in JSON */
            snprintf(err, err_size, "seed: %g is out of range [0, 2^53]", v);
            return AR_STATUS_INVALID_ARGUMENT;
        }
        *(uint64_t *)slot = (uint64_t)v;
        return AR_STATUS_OK;
    }
    enum ar_status st = range_error(k, v, err, err_size);
    if (st != AR_STATUS_OK)
        return st;
    if (k->kind == K_INT)
        *(int *)slot = (int)v;
    else if (k->kind == K_FLOAT)
        *(float *)slot = (float)v;
    else
        *(double *)slot = v;
    return AR_STATUS_OK;
}

static enum ar_status set_enum(struct ar_train_config *c, const struct key *k, const char *v,
                               char *err, size_t err_size)
{
    void *slot = (char *)c + k->off;
    bool ok = k->kind == K_SCHEDULE ? ar_lr_schedule_parse(v, (enum ar_lr_schedule *)slot)
                                    : ar_eval_metric_parse(v, (enum ar_eval_metric *)slot);
    if (!ok)
        snprintf(err, err_size, "%s: unknown value \"%s\" (%s)", k->name, v,
                 k->kind == K_SCHEDULE ? "linear, cosine or constant"
                                       : "loss, accuracy, f1 or mcc");
    return ok ? AR_STATUS_OK : AR_STATUS_INVALID_ARGUMENT;
}

enum ar_status ar_train_config_set(struct ar_train_config *c, const char *name, const char *value,
                                   char *err, size_t err_size)
{
    const struct key *k = find_key(name);
    if (!k) {
        snprintf(err, err_size, "unknown key \"%s\"", name);
        return AR_STATUS_NOT_FOUND;
    }
    mark_given(c, k);
    switch (k->kind) {
    case K_STRING:
    case K_PATH: /* "" unsets, like null in a file: --test "" drops a configured test file */
        return set_string((char **)((char *)c + k->off), value[0] ? value : NULL);
    case K_LIST:
        return set_list_text(c, k, value, err, err_size);
    case K_SCHEDULE:
    case K_METRIC:
        return set_enum(c, k, value, err, err_size);
    case K_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
            *(bool *)((char *)c + k->off) = true;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
            *(bool *)((char *)c + k->off) = false;
        else {
            snprintf(err, err_size, "%s: expected true or false, got \"%s\"", k->name, value);
            return AR_STATUS_INVALID_ARGUMENT;
        }
        return AR_STATUS_OK;
    default: {
        char *end;
        errno = 0;
        double v = ar__json_strtod(value, &end);
        if (end == value || *end || errno == ERANGE || !isfinite(v)) {
            snprintf(err, err_size, "%s: expected a number, got \"%s\"", k->name, value);
            return AR_STATUS_INVALID_ARGUMENT;
        }
        return set_number(c, k, v, v == floor(v), err, err_size);
    }
    }
}

/* ---- the JSON file ------------------------------------------------------------------------- */

static const char *json_type_name(const struct ar__json_node *n)
{
    static const char *const names[] = {"null",   "false", "true",  "a number",
                                        "a string", "an array", "an object"};
    return names[n->type];
}

/* dir + "/" + path for a relative path; a copy otherwise. */
static char *resolve(const char *dir, const char *path)
{
    if (path[0] == '/' || !dir[0])
        return strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", dir, path);
    return out;
}

static enum ar_status set_json(struct ar_train_config *c, const struct key *k,
                               const struct ar__json_node *v, const char *dir, char *err,
                               size_t err_size)
{
    const char *want = NULL;
    switch (k->kind) {
    case K_STRING:
    case K_PATH:
        if (v->type == AR__JSON_NULL)
            return set_string((char **)((char *)c + k->off), NULL);
        if (v->type != AR__JSON_STRING) {
            want = "a string or null";
            break;
        }
        if (k->kind == K_PATH) {
            char *p = resolve(dir, v->str);
            if (!p)
                return AR_STATUS_OUT_OF_MEMORY;
            free(*(char **)((char *)c + k->off));
            *(char **)((char *)c + k->off) = p;
            return AR_STATUS_OK;
        }
        return set_string((char **)((char *)c + k->off), v->str);
    case K_INT:
    case K_DOUBLE:
    case K_FLOAT:
    case K_SEED:
        if (v->type != AR__JSON_NUMBER) {
            want = "a number";
            break;
        }
        return set_number(c, k, v->num, v->num == floor(v->num), err, err_size);
    case K_BOOL:
        if (v->type != AR__JSON_TRUE && v->type != AR__JSON_FALSE) {
            want = "true or false";
            break;
        }
        *(bool *)((char *)c + k->off) = v->type == AR__JSON_TRUE;
        return AR_STATUS_OK;
    case K_SCHEDULE:
    case K_METRIC:
        if (v->type != AR__JSON_STRING) {
            want = "a string";
            break;
        }
        return set_enum(c, k, v->str, err, err_size);
    case K_LIST:
        if (v->type == AR__JSON_STRING)
            return set_list_text(c, k, v->str, err, err_size);
        if (v->type == AR__JSON_NULL && k->off == C(labels))
            return set_labels(c, NULL, 0, err, err_size);
        if (v->type != AR__JSON_ARRAY) {
            want = "a string or an array of strings";
            break;
        }
        for (size_t i = 0; i < v->count; i++)
            if (v->items[i]->type != AR__JSON_STRING) {
                snprintf(err, err_size, "%s: item %zu: expected a string, got %s", k->name, i + 1,
                         json_type_name(v->items[i]));
                return AR_STATUS_INVALID_ARGUMENT;
            }
        if (k->off == C(labels)) {
            const char **items = calloc(v->count + 1, sizeof *items);
            if (!items)
                return AR_STATUS_OUT_OF_MEMORY;
            for (size_t i = 0; i < v->count; i++)
                items[i] = v->items[i]->str;
            enum ar_status st = set_labels(c, items, (int)v->count, err, err_size);
            free(items);
            return st;
        }
        struct ar__json_buf b = {0}; /* targets: joined with commas */
        for (size_t i = 0; i < v->count; i++) {
            if (i)
                ar__json_put(&b, ",");
            ar__json_put(&b, v->items[i]->str);
        }
        enum ar_status st = b.oom ? AR_STATUS_OUT_OF_MEMORY
                                  : set_string(&c->targets, b.data ? b.data : "");
        ar__json_buf_free(&b);
        return st;
    }
    snprintf(err, err_size, "%s: expected %s, got %s", k->name, want, json_type_name(v));
    return AR_STATUS_INVALID_ARGUMENT;
}

enum ar_status ar_train_config_load(struct ar_train_config *c, const char *path, char *err,
                                    size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? AR_STATUS_NOT_FOUND : AR_STATUS_IO;
    }
    fclose(f);
    struct ar__json_doc *doc = ar__json_parse_file(path, err, err_size);
    if (!doc)
        return AR_STATUS_BAD_FORMAT;
    const struct ar__json_node *root = ar__json_root(doc);
    enum ar_status st = AR_STATUS_OK;
    const char *dup = NULL;
    if (root->type != AR__JSON_OBJECT) {
        snprintf(err, err_size, "%s: expected a JSON object at the top, got %s", path,
                 json_type_name(root));
        st = AR_STATUS_BAD_FORMAT;
    } else if (ar__json_has_duplicate_keys(root, &dup)) {
        snprintf(err, err_size, "%s: key \"%s\" appears twice", path, dup);
        st = AR_STATUS_BAD_FORMAT;
    }
    char *dir = strdup(path);
    if (!dir)
        st = AR_STATUS_OUT_OF_MEMORY;
    else {
        char *slash = strrchr(dir, '/');
        if (slash)
            slash[slash == dir ? 1 : 0] = '\0';
        else
            dir[0] = '\0';
    }
    for (size_t i = 0; st == AR_STATUS_OK && i < root->count; i++) {
        const struct key *k = find_key(root->keys[i]);
        char why[512] = "";
        if (!k) {
            snprintf(err, err_size,
                     "%s: unknown key \"%s\" (the keys are listed by `adarank-cl train --help`)",
                     path, root->keys[i]);
            st = AR_STATUS_BAD_FORMAT;
            break;
        }
        mark_given(c, k);
        if ((st = set_json(c, k, root->items[i], dir, why, sizeof why)) != AR_STATUS_OK) {
            snprintf(err, err_size, "%s: %s", path, why[0] ? why : "out of memory");
            if (st != AR_STATUS_OUT_OF_MEMORY)
                st = AR_STATUS_BAD_FORMAT;
        }
    }
    free(dir);
    ar__json_free(doc);
    return st;
}

char *ar_train_config_to_json(const struct ar_train_config *c, bool pretty)
{
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        const void *slot = (const char *)c + k->off;
        ar__json_put(&b, i ? (pretty ? ",\n  " : ", ") : (pretty ? "\n  " : ""));
        ar__json_write_string(&b, k->name);
        ar__json_put(&b, ": ");
        char num[64];
        switch (k->kind) {
        case K_STRING:
        case K_PATH:
            if (*(char *const *)slot)
                ar__json_write_string(&b, *(char *const *)slot);
            else
                ar__json_put(&b, "null");
            break;
        case K_INT:
            ar__json_write_int(&b, *(const int *)slot);
            break;
        case K_SEED:
            ar__json_write_int(&b, (int64_t) * (const uint64_t *)slot);
            break;
        case K_DOUBLE:
            ar__json_format_double(num, sizeof num, "%.10g", *(const double *)slot);
            ar__json_put(&b, num);
            break;
        case K_FLOAT: /* 9 digits: a float reads back exactly */
            ar__json_format_double(num, sizeof num, "%.9g", *(const float *)slot);
            ar__json_put(&b, num);
            break;
        case K_BOOL:
            ar__json_put(&b, *(const bool *)slot ? "true" : "false");
            break;
        case K_SCHEDULE:
            ar__json_write_string(&b, ar_lr_schedule_name(*(const enum ar_lr_schedule *)slot));
            break;
        case K_METRIC:
            ar__json_write_string(&b, ar_eval_metric_name(*(const enum ar_eval_metric *)slot));
            break;
        case K_LIST:
            if (k->off == C(targets)) {
                ar__json_write_string(&b, c->targets ? c->targets : "");
            } else if (!c->labels) {
                ar__json_put(&b, "null");
            } else {
                ar__json_put(&b, "[");
                for (int j = 0; j < c->label_count; j++) {
                    ar__json_put(&b, j ? ", " : "");
                    ar__json_write_string(&b, c->labels[j]);
                }
                ar__json_put(&b, "]");
            }
            break;
        }
    }
    ar__json_put(&b, pretty ? "\n}\n" : "}");
    if (b.oom) {
        ar__json_buf_free(&b);
        return NULL;
    }
    return b.data;
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
