/* The frozen base and a checkpoint's head, from a Hugging Face checkpoint to the device (model.h).
 * BERT/RoBERTa below; GPT-2 (Conv1D weights transposed from (in, out)) and Llama further down.
 *
 * Names are looked up with and without the "bert." / "roberta." prefix (a BertModel saved alone,
 * such as sentence-transformers' all-MiniLM-L6-v2, has none) and with the old
 * "LayerNorm.gamma/beta" spelling of LayerNorm parameters. Every tensor's shape is checked against
 * the config before a byte is uploaded; any dtype is converted to float32 on the host. Tensors the
 * engine does not use (position_ids buffers, pre-training heads) are ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/safetensors.h"
#include "model_internal.h"

struct loader {
    struct ar_model *m;
    struct ar_safetensors *st;
    const char *dir;
    float *host; /* staging for the largest tensor */
    size_t host_count;
    size_t cursor; /* next free float of m->base */
};

static void shape_text(char *out, size_t size, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size)
        snprintf(out + n, size - n, "]");
}

/* The tensor for `name` (without prefix) under any accepted spelling, or NULL; *tried gets the
 * canonical name with prefix for messages. */
static const struct ar_st_tensor *lookup(struct loader *l, const char *name, char *tried,
                                         size_t tried_size)
{
    char alt[AR__MODEL_NAME_MAX + 32], legacy[AR__MODEL_NAME_MAX + 32];
    snprintf(tried, tried_size, "%s.%s", l->m->prefix, name);
    snprintf(legacy, sizeof legacy, "%s", name);
    size_t n = strlen(legacy);
    if (strstr(name, "LayerNorm.") && n > 7 && !strcmp(legacy + n - 7, ".weight"))
        snprintf(legacy + n - 7, sizeof legacy - (n - 7), ".gamma");
    else if (strstr(name, "LayerNorm.") && n > 5 && !strcmp(legacy + n - 5, ".bias"))
        snprintf(legacy + n - 5, sizeof legacy - (n - 5), ".beta");
    const char *const plain[] = {name, legacy};
    for (int i = 0; i < 2; i++) {
        snprintf(alt, sizeof alt, "%s.%s", l->m->prefix, plain[i]);
        const struct ar_st_tensor *t = ar_safetensors_find(l->st, alt);
        if (!t)
            t = ar_safetensors_find(l->st, plain[i]);
        if (t)
            return t;
    }
    return NULL;
}

/* Checks t against the expected shape and converts it into l->host. */
static enum ar_status read_checked(struct loader *l, const struct ar_st_tensor *t, int ndim,
                                   const int64_t *shape)
{
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (!ok) {
        char got[96], want[96];
        shape_text(got, sizeof got, t->ndim, t->shape);
        shape_text(want, sizeof want, ndim, shape);
        return ar__fail(l->m->ctx, AR_STATUS_BAD_FORMAT,
                        "%s: tensor '%s' has shape %s, but config.json and the options need %s",
                        l->dir, t->name, got, want);
    }
    if (t->count > l->host_count) {
        float *grown = realloc(l->host, t->count * sizeof(float));
        if (!grown)
            return ar__fail(l->m->ctx, AR_STATUS_OUT_OF_MEMORY, "%s: tensor '%s' (%zu floats)",
                            l->dir, t->name, t->count);
        l->host = grown;
        l->host_count = t->count;
    }
    char err[512];
    enum ar_status st = ar_safetensors_read_f32(t, l->host, t->count, err, sizeof err);
    if (st != AR_STATUS_OK)
        return ar__fail(l->m->ctx, st, "%s", err);
    return AR_STATUS_OK;
}

/* Reads tensor `name` of shape (d0) or (d0, d1) into dst (a device view). */
static enum ar_status load_into(struct loader *l, const char *name, int64_t d0, int64_t d1,
                                struct ar_mem dst)
{
    char tried[AR__MODEL_NAME_MAX + 32];
    const struct ar_st_tensor *t = lookup(l, name, tried, sizeof tried);
    if (!t)
        return ar__fail(l->m->ctx, AR_STATUS_BAD_FORMAT,
                        "%s: tensor '%s' is missing (also looked for '%s' and the old "
                        "LayerNorm.gamma/beta names)",
                        l->dir, tried, name);
    const int64_t shape[2] = {d0, d1};
    enum ar_status st = read_checked(l, t, d1 ? 2 : 1, shape);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(l->m->ctx, dst, l->host, t->count);
    return st;
}

/* A view of the next n floats of the base buffer. */
static struct ar_mem carve(struct loader *l, size_t n)
{
    struct ar_mem v = ar_mem_at(l->m->base, l->cursor);
    l->cursor += (n + AR_ARENA_ALIGN - 1) / AR_ARENA_ALIGN * AR_ARENA_ALIGN;
    return v;
}

static size_t base_floats(const struct ar_model *m)
{
    const struct ar_model_config *c = &m->cfg;
    size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, pad = AR_ARENA_ALIGN;
    size_t emb = ((size_t)c->vocab_size + (size_t)c->max_positions + (size_t)c->type_vocab_size) * C +
                 2 * C;
    size_t layer = 4 * C * C + 4 * C + 2 * I * C + I + C + 4 * C;
    size_t pooler = m->roberta || c->arch != AR_ARCH_BERT || m->token_cls ? 0 : C * C + C;
    size_t carves = 7 + 12 * (size_t)c->num_layers; /* each carve is padded to the alignment */
    if (c->arch == AR_ARCH_LLAMA) { /* + KV·D for k|v, the gate|up pair and an untied lm_head */
        size_t kvd = (size_t)c->num_kv_heads * (C / (size_t)c->num_heads);
        emb += (size_t)c->vocab_size * C;
        layer += 2 * kvd * C + I * C;
    }
    return emb + (size_t)c->num_layers * layer + pooler + carves * pad;
}

static enum ar_status load_linear(struct loader *l, const char *path, int G, int64_t out,
                                  int64_t in, struct ar__model_linear *lin)
{
    static const char *const qkv[] = {"query", "key", "value"};
    lin->w.w = carve(l, (size_t)(G * out * in));
    lin->w.bias = carve(l, (size_t)(G * out));
    enum ar_status st = AR_STATUS_OK;
    char name[AR__MODEL_NAME_MAX + 32];
    for (int k = 0; st == AR_STATUS_OK && k < G; k++) {
        const char *p = G == 3 ? qkv[k] : "";
        snprintf(name, sizeof name, "%s%s.weight", path, p);
        st = load_into(l, name, out, in, ar_mem_at(lin->w.w, (size_t)(k * out * in)));
        snprintf(name, sizeof name, "%s%s.bias", path, p);
        if (st == AR_STATUS_OK)
            st = load_into(l, name, out, 0, ar_mem_at(lin->w.bias, (size_t)(k * out)));
    }
    return st;
}

static enum ar_status load_layer(struct loader *l, int i, struct ar__bert_layer *L)
{
    int64_t C = l->m->cfg.hidden_size, I = l->m->cfg.intermediate_size;
    char p[AR__MODEL_NAME_MAX], q[AR__MODEL_NAME_MAX + 32];
    snprintf(p, sizeof p, "encoder.layer.%d.", i);
    snprintf(q, sizeof q, "%sattention.self.", p);
    enum ar_status st = load_linear(l, q, 3, C, C, &L->qkv);
    struct { const char *sub; int64_t out, in; struct ar__model_linear *lin; } dense[] = {
        {"attention.output.dense", C, C, &L->attn_out},
        {"intermediate.dense", I, C, &L->inter},
        {"output.dense", C, I, &L->out}};
    for (int k = 0; st == AR_STATUS_OK && k < 3; k++) {
        snprintf(q, sizeof q, "%s%s", p, dense[k].sub);
        st = load_linear(l, q, 1, dense[k].out, dense[k].in, dense[k].lin);
    }
    struct { const char *sub; struct ar_mem *g, *b; } norms[] = {
        {"attention.output.LayerNorm", &L->ln1_g, &L->ln1_b},
        {"output.LayerNorm", &L->ln2_g, &L->ln2_b}};
    for (int k = 0; st == AR_STATUS_OK && k < 2; k++) {
        *norms[k].g = carve(l, (size_t)C);
        *norms[k].b = carve(l, (size_t)C);
        snprintf(q, sizeof q, "%s%s.weight", p, norms[k].sub);
        st = load_into(l, q, C, 0, *norms[k].g);
        snprintf(q, sizeof q, "%s%s.bias", p, norms[k].sub);
        if (st == AR_STATUS_OK)
            st = load_into(l, q, C, 0, *norms[k].b);
    }
    return st;
}

static enum ar_status load_embeddings(struct loader *l)
{
    struct ar_model *m = l->m;
    const struct ar_model_config *c = &m->cfg;
    int64_t C = c->hidden_size;
    m->wte = carve(l, (size_t)(c->vocab_size * C));
    m->wpe = carve(l, (size_t)(c->max_positions * C));
    enum ar_status st = load_into(l, "embeddings.word_embeddings.weight", c->vocab_size, C, m->wte);
    if (st == AR_STATUS_OK)
        st = load_into(l, "embeddings.position_embeddings.weight", c->max_positions, C, m->wpe);
    if (st == AR_STATUS_OK && c->type_vocab_size > 0) {
        m->wtt = carve(l, (size_t)(c->type_vocab_size * C));
        st = load_into(l, "embeddings.token_type_embeddings.weight", c->type_vocab_size, C, m->wtt);
    }
    m->ln_emb_g = carve(l, (size_t)C);
    m->ln_emb_b = carve(l, (size_t)C);
    if (st == AR_STATUS_OK)
        st = load_into(l, "embeddings.LayerNorm.weight", C, 0, m->ln_emb_g);
    if (st == AR_STATUS_OK)
        st = load_into(l, "embeddings.LayerNorm.bias", C, 0, m->ln_emb_b);
    return st;
}

/* ---- GPT-2 ---- */

/* A Conv1D weight: stored (in, out) (x·W), transposed into our (out, in) linear layout. */
static enum ar_status load_conv1d(struct loader *l, const char *name, int64_t in, int64_t out,
                                  struct ar_mem dst)
{
    char tried[AR__MODEL_NAME_MAX + 32];
    const struct ar_st_tensor *t = lookup(l, name, tried, sizeof tried);
    if (!t)
        return ar__fail(l->m->ctx, AR_STATUS_BAD_FORMAT,
                        "%s: tensor '%s' is missing (also looked for '%s')", l->dir, tried, name);
    const int64_t shape[2] = {in, out};
    enum ar_status st = read_checked(l, t, 2, shape);
    float *w = st == AR_STATUS_OK ? malloc(t->count * sizeof *w) : NULL;
    if (st == AR_STATUS_OK && !w)
        return ar__fail(l->m->ctx, AR_STATUS_OUT_OF_MEMORY, "%s: transposing '%s'", l->dir,
                        t->name);
    for (int64_t i = 0; w && i < in; i++)
        for (int64_t o = 0; o < out; o++)
            w[o * in + i] = l->host[i * out + o];
    if (w)
        st = ar_mem_write(l->m->ctx, dst, w, t->count);
    free(w);
    return st;
}

static enum ar_status load_gpt2_linear(struct loader *l, int layer, const char *sub, int64_t in,
                                       int64_t out, struct ar__model_linear *lin)
{
    char name[AR__MODEL_NAME_MAX + 32];
    lin->w.w = carve(l, (size_t)(out * in));
    lin->w.bias = carve(l, (size_t)out);
    snprintf(name, sizeof name, "h.%d.%s.weight", layer, sub);
    enum ar_status st = load_conv1d(l, name, in, out, lin->w.w);
    snprintf(name, sizeof name, "h.%d.%s.bias", layer, sub);
    return st ? st : load_into(l, name, out, 0, lin->w.bias);
}

/* LayerNorm `name`.weight/.bias (C) into fresh views of the base. */
static enum ar_status load_norm(struct loader *l, const char *name, struct ar_mem *g,
                                struct ar_mem *b)
{
    int64_t C = l->m->cfg.hidden_size;
    char full[AR__MODEL_NAME_MAX + 32];
    *g = carve(l, (size_t)C);
    *b = carve(l, (size_t)C);
    snprintf(full, sizeof full, "%s.weight", name);
    enum ar_status st = load_into(l, full, C, 0, *g);
    snprintf(full, sizeof full, "%s.bias", name);
    return st ? st : load_into(l, full, C, 0, *b);
}

/* GPT2Model's tensors (with or without "transformer."); lm_head.weight is tied to wte. */
static enum ar_status load_gpt2(struct loader *l)
{
    struct ar_model *m = l->m;
    const struct ar_model_config *c = &m->cfg;
    int64_t C = c->hidden_size, I = c->intermediate_size;
    m->wte = carve(l, (size_t)(c->vocab_size * C));
    m->wpe = carve(l, (size_t)(c->max_positions * C));
    enum ar_status st = load_into(l, "wte.weight", c->vocab_size, C, m->wte);
    if (st == AR_STATUS_OK)
        st = load_into(l, "wpe.weight", c->max_positions, C, m->wpe);
    char name[AR__MODEL_NAME_MAX];
    for (int i = 0; st == AR_STATUS_OK && i < c->num_layers; i++) {
        struct ar__bert_layer *L = &m->layers[i];
        st = load_gpt2_linear(l, i, "attn.c_attn", C, 3 * C, &L->qkv);
        if (st == AR_STATUS_OK)
            st = load_gpt2_linear(l, i, "attn.c_proj", C, C, &L->attn_out);
        if (st == AR_STATUS_OK)
            st = load_gpt2_linear(l, i, "mlp.c_fc", C, I, &L->inter);
        if (st == AR_STATUS_OK)
            st = load_gpt2_linear(l, i, "mlp.c_proj", I, C, &L->out);
        snprintf(name, sizeof name, "h.%d.ln_1", i);
        if (st == AR_STATUS_OK)
            st = load_norm(l, name, &L->ln1_g, &L->ln1_b);
        snprintf(name, sizeof name, "h.%d.ln_2", i);
        if (st == AR_STATUS_OK)
            st = load_norm(l, name, &L->ln2_g, &L->ln2_b);
    }
    return st ? st : load_norm(l, "ln_f", &m->ln_f_g, &m->ln_f_b);
}

/* ---- Llama ---- */

/* A group of G plain (out, in) weights without bias, stacked into one view. */
static enum ar_status load_stacked(struct loader *l, int layer, const char *const *subs, int G,
                                   int64_t out, int64_t in, struct ar__model_linear *lin)
{
    char name[AR__MODEL_NAME_MAX + 32];
    lin->w.w = carve(l, (size_t)(G * out * in));
    enum ar_status st = AR_STATUS_OK;
    for (int k = 0; st == AR_STATUS_OK && k < G; k++) {
        snprintf(name, sizeof name, "layers.%d.%s.weight", layer, subs[k]);
        st = load_into(l, name, out, in, ar_mem_at(lin->w.w, (size_t)(k * out * in)));
    }
    return st;
}

/* LlamaForCausalLM's tensors ("model." prefix optional); rotary inv_freq buffers are ignored
 * (the engine computes its own tables). */
static enum ar_status load_llama(struct loader *l)
{
    struct ar_model *m = l->m;
    const struct ar_model_config *c = &m->cfg;
    int64_t C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int64_t KVD = (int64_t)c->num_kv_heads * (C / c->num_heads);
    m->wte = carve(l, (size_t)(V * C));
    m->wpe = carve(l, (size_t)C); /* one zero row: positions enter through RoPE */
    enum ar_status st = load_into(l, "embed_tokens.weight", V, C, m->wte);
    if (st == AR_STATUS_OK)
        st = ar_mem_fill(m->ctx, m->wpe, 0.0f, (size_t)C);
    static const char *const q[] = {"self_attn.q_proj"}, *const kv[] = {"self_attn.k_proj",
                                                                       "self_attn.v_proj"};
    static const char *const o[] = {"self_attn.o_proj"}, *const gu[] = {"mlp.gate_proj",
                                                                       "mlp.up_proj"};
    static const char *const down[] = {"mlp.down_proj"};
    char name[AR__MODEL_NAME_MAX];
    for (int i = 0; st == AR_STATUS_OK && i < c->num_layers; i++) {
        struct ar__bert_layer *L = &m->layers[i];
        st = load_stacked(l, i, q, 1, C, C, &L->qkv);
        if (st == AR_STATUS_OK)
            st = load_stacked(l, i, kv, 2, KVD, C, &L->kv);
        if (st == AR_STATUS_OK)
            st = load_stacked(l, i, o, 1, C, C, &L->attn_out);
        if (st == AR_STATUS_OK)
            st = load_stacked(l, i, gu, 2, I, C, &L->inter);
        if (st == AR_STATUS_OK)
            st = load_stacked(l, i, down, 1, C, I, &L->out);
        L->ln1_g = carve(l, (size_t)C);
        L->ln2_g = carve(l, (size_t)C);
        snprintf(name, sizeof name, "layers.%d.input_layernorm.weight", i);
        if (st == AR_STATUS_OK)
            st = load_into(l, name, C, 0, L->ln1_g);
        snprintf(name, sizeof name, "layers.%d.post_attention_layernorm.weight", i);
        if (st == AR_STATUS_OK)
            st = load_into(l, name, C, 0, L->ln2_g);
    }
    m->ln_f_g = carve(l, (size_t)C);
    if (st == AR_STATUS_OK)
        st = load_into(l, "norm.weight", C, 0, m->ln_f_g);
    /* The head: lm_head.weight when untied (top level, outside the "model." prefix). Only a
     * causal LM has one: LlamaForSequenceClassification (and so a merged classifier) does not. */
    m->lm_head = m->wte;
    if (st == AR_STATUS_OK && !c->tie_word_embeddings && m->causal_lm) {
        m->lm_head = carve(l, (size_t)(V * C));
        st = load_into(l, "lm_head.weight", V, C, m->lm_head);
    }
    return st;
}

/* The head is loaded when the checkpoint has its first tensor; then all of it must be there. */
static enum ar_status load_head(struct loader *l, bool *loaded)
{
    struct ar_model *m = l->m;
    int64_t C = m->cfg.hidden_size, V = m->num_labels;
    struct { const char *name; int64_t d0, d1; size_t off; } bert[] = {
        {"classifier.weight", V, C, m->head.w_off}, {"classifier.bias", V, 0, m->head.b_off}};
    struct { const char *name; int64_t d0, d1; size_t off; } roberta[] = {
        {"classifier.dense.weight", C, C, m->head.dense_w_off},
        {"classifier.dense.bias", C, 0, m->head.dense_b_off},
        {"classifier.out_proj.weight", V, C, m->head.w_off},
        {"classifier.out_proj.bias", V, 0, m->head.b_off}};
    bool two = m->roberta && !m->token_cls; /* RobertaClassificationHead's two layers */
    int n = two ? 4 : 2;
    *loaded = ar_safetensors_find(l->st, two ? roberta[0].name : bert[0].name) != NULL;
    enum ar_status st = AR_STATUS_OK;
    for (int i = 0; *loaded && st == AR_STATUS_OK && i < n; i++) {
        const char *name = two ? roberta[i].name : bert[i].name;
        const struct ar_st_tensor *t = ar_safetensors_find(l->st, name);
        if (!t)
            return ar__fail(m->ctx, AR_STATUS_BAD_FORMAT,
                            "%s: tensor '%s' is missing (the checkpoint has part of a head)",
                            l->dir, name);
        int64_t shape[2] = {two ? roberta[i].d0 : bert[i].d0, two ? roberta[i].d1 : bert[i].d1};
        st = read_checked(l, t, shape[1] ? 2 : 1, shape);
        if (st == AR_STATUS_OK)
            st = ar_mem_write(m->ctx, ar_mem_at(m->arena.param, two ? roberta[i].off : bert[i].off),
                              l->host, t->count);
    }
    return st;
}

enum ar_status ar__model_load_weights(struct ar_model *m, const char *dir, bool *head_loaded)
{
    struct loader l = {.m = m, .dir = dir};
    char err[1024];
    enum ar_status st = ar_safetensors_open(dir, &l.st, err, sizeof err);
    if (st != AR_STATUS_OK)
        return ar__fail(m->ctx, st, "%s", err);
    st = ar_mem_alloc(m->ctx, base_floats(m), &m->base);
    if (st == AR_STATUS_OK && m->cfg.arch != AR_ARCH_BERT) {
        st = m->cfg.arch == AR_ARCH_GPT2 ? load_gpt2(&l) : load_llama(&l);
        /* a sequence-classification checkpoint's head (model_head_last_token.c) */
        *head_loaded = !m->causal_lm && ar_safetensors_find(l.st, "score.weight");
        if (st == AR_STATUS_OK && *head_loaded)
            st = load_into(&l, "score.weight", m->num_labels, m->cfg.hidden_size,
                           ar_mem_at(m->arena.param, m->head.w_off));
        free(l.host);
        ar_safetensors_free(l.st);
        return st;
    }
    if (st == AR_STATUS_OK)
        st = load_embeddings(&l);
    for (int i = 0; st == AR_STATUS_OK && i < m->cfg.num_layers; i++)
        st = load_layer(&l, i, &m->layers[i]);
    if (st == AR_STATUS_OK && !m->roberta && !m->token_cls)
        st = load_linear(&l, "pooler.dense", 1, m->cfg.hidden_size, m->cfg.hidden_size,
                         &m->pooler);
    if (st == AR_STATUS_OK)
        st = load_head(&l, head_loaded);
    free(l.host);
    ar_safetensors_free(l.st);
    return st;
}
