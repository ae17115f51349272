/* Reading a PEFT LoRA adapter folder back (peft.h; the inverse of peft_export.c, FORMATS.md
 * "PEFT adapters"): adapter_config.json and adapter_model.safetensors become the description
 * ar_peft_export takes, each module with the rank and the scale PEFT would give it. Loading the
 * result into a model is core/peft_load.c; questions about it (ranks, targets) peft_query.c's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adarank/peft.h"
#include "adarank/safetensors.h"
#include "internal.h"
#include "json.h"

#define PREFIX "base_model.model."
#define A_SUFFIX ".lora_A.weight"
#define B_SUFFIX ".lora_B.weight"

/* The handle: the public description first, so ar_peft_adapter_free can get back to the rest. */
struct peft_read {
    struct ar_peft_adapter a;
    struct ar__json_doc *doc; /* the strings of the config point into it */
    const struct ar__json_node *rank_pattern, *alpha_pattern;
    struct ar_peft_module *modules;
    struct ar_peft_tensor *tensors;
    const char **to_save;
};

struct read_ctx {
    struct peft_read *r;
    const char *cfg_path, *st_path;
    char *err;
    size_t err_size;
};

void ar_peft_adapter_free(struct ar_peft_adapter *adapter)
{
    if (!adapter)
        return;
    struct peft_read *r = (struct peft_read *)adapter;
    for (int i = 0; i < r->a.n_modules; i++) {
        free((void *)r->modules[i].name);
        free((void *)r->modules[i].a);
        free((void *)r->modules[i].b);
    }
    for (int i = 0; i < r->a.n_tensors; i++) {
        free((void *)r->tensors[i].name);
        free((void *)r->tensors[i].data);
    }
    free(r->modules);
    free(r->tensors);
    free(r->to_save);
    ar__json_free(r->doc);
    free(r);
}

/* ---- adapter_config.json ------------------------------------------------------------------ */

static enum ar_status type_error(struct read_ctx *c, const char *key, const char *want)
{
    return ar__fail_buf(c->err, c->err_size, AR_STATUS_BAD_FORMAT, "%s: %s: expected %s",
                        c->cfg_path, key, want);
}

/* A string member or null/absent (*out NULL). */
static enum ar_status opt_string(struct read_ctx *c, const struct ar__json_node *root,
                                 const char *key, const char **out)
{
    const struct ar__json_node *n = ar__json_get(root, key);
    *out = NULL;
    if (!n || n->type == AR__JSON_NULL || ar__json_as_string(n, out))
        return AR_STATUS_OK;
    return type_error(c, key, "a string or null");
}

/* A {"module": number} object or null/absent; integers ≥ 1 when `ranks`. */
static enum ar_status pattern(struct read_ctx *c, const struct ar__json_node *root,
                              const char *key, bool ranks, const struct ar__json_node **out)
{
    const struct ar__json_node *n = ar__json_get(root, key);
    *out = NULL;
    if (!n || n->type == AR__JSON_NULL)
        return AR_STATUS_OK;
    if (n->type != AR__JSON_OBJECT)
        return type_error(c, key, "an object of module: number");
    for (size_t i = 0; i < n->count; i++) {
        int64_t v;
        double d;
        bool ok = ranks ? ar__json_as_int(n->items[i], &v) && v >= 1 && v <= 1 << 20
                        : ar__json_as_double(n->items[i], &d) && isfinite(d) && d != 0;
        if (!ok)
            return ar__fail_buf(c->err, c->err_size, AR_STATUS_BAD_FORMAT,
                                "%s: %s[\"%s\"]: expected %s", c->cfg_path, key, n->keys[i],
                                ranks ? "an integer rank ≥ 1" : "a non-zero number");
    }
    *out = n;
    return AR_STATUS_OK;
}

/* modules_to_save: a list of strings or null. */
static enum ar_status to_save(struct read_ctx *c, const struct ar__json_node *root)
{
    const struct ar__json_node *n = ar__json_get(root, "modules_to_save");
    if (!n || n->type == AR__JSON_NULL)
        return AR_STATUS_OK;
    if (n->type != AR__JSON_ARRAY)
        return type_error(c, "modules_to_save", "a list of module names or null");
    c->r->to_save = calloc(n->count + 1, sizeof *c->r->to_save);
    if (!c->r->to_save)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_OUT_OF_MEMORY, "modules_to_save");
    for (size_t i = 0; i < n->count; i++)
        if (!ar__json_as_string(n->items[i], &c->r->to_save[i]))
            return type_error(c, "modules_to_save", "a list of module names or null");
    c->r->a.modules_to_save = c->r->to_save;
    c->r->a.n_modules_to_save = (int)n->count;
    return AR_STATUS_OK;
}

static enum ar_status parse_config(struct read_ctx *c)
{
    struct ar_peft_adapter *a = &c->r->a;
    const struct ar__json_node *root = ar__json_root(c->r->doc), *n;
    if (root->type != AR__JSON_OBJECT)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_BAD_FORMAT,
                            "%s: expected a JSON object", c->cfg_path);
    const char *peft_type = NULL;
    enum ar_status st = opt_string(c, root, "peft_type", &peft_type);
    if (st != AR_STATUS_OK)
        return st;
    if (peft_type && strcmp(peft_type, "LORA"))
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_UNSUPPORTED,
                            "%s: peft_type \"%s\": only LORA adapters can be read", c->cfg_path,
                            peft_type);
    bool dora = false;
    if (ar__json_as_bool(ar__json_get(root, "use_dora"), &dora) && dora)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_UNSUPPORTED,
                            "%s: use_dora: DoRA adapters are not supported", c->cfg_path);
    int64_t r = 8; /* LoraConfig's defaults for the keys a file may leave out */
    double alpha = 8;
    if ((n = ar__json_get(root, "r")) && !(ar__json_as_int(n, &r) && r >= 1 && r <= 1 << 20))
        return type_error(c, "r", "an integer ≥ 1");
    if ((n = ar__json_get(root, "lora_alpha")) &&
        !(ar__json_as_double(n, &alpha) && isfinite(alpha) && alpha != 0))
        return type_error(c, "lora_alpha", "a non-zero number");
    if ((n = ar__json_get(root, "use_rslora")) && !ar__json_as_bool(n, &a->use_rslora))
        return type_error(c, "use_rslora", "true or false");
    if ((n = ar__json_get(root, "fan_in_fan_out")) && !ar__json_as_bool(n, &a->fan_in_fan_out))
        return type_error(c, "fan_in_fan_out", "true or false");
    a->r = (int)r;
    a->lora_alpha = alpha;
    n = ar__json_get(root, "target_modules");
    if (n && n->type != AR__JSON_NULL && n->type != AR__JSON_STRING &&
        n->type != AR__JSON_ARRAY)
        return type_error(c, "target_modules", "a list of names, a string or null");
    st = opt_string(c, root, "task_type", &a->task_type);
    if (st == AR_STATUS_OK)
        st = opt_string(c, root, "base_model_name_or_path", &a->base_model);
    if (st == AR_STATUS_OK)
        st = pattern(c, root, "rank_pattern", true, &c->r->rank_pattern);
    if (st == AR_STATUS_OK)
        st = pattern(c, root, "alpha_pattern", false, &c->r->alpha_pattern);
    return st == AR_STATUS_OK ? to_save(c, root) : st;
}

/* PEFT's pattern lookup: the first key equal to the module path or ending it after a '.'. */
static const struct ar__json_node *pattern_value(const struct ar__json_node *p, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; p && i < p->count; i++) {
        size_t k = strlen(p->keys[i]);
        if (n >= k && !strcmp(name + n - k, p->keys[i]) && (n == k || name[n - k - 1] == '.'))
            return p->items[i];
    }
    return NULL;
}

/* ---- adapter_model.safetensors ------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static void shape_text(const struct ar_st_tensor *t, char *out, size_t size)
{
    size_t len = (size_t)snprintf(out, size, "(");
    for (int d = 0; d < t->ndim && len < size; d++)
        len += (size_t)snprintf(out + len, size - len, "%s%lld", d ? ", " : "",
                                (long long)t->shape[d]);
    if (len < size)
        snprintf(out + len, size - len, ")");
}

static enum ar_status read_floats(struct read_ctx *c, const struct ar_st_tensor *t, float **out)
{
    *out = malloc((t->count ? t->count : 1) * sizeof **out);
    if (!*out)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_OUT_OF_MEMORY, "%s: tensor '%s'",
                            c->st_path, t->name);
    return ar_safetensors_read_f32(t, *out, t->count, c->err, c->err_size);
}

/* One module from its lora_A tensor: lora_B, shapes, the rank PEFT expects, the scale. */
static enum ar_status add_module(struct read_ctx *c, const struct ar_safetensors *st,
                                 const struct ar_st_tensor *ta)
{
    struct peft_read *r = c->r;
    size_t len = strlen(ta->name) - strlen(PREFIX) - strlen(A_SUFFIX);
    char *name = malloc(len + 1), bname[1024], sa[96], sb[96];
    if (!name)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_OUT_OF_MEMORY, "module names");
    memcpy(name, ta->name + strlen(PREFIX), len);
    name[len] = '\0';
    struct ar_peft_module *m = &r->modules[r->a.n_modules++];
    m->name = name;
    snprintf(bname, sizeof bname, PREFIX "%s" B_SUFFIX, name);
    const struct ar_st_tensor *tb = ar_safetensors_find(st, bname);
    if (!tb)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_BAD_FORMAT,
                            "%s: tensor '%s' has no '%s'", c->st_path, ta->name, bname);
    shape_text(ta, sa, sizeof sa);
    shape_text(tb, sb, sizeof sb);
    if (ta->ndim != 2 || tb->ndim != 2 || tb->shape[1] != ta->shape[0] || ta->shape[0] < 1)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_SHAPE_MISMATCH,
                            "%s: module %s: lora_A is %s and lora_B %s; want (r, in) and "
                            "(out, r)",
                            c->st_path, name, sa, sb);
    const struct ar__json_node *rp = pattern_value(r->rank_pattern, name);
    int64_t want = r->a.r;
    if (rp)
        ar__json_as_int(rp, &want);
    if (ta->shape[0] != want)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_SHAPE_MISMATCH,
                            "%s: tensor '%s' is %s, but %s gives module %s rank %lld (%s)",
                            c->st_path, ta->name, sa, c->cfg_path, name, (long long)want,
                            rp ? "rank_pattern" : "r");
    m->rank = (int)ta->shape[0];
    m->in = (int)ta->shape[1];
    m->out = (int)tb->shape[0];
    double alpha = r->a.lora_alpha;
    ar__json_as_double(pattern_value(r->alpha_pattern, name), &alpha);
    m->scale = r->a.use_rslora ? alpha / sqrt((double)m->rank) : alpha / (double)m->rank;
    float *a = NULL, *b = NULL;
    enum ar_status s = read_floats(c, ta, &a);
    m->a = a;
    if (s == AR_STATUS_OK)
        s = read_floats(c, tb, &b);
    m->b = b;
    return s;
}

static enum ar_status add_tensor(struct read_ctx *c, const struct ar_st_tensor *t)
{
    struct ar_peft_tensor *out = &c->r->tensors[c->r->a.n_tensors++];
    char *name = strdup(t->name + strlen(PREFIX)), sh[96];
    out->name = name;
    if (!name)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_OUT_OF_MEMORY, "tensor names");
    shape_text(t, sh, sizeof sh);
    if (t->ndim < 1 || t->ndim > 2)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_UNSUPPORTED,
                            "%s: tensor '%s' is %s: only 1-D and 2-D saved modules are read",
                            c->st_path, t->name, sh);
    out->ndim = t->ndim;
    out->shape[0] = t->shape[0];
    out->shape[1] = t->ndim == 2 ? t->shape[1] : 0;
    float *data = NULL;
    enum ar_status st = read_floats(c, t, &data);
    out->data = data;
    return st;
}

static enum ar_status read_weights(struct read_ctx *c, const struct ar_safetensors *st)
{
    struct peft_read *r = c->r;
    size_t count = ar_safetensors_count(st);
    r->modules = calloc(count + 1, sizeof *r->modules);
    r->tensors = calloc(count + 1, sizeof *r->tensors);
    if (!r->modules || !r->tensors)
        return ar__fail_buf(c->err, c->err_size, AR_STATUS_OUT_OF_MEMORY, "adapter tensors");
    r->a.modules = r->modules;
    r->a.tensors = r->tensors;
    enum ar_status s = AR_STATUS_OK;
    for (size_t i = 0; s == AR_STATUS_OK && i < count; i++) {
        const struct ar_st_tensor *t = ar_safetensors_at(st, i);
        if (strncmp(t->name, PREFIX, strlen(PREFIX)) || !t->name[strlen(PREFIX)])
            s = ar__fail_buf(c->err, c->err_size, AR_STATUS_BAD_FORMAT,
                             "%s: tensor '%s' is not under \"" PREFIX "\" (not a PEFT adapter)",
                             c->st_path, t->name);
        else if (ends_with(t->name, A_SUFFIX) &&
                 strlen(t->name) > strlen(PREFIX) + strlen(A_SUFFIX))
            s = add_module(c, st, t);
        else if (ends_with(t->name, B_SUFFIX)) {
            char aname[1024];
            snprintf(aname, sizeof aname, "%.*s" A_SUFFIX,
                     (int)(strlen(t->name) - strlen(B_SUFFIX)), t->name);
            if (!ar_safetensors_find(st, aname))
                s = ar__fail_buf(c->err, c->err_size, AR_STATUS_BAD_FORMAT,
                                 "%s: tensor '%s' has no '%s'", c->st_path, t->name, aname);
        } else if (strstr(t->name, ".lora_"))
            s = ar__fail_buf(c->err, c->err_size, AR_STATUS_UNSUPPORTED,
                             "%s: tensor '%s': only lora_A / lora_B of linear layers are read "
                             "(no DoRA, embedding or convolution adapters)",
                             c->st_path, t->name);
        else
            s = add_tensor(c, t);
    }
    if (s == AR_STATUS_OK && r->a.n_modules == 0)
        s = ar__fail_buf(c->err, c->err_size, AR_STATUS_BAD_FORMAT,
                         "%s: no lora_A / lora_B tensors", c->st_path);
    return s;
}

enum ar_status ar_peft_adapter_read(const char *dir, struct ar_peft_adapter **out, char *err,
                                    size_t err_size)
{
    *out = NULL;
    char cfg_path[4096], st_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/" AR_PEFT_CONFIG_FILE, dir);
    snprintf(st_path, sizeof st_path, "%s/" AR_PEFT_WEIGHTS_FILE, dir);
    struct stat sb;
    if (stat(cfg_path, &sb) != 0)
        return ar__fail_buf(err, err_size, AR_STATUS_NOT_FOUND,
                            "%s: no " AR_PEFT_CONFIG_FILE " (not a PEFT adapter folder)", dir);
    struct peft_read *r = calloc(1, sizeof *r);
    if (!r)
        return ar__fail_buf(err, err_size, AR_STATUS_OUT_OF_MEMORY, "adapter");
    struct read_ctx c = {r, cfg_path, st_path, err, err_size};
    enum ar_status st = AR_STATUS_OK;
    if (!(r->doc = ar__json_parse_file(cfg_path, err, err_size)))
        st = AR_STATUS_BAD_FORMAT;
    if (st == AR_STATUS_OK)
        st = parse_config(&c);
    struct ar_safetensors *weights = NULL;
    if (st == AR_STATUS_OK)
        st = ar_safetensors_open(st_path, &weights, err, err_size);
    if (st == AR_STATUS_OK)
        st = read_weights(&c, weights);
    ar_safetensors_free(weights);
    if (st != AR_STATUS_OK) {
        ar_peft_adapter_free(&r->a);
        return st;
    }
    *out = &r->a;
    return AR_STATUS_OK;
}
