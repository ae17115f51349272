/* PEFT LoRA adapter export (see include/adarank/peft.h for the format and the scale rule). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adarank/peft.h"
#include "adarank/safetensors.h"
#include "atomic_file.h"
#include "json.h"

/* PEFT's rank divisor: r, or sqrt(r) with rsLoRA (Kalajdzievski 2023). */
static double rank_divisor(int r, bool rslora)
{
    return rslora ? sqrt((double)r) : (double)r;
}

static enum ar_status check_adapter(const struct ar_peft_adapter *a, char *err, size_t err_size)
{
    int kept = 0;
    for (int i = 0; i < a->n_modules; i++) {
        const struct ar_peft_module *m = &a->modules[i];
        if (!m->name || !*m->name || m->rank < 0 || m->in <= 0 || m->out <= 0) {
            snprintf(err, err_size, "PEFT export: module %d: needs a name, rank >= 0, in, out > 0",
                     i);
            return AR_STATUS_INVALID_ARGUMENT;
        }
        for (int j = 0; j < i; j++) {
            if (!strcmp(a->modules[j].name, m->name)) {
                snprintf(err, err_size, "PEFT export: module \"%s\" is listed twice", m->name);
                return AR_STATUS_INVALID_ARGUMENT;
            }
        }
        if (m->rank == 0) continue;
        kept++;
        if (!m->a || !m->b || !isfinite(m->scale) || m->scale == 0) {
            snprintf(err, err_size, "PEFT export: module \"%s\": missing A/B or a zero scale",
                     m->name);
            return AR_STATUS_INVALID_ARGUMENT;
        }
    }
    if (kept == 0) {
        snprintf(err, err_size,
                 "PEFT export: every module has rank 0: there is no adapter to "
                 "save (PEFT's LoRA needs at least one target module)");
        return AR_STATUS_INVALID_ARGUMENT;
    }
    for (int i = 0; i < a->n_tensors; i++) {
        const struct ar_peft_tensor *t = &a->tensors[i];
        if (!t->name || !t->data || t->ndim < 1 || t->ndim > 2 || t->shape[0] <= 0 ||
            (t->ndim == 2 && t->shape[1] <= 0)) {
            snprintf(err, err_size,
                     "PEFT export: tensor %d: needs a name, data and a 1-D or 2-D "
                     "shape",
                     i);
            return AR_STATUS_INVALID_ARGUMENT;
        }
    }
    return AR_STATUS_OK;
}

/* The most common kept rank (ties: the larger), which leaves the fewest rank_pattern entries. */
static int common_rank(const struct ar_peft_adapter *a)
{
    int best = 0, best_count = 0;
    for (int i = 0; i < a->n_modules; i++) {
        int r = a->modules[i].rank, count = 0;
        if (r == 0) continue;
        for (int j = 0; j < a->n_modules; j++)
            count += a->modules[j].rank == r;
        if (count > best_count || (count == best_count && r > best)) best = r, best_count = count;
    }
    return best;
}

static double choose_alpha(const struct ar_peft_adapter *a, int r)
{
    const struct ar_peft_module *pick = NULL;
    for (int i = 0; i < a->n_modules && !pick; i++)
        if (a->modules[i].rank == r) pick = &a->modules[i];
    for (int i = 0; i < a->n_modules && !pick; i++)
        if (a->modules[i].rank > 0) pick = &a->modules[i];
    return pick->scale * rank_divisor(r, a->use_rslora);
}

/* "bert.encoder.layer.3.attention.self.query" -> "attention.self.query" (after the layer number);
 * names without a numeric component are their own suffix. */
static const char *in_layer_suffix(const char *name)
{
    const char *p = name;
    while (*p) {
        const char *end = strchr(p, '.');
        if (!end) break;
        bool digits = end > p;
        for (const char *q = p; q < end; q++)
            digits = digits && *q >= '0' && *q <= '9';
        if (digits) return end + 1;
        p = end + 1;
    }
    return name;
}

static bool name_has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n == s ? !strcmp(name, suffix)
                  : n > s && name[n - s - 1] == '.' && !strcmp(name + n - s, suffix);
}

/* A suffix targets exactly our kept modules with it when no pruned module of ours matches it. */
static bool suffix_is_exact(const struct ar_peft_adapter *a, const char *suffix)
{
    for (int i = 0; i < a->n_modules; i++)
        if (a->modules[i].rank == 0 && name_has_suffix(a->modules[i].name, suffix)) return false;
    return true;
}

static void put_target_modules(struct ar__json_buf *b, const struct ar_peft_adapter *a)
{
    ar__json_write_key(b, "target_modules");
    ar__json_put(b, "[");
    for (int i = 0; i < a->n_modules; i++) {
        const struct ar_peft_module *m = &a->modules[i];
        if (m->rank == 0) continue;
        const char *suffix = in_layer_suffix(m->name);
        const char *target = !a->full_target_names && suffix_is_exact(a, suffix) ? suffix : m->name;
        bool seen = false; /* a suffix is written once, at its first module */
        for (int j = 0; j < i && !seen; j++) {
            const struct ar_peft_module *o = &a->modules[j];
            seen = o->rank > 0 && target == suffix && !strcmp(in_layer_suffix(o->name), suffix);
        }
        if (seen) continue;
        ar__json_comma(b);
        ar__json_write_string(b, target);
    }
    ar__json_put(b, "]");
}

static void put_patterns(struct ar__json_buf *b, const struct ar_peft_adapter *a, int r,
                         double alpha)
{
    ar__json_write_key(b, "rank_pattern");
    ar__json_put(b, "{");
    for (int i = 0; i < a->n_modules; i++) {
        if (a->modules[i].rank > 0 && a->modules[i].rank != r) {
            ar__json_write_key(b, a->modules[i].name);
            ar__json_write_int(b, a->modules[i].rank);
        }
    }
    ar__json_put(b, "}");
    ar__json_write_key(b, "alpha_pattern");
    ar__json_put(b, "{");
    for (int i = 0; i < a->n_modules; i++) {
        const struct ar_peft_module *m = &a->modules[i];
        if (m->rank == 0) continue;
        double div = rank_divisor(m->rank, a->use_rslora);
        if (alpha / div == m->scale) continue;
        ar__json_write_key(b, m->name);
        ar__json_write_double(b, m->scale * div);
    }
    ar__json_put(b, "}");
}

static void put_bool(struct ar__json_buf *b, const char *key, bool v)
{
    ar__json_write_key(b, key);
    ar__json_put(b, v ? "true" : "false");
}

static void put_config(struct ar__json_buf *b, const struct ar_peft_adapter *a, int r, double alpha,
                       const char *const *save, int n_save)
{
    ar__json_put(b, "{");
    ar__json_write_key(b, "peft_type");
    ar__json_write_string(b, "LORA");
    ar__json_write_key(b, "task_type");
    if (a->task_type)
        ar__json_write_string(b, a->task_type);
    else
        ar__json_put(b, "null");
    ar__json_write_key(b, "base_model_name_or_path");
    ar__json_write_string(b, a->base_model ? a->base_model : "");
    ar__json_write_key(b, "r");
    ar__json_write_int(b, r);
    ar__json_write_key(b, "lora_alpha");
    ar__json_write_double(b, alpha);
    ar__json_write_key(b, "lora_dropout");
    ar__json_put(b, "0.0");
    put_target_modules(b, a);
    put_patterns(b, a, r, alpha);
    ar__json_write_key(b, "modules_to_save");
    if (n_save > 0) {
        ar__json_put(b, "[");
        for (int i = 0; i < n_save; i++) {
            ar__json_comma(b);
            ar__json_write_string(b, save[i]);
        }
        ar__json_put(b, "]");
    } else {
        ar__json_put(b, "null");
    }
    ar__json_write_key(b, "bias");
    ar__json_write_string(b, "none");
    put_bool(b, "fan_in_fan_out", a->fan_in_fan_out);
    put_bool(b, "inference_mode", true);
    put_bool(b, "use_rslora", a->use_rslora);
    put_bool(b, "init_lora_weights", true);
    ar__json_write_key(b, "layers_to_transform");
    ar__json_put(b, "null");
    ar__json_write_key(b, "layers_pattern");
    ar__json_put(b, "null");
    ar__json_write_key(b, "revision");
    ar__json_put(b, "null");
    ar__json_put(b, "}\n");
}

static void put_state(struct ar__json_buf *b, const struct ar_peft_adapter *a)
{
    ar__json_put(b, "{");
    ar__json_write_key(b, "format");
    ar__json_write_string(b, "adarank-peft-state");
    ar__json_write_key(b, "version");
    ar__json_write_int(b, 1);
    ar__json_write_key(b, "method");
    ar__json_write_string(b, a->method ? a->method : "");
    ar__json_write_key(b, "modules");
    ar__json_put(b, "[");
    for (int i = 0; i < a->n_modules; i++) {
        const struct ar_peft_module *m = &a->modules[i];
        ar__json_comma(b);
        ar__json_put(b, "{");
        ar__json_write_key(b, "name");
        ar__json_write_string(b, m->name);
        ar__json_write_key(b, "rank");
        ar__json_write_int(b, m->rank);
        ar__json_write_key(b, "scale");
        ar__json_write_double(b, m->scale);
        ar__json_put(b, "}");
    }
    ar__json_put(b, "]");
    ar__json_write_key(b, "state");
    ar__json_put(b, a->state_json ? a->state_json : "{}");
    ar__json_put(b, "}\n");
}

static enum ar_status write_weights(const char *path, const struct ar_peft_adapter *a, char *err,
                                    size_t err_size)
{
    size_t n = 0, cap = 2 * (size_t)a->n_modules + (size_t)a->n_tensors;
    struct ar_st_write_tensor *t = calloc(cap ? cap : 1, sizeof *t);
    char **names = calloc(cap ? cap : 1, sizeof *names);
    enum ar_status st = AR_STATUS_OK;
    if (!t || !names) {
        st = AR_STATUS_OUT_OF_MEMORY;
        goto done;
    }
    for (int i = 0; i < a->n_modules + a->n_tensors; i++) {
        bool module = i < a->n_modules;
        const struct ar_peft_module *m = module ? &a->modules[i] : NULL;
        if (module && m->rank == 0) continue;
        for (int k = 0; k < (module ? 2 : 1); k++) {
            const char *base = module ? m->name : a->tensors[i - a->n_modules].name;
            size_t len = strlen(base) + 48;
            if (!(names[n] = malloc(len))) {
                st = AR_STATUS_OUT_OF_MEMORY;
                goto done;
            }
            if (module) {
                snprintf(names[n], len, "base_model.model.%s.lora_%c.weight", base, k ? 'B' : 'A');
                t[n] = (struct ar_st_write_tensor){names[n], 2, {0}, k ? m->b : m->a};
                t[n].shape[0] = k ? m->out : m->rank; /* A (r, in), B (out, r) */
                t[n].shape[1] = k ? m->rank : m->in;
            } else {
                const struct ar_peft_tensor *h = &a->tensors[i - a->n_modules];
                snprintf(names[n], len, "base_model.model.%s", base);
                t[n] = (struct ar_st_write_tensor){
                    names[n], h->ndim, {h->shape[0], h->shape[1]}, h->data};
            }
            n++;
        }
    }
    st = ar_safetensors_write(path, t, n, NULL, 0, err, err_size);
done:
    if (st == AR_STATUS_OUT_OF_MEMORY) snprintf(err, err_size, "PEFT export: out of memory");
    for (size_t i = 0; names && i < cap; i++)
        free(names[i]);
    free(names);
    free(t);
    return st;
}

static enum ar_status check_state_json(const char *json, char *err, size_t err_size)
{
    if (!json) return AR_STATUS_OK;
    char perr[256];
    struct ar__json_doc *doc = ar__json_parse(json, strlen(json), perr, sizeof perr);
    bool ok = doc && ar__json_root(doc)->type == AR__JSON_OBJECT;
    ar__json_free(doc);
    if (!ok) {
        snprintf(err, err_size, "PEFT export: state_json must be a JSON object%s%s",
                 doc ? "" : ": ", doc ? "" : perr);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    return AR_STATUS_OK;
}

enum ar_status ar_peft_export(const char *dir, const struct ar_peft_adapter *a, char *err,
                              size_t err_size)
{
    if (!dir || !a || a->n_modules < 0 || a->n_tensors < 0 || (a->n_modules && !a->modules)) {
        snprintf(err, err_size, "PEFT export: missing directory or adapter");
        return AR_STATUS_INVALID_ARGUMENT;
    }
    enum ar_status st = check_adapter(a, err, err_size);
    if (st == AR_STATUS_OK) st = check_state_json(a->state_json, err, err_size);
    if (st != AR_STATUS_OK) return st;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "%s: cannot create the directory: %s", dir, strerror(errno));
        return AR_STATUS_IO;
    }
    int r = a->r > 0 ? a->r : common_rank(a);
    double alpha = a->lora_alpha > 0 ? a->lora_alpha : choose_alpha(a, r);
    static const char *const classifier[] = {"classifier"}, *const score[] = {"score"};
    const char *const *save = a->modules_to_save;
    int n_save = a->n_modules_to_save;
    /* GPT2/LlamaForSequenceClassification's head is "score", BERT's and RoBERTa's "classifier" */
    bool decoder_head = a->n_tensors > 0 && a->tensors && !strncmp(a->tensors[0].name, "score.", 6);
    bool head_task = a->task_type && (!strcmp(a->task_type, "SEQ_CLS") ||
                                      !strcmp(a->task_type, "TOKEN_CLS"));
    if (!save && head_task) /* Bert/RobertaForTokenClassification's head is "classifier" too */
        save = decoder_head ? score : classifier, n_save = 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, AR_PEFT_WEIGHTS_FILE);
    if ((st = write_weights(path, a, err, err_size)) != AR_STATUS_OK) return st;
    struct ar__json_buf state = {0}, config = {0};
    put_state(&state, a);
    put_config(&config, a, r, alpha, save, n_save);
    if (state.oom || config.oom) {
        snprintf(err, err_size, "PEFT export: out of memory");
        st = AR_STATUS_OUT_OF_MEMORY;
    }
    snprintf(path, sizeof path, "%s/%s", dir, AR_PEFT_STATE_FILE);
    if (st == AR_STATUS_OK) st = ar__atomic_write(path, state.data, state.len, err, err_size);
    snprintf(path, sizeof path, "%s/%s", dir, AR_PEFT_CONFIG_FILE);
    if (st == AR_STATUS_OK) st = ar__atomic_write(path, config.data, config.len, err, err_size);
    ar__json_buf_free(&state);
    ar__json_buf_free(&config);
    return st;
}
