/* ar_peft_merge: a PEFT LoRA adapter folded into its base checkpoint (peft_merge.h).
 *
 * The adapter is read with ar_peft_adapter_read (peft_import.c), which checks it and gives every
 * module its rank and PEFT's scale s_m. The fold W' = W + s_m·B·A runs on the host in double: a
 * file conversion that needs no device, whose cost (out·in·r per module, r ≤ a few dozen) is far
 * below reading the checkpoint. config.json and the tokenizer files are peft_merge_config.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adarank/peft.h"
#include "adarank/peft_merge.h"
#include "adarank/safetensors.h"
#include "internal.h"
#include "peft_merge_internal.h"

struct out_tensor {
    char *name;
    int ndim;
    int64_t shape[AR_ST_MAX_DIMS];
    size_t count;
    float *data;
};

struct merge {
    struct ar_safetensors *base;
    struct ar_peft_adapter *adapter;
    struct ar__json_doc *base_cfg;
    const char *model_type; /* the base config's, "" when it has none */
    const char *task;       /* "SEQ_CLS", "TOKEN_CLS", "CAUSAL_LM", or NULL: unknown */
    struct out_tensor *t;
    size_t n, cap;
    char prefix[64]; /* what module paths have and base names lack, e.g. "bert." */
    char *err;
    size_t err_size;
};

static bool starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static bool is_decoder(const struct merge *m)
{
    return !strcmp(m->model_type, "gpt2") || !strcmp(m->model_type, "llama");
}

/* ---- the output's tensors ------------------------------------------------------------------- */

static struct out_tensor *find_out(struct merge *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, name))
            return &m->t[i];
    return NULL;
}

/* A new output tensor `name` (replacing one of that name) with room for `count` floats. */
static struct out_tensor *new_out(struct merge *m, const char *name, int ndim,
                                  const int64_t *shape, size_t count)
{
    struct out_tensor *old = find_out(m, name);
    if (old) { /* a saved module replaces the base's (a head the base already had) */
        free(old->name), free(old->data);
        *old = m->t[--m->n];
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        struct out_tensor *grown = realloc(m->t, cap * sizeof *grown);
        if (!grown)
            return NULL;
        m->t = grown, m->cap = cap;
    }
    struct out_tensor *o = &m->t[m->n];
    *o = (struct out_tensor){.ndim = ndim, .count = count};
    memcpy(o->shape, shape, (size_t)ndim * sizeof *shape);
    o->name = strdup(name);
    o->data = malloc((count ? count : 1) * sizeof *o->data);
    if (!o->name || !o->data) {
        free(o->name), free(o->data);
        return NULL;
    }
    m->n++;
    return o;
}

/* The base tensor of module path `module` + ".weight": as is, or without leading components
 * ("bert.encoder..." → "encoder..."), which sets the prefix the output names get. */
static const char *base_weight(struct merge *m, const char *module, char *buf, size_t size)
{
    for (const char *p = module; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
        snprintf(buf, size, "%s.weight", p);
        if (ar_safetensors_find(m->base, buf)) {
            if (!m->prefix[0] && p != module)
                snprintf(m->prefix, sizeof m->prefix, "%.*s", (int)(p - module), module);
            return buf;
        }
    }
    return NULL;
}

/* Output name of base tensor `name`: the module paths' prefix in front, except for the tensors
 * a task class keeps at the top level (heads) and names that already have it. */
static void out_name(const struct merge *m, const char *name, char *buf, size_t size)
{
    static const char *const top[] = {"classifier.", "score.", "lm_head."};
    bool keep = starts_with(name, m->prefix);
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        keep = keep || starts_with(name, top[i]);
    snprintf(buf, size, "%s%s", keep ? "" : m->prefix, name);
}

/* Base tensors the merged task class does not have, which transformers would report as
 * unexpected: integer buffers it rebuilds (position_ids), the LM heads under a classifier
 * (BERT's cls.*, RoBERTa's lm_head.*, an untied Llama's lm_head: LlamaForSequenceClassification
 * has none, and ar_model_load reads it only for causal LM), and the pooler where the class has
 * none (BertForTokenClassification and RoBERTa's classes: add_pooling_layer=False). */
static bool dropped(const struct merge *m, const char *name)
{
    if (ends_with(name, "position_ids"))
        return true;
    bool cls = m->task && strcmp(m->task, "CAUSAL_LM");
    if (cls && (starts_with(name, "lm_head.") || starts_with(name, "cls.")))
        return true;
    bool pooler = starts_with(name, "pooler.") || strstr(name, ".pooler.");
    return cls && pooler && (!strcmp(m->task, "TOKEN_CLS") || !strcmp(m->model_type, "roberta"));
}

/* A base tensor of a head the adapter saves: modules_to_save replaces the whole module, so the
 * base's other tensors of it go too (a RoBERTa token classifier merged onto a sequence-
 * classification checkpoint keeps no classifier.dense.* of the old RobertaClassificationHead). */
static bool head_replaced(const struct merge *m, const char *name)
{
    static const char *const heads[] = {"classifier.", "score."};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        for (int j = 0; starts_with(name, heads[i]) && j < m->adapter->n_tensors; j++)
            if (starts_with(m->adapter->tensors[j].name, heads[i]))
                return true;
    return false;
}

static enum ar_status load_base(struct merge *m)
{
    for (size_t i = 0; i < ar_safetensors_count(m->base); i++) {
        const struct ar_st_tensor *t = ar_safetensors_at(m->base, i);
        char name[700];
        out_name(m, t->name, name, sizeof name);
        if (dropped(m, name) || head_replaced(m, name))
            continue;
        struct out_tensor *o = new_out(m, name, t->ndim, t->shape, t->count);
        if (!o)
            return ar__fail_buf(m->err, m->err_size, AR_STATUS_OUT_OF_MEMORY, "tensor %s",
                                t->name);
        enum ar_status st = ar_safetensors_read_f32(t, o->data, t->count, m->err, m->err_size);
        if (st != AR_STATUS_OK)
            return st;
    }
    return AR_STATUS_OK;
}

/* ---- the fold ------------------------------------------------------------------------------- */

/* W += s·B·A for a weight stored (out, in) as nn.Linear does, or W += s·(B·A)ᵀ for GPT-2's
 * Conv1D, stored (in, out): PEFT's fan_in_fan_out. PEFT decides that by the layer's class
 * (it forces fan_in_fan_out on for Conv1D and off for nn.Linear), so it follows from the model
 * type here, not from the adapter's flag. GPT-2's c_attn is one module of out = 3C. */
static enum ar_status fold_module(struct merge *m, const struct ar_peft_module *mod)
{
    char wname[600], oname[700];
    if (!base_weight(m, mod->name, wname, sizeof wname))
        return ar__fail_buf(m->err, m->err_size, AR_STATUS_NOT_FOUND,
                            "the base has no weight for adapted module %s", mod->name);
    out_name(m, wname, oname, sizeof oname);
    struct out_tensor *w = find_out(m, oname);
    bool conv1d = !strcmp(m->model_type, "gpt2");
    int64_t rows = conv1d ? mod->in : mod->out, cols = conv1d ? mod->out : mod->in;
    if (!w || w->ndim != 2 || w->shape[0] != rows || w->shape[1] != cols)
        return ar__fail_buf(m->err, m->err_size, AR_STATUS_SHAPE_MISMATCH,
                            "module %s: lora_A (%d, %d) and lora_B (%d, %d) do not fit the base "
                            "weight %s (%lld, %lld), want (%lld, %lld)%s",
                            mod->name, mod->rank, mod->in, mod->out, mod->rank, wname,
                            w && w->ndim == 2 ? (long long)w->shape[0] : -1LL,
                            w && w->ndim == 2 ? (long long)w->shape[1] : -1LL, (long long)rows,
                            (long long)cols, conv1d ? " (GPT-2 Conv1D: (in, out))" : "");
    int64_t r = mod->rank, in = mod->in;
    for (int64_t o = 0; o < mod->out; o++)
        for (int64_t i = 0; i < in; i++) {
            double acc = 0; /* (B·A)[o][i] */
            for (int64_t j = 0; j < r; j++)
                acc += (double)mod->b[o * r + j] * (double)mod->a[j * in + i];
            float *x = conv1d ? &w->data[i * mod->out + o] : &w->data[o * in + i];
            *x = (float)((double)*x + mod->scale * acc);
        }
    return AR_STATUS_OK;
}

/* Every module folded; every saved tensor (the head, modules_to_save) copied over, at the top
 * level as the task classes keep their heads. */
static enum ar_status apply_adapter(struct merge *m)
{
    const struct ar_peft_adapter *a = m->adapter;
    enum ar_status st = AR_STATUS_OK;
    for (int i = 0; st == AR_STATUS_OK && i < a->n_modules; i++)
        if (a->modules[i].rank > 0)
            st = fold_module(m, &a->modules[i]);
    for (int i = 0; st == AR_STATUS_OK && i < a->n_tensors; i++) {
        const struct ar_peft_tensor *t = &a->tensors[i];
        size_t count = (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
        struct out_tensor *o = new_out(m, t->name, t->ndim, t->shape, count);
        if (!o)
            return ar__fail_buf(m->err, m->err_size, AR_STATUS_OUT_OF_MEMORY, "tensor %s",
                                t->name);
        memcpy(o->data, t->data, count * sizeof *o->data);
    }
    return st;
}

/* ---- the task ----------------------------------------------------------------------------- */

static const struct out_tensor *head_weight(struct merge *m)
{
    static const char *const heads[] = {"classifier.weight", "classifier.out_proj.weight",
                                        "score.weight"};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        const struct out_tensor *t = find_out(m, heads[i]);
        if (t && t->ndim == 2)
            return t;
    }
    return NULL;
}

/* The adapter's task_type; without one, a saved head means sequence classification and a
 * decoder without one causal LM. */
static void resolve_task(struct merge *m)
{
    static const char *const known[] = {"SEQ_CLS", "TOKEN_CLS", "CAUSAL_LM"};
    const char *t = m->adapter->task_type;
    for (size_t i = 0; t && i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(t, known[i]))
            m->task = known[i];
    bool head = ar_peft_adapter_tensor(m->adapter, "classifier.weight") ||
                ar_peft_adapter_tensor(m->adapter, "classifier.out_proj.weight") ||
                ar_peft_adapter_tensor(m->adapter, "score.weight");
    if (!m->task)
        m->task = head ? "SEQ_CLS" : is_decoder(m) ? "CAUSAL_LM" : NULL;
}

/* transformers' class of the merged model; NULL (keep the base's) for other pairs. */
static const char *task_class(const struct merge *m)
{
    static const struct {
        const char *model_type, *task, *cls;
    } table[] = {
        {"bert", "SEQ_CLS", "BertForSequenceClassification"},
        {"bert", "TOKEN_CLS", "BertForTokenClassification"},
        {"roberta", "SEQ_CLS", "RobertaForSequenceClassification"},
        {"roberta", "TOKEN_CLS", "RobertaForTokenClassification"},
        {"gpt2", "SEQ_CLS", "GPT2ForSequenceClassification"},
        {"gpt2", "CAUSAL_LM", "GPT2LMHeadModel"},
        {"llama", "SEQ_CLS", "LlamaForSequenceClassification"},
        {"llama", "CAUSAL_LM", "LlamaForCausalLM"},
    };
    for (size_t i = 0; m->task && i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].model_type, m->model_type) && !strcmp(table[i].task, m->task))
            return table[i].cls;
    return NULL;
}

/* A decoder classifier finds each row's last token by counting the ids that are not
 * pad_token_id, and refuses batches without one; `train` pads decoders with eos when the model
 * has no pad token, so the merged config gets pad_token_id = eos_token_id (its first). */
static int64_t pad_token(const struct merge *m)
{
    const struct ar__json_node *root = ar__json_root(m->base_cfg);
    const struct ar__json_node *pad = ar__json_get(root, "pad_token_id");
    const struct ar__json_node *eos = ar__json_get(root, "eos_token_id");
    if (eos && eos->type == AR__JSON_ARRAY)
        eos = ar__json_at(eos, 0);
    int64_t id = -1;
    if (!is_decoder(m) || strcmp(m->task ? m->task : "", "SEQ_CLS") ||
        (pad && pad->type != AR__JSON_NULL) || !ar__json_as_int(eos, &id))
        return -1;
    return id;
}

/* ---- files ------------------------------------------------------------------------------------ */

static enum ar_status write_weights(struct merge *m, const char *out_dir)
{
    struct ar_st_write_tensor *w = calloc(m->n + 1, sizeof *w);
    if (!w)
        return ar__fail_buf(m->err, m->err_size, AR_STATUS_OUT_OF_MEMORY, "merged tensors");
    for (size_t i = 0; i < m->n; i++) {
        w[i].name = m->t[i].name;
        w[i].ndim = m->t[i].ndim;
        memcpy(w[i].shape, m->t[i].shape, sizeof w[i].shape);
        w[i].data = m->t[i].data;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    static const char *const meta[] = {"adarank", "peft-merged"};
    enum ar_status st = ar_safetensors_write(path, w, m->n, meta, 1, m->err, m->err_size);
    free(w);
    return st;
}

static enum ar_status write_config(struct merge *m, const char *out_dir,
                                   const char *const *labels, int n_labels)
{
    const struct out_tensor *head = m->task && strcmp(m->task, "CAUSAL_LM") ? head_weight(m)
                                                                            : NULL;
    struct ar__merge_config c = {.base = ar__json_root(m->base_cfg),
                                 .architecture = task_class(m),
                                 .num_labels = head ? (int)head->shape[0] : 0,
                                 .labels = labels,
                                 .n_labels = n_labels,
                                 .pad_token_id = pad_token(m)};
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    return ar__peft_merge_write_config(path, &c, m->err, m->err_size);
}

/* Inputs, the task and the output names' prefix (from the first adapted module). */
static enum ar_status open_inputs(struct merge *m, const char *base_dir, const char *adapter_dir)
{
    char path[4096];
    enum ar_status st = ar_safetensors_open(base_dir, &m->base, m->err, m->err_size);
    if (st == AR_STATUS_OK)
        st = ar_peft_adapter_read(adapter_dir, &m->adapter, m->err, m->err_size);
    if (st != AR_STATUS_OK)
        return st;
    snprintf(path, sizeof path, "%s/config.json", base_dir);
    if (!(m->base_cfg = ar__json_parse_file(path, m->err, m->err_size)))
        return AR_STATUS_BAD_FORMAT;
    if (ar__json_root(m->base_cfg)->type != AR__JSON_OBJECT)
        return ar__fail_buf(m->err, m->err_size, AR_STATUS_BAD_FORMAT,
                            "%s: expected a JSON object", path);
    m->model_type = "";
    ar__json_as_string(ar__json_get(ar__json_root(m->base_cfg), "model_type"), &m->model_type);
    resolve_task(m);
    char buf[600];
    for (int i = 0; i < m->adapter->n_modules; i++)
        if (m->adapter->modules[i].rank > 0 &&
            base_weight(m, m->adapter->modules[i].name, buf, sizeof buf))
            break;
    return AR_STATUS_OK;
}

enum ar_status ar_peft_merge(const char *base_dir, const char *adapter_dir, const char *out_dir,
                             const char *const *labels, int n_labels, char *err, size_t err_size)
{
    struct merge m = {.err = err, .err_size = err_size};
    err[0] = '\0';
    enum ar_status st = open_inputs(&m, base_dir, adapter_dir);
    if (st == AR_STATUS_OK)
        st = load_base(&m);
    if (st == AR_STATUS_OK)
        st = apply_adapter(&m);
    if (st == AR_STATUS_OK && mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        st = ar__fail_buf(err, err_size, AR_STATUS_IO, "%s: cannot create: %s", out_dir,
                          strerror(errno));
    if (st == AR_STATUS_OK)
        st = write_weights(&m, out_dir);
    if (st == AR_STATUS_OK)
        st = write_config(&m, out_dir, labels, n_labels);
    if (st == AR_STATUS_OK)
        st = ar__peft_merge_copy_tokenizer(base_dir, out_dir, err, err_size);
    if (st == AR_STATUS_OUT_OF_MEMORY && !err[0])
        snprintf(err, err_size, "out of memory");
    for (size_t i = 0; i < m.n; i++)
        free(m.t[i].name), free(m.t[i].data);
    free(m.t);
    ar__json_free(m.base_cfg);
    ar_peft_adapter_free(m.adapter);
    ar_safetensors_free(m.base);
    return st;
}
