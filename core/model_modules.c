/* Which linear maps are adapted, what they are called, where their trainable state lives in the
 * arena, and how it starts (model.h; METHODS.md §0.1 for PEFT's conventions).
 *
 * Names are PEFT's module paths inside BertForSequenceClassification (or the RoBERTa class):
 * "bert.encoder.layer.N.attention.self.query" … "bert.encoder.layer.N.output.dense", then
 * "bert.pooler.dense". A target matches a path equal to it or ending in "." + target, which is
 * PEFT's rule for a list of names (tuners_utils.check_target_module_exists). GPT-2 and Llama use
 * their causal-LM classes' paths ("transformer.h.N.attn.c_attn", "model.layers.N.self_attn.q_proj")
 * and have no trainable head (the LM head is frozen).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#define MAX_TARGETS 32

struct targets {
    bool all_linear;
    int count;
    char keys[MAX_TARGETS][64];
    bool used[MAX_TARGETS];
};

static enum ar_status parse_targets(struct ar_model *m, struct targets *t)
{
    memset(t, 0, sizeof *t);
    const char *s = m->target_modules;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len >= sizeof t->keys[0] || t->count == MAX_TARGETS)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "target_modules: too many targets or a name too long in \"%s\"",
                            m->target_modules);
        if (len == 10 && !strncmp(s, "all-linear", 10))
            t->all_linear = true;
        else if (len)
            memcpy(t->keys[t->count++], s, len);
        s += len;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == ',')
            s++;
    }
    return AR_STATUS_OK;
}

static bool is_target(struct targets *t, const char *path)
{
    bool hit = t->all_linear;
    size_t plen = strlen(path);
    for (int i = 0; i < t->count; i++) {
        size_t klen = strlen(t->keys[i]);
        bool match = !strcmp(path, t->keys[i]) ||
                     (plen > klen && path[plen - klen - 1] == '.' &&
                      !strcmp(path + plen - klen, t->keys[i]));
        if (match)
            t->used[i] = hit = true;
    }
    return hit;
}

/* Linear groups per layer: BERT and GPT-2 4; Llama 5 (q, k|v, o, gate|up, down). */
static int linears_per_layer(const struct ar_model *m)
{
    return m->cfg.arch == AR_ARCH_LLAMA ? 5 : 4;
}

struct ar__model_linear *ar__model_linear_at(struct ar_model *m, int i)
{
    int per_layer = linears_per_layer(m);
    if (i < 0)
        return NULL;
    if (i < m->cfg.num_layers * per_layer && per_layer == 5) {
        struct ar__bert_layer *l = &m->layers[i / per_layer];
        struct ar__model_linear *all[] = {&l->qkv, &l->kv, &l->attn_out, &l->inter, &l->out};
        return all[i % per_layer];
    }
    if (i < m->cfg.num_layers * per_layer) {
        struct ar__bert_layer *l = &m->layers[i / per_layer];
        struct ar__model_linear *all[] = {&l->qkv, &l->attn_out, &l->inter, &l->out};
        return all[i % per_layer];
    }
    /* TOKEN_CLS has no pooler (BertModel(add_pooling_layer=False)) */
    if (i == m->cfg.num_layers * per_layer && !m->roberta && m->cfg.arch == AR_ARCH_BERT &&
        !m->token_cls)
        return &m->pooler;
    return NULL;
}

/* The PEFT paths of a linear's members: one for a plain group, query/key/value for qkv. */
static int member_paths(const struct ar_model *m, int layer, int which, char paths[3][AR__MODEL_NAME_MAX])
{
    static const char *const sub[] = {"attention.output.dense", "intermediate.dense",
                                      "output.dense"};
    static const char *const gpt2[] = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
    static const char *const llama[][2] = {{"self_attn.q_proj", NULL},
                                           {"self_attn.k_proj", "self_attn.v_proj"},
                                           {"self_attn.o_proj", NULL},
                                           {"mlp.gate_proj", "mlp.up_proj"},
                                           {"mlp.down_proj", NULL}};
    if (m->cfg.arch == AR_ARCH_LLAMA) { /* LlamaForCausalLM's paths, in forward order */
        int g = llama[which][1] ? 2 : 1;
        for (int k = 0; k < g; k++)
            snprintf(paths[k], AR__MODEL_NAME_MAX, "model.layers.%d.%s", layer, llama[which][k]);
        return g;
    }
    if (m->cfg.arch == AR_ARCH_GPT2) { /* GPT2LMHeadModel's paths; c_attn is one module */
        snprintf(paths[0], AR__MODEL_NAME_MAX, "transformer.h.%d.%s", layer, gpt2[which]);
        return 1;
    }
    if (layer == m->cfg.num_layers) {
        snprintf(paths[0], AR__MODEL_NAME_MAX, "%s.pooler.dense", m->prefix);
        return 1;
    }
    if (which == 0) {
        static const char *const qkv[] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++)
            snprintf(paths[k], AR__MODEL_NAME_MAX, "%s.encoder.layer.%d.attention.self.%s",
                     m->prefix, layer, qkv[k]);
        return 3;
    }
    snprintf(paths[0], AR__MODEL_NAME_MAX, "%s.encoder.layer.%d.%s", m->prefix, layer,
             sub[which - 1]);
    return 1;
}

static enum ar_status add_slice(struct ar_model *m, const char *group, const char *what,
                                size_t count, unsigned flags, size_t *off)
{
    char name[AR__MODEL_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s%s%s", group, *what ? "." : "", what);
    enum ar_status st = ar_arena_layout_add(m->layout, name, count, flags, off);
    if (st != AR_STATUS_OK)
        return ar__fail(m->ctx, st, "arena: cannot add slice %s (%zu floats)", name, count);
    return AR_STATUS_OK;
}

/* Shapes, ranks, arena slices and module entries of one linear group. */
static enum ar_status plan_linear(struct ar_model *m, struct targets *t, int layer, int which,
                                  struct ar__model_linear *lin)
{
    const struct ar_model_config *c = &m->cfg;
    char paths[3][AR__MODEL_NAME_MAX];
    int g = member_paths(m, layer, which, paths);
    bool adapted[3] = {false, false, false}, any = false;
    for (int k = 0; k < g; k++)
        any |= adapted[k] = m->opts.rank > 0 && is_target(t, paths[k]);
    lin->groups = g;
    lin->in = which == 3 ? c->intermediate_size : c->hidden_size;
    lin->out = which == 2 ? c->intermediate_size : c->hidden_size;
    if (c->arch == AR_ARCH_GPT2 && which == 0)
        lin->out = 3 * c->hidden_size; /* c_attn: q, k, v fused in one (3C, C) map */
    if (c->arch == AR_ARCH_LLAMA) { /* q (C), k|v (KV·D each), o (C), gate|up (I each), down */
        int kvd = c->num_kv_heads * (c->hidden_size / c->num_heads);
        const int ins[] = {c->hidden_size, c->hidden_size, c->hidden_size, c->hidden_size,
                           c->intermediate_size};
        const int outs[] = {c->hidden_size, kvd, c->hidden_size, c->intermediate_size,
                            c->hidden_size};
        lin->in = ins[which];
        lin->out = outs[which];
    }
    lin->rank = any ? m->opts.rank : 0;
    lin->scale = m->opts.use_rslora ? m->opts.lora_alpha / sqrtf((float)m->opts.rank)
                                    : m->opts.lora_alpha / (float)(m->opts.rank ? m->opts.rank : 1);
    if (g == 3)
        snprintf(lin->name, sizeof lin->name, "%s.encoder.layer.%d.attention.self.qkv", m->prefix,
                 layer);
    else if (g == 2) /* Llama's pairs: "….self_attn.kv", "….mlp.gate_up" */
        snprintf(lin->name, sizeof lin->name, "model.layers.%d.%s", layer,
                 which == 1 ? "self_attn.kv" : "mlp.gate_up");
    else
        snprintf(lin->name, sizeof lin->name, "%s", paths[0]);
    if (!any)
        return AR_STATUS_OK;
    size_t r = (size_t)lin->rank, gs = (size_t)g;
    enum ar_status st = add_slice(m, lin->name, "lora_A", gs * r * (size_t)lin->in, AR_ARENA_DECAY,
                                  &lin->a_off);
    if (st == AR_STATUS_OK)
        st = add_slice(m, lin->name, "lora_B", gs * (size_t)lin->out * r, AR_ARENA_DECAY,
                       &lin->b_off);
    if (st == AR_STATUS_OK)
        st = add_slice(m, lin->name, "gate", gs * r, 0, &lin->gate_off);
    if (st != AR_STATUS_OK)
        return st;
    lin->mask_off = m->mask_count;
    m->mask_count += gs * r;
    for (int k = 0; k < g; k++) {
        if (!adapted[k])
            continue;
        int i = m->module_count++;
        memcpy(m->module_names[i], paths[k], AR__MODEL_NAME_MAX);
        m->modules[i] = (struct ar_model_module){
            .name = m->module_names[i], .layer = layer, .in = lin->in, .out = lin->out,
            .rank = lin->rank, .scale = lin->scale,
            .a_off = lin->a_off + (size_t)k * r * (size_t)lin->in,
            .b_off = lin->b_off + (size_t)k * (size_t)lin->out * r,
            .gate_off = lin->gate_off + (size_t)k * r,
            .mask = NULL /* set by ar__model_init_trainable */};
    }
    return AR_STATUS_OK;
}

static enum ar_status plan_head(struct ar_model *m)
{
    size_t c = (size_t)m->cfg.hidden_size, v = (size_t)m->num_labels;
    struct ar__model_head *h = &m->head;
    if (m->causal_lm)
        return AR_STATUS_OK; /* the LM head is tied to the frozen embeddings: nothing to train */
    if (m->cfg.arch != AR_ARCH_BERT)
        return ar__last_token_plan(m); /* decoders: "score.weight" (model_head_last_token.c) */
    if (!m->roberta || m->token_cls) { /* one Linear: BERT's, or any token classifier */
        enum ar_status st = add_slice(m, "classifier.weight", "", v * c, AR_ARENA_DECAY, &h->w_off);
        return st ? st : add_slice(m, "classifier.bias", "", v, 0, &h->b_off);
    }
    enum ar_status st = add_slice(m, "classifier.dense.weight", "", c * c, AR_ARENA_DECAY,
                                  &h->dense_w_off);
    if (st == AR_STATUS_OK)
        st = add_slice(m, "classifier.dense.bias", "", c, 0, &h->dense_b_off);
    if (st == AR_STATUS_OK)
        st = add_slice(m, "classifier.out_proj.weight", "", v * c, AR_ARENA_DECAY, &h->w_off);
    return st ? st : add_slice(m, "classifier.out_proj.bias", "", v, 0, &h->b_off);
}

enum ar_status ar__model_plan(struct ar_model *m)
{
    struct targets t;
    enum ar_status st = parse_targets(m, &t);
    if (st != AR_STATUS_OK)
        return st;
    int max_modules = m->cfg.num_layers * 7 + 1, id = 0, per_layer = linears_per_layer(m);
    m->modules = calloc((size_t)max_modules, sizeof *m->modules);
    m->module_names = calloc((size_t)max_modules, sizeof *m->module_names);
    m->layout = ar_arena_layout_new();
    if (!m->modules || !m->module_names || !m->layout)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "model: module table");
    for (struct ar__model_linear *lin; (lin = ar__model_linear_at(m, id)); id++) {
        lin->id = id;
        int layer = id / per_layer < m->cfg.num_layers ? id / per_layer : m->cfg.num_layers;
        st = plan_linear(m, &t, layer, layer == m->cfg.num_layers ? 0 : id % per_layer, lin);
        if (st != AR_STATUS_OK)
            return st;
    }
    for (int i = 0; i < t.count; i++)
        if (!t.used[i] && m->opts.rank > 0 && m->cfg.arch == AR_ARCH_LLAMA)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "target_modules: \"%s\" matches no linear of this %s model (PEFT "
                            "names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
                            "down_proj, or a full path such as model.layers.0.self_attn.q_proj)",
                            t.keys[i], m->cfg.model_type);
    for (int i = 0; i < t.count; i++)
        if (!t.used[i] && m->opts.rank > 0 && m->cfg.arch == AR_ARCH_GPT2)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "target_modules: \"%s\" matches no linear of this %s model (PEFT "
                            "names: c_attn, c_proj, c_fc, or a full path such as "
                            "transformer.h.0.attn.c_attn)",
                            t.keys[i], m->cfg.model_type);
    for (int i = 0; i < t.count; i++)
        if (!t.used[i] && m->opts.rank > 0)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "target_modules: \"%s\" matches no linear of this %s model (PEFT "
                            "names: query, key, value, dense, or a full path such as "
                            "%s.encoder.layer.0.attention.self.query)",
                            t.keys[i], m->cfg.model_type, m->prefix);
    st = plan_head(m);
    if (st != AR_STATUS_OK)
        return st;
    m->mask_host = calloc(m->mask_count ? m->mask_count : 1, sizeof(float));
    if (!m->mask_host)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "model: rank masks");
    return AR_STATUS_OK;
}

/* ---- PEFT initialisation ------------------------------------------------------------------ */

/* splitmix64 (Steele, Lea and Flood, OOPSLA 2014): a tiny, well-mixed host generator, so the same
 * seed gives the same initial adapters on every machine. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double next_uniform(uint64_t *s) /* [0, 1) with 53 bits */
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

static float next_normal(uint64_t *s) /* Box-Muller */
{
    double u1 = 1.0 - next_uniform(s), u2 = next_uniform(s);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* Members that are targets get A ~ U(−1/√in, 1/√in) (Kaiming-uniform with a = √5, as PEFT), gate 1
 * and mask 1; the others of an adapted group keep A = 0, gate 0, mask 0. B = 0 everywhere (the
 * arena starts zeroed), so the adapted model equals the base at step 0. */
static enum ar_status init_linear(struct ar_model *m, struct ar__model_linear *lin, uint64_t *rng)
{
    size_t r = (size_t)lin->rank, in = (size_t)lin->in, g = (size_t)lin->groups;
    float *a = calloc(g * r * in, sizeof *a), *gate = calloc(g * r, sizeof *gate);
    if (!a || !gate) {
        free(a);
        free(gate);
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "model: LoRA init");
    }
    float bound = 1.0f / sqrtf((float)in);
    for (size_t k = 0; k < g; k++) {
        bool adapted = false;
        for (int i = 0; i < m->module_count; i++)
            adapted |= m->modules[i].a_off == lin->a_off + k * r * in;
        if (!adapted)
            continue;
        for (size_t j = 0; j < r * in; j++)
            a[k * r * in + j] = (float)(2.0 * next_uniform(rng) - 1.0) * bound;
        for (size_t j = 0; j < r; j++)
            gate[k * r + j] = m->mask_host[lin->mask_off + k * r + j] = 1.0f;
    }
    enum ar_status st = ar_mem_write(m->ctx, ar_mem_at(m->arena.param, lin->a_off), a, g * r * in);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(m->ctx, ar_mem_at(m->arena.param, lin->gate_off), gate, g * r);
    free(a);
    free(gate);
    return st;
}

/* N(0, initializer_range²) (transformers' _init_weights for a new Linear; 0.02 by default). */
static enum ar_status init_normal(struct ar_model *m, size_t off, size_t n, uint64_t *rng)
{
    float *w = malloc(n * sizeof *w);
    if (!w)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "model: head init");
    for (size_t i = 0; i < n; i++)
        w[i] = m->cfg.initializer_range * next_normal(rng);
    enum ar_status st = ar_mem_write(m->ctx, ar_mem_at(m->arena.param, off), w, n);
    free(w);
    return st;
}

enum ar_status ar__model_init_trainable(struct ar_model *m, bool head_loaded)
{
    uint64_t rng = m->opts.seed;
    enum ar_status st = AR_STATUS_OK;
    struct ar__model_linear *lin;
    for (int i = 0; st == AR_STATUS_OK && (lin = ar__model_linear_at(m, i)); i++)
        if (lin->rank > 0)
            st = init_linear(m, lin, &rng);
    for (int i = 0; i < m->module_count; i++) {
        /* The module's mask is its member's rows of its group's mask block. */
        for (int j = 0; (lin = ar__model_linear_at(m, j)); j++) {
            size_t span = (size_t)lin->groups * (size_t)lin->rank;
            if (lin->rank && m->modules[i].gate_off >= lin->gate_off &&
                m->modules[i].gate_off < lin->gate_off + span)
                m->modules[i].mask = m->mask_host + lin->mask_off +
                                     (m->modules[i].gate_off - lin->gate_off);
        }
    }
    if (st == AR_STATUS_OK && !head_loaded && !m->causal_lm) {
        size_t c = (size_t)m->cfg.hidden_size, v = (size_t)m->num_labels;
        if (m->roberta && !m->token_cls)
            st = init_normal(m, m->head.dense_w_off, c * c, &rng);
        if (st == AR_STATUS_OK)
            st = init_normal(m, m->head.w_off, v * c, &rng);
    }
    return st == AR_STATUS_OK ? ar_model_sync_masks(m) : st;
}
