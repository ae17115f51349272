/* config.json of a Hugging Face checkpoint, read and validated into ar_model_config (model.h).
 *
 * model_type picks the architecture and its key names (FORMATS.md): BERT/RoBERTa and Llama use
 * hidden_size/num_hidden_layers/..., GPT-2 its n_embd/n_layer/... The sizes are required; keys
 * the transformers config classes give a default (type_vocab_size, layer_norm_eps,
 * num_key_value_heads, rope_theta, ...) get that default when absent. Anything the engine would
 * silently compute differently (relative position embeddings, RoPE scaling, biased Llama
 * projections, another activation) is refused as AR_STATUS_UNSUPPORTED rather than ignored.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "adarank/model.h"
#include "json.h"

struct reader {
    const struct ar__json_node *root;
    const char *path;
    char *err;
    size_t err_size;
    enum ar_status status;
};

static bool bad(struct reader *r, enum ar_status status, const char *key, const char *what)
{
    if (r->status == AR_STATUS_OK) {
        r->status = status;
        snprintf(r->err, r->err_size, "%s: %s: %s", r->path, key, what);
    }
    return false;
}

/* A JSON null counts as absent: transformers writes null for "use the default". */
static const struct ar__json_node *member(struct reader *r, const char *key)
{
    const struct ar__json_node *n = ar__json_get(r->root, key);
    return n && n->type != AR__JSON_NULL ? n : NULL;
}

/* An integer in [min, INT32_MAX]; `def` when absent unless required. */
static bool get_int(struct reader *r, const char *key, bool required, int def, int min, int *out)
{
    const struct ar__json_node *n = member(r, key);
    int64_t v = def;
    if (!n && required) return bad(r, AR_STATUS_BAD_FORMAT, key, "missing");
    if (n && !ar__json_as_int(n, &v))
        return bad(r, AR_STATUS_BAD_FORMAT, key, "expected an integer");
    if (v < min || v > INT32_MAX) {
        char what[64];
        snprintf(what, sizeof what, "%lld is out of range (at least %d)", (long long)v, min);
        return bad(r, AR_STATUS_BAD_FORMAT, key, what);
    }
    *out = (int)v;
    return true;
}

/* A positive finite number (epsilons, RoPE base); `def` when absent. */
static bool get_positive(struct reader *r, const char *key, double def, float *out)
{
    const struct ar__json_node *n = member(r, key);
    double v = def;
    if (n && !ar__json_as_double(n, &v))
        return bad(r, AR_STATUS_BAD_FORMAT, key, "expected a number");
    if (!(v > 0) || !isfinite((float)v))
        return bad(r, AR_STATUS_BAD_FORMAT, key, "must be a positive finite number");
    *out = (float)v;
    return true;
}

static bool get_bool(struct reader *r, const char *key, bool def, bool *out)
{
    const struct ar__json_node *n = member(r, key);
    *out = def;
    if (n && !ar__json_as_bool(n, out))
        return bad(r, AR_STATUS_BAD_FORMAT, key, "expected true or false");
    return true;
}

static bool get_string(struct reader *r, const char *key, const char *def, const char **out)
{
    const struct ar__json_node *n = member(r, key);
    *out = def;
    if (!n && !def) return bad(r, AR_STATUS_BAD_FORMAT, key, "missing");
    if (n && !ar__json_as_string(n, out))
        return bad(r, AR_STATUS_BAD_FORMAT, key, "expected a string");
    return true;
}

/* transformers' ACT2FN names: "gelu" is the exact erf form; "gelu_new" and "gelu_pytorch_tanh"
 * the tanh approximation (Hendrycks & Gimpel 2016, eq. in §2); "silu"/"swish" x·sigmoid(x). */
static bool get_act(struct reader *r, const char *key, const char *def, enum ar_hidden_act *out)
{
    const char *name;
    if (!get_string(r, key, def, &name)) return false;
    if (!strcmp(name, "gelu"))
        *out = AR_HIDDEN_ACT_GELU;
    else if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh"))
        *out = AR_HIDDEN_ACT_GELU_TANH;
    else if (!strcmp(name, "silu") || !strcmp(name, "swish"))
        *out = AR_HIDDEN_ACT_SILU;
    else {
        char what[128];
        snprintf(what, sizeof what, "activation \"%.40s\" is not supported (gelu, gelu_new, silu)",
                 name);
        return bad(r, AR_STATUS_UNSUPPORTED, key, what);
    }
    return true;
}

/* Refuses a key whose value changes the computation in a way the engine does not implement. */
static bool refuse_if(struct reader *r, bool condition, const char *key, const char *what)
{
    return condition ? bad(r, AR_STATUS_UNSUPPORTED, key, what) : true;
}

/* BertConfig / RobertaConfig. RoBERTa's pad_token_id defaults to 1 (its positions start at
 * pad_token_id + 1), BERT's to 0. */
static bool load_bert(struct reader *r, struct ar_model_config *c, bool roberta)
{
    const char *pos_type;
    bool ok = get_int(r, "vocab_size", true, 0, 1, &c->vocab_size) &&
              get_int(r, "hidden_size", true, 0, 1, &c->hidden_size) &&
              get_int(r, "num_hidden_layers", true, 0, 1, &c->num_layers) &&
              get_int(r, "num_attention_heads", true, 0, 1, &c->num_heads) &&
              get_int(r, "intermediate_size", true, 0, 1, &c->intermediate_size) &&
              get_int(r, "max_position_embeddings", false, 512, 1, &c->max_positions) &&
              get_int(r, "type_vocab_size", false, 2, 0, &c->type_vocab_size) &&
              get_int(r, "pad_token_id", false, roberta ? 1 : 0, 0, &c->pad_token_id) &&
              get_positive(r, "layer_norm_eps", 1e-12, &c->norm_eps) &&
              get_act(r, "hidden_act", "gelu", &c->hidden_act) &&
              get_bool(r, "tie_word_embeddings", true, &c->tie_word_embeddings) &&
              get_string(r, "position_embedding_type", "absolute", &pos_type) &&
              refuse_if(r, strcmp(pos_type, "absolute") != 0, "position_embedding_type",
                        "only \"absolute\" position embeddings are supported");
    c->num_kv_heads = c->num_heads;
    return ok;
}

/* GPT2Config: n_inner null means 4 × n_embd; there is no pad token (-1). */
static bool load_gpt2(struct reader *r, struct ar_model_config *c)
{
    bool scale_by_layer, upcast;
    c->intermediate_size = 0;
    bool ok = get_int(r, "vocab_size", true, 0, 1, &c->vocab_size) &&
              get_int(r, "n_embd", true, 0, 1, &c->hidden_size) &&
              get_int(r, "n_layer", true, 0, 1, &c->num_layers) &&
              get_int(r, "n_head", true, 0, 1, &c->num_heads) &&
              get_int(r, "n_positions", false, 1024, 1, &c->max_positions) &&
              get_int(r, "n_inner", false, 0, 0, &c->intermediate_size) &&
              get_int(r, "pad_token_id", false, -1, -1, &c->pad_token_id) &&
              get_positive(r, "layer_norm_epsilon", 1e-5, &c->norm_eps) &&
              get_act(r, "activation_function", "gelu_new", &c->hidden_act) &&
              get_bool(r, "tie_word_embeddings", true, &c->tie_word_embeddings) &&
              get_bool(r, "scale_attn_by_inverse_layer_idx", false, &scale_by_layer) &&
              get_bool(r, "reorder_and_upcast_attn", false, &upcast) &&
              refuse_if(r, scale_by_layer, "scale_attn_by_inverse_layer_idx",
                        "per-layer attention scaling is not supported");
    if (ok && c->intermediate_size == 0) c->intermediate_size = 4 * c->hidden_size;
    c->num_kv_heads = c->num_heads;
    c->type_vocab_size = 0;
    return ok;
}

/* LlamaConfig: grouped-query attention when num_key_value_heads < num_attention_heads. */
static bool load_llama(struct reader *r, struct ar_model_config *c)
{
    bool attention_bias, mlp_bias;
    int head_dim = 0;
    bool ok =
        get_int(r, "vocab_size", true, 0, 1, &c->vocab_size) &&
        get_int(r, "hidden_size", true, 0, 1, &c->hidden_size) &&
        get_int(r, "num_hidden_layers", true, 0, 1, &c->num_layers) &&
        get_int(r, "num_attention_heads", true, 0, 1, &c->num_heads) &&
        get_int(r, "intermediate_size", true, 0, 1, &c->intermediate_size) &&
        get_int(r, "num_key_value_heads", false, c->num_heads, 1, &c->num_kv_heads) &&
        get_int(r, "max_position_embeddings", false, 2048, 1, &c->max_positions) &&
        get_int(r, "pad_token_id", false, -1, -1, &c->pad_token_id) &&
        get_positive(r, "rms_norm_eps", 1e-6, &c->norm_eps) &&
        get_positive(r, "rope_theta", 10000.0, &c->rope_theta) &&
        get_act(r, "hidden_act", "silu", &c->hidden_act) &&
        get_bool(r, "tie_word_embeddings", false, &c->tie_word_embeddings) &&
        get_bool(r, "attention_bias", false, &attention_bias) &&
        get_bool(r, "mlp_bias", false, &mlp_bias) &&
        get_int(r, "head_dim", false, 0, 0, &head_dim) &&
        refuse_if(r, member(r, "rope_scaling") != NULL, "rope_scaling",
                  "scaled RoPE is not supported") &&
        refuse_if(r, attention_bias, "attention_bias", "biased projections are not supported") &&
        refuse_if(r, mlp_bias, "mlp_bias", "biased projections are not supported");
    if (ok && head_dim && head_dim * c->num_heads != c->hidden_size)
        return bad(r, AR_STATUS_UNSUPPORTED, "head_dim",
                   "must equal hidden_size / num_attention_heads");
    if (ok && c->num_heads % c->num_kv_heads != 0)
        return bad(r, AR_STATUS_BAD_FORMAT, "num_key_value_heads",
                   "must divide num_attention_heads");
    c->type_vocab_size = 0;
    return ok;
}

/* Keys every architecture may have: eos_token_id (an id, or a list whose first id is taken, as
 * Llama 3 writes it) and initializer_range (what a new head is drawn with). */
static bool get_common(struct reader *r, struct ar_model_config *c)
{
    const struct ar__json_node *eos = member(r, "eos_token_id");
    int64_t v = -1;
    if (eos && eos->type == AR__JSON_ARRAY)
        eos = ar__json_at(eos, 0);
    if (eos && (!ar__json_as_int(eos, &v) || v < 0 || v > INT32_MAX))
        return bad(r, AR_STATUS_BAD_FORMAT, "eos_token_id", "expected a token id");
    c->eos_token_id = (int)v;
    return get_positive(r, "initializer_range", 0.02, &c->initializer_range);
}

enum ar_status ar_model_config_load(const char *path, struct ar_model_config *out, char *err,
                                    size_t err_size)
{
    char file[4096];
    struct stat sb;
    if (!path || !out) return AR_STATUS_INVALID_ARGUMENT;
    /* A model directory is accepted for its config.json. */
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(file, sizeof file, "%s/config.json", path);
    else
        snprintf(file, sizeof file, "%s", path);
    char detail[1024];
    struct ar__json_doc *doc = ar__json_parse_file(file, detail, sizeof detail);
    if (!doc) {
        snprintf(err, err_size, "%s", detail);
        return stat(file, &sb) == 0 ? AR_STATUS_BAD_FORMAT : AR_STATUS_IO;
    }
    struct reader r = {.root = ar__json_root(doc), .path = file, .err = err, .err_size = err_size};
    struct ar_model_config c = {.rope_theta = 0};
    const char *type = NULL;
    if (r.root->type != AR__JSON_OBJECT)
        bad(&r, AR_STATUS_BAD_FORMAT, "(root)", "expected a JSON object");
    else if (get_string(&r, "model_type", NULL, &type)) {
        snprintf(c.model_type, sizeof c.model_type, "%s", type);
        if (!strcmp(type, "bert"))
            c.arch = AR_ARCH_BERT, load_bert(&r, &c, false);
        else if (!strcmp(type, "roberta") || !strcmp(type, "xlm-roberta"))
            c.arch = AR_ARCH_BERT, load_bert(&r, &c, true);
        else if (!strcmp(type, "gpt2"))
            c.arch = AR_ARCH_GPT2, load_gpt2(&r, &c);
        else if (!strcmp(type, "llama"))
            c.arch = AR_ARCH_LLAMA, load_llama(&r, &c);
        else
            bad(&r, AR_STATUS_UNSUPPORTED, "model_type",
                "not supported (bert, roberta, xlm-roberta, gpt2, llama)");
    }
    if (r.status == AR_STATUS_OK)
        get_common(&r, &c);
    if (r.status == AR_STATUS_OK && c.hidden_size % c.num_heads != 0)
        bad(&r, AR_STATUS_BAD_FORMAT, c.arch == AR_ARCH_GPT2 ? "n_head" : "num_attention_heads",
            "must divide the hidden size");
    ar__json_free(doc);
    if (r.status == AR_STATUS_OK) *out = c;
    return r.status;
}
