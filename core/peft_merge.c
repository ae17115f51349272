/* ar_peft_merge: a PEFT LoRA adapter folded into its base checkpoint (peft_merge.h).
 *
 * The fold W' = W + s_m·B·A runs on the host in double: a file conversion that needs no device,
 * whose cost (out·in·r per module, r ≤ a few dozen) is far below reading the checkpoint. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adarank/peft.h"
#include "adarank/peft_merge.h"
#include "adarank/safetensors.h"
#include "json.h"

#define PEFT_PREFIX "base_model.model."

struct out_tensor {
    char *name;
    int ndim;
    int64_t shape[AR_ST_MAX_DIMS];
    size_t count;
    float *data;
};

struct merge {
    struct ar_safetensors *base, *adapter;
    struct ar__json_doc *cfg;
    struct out_tensor *t;
    size_t n, cap;
    char prefix[64]; /* what module paths have and base names lack, e.g. "bert." */
    char *err;
    size_t err_size;
};

static enum ar_status fail(struct merge *m, enum ar_status st, const char *fmt, const char *a,
                           const char *b)
{
    snprintf(m->err, m->err_size, fmt, a, b);
    return st;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* ---- the base's tensors ---------------------------------------------------------------------- */

static enum ar_status add_tensor(struct merge *m, const char *name, const struct ar_st_tensor *t)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        struct out_tensor *grown = realloc(m->t, cap * sizeof *grown);
        if (!grown)
            return AR_STATUS_OUT_OF_MEMORY;
        m->t = grown, m->cap = cap;
    }
    struct out_tensor *o = &m->t[m->n];
    *o = (struct out_tensor){.ndim = t->ndim, .count = t->count};
    memcpy(o->shape, t->shape, sizeof o->shape);
    o->name = strdup(name);
    o->data = malloc((t->count ? t->count : 1) * sizeof *o->data);
    if (!o->name || !o->data) {
        free(o->name), free(o->data);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    m->n++;
    return ar_safetensors_read_f32(t, o->data, t->count, m->err, m->err_size);
}

static struct out_tensor *find_out(struct merge *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, name))
            return &m->t[i];
    return NULL;
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

/* Output name of base tensor `name`: the module paths' prefix in front, except for the task
 * head, which a sequence-classification class keeps at the top level. */
static void out_name(const struct merge *m, const char *name, char *buf, size_t size)
{
    bool top = !strncmp(name, "classifier.", 11) || !strncmp(name, m->prefix, strlen(m->prefix));
    snprintf(buf, size, "%s%s", top ? "" : m->prefix, name);
}

/* ---- the fold ------------------------------------------------------------------------------- */

/* PEFT's scale of a module of rank r: alpha_pattern or lora_alpha over r (or sqrt r). */
static double module_scale(const struct ar__json_node *cfg, const char *name, int r)
{
    double alpha = 8;
    bool rs = false;
    ar__json_as_double(ar__json_get(cfg, "lora_alpha"), &alpha);
    ar__json_as_bool(ar__json_get(cfg, "use_rslora"), &rs);
    const struct ar__json_node *ap = ar__json_get(cfg, "alpha_pattern");
    for (size_t i = 0; ap && ap->type == AR__JSON_OBJECT && i < ap->count; i++) {
        size_t n = strlen(name), k = strlen(ap->keys[i]);
        if (n >= k && !strcmp(name + n - k, ap->keys[i]) && (n == k || name[n - k - 1] == '.'))
            ar__json_as_double(ap->items[i], &alpha);
    }
    return rs ? alpha / sqrt((double)r) : alpha / r;
}

static enum ar_status fold_module(struct merge *m, const char *module,
                                  const struct ar_st_tensor *ta, const struct ar_st_tensor *tb)
{
    char wname[600], oname[700];
    if (!base_weight(m, module, wname, sizeof wname))
        return fail(m, AR_STATUS_NOT_FOUND, "the base has no weight for adapted module %s%s",
                    module, "");
    out_name(m, wname, oname, sizeof oname);
    struct out_tensor *w = find_out(m, oname);
    int64_t r = ta->shape[0], in = ta->shape[1], out = tb->shape[0];
    if (!w || w->ndim != 2 || ta->ndim != 2 || tb->ndim != 2 || tb->shape[1] != r ||
        w->shape[0] != out || w->shape[1] != in)
        return fail(m, AR_STATUS_SHAPE_MISMATCH,
                    "module %s: lora_A/lora_B do not fit the base weight %s", module, wname);
    float *a = malloc((size_t)(r * in + 1) * sizeof *a), *b = malloc((size_t)(out * r + 1) * 4);
    enum ar_status st = a && b ? AR_STATUS_OK : AR_STATUS_OUT_OF_MEMORY;
    if (st == AR_STATUS_OK)
        st = ar_safetensors_read_f32(ta, a, ta->count, m->err, m->err_size);
    if (st == AR_STATUS_OK)
        st = ar_safetensors_read_f32(tb, b, tb->count, m->err, m->err_size);
    double s = module_scale(ar__json_root(m->cfg), module, (int)r);
    for (int64_t o = 0; st == AR_STATUS_OK && o < out; o++)
        for (int64_t i = 0; i < in; i++) {
            double acc = 0; /* (B·A)[o][i] */
            for (int64_t j = 0; j < r; j++)
                acc += (double)b[o * r + j] * (double)a[j * in + i];
            w->data[o * in + i] = (float)((double)w->data[o * in + i] + s * acc);
        }
    free(a), free(b);
    return st;
}

/* Every lora_A/lora_B pair folded; every other adapter tensor (the saved head) copied over. */
static enum ar_status apply_adapter(struct merge *m)
{
    static const char suffix[] = ".lora_A.weight";
    enum ar_status st = AR_STATUS_OK;
    for (size_t i = 0; st == AR_STATUS_OK && i < ar_safetensors_count(m->adapter); i++) {
        const struct ar_st_tensor *t = ar_safetensors_at(m->adapter, i);
        if (strncmp(t->name, PEFT_PREFIX, sizeof PEFT_PREFIX - 1))
            return fail(m, AR_STATUS_BAD_FORMAT, "adapter tensor %s: expected the prefix %s",
                        t->name, PEFT_PREFIX);
        const char *name = t->name + sizeof PEFT_PREFIX - 1;
        if (ends_with(name, ".lora_B.weight"))
            continue; /* with its lora_A */
        if (!ends_with(name, suffix))
            continue; /* saved modules: after the fold, so the prefix is known */
        char module[512], bname[700];
        snprintf(module, sizeof module, "%.*s", (int)(strlen(name) - sizeof suffix + 1), name);
        snprintf(bname, sizeof bname, PEFT_PREFIX "%s.lora_B.weight", module);
        const struct ar_st_tensor *tb = ar_safetensors_find(m->adapter, bname);
        if (!tb)
            return fail(m, AR_STATUS_BAD_FORMAT, "adapter: %s has no %s", t->name, bname);
        st = fold_module(m, module, t, tb);
    }
    for (size_t i = 0; st == AR_STATUS_OK && i < ar_safetensors_count(m->adapter); i++) {
        const struct ar_st_tensor *t = ar_safetensors_at(m->adapter, i);
        const char *name = t->name + sizeof PEFT_PREFIX - 1;
        if (ends_with(name, ".lora_A.weight") || ends_with(name, ".lora_B.weight"))
            continue;
        struct out_tensor *old = find_out(m, name);
        if (old) { /* a saved module replaces the base's (a head the base already had) */
            free(old->name), free(old->data);
            *old = m->t[--m->n];
        }
        st = add_tensor(m, name, t);
    }
    return st;
}

/* ---- files ------------------------------------------------------------------------------------ */

static void put_node(struct ar__json_buf *b, const struct ar__json_node *n, int depth);

static void put_object_member(struct ar__json_buf *b, const char *key,
                              const struct ar__json_node *v, int depth)
{
    ar__json_put(b, ",\n");
    for (int i = 0; i <= depth; i++)
        ar__json_put(b, "  ");
    ar__json_write_string(b, key);
    ar__json_put(b, ": ");
    put_node(b, v, depth + 1);
}

static void put_node(struct ar__json_buf *b, const struct ar__json_node *n, int depth)
{
    char num[64];
    switch (n->type) {
    case AR__JSON_NULL:
        ar__json_put(b, "null");
        break;
    case AR__JSON_FALSE:
        ar__json_put(b, "false");
        break;
    case AR__JSON_TRUE:
        ar__json_put(b, "true");
        break;
    case AR__JSON_NUMBER:
        if (n->is_int)
            ar__json_write_int(b, n->i64);
        else { /* the shortest of 15..17 digits that reads back to the same double */
            for (int digits = 15; digits <= 17; digits++) {
                char fmt[8];
                snprintf(fmt, sizeof fmt, "%%.%dg", digits);
                ar__json_format_double(num, sizeof num, fmt, n->num);
                if (strtod(num, NULL) == n->num)
                    break;
            }
            ar__json_put(b, num);
        }
        break;
    case AR__JSON_STRING:
        ar__json_write_string_n(b, n->str, n->len);
        break;
    case AR__JSON_ARRAY:
        ar__json_put(b, "[");
        for (size_t i = 0; i < n->count; i++) {
            ar__json_put(b, i ? ", " : "");
            put_node(b, n->items[i], depth + 1);
        }
        ar__json_put(b, "]");
        break;
    case AR__JSON_OBJECT:
        ar__json_put(b, "{");
        for (size_t i = 0; i < n->count; i++) {
            ar__json_put(b, i ? ",\n" : "\n");
            for (int k = 0; k <= depth; k++)
                ar__json_put(b, "  ");
            ar__json_write_string(b, n->keys[i]);
            ar__json_put(b, ": ");
            put_node(b, n->items[i], depth + 1);
        }
        ar__json_put(b, "}");
        break;
    }
}

/* The base's config.json with the head's labels and the task class. */
static enum ar_status write_config(struct merge *m, const char *base_dir, const char *out_dir,
                                   const char *const *labels, int n_labels)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", base_dir);
    struct ar__json_doc *doc = ar__json_parse_file(path, m->err, m->err_size);
    if (!doc)
        return AR_STATUS_BAD_FORMAT;
    const struct ar__json_node *root = ar__json_root(doc);
    struct out_tensor *head = find_out(m, "classifier.weight");
    if (!head)
        head = find_out(m, "classifier.out_proj.weight");
    int k = head ? (int)head->shape[0] : 0;
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    bool first = true;
    for (size_t i = 0; root->type == AR__JSON_OBJECT && i < root->count; i++) {
        const char *key = root->keys[i];
        if (k && (!strcmp(key, "architectures") || !strcmp(key, "id2label") ||
                  !strcmp(key, "label2id") || !strcmp(key, "num_labels")))
            continue; /* rewritten below */
        if (first) {
            ar__json_put(&b, "\n  ");
            ar__json_write_string(&b, key);
            ar__json_put(&b, ": ");
            put_node(&b, root->items[i], 1);
            first = false;
        } else {
            put_object_member(&b, key, root->items[i], 0);
        }
    }
    if (k) {
        const struct ar__json_node *mt = ar__json_get(root, "model_type");
        const char *task = NULL; /* the adapter's: a TOKEN_CLS head is a token classifier */
        ar__json_as_string(ar__json_get(ar__json_root(m->cfg), "task_type"), &task);
        bool tokens = task && !strcmp(task, "TOKEN_CLS");
        bool roberta = mt && mt->str && !strcmp(mt->str, "roberta");
        const char *arch = roberta ? (tokens ? "RobertaForTokenClassification"
                                             : "RobertaForSequenceClassification")
                                   : (tokens ? "BertForTokenClassification"
                                             : "BertForSequenceClassification");
        ar__json_put(&b, first ? "\n  \"architectures\": [" : ",\n  \"architectures\": [");
        ar__json_write_string(&b, arch);
        ar__json_put(&b, "],\n  \"id2label\": {");
        char name[64];
        for (int i = 0; i < k; i++) {
            snprintf(name, sizeof name, "%d", i);
            ar__json_put(&b, i ? ", " : "");
            ar__json_write_string(&b, name);
            ar__json_put(&b, ": ");
            snprintf(name, sizeof name, "LABEL_%d", i);
            ar__json_write_string(&b, labels && i < n_labels ? labels[i] : name);
        }
        ar__json_put(&b, "},\n  \"label2id\": {");
        for (int i = 0; i < k; i++) {
            snprintf(name, sizeof name, "LABEL_%d", i);
            ar__json_put(&b, i ? ", " : "");
            ar__json_write_string(&b, labels && i < n_labels ? labels[i] : name);
            ar__json_put(&b, ": ");
            ar__json_write_int(&b, i);
        }
        ar__json_put(&b, "}");
    }
    ar__json_put(&b, "\n}\n");
    ar__json_free(doc);
    if (b.oom)
        return AR_STATUS_OUT_OF_MEMORY;
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(b.data, 1, b.len, f) == b.len;
    ok = (f && fclose(f) == 0) && ok;
    ar__json_buf_free(&b);
    return ok ? AR_STATUS_OK
              : fail(m, AR_STATUS_IO, "%s: cannot write: %s", path, strerror(errno));
}

static enum ar_status copy_if_present(struct merge *m, const char *from_dir, const char *to_dir,
                                      const char *file)
{
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s/%s", from_dir, file);
    snprintf(to, sizeof to, "%s/%s", to_dir, file);
    FILE *in = fopen(from, "rb");
    if (!in)
        return AR_STATUS_OK;
    FILE *out = fopen(to, "wb");
    bool ok = out != NULL;
    char buf[65536];
    for (size_t n; ok && (n = fread(buf, 1, sizeof buf, in)) > 0;)
        ok = fwrite(buf, 1, n, out) == n;
    ok = !ferror(in) && ok;
    fclose(in);
    ok = (out && fclose(out) == 0) && ok;
    return ok ? AR_STATUS_OK : fail(m, AR_STATUS_IO, "%s: cannot write: %s", to, strerror(errno));
}

static enum ar_status write_weights(struct merge *m, const char *out_dir)
{
    struct ar_st_write_tensor *w = calloc(m->n + 1, sizeof *w);
    if (!w)
        return AR_STATUS_OUT_OF_MEMORY;
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

static enum ar_status load_inputs(struct merge *m, const char *base_dir, const char *adapter_dir)
{
    char path[4096];
    enum ar_status st = ar_safetensors_open(base_dir, &m->base, m->err, m->err_size);
    if (st != AR_STATUS_OK)
        return st;
    snprintf(path, sizeof path, "%s/" AR_PEFT_WEIGHTS_FILE, adapter_dir);
    if ((st = ar_safetensors_open(path, &m->adapter, m->err, m->err_size)) != AR_STATUS_OK)
        return st;
    snprintf(path, sizeof path, "%s/" AR_PEFT_CONFIG_FILE, adapter_dir);
    if (!(m->cfg = ar__json_parse_file(path, m->err, m->err_size)))
        return AR_STATUS_BAD_FORMAT;
    bool fifo = false;
    ar__json_as_bool(ar__json_get(ar__json_root(m->cfg), "fan_in_fan_out"), &fifo);
    if (fifo)
        return fail(m, AR_STATUS_UNSUPPORTED, "%s: fan_in_fan_out adapters (Conv1D) cannot be "
                                              "merged yet%s", path, "");
    /* the prefix first: the first adapted module decides how base names map to module paths */
    for (size_t i = 0; i < ar_safetensors_count(m->adapter); i++) {
        const char *name = ar_safetensors_at(m->adapter, i)->name;
        if (ends_with(name, ".lora_A.weight") && !strncmp(name, PEFT_PREFIX, 17)) {
            char module[512], buf[600];
            snprintf(module, sizeof module, "%.*s", (int)(strlen(name) - 17 - 14), name + 17);
            base_weight(m, module, buf, sizeof buf);
            break;
        }
    }
    for (size_t i = 0; i < ar_safetensors_count(m->base); i++) {
        const struct ar_st_tensor *t = ar_safetensors_at(m->base, i);
        char name[700];
        if (ends_with(t->name, "position_ids"))
            continue; /* an integer buffer the model classes rebuild themselves */
        out_name(m, t->name, name, sizeof name);
        if ((st = add_tensor(m, name, t)) != AR_STATUS_OK)
            return st;
    }
    return AR_STATUS_OK;
}

enum ar_status ar_peft_merge(const char *base_dir, const char *adapter_dir, const char *out_dir,
                             const char *const *labels, int n_labels, char *err, size_t err_size)
{
    struct merge m = {.err = err, .err_size = err_size};
    err[0] = '\0';
    enum ar_status st = load_inputs(&m, base_dir, adapter_dir);
    if (st == AR_STATUS_OK)
        st = apply_adapter(&m);
    if (st == AR_STATUS_OK && mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        st = fail(&m, AR_STATUS_IO, "%s: cannot create: %s", out_dir, strerror(errno));
    if (st == AR_STATUS_OK)
        st = write_weights(&m, out_dir);
    if (st == AR_STATUS_OK)
        st = write_config(&m, base_dir, out_dir, labels, n_labels);
    static const char *const copies[] = {"tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                         "special_tokens_map.json"};
    for (size_t i = 0; st == AR_STATUS_OK && i < sizeof copies / sizeof copies[0]; i++)
        st = copy_if_present(&m, base_dir, out_dir, copies[i]);
    if (st == AR_STATUS_OUT_OF_MEMORY && !err[0])
        snprintf(err, err_size, "out of memory");
    for (size_t i = 0; i < m.n; i++)
        free(m.t[i].name), free(m.t[i].data);
    free(m.t);
    ar__json_free(m.cfg);
    ar_safetensors_free(m.adapter);
    ar_safetensors_free(m.base);
    return st;
}
