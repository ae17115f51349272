/* The transformer engine: loading, the trainable state, accessors (model.h). The BERT forward and
 * backward are in model_bert.c, names and LoRA targets in model_modules.c, checkpoint tensors in
 * model_load.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

struct ar_model_options ar_model_default_options(void)
{
    return (struct ar_model_options){
        .task = AR_TASK_SEQ_CLS,
        .num_labels = 2,
        .target_modules = "query,value",
        .rank = 8,          /* PEFT LoraConfig defaults: r = 8, lora_alpha = 8, dropout 0 */
        .lora_alpha = 8.0f,
        .lora_dropout = 0.0f,
        .use_rslora = false,
        .hidden_dropout = 0.1f, /* BERT's hidden_dropout_prob */
        .max_batch = 32,
        .max_time = 128,
        .seed = 42,
    };
}

/* Which (architecture, task) pairs this engine computes. */
static enum ar_status check_task(struct ar_model *m, const struct ar_model_options *o)
{
    const struct ar_model_config *c = &m->cfg;
    struct ar_ctx *ctx = m->ctx;
    if ((c->hidden_act == AR_HIDDEN_ACT_SILU) != (c->arch == AR_ARCH_LLAMA))
        return ar__fail(ctx, AR_STATUS_UNSUPPORTED,
                        "model: hidden_act %s is not supported for %s (Llama: silu only)",
                        c->hidden_act == AR_HIDDEN_ACT_SILU ? "silu" : "gelu", c->model_type);
    if (c->arch == AR_ARCH_LLAMA && (c->hidden_size / c->num_heads) % 2 != 0)
        return ar__fail(ctx, AR_STATUS_UNSUPPORTED,
                        "model: rotary embeddings need an even head size (hidden_size %d / "
                        "num_attention_heads %d)",
                        c->hidden_size, c->num_heads);
    if (c->arch != AR_ARCH_BERT && o->task == AR_TASK_SEQ_CLS) {
        if (o->num_labels < 2) /* the head is model_head_last_token.c's "score" */
            return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                            "model: sequence classification with %s needs num_labels >= 2 (got "
                            "%d)",
                            c->model_type, o->num_labels);
        return AR_STATUS_OK;
    }
    if (c->arch != AR_ARCH_BERT) {
        if (o->task != AR_TASK_CAUSAL_LM)
            return ar__fail(ctx, AR_STATUS_UNSUPPORTED,
                            "model: %s supports the causal-LM and sequence-classification tasks "
                            "only",
                            c->model_type);
        /* The LM head is frozen: without adapters nothing would train (empty arena). */
        if (o->rank <= 0 || !o->target_modules || !*o->target_modules)
            return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                            "model: causal-LM fine-tuning of %s needs LoRA targets and rank > 0 "
                            "(the LM head is frozen)",
                            c->model_type);
        return AR_STATUS_OK;
    }
    if ((o->task != AR_TASK_SEQ_CLS && o->task != AR_TASK_TOKEN_CLS) || o->num_labels < 2)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "model: %s needs sequence or token classification with num_labels >= 2 "
                        "(got task %d, %d labels)",
                        c->model_type, (int)o->task, o->num_labels);
    return AR_STATUS_OK;
}

static enum ar_status check_options(struct ar_model *m, const struct ar_model_options *o)
{
    const struct ar_model_config *c = &m->cfg;
    struct ar_ctx *ctx = m->ctx;
    enum ar_status st = check_task(m, o);
    if (st != AR_STATUS_OK)
        return st;
    if (o->rank < 0 || (o->rank > 0 && !(o->lora_alpha > 0 && isfinite(o->lora_alpha))))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "model: rank %d must be >= 0 and lora_alpha %g > 0", o->rank,
                        (double)o->lora_alpha);
    if (!(o->lora_dropout >= 0 && o->lora_dropout < 1) ||
        !(o->hidden_dropout >= 0 && o->hidden_dropout < 1))
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "model: lora_dropout %g and hidden_dropout %g must be in [0, 1)",
                        (double)o->lora_dropout, (double)o->hidden_dropout);
    /* RoBERTa numbers real tokens from pad_token_id + 1 (create_position_ids_from_input_ids). */
    int positions = m->roberta ? c->max_positions - c->pad_token_id - 1 : c->max_positions;
    if (o->max_batch < 1 || o->max_time < 1 || o->max_time > positions)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "model: max_batch %d and max_time %d must be >= 1, and max_time at most "
                        "the %d positions of max_position_embeddings %d",
                        o->max_batch, o->max_time, positions, c->max_positions);
    if (c->hidden_size % c->num_heads != 0)
        return ar__fail(ctx, AR_STATUS_BAD_FORMAT,
                        "model: hidden_size %d is not a multiple of num_attention_heads %d",
                        c->hidden_size, c->num_heads);
    if (o->target_modules && strlen(o->target_modules) >= sizeof m->target_modules)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "model: target_modules is too long");
    return AR_STATUS_OK;
}

/* Carves the activation buffer (one allocation; see model_internal.h for the shapes). */
static enum ar_status alloc_activations(struct ar_model *m)
{
    size_t N = (size_t)m->opts.max_batch * (size_t)m->opts.max_time, B = (size_t)m->opts.max_batch;
    size_t C = (size_t)m->cfg.hidden_size, I = (size_t)m->cfg.intermediate_size;
    size_t V = (size_t)m->num_labels, L = (size_t)m->cfg.num_layers;
    size_t R = ar__model_loss_rows(m, m->opts.max_batch, m->opts.max_time); /* loss rows */
    bool llama = m->cfg.arch == AR_ARCH_LLAMA;
    size_t G = llama ? 2 : 1; /* Llama's inter is the (gate | up) group: (N, 2I) */
    size_t KV = llama ? 2 * (size_t)m->cfg.num_kv_heads * (C / (size_t)m->cfg.num_heads) : 1;
    size_t rope = llama ? (size_t)m->opts.max_time * (C / (size_t)m->cfg.num_heads) / 2 : 1;
    struct { struct ar_mem *v; size_t n; } plan[] = {
        {&m->ids, N}, {&m->pos, N}, {&m->types, N}, {&m->labels, R}, {&m->key_mask, N},
        {&m->x, N * C}, {&m->a, N * C}, {&m->h, N * C}, {&m->qkv, 3 * N * C},
        {&m->ctx_out, N * C}, {&m->iact, N * I}, {&m->emb_mean, N}, {&m->emb_rstd, N},
        {&m->cls, B * C}, {&m->cls_d, B * C}, {&m->z, B * C}, {&m->pooled, B * C},
        {&m->pd, B * C}, {&m->logits, R * V}, {&m->probs, R * V}, {&m->losses, R},
        {&m->dx, N * C}, {&m->da, N * C}, {&m->dh, N * C}, {&m->dctx, N * C},
        {&m->dqkv, 3 * N * C}, {&m->di, N * I}, {&m->di2, G * N * I}, {&m->dcls, B * C},
        {&m->dz, B * C}, {&m->dpooled, B * C}, {&m->dlogits, R * V},
        {&m->resid, m->cfg.arch == AR_ARCH_BERT ? 1 : N * C}, {&m->lq, llama ? N * C : 1},
        {&m->lkv, llama ? N * KV : 1}, {&m->ldkv, llama ? N * KV : 1}, {&m->rope_cos, rope},
        {&m->rope_sin, rope}};
    size_t count = sizeof plan / sizeof plan[0], per_layer = 2 * N * C + G * N * I + 4 * N;
    size_t align = AR_ARENA_ALIGN, total = (L * 7 + count) * align + L * per_layer;
    for (size_t i = 0; i < count; i++)
        total += plan[i].n;
    enum ar_status st = ar_mem_alloc(m->ctx, total, &m->acts);
    if (st != AR_STATUS_OK)
        return st;
    size_t cursor = 0;
#define CARVE(view, n)                                                                             \
    do {                                                                                           \
        (view) = ar_mem_at(m->acts, cursor);                                                       \
        cursor += ((n) + align - 1) / align * align;                                               \
    } while (0)
    for (size_t i = 0; i < count; i++)
        CARVE(*plan[i].v, plan[i].n);
    for (size_t l = 0; l < L; l++) {
        struct ar__bert_layer *y = &m->layers[l];
        CARVE(y->r1, N * C);
        CARVE(y->mean1, N);
        CARVE(y->rstd1, N);
        CARVE(y->ipre, G * N * I);
        CARVE(y->r2, N * C);
        CARVE(y->mean2, N);
        CARVE(y->rstd2, N);
    }
#undef CARVE
    m->host_losses = malloc(R * sizeof(float));
    /* ids, positions, types, labels: R loss rows, but the decoders' upload (model_gpt2.c) stages
     * a target for every one of the N positions, also under SEQ_CLS where R = B */
    m->host_ints = malloc((3 * N + (R > N ? R : N)) * sizeof(int32_t));
    m->host_mask = malloc(N * sizeof(float));
    if (!m->host_losses || !m->host_ints || !m->host_mask)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "model: host staging");
    if (llama)
        return ar_rope_tables(m->ctx, m->opts.max_time, (int)(C / (size_t)m->cfg.num_heads),
                              m->cfg.rope_theta, m->rope_cos, m->rope_sin);
    return AR_STATUS_OK;
}

/* One lora layer per linear (each keeps its own input for backward) and one attention per layer. */
static enum ar_status new_layers(struct ar_model *m)
{
    int N = m->opts.max_batch * m->opts.max_time;
    enum ar_status st = AR_STATUS_OK;
    struct ar__model_linear *lin;
    for (int i = 0; st == AR_STATUS_OK && (lin = ar__model_linear_at(m, i)); i++) {
        bool pooler = lin == &m->pooler;
        struct ar_lora_dims d = {.n = pooler ? m->opts.max_batch : N, .in = lin->in,
                                 .out = lin->out, .rank = lin->rank, .groups = lin->groups};
        struct ar_lora_opts o = {.scale = lin->scale, .dropout = m->opts.lora_dropout};
        st = ar_lora_layer_new(m->ctx, &d, &o, &lin->layer);
        if (lin->rank > 0) {
            lin->w.a = ar_mem_at(m->arena.param, lin->a_off);
            lin->w.b = ar_mem_at(m->arena.param, lin->b_off);
            lin->w.gate = ar_mem_at(m->arena.param, lin->gate_off);
            lin->w.mask = ar_mem_at(m->mask_dev, lin->mask_off);
        }
    }
    struct ar_attention_dims ad = {.batch = m->opts.max_batch, .time = m->opts.max_time,
                                   .heads = m->cfg.num_heads,
                                   .head_size = m->cfg.hidden_size / m->cfg.num_heads,
                                   .causal = m->cfg.arch != AR_ARCH_BERT};
    for (int l = 0; st == AR_STATUS_OK && l < m->cfg.num_layers; l++)
        st = ar_attention_new(m->ctx, &ad, &m->layers[l].att);
    return st;
}

static enum ar_status load(struct ar_model *m, const char *dir)
{
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    enum ar_status st = ar_model_config_load(path, &m->cfg, err, sizeof err);
    if (st != AR_STATUS_OK)
        return ar__fail(m->ctx, st, "%s", err);
    /* XLM-RoBERTa is RoBERTa's architecture under the same "roberta." module prefix. */
    m->roberta = !strcmp(m->cfg.model_type, "roberta") || !strcmp(m->cfg.model_type, "xlm-roberta");
    m->prefix = m->roberta ? "roberta" : "bert";
    if (m->cfg.arch == AR_ARCH_GPT2)
        m->prefix = "transformer"; /* GPT2LMHeadModel's; hub files often have none */
    if (m->cfg.arch == AR_ARCH_LLAMA)
        m->prefix = "model"; /* LlamaForCausalLM's LlamaModel */
    m->causal_lm = m->opts.task == AR_TASK_CAUSAL_LM;
    m->token_cls = m->opts.task == AR_TASK_TOKEN_CLS && m->cfg.arch == AR_ARCH_BERT;
    if (m->causal_lm)
        m->num_labels = m->cfg.vocab_size;
    if ((st = check_options(m, &m->opts)) != AR_STATUS_OK)
        return st;
    m->layers = calloc((size_t)m->cfg.num_layers, sizeof *m->layers);
    if (!m->layers)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "model: %d layers", m->cfg.num_layers);
    if ((st = ar__model_plan(m)) != AR_STATUS_OK)
        return st;
    if ((st = ar_arena_new(m->ctx, m->layout, &m->arena)) != AR_STATUS_OK)
        return st;
    if ((st = ar_mem_alloc(m->ctx, m->mask_count ? m->mask_count : 1, &m->mask_dev)))
        return st;
    bool head_loaded = false;
    if ((st = ar__model_load_weights(m, dir, &head_loaded)) != AR_STATUS_OK)
        return st;
    if ((st = ar__model_init_trainable(m, head_loaded)) != AR_STATUS_OK)
        return st;
    if ((st = new_layers(m)) != AR_STATUS_OK)
        return st;
    return alloc_activations(m);
}

enum ar_status ar_model_load(struct ar_ctx *ctx, const char *model_dir,
                             const struct ar_model_options *opts, struct ar_model **out)
{
    if (!ctx || !out)
        return AR_STATUS_INVALID_ARGUMENT;
    *out = NULL;
    if (!model_dir || !opts)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "ar_model_load: model_dir and opts");
    struct ar_model *m = calloc(1, sizeof *m);
    if (!m)
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "ar_model_load");
    m->ctx = ctx;
    m->opts = *opts;
    m->num_labels = opts->num_labels;
    if (opts->target_modules && strlen(opts->target_modules) < sizeof m->target_modules)
        strcpy(m->target_modules, opts->target_modules);
    m->opts.target_modules = m->target_modules;
    enum ar_status st = load(m, model_dir);
    if (st != AR_STATUS_OK) {
        ar_model_free(m);
        return st;
    }
    *out = m;
    return AR_STATUS_OK;
}

void ar_model_free(struct ar_model *m)
{
    if (!m)
        return;
    struct ar__model_linear *lin;
    for (int i = 0; m->layers && (lin = ar__model_linear_at(m, i)); i++)
        ar_lora_layer_free(lin->layer);
    for (int l = 0; m->layers && l < m->cfg.num_layers; l++)
        ar_attention_free(m->layers[l].att);
    ar_arena_free(&m->arena);
    ar_arena_layout_free(m->layout);
    ar_mem_release(&m->base);
    ar_mem_release(&m->acts);
    ar_mem_release(&m->mask_dev);
    free(m->layers);
    free(m->modules);
    free(m->module_names);
    free(m->mask_host);
    free(m->host_losses);
    free(m->host_ints);
    free(m->host_mask);
    free(m);
}

const struct ar_model_config *ar_model_config(const struct ar_model *m)
{
    return &m->cfg;
}

enum ar_task ar_model_task(const struct ar_model *m)
{
    return m->opts.task;
}

struct ar_arena *ar_model_arena(struct ar_model *m)
{
    return &m->arena;
}

int ar_model_module_count(const struct ar_model *m)
{
    return m->module_count;
}

struct ar_model_module *ar_model_module(struct ar_model *m, int i)
{
    return i >= 0 && i < m->module_count ? &m->modules[i] : NULL;
}

enum ar_status ar_model_sync_masks(struct ar_model *m)
{
    return ar_mem_write(m->ctx, m->mask_dev, m->mask_host, m->mask_count);
}

/* ---- what every architecture's forward and backward share ---- */

uint64_t ar__model_mix(uint64_t a, uint64_t b) /* splitmix64's finaliser over a ⊕ b·φ */
{
    uint64_t z = a ^ (b * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

enum ar_status ar__model_lora_fwd(struct ar_model *m, struct ar__model_linear *lin, int n,
                                  struct ar_mem x, struct ar_mem y)
{
    return ar_lora_forward(lin->layer, n, x, &lin->w, y, m->training,
                           ar__model_mix(m->opts.seed, 0x10000u + (uint64_t)lin->id), m->step);
}

enum ar_status ar__model_lora_bwd(struct ar_model *m, struct ar__model_linear *lin,
                                  struct ar_mem dy, struct ar_mem dx, bool accumulate)
{
    struct ar_lora_grads g = {.dx = dx, .dx_accumulate = accumulate};
    if (lin->rank > 0) {
        g.da = ar_mem_at(m->arena.grad, lin->a_off);
        g.db = ar_mem_at(m->arena.grad, lin->b_off);
        g.dgate = ar_mem_at(m->arena.grad, lin->gate_off);
    } else if (!ar_mem_present(dx)) {
        return AR_STATUS_OK; /* a frozen linear whose input needs no gradient: nothing to do */
    }
    return ar_lora_backward(lin->layer, dy, &lin->w, &g);
}

enum ar_status ar_model_forward(struct ar_model *m, const struct ar_batch *batch, bool training,
                                uint64_t step, float *loss)
{
    if (!m || !batch)
        return AR_STATUS_INVALID_ARGUMENT;
    m->have_forward = false;
    if (batch->batch < 1 || batch->batch > m->opts.max_batch || batch->time < 1 ||
        batch->time > m->opts.max_time || !batch->ids)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "model forward: batch %d × time %d outside the workspace %d × %d (or no "
                        "ids)",
                        batch->batch, batch->time, m->opts.max_batch, m->opts.max_time);
    m->batch = batch->batch;
    m->time = batch->time;
    m->training = training;
    m->step = step;
    enum ar_status st =
        m->cfg.arch == AR_ARCH_GPT2    ? ar__gpt2_forward(m, batch, training, step)
        : m->cfg.arch == AR_ARCH_LLAMA ? ar__llama_forward(m, batch, training, step)
                                       : ar__bert_forward(m, batch, training, step);
    if (st != AR_STATUS_OK)
        return st;
    m->have_forward = true;
    if (loss)
        *loss = m->loss;
    return AR_STATUS_OK;
}

enum ar_status ar_model_backward(struct ar_model *m, float loss_scale)
{
    if (!m)
        return AR_STATUS_INVALID_ARGUMENT;
    if (!m->have_forward || !m->have_loss)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "model backward: needs a forward with labels first");
    return m->cfg.arch == AR_ARCH_GPT2    ? ar__gpt2_backward(m, loss_scale)
           : m->cfg.arch == AR_ARCH_LLAMA ? ar__llama_backward(m, loss_scale)
                                          : ar__bert_backward(m, loss_scale);
}

static enum ar_status read_last(struct ar_model *m, struct ar_mem src, size_t n, float *out)
{
    if (!m || !out)
        return AR_STATUS_INVALID_ARGUMENT;
    if (!m->have_forward)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT, "model: no forward to read from");
    return ar_mem_read(m->ctx, src, out, n);
}

enum ar_status ar_model_logits(struct ar_model *m, float *out)
{
    return read_last(m, m ? m->logits : (struct ar_mem){0},
                     m ? ar__model_loss_rows(m, m->batch, m->time) * (size_t)m->num_labels : 0,
                     out);
}

enum ar_status ar_model_hidden_state(struct ar_model *m, float *out)
{
    return read_last(m, m ? m->x : (struct ar_mem){0},
                     m ? (size_t)m->batch * (size_t)m->time * (size_t)m->cfg.hidden_size : 0, out);
}

enum ar_status ar_model_pooled_output(struct ar_model *m, float *out)
{
    if (m && (m->cfg.arch != AR_ARCH_BERT || m->token_cls))
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "model: %s has no pooled output (decoders and token classification: "
                        "ar_model_hidden_state)",
                        m->cfg.model_type);
    return read_last(m, m ? m->pooled : (struct ar_mem){0},
                     m ? (size_t)m->batch * (size_t)m->cfg.hidden_size : 0, out);
}
