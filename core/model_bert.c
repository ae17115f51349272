/* BERT / RoBERTa forward and backward (model.h), as transformers' BertForSequenceClassification
 * and RobertaForSequenceClassification compute them (tests/fixtures/gen_bert.py mirrors both):
 *
 *   x = dropout(LN(wte[ids] + wpe[pos] + wtt[types]))                       embeddings
 *   per layer:  qkv = x·W_qkvᵀ (+LoRA)         one lora group, G = 3, (N, 3C)
 *               r1 = dropout(attention(qkv)·W_aoᵀ (+LoRA)) + x,  a = LN1(r1)
 *               r2 = dropout(GELU(a·W_iᵀ (+LoRA))·W_oᵀ (+LoRA)) + a,  x = LN2(r2)
 *   BERT:     pooled = tanh(x[:, 0]·W_poolerᵀ (+LoRA)),  logits = dropout(pooled)·W_clsᵀ + b
 *   RoBERTa:  pooled = tanh(dropout(x[:, 0])·W_denseᵀ + b),  logits = dropout(pooled)·W_outᵀ + b
 *   loss = mean cross-entropy over the rows with a label ≥ 0
 *   TOKEN_CLS: no pooler; logits = dropout(x)·W_clsᵀ + b on every token (model_head_token.c)
 *
 * The backward walks the same steps in reverse; only the LoRA factors, gates and the head get
 * gradients (accumulated into the arena), so the first layer's input gradient is never formed.
 * Attention-probability dropout is not implemented (ops.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model_internal.h"

/* Dropout streams of the hidden-state sites; LoRA dropout uses per-linear seeds instead. */
enum { STREAM_EMB = 0, STREAM_HEAD_IN = 0x7ffffffe, STREAM_HEAD = 0x7fffffff };

static enum ar_activation ffn_activation(const struct ar_model *m)
{
    return m->cfg.hidden_act == AR_HIDDEN_ACT_GELU_TANH ? AR_ACTIVATION_GELU_TANH
                                                        : AR_ACTIVATION_GELU;
}

/* Checks the batch on the host, builds position ids and the key mask, uploads all of it. */
static enum ar_status upload_batch(struct ar_model *m, const struct ar_batch *b)
{
    const struct ar_model_config *c = &m->cfg;
    int B = b->batch, T = b->time, N = B * T, pad = c->pad_token_id;
    int32_t *ids = m->host_ints, *pos = ids + N, *types = pos + N, *labels = types + N;
    for (int i = 0; i < B; i++) {
        int run = 0;
        for (int t = 0; t < T; t++) {
            int k = i * T + t;
            ids[k] = b->ids[k];
            types[k] = b->type_ids ? b->type_ids[k] : 0;
            /* RoBERTa: pad_token_id + 1 + (index among non-pad tokens); pads get pad_token_id. */
            pos[k] = m->roberta ? (ids[k] != pad ? pad + ++run : pad) : t;
            m->host_mask[k] = b->attn_mask ? (b->attn_mask[k] != 0) : 1.0f;
            if (ids[k] < 0 || ids[k] >= c->vocab_size || types[k] < 0 ||
                types[k] >= (c->type_vocab_size > 0 ? c->type_vocab_size : 1) ||
                pos[k] >= c->max_positions)
                return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                                "model forward: row %d, column %d: token id %d (vocabulary %d), "
                                "type %d (%d types) or position %d (%d positions) out of range",
                                i, t, ids[k], c->vocab_size, types[k], c->type_vocab_size, pos[k],
                                c->max_positions);
        }
    }
    m->counted = 0;
    /* TOKEN_CLS: one label per position (row i·T + t), else one per sequence */
    const int32_t *src = m->token_cls ? b->token_labels : b->labels;
    int rows = m->token_cls ? N : B;
    for (int i = 0; src && i < rows; i++) {
        labels[i] = src[i];
        if (labels[i] >= m->num_labels)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "model forward: label %d of row %d is not below num_labels %d",
                            labels[i], i, m->num_labels);
        m->counted += labels[i] >= 0;
    }
    /* Integer tensors travel as 4-byte elements through the float view (ops.h). */
    enum ar_status st = ar_mem_write(m->ctx, m->ids, (const float *)(const void *)ids, (size_t)N);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(m->ctx, m->pos, (const float *)(const void *)pos, (size_t)N);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(m->ctx, m->types, (const float *)(const void *)types, (size_t)N);
    if (st == AR_STATUS_OK && src)
        st = ar_mem_write(m->ctx, m->labels, (const float *)(const void *)labels, (size_t)rows);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(m->ctx, m->key_mask, m->host_mask, (size_t)N);
    return st;
}

static enum ar_status layer_forward(struct ar_model *m, int l, float p, uint64_t seed)
{
    struct ar_ctx *ctx = m->ctx;
    struct ar__bert_layer *L = &m->layers[l];
    int N = m->batch * m->time, C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    size_t NC = (size_t)N * (size_t)C;
    float eps = m->cfg.norm_eps;
    enum ar_status st = ar__model_lora_fwd(m, &L->qkv, N, m->x, m->qkv);
    if (!st)
        st = ar_attention_forward(L->att, m->batch, m->time, m->qkv, m->key_mask, m->ctx_out);
    if (!st)
        st = ar__model_lora_fwd(m, &L->attn_out, N, m->ctx_out, m->h);
    if (!st)
        st = ar_dropout_forward(ctx, NC, p, seed, 1u + 2u * (uint32_t)l, m->h, L->r1);
    if (!st)
        st = ar_add(ctx, NC, L->r1, m->x, L->r1);
    if (!st)
        st = ar_layernorm_forward(ctx, N, C, eps, L->r1, L->ln1_g, L->ln1_b, m->a, L->mean1,
                                  L->rstd1);
    if (!st)
        st = ar__model_lora_fwd(m, &L->inter, N, m->a, L->ipre);
    if (!st)
        st = ar_activation_forward(ctx, ffn_activation(m), (size_t)N * (size_t)I, L->ipre,
                                   m->iact);
    if (!st)
        st = ar__model_lora_fwd(m, &L->out, N, m->iact, m->h);
    if (!st)
        st = ar_dropout_forward(ctx, NC, p, seed, 2u + 2u * (uint32_t)l, m->h, L->r2);
    if (!st)
        st = ar_add(ctx, NC, L->r2, m->a, L->r2);
    if (!st)
        st = ar_layernorm_forward(ctx, N, C, eps, L->r2, L->ln2_g, L->ln2_b, m->x, L->mean2,
                                  L->rstd2);
    return st;
}

static enum ar_status head_forward(struct ar_model *m, float p, uint64_t seed)
{
    struct ar_ctx *ctx = m->ctx;
    int B = m->batch, C = m->cfg.hidden_size, V = m->num_labels;
    size_t BC = (size_t)B * (size_t)C;
    struct ar_mem param = m->arena.param;
    enum ar_status st = ar_copy_rows(ctx, B, C, m->x, (size_t)m->time * (size_t)C, m->cls,
                                     (size_t)C);
    if (!st && !m->roberta)
        st = ar__model_lora_fwd(m, &m->pooler, B, m->cls, m->z);
    if (!st && m->roberta) {
        st = ar_dropout_forward(ctx, BC, p, seed, STREAM_HEAD_IN, m->cls, m->cls_d);
        if (!st)
            st = ar_gemm(ctx, false, true, (size_t)B, (size_t)C, (size_t)C, 1.0f, m->cls_d,
                         (size_t)C, ar_mem_at(param, m->head.dense_w_off), (size_t)C, 0.0f, m->z,
                         (size_t)C);
        if (!st)
            st = ar_bias_add(ctx, B, C, ar_mem_at(param, m->head.dense_b_off), m->z);
    }
    if (!st)
        st = ar_activation_forward(ctx, AR_ACTIVATION_TANH, BC, m->z, m->pooled);
    if (!st)
        st = ar_dropout_forward(ctx, BC, p, seed, STREAM_HEAD, m->pooled, m->pd);
    if (!st) /* logits (B, V) = pd (B, C) · Wᵀ, W (V, C) */
        st = ar_gemm(ctx, false, true, (size_t)B, (size_t)V, (size_t)C, 1.0f, m->pd, (size_t)C,
                     ar_mem_at(param, m->head.w_off), (size_t)C, 0.0f, m->logits, (size_t)V);
    if (!st)
        st = ar_bias_add(ctx, B, V, ar_mem_at(param, m->head.b_off), m->logits);
    return st;
}

static enum ar_status loss_forward(struct ar_model *m)
{
    int B = m->batch;
    enum ar_status st = ar_cross_entropy_forward(m->ctx, B, m->num_labels, m->logits, m->labels,
                                                 m->probs, m->losses);
    if (!st)
        st = ar_mem_read(m->ctx, m->losses, m->host_losses, (size_t)B);
    if (st)
        return st;
    double sum = 0;
    for (int i = 0; i < B; i++)
        sum += m->host_losses[i];
    m->loss = m->counted ? (float)(sum / m->counted) : NAN;
    m->have_loss = m->counted > 0;
    return AR_STATUS_OK;
}

enum ar_status ar__bert_forward(struct ar_model *m, const struct ar_batch *b, bool training,
                                uint64_t step)
{
    m->have_loss = false;
    m->loss = NAN;
    enum ar_status st = upload_batch(m, b);
    if (st)
        return st;
    struct ar_ctx *ctx = m->ctx;
    int N = m->batch * m->time, C = m->cfg.hidden_size;
    float p = training ? m->opts.hidden_dropout : 0.0f;
    uint64_t seed = ar__model_mix(m->opts.seed, step);
    struct ar_mem types = m->cfg.type_vocab_size > 0 ? m->types : (struct ar_mem){0};
    st = ar_embedding_forward(ctx, N, C, m->ids, m->pos, types, m->wte, m->wpe, m->wtt, m->h);
    if (!st)
        st = ar_layernorm_forward(ctx, N, C, m->cfg.norm_eps, m->h, m->ln_emb_g, m->ln_emb_b, m->a,
                                  m->emb_mean, m->emb_rstd);
    if (!st)
        st = ar_dropout_forward(ctx, (size_t)N * (size_t)C, p, seed, STREAM_EMB, m->a, m->x);
    for (int l = 0; !st && l < m->cfg.num_layers; l++)
        st = layer_forward(m, l, p, seed);
    if (!st && m->token_cls) { /* model_head_token.c; the loss over B·T rows, as a decoder's */
        st = ar__token_head_forward(m, p, seed);
        return !st && b->token_labels ? ar__decoder_loss(m) : st;
    }
    if (!st)
        st = head_forward(m, p, seed);
    if (!st && b->labels)
        st = loss_forward(m);
    return st;
}

/* ---- backward --------------------------------------------------------------------------- */

/* From dlogits to the gradient of the last hidden state, m->dx (B, T, C): zero except [CLS]. */
static enum ar_status head_backward(struct ar_model *m, float p, uint64_t seed)
{
    struct ar_ctx *ctx = m->ctx;
    size_t B = (size_t)m->batch, C = (size_t)m->cfg.hidden_size, V = (size_t)m->num_labels;
    struct ar_mem param = m->arena.param, grad = m->arena.grad;
    struct ar_mem t1 = m->dpooled, t2 = m->dz;
    /* dW (V, C) += dlogitsᵀ (V, B) · pd (B, C);  db += Σ_rows dlogits;  dpd = dlogits · W */
    enum ar_status st = ar_gemm(ctx, true, false, V, C, B, 1.0f, m->dlogits, V, m->pd, C, 1.0f,
                                ar_mem_at(grad, m->head.w_off), C);
    if (!st)
        st = ar_bias_grad(ctx, (int)B, (int)V, m->dlogits, ar_mem_at(grad, m->head.b_off), true);
    if (!st)
        st = ar_gemm(ctx, false, false, B, C, V, 1.0f, m->dlogits, V,
                     ar_mem_at(param, m->head.w_off), C, 0.0f, t1, C);
    if (!st)
        st = ar_dropout_backward(ctx, B * C, p, seed, STREAM_HEAD, t1, t2);
    if (!st)
        st = ar_activation_backward(ctx, AR_ACTIVATION_TANH, B * C, m->z, t2, t1); /* t1 = dz */
    if (!st && !m->roberta)
        st = ar__model_lora_bwd(m, &m->pooler, t1, m->dcls, false);
    if (!st && m->roberta) {
        st = ar_gemm(ctx, true, false, C, C, B, 1.0f, t1, C, m->cls_d, C, 1.0f,
                     ar_mem_at(grad, m->head.dense_w_off), C);
        if (!st)
            st = ar_bias_grad(ctx, (int)B, (int)C, t1, ar_mem_at(grad, m->head.dense_b_off), true);
        if (!st)
            st = ar_gemm(ctx, false, false, B, C, C, 1.0f, t1, C,
                         ar_mem_at(param, m->head.dense_w_off), C, 0.0f, t2, C);
        if (!st)
            st = ar_dropout_backward(ctx, B * C, p, seed, STREAM_HEAD_IN, t2, m->dcls);
    }
    size_t T = (size_t)m->time;
    if (!st)
        st = ar_mem_fill(ctx, m->dx, 0.0f, B * T * C);
    if (!st)
        st = ar_copy_rows(ctx, (int)B, (int)C, m->dcls, C, m->dx, T * C);
    return st;
}

/* m->dx holds ∂L/∂(layer output); leaves ∂L/∂(layer input) there (not formed for layer 0). */
static enum ar_status layer_backward(struct ar_model *m, int l, float p, uint64_t seed)
{
    struct ar_ctx *ctx = m->ctx;
    struct ar__bert_layer *L = &m->layers[l];
    int N = m->batch * m->time, C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    size_t NC = (size_t)N * (size_t)C;
    enum ar_status st = ar_layernorm_backward(ctx, N, C, m->dx, L->r2, L->ln2_g, L->mean2,
                                              L->rstd2, m->da, false); /* da = ∂L/∂r2 */
    if (!st)
        st = ar_dropout_backward(ctx, NC, p, seed, 2u + 2u * (uint32_t)l, m->da, m->dh);
    if (!st)
        st = ar__model_lora_bwd(m, &L->out, m->dh, m->di, false);
    if (!st)
        st = ar_activation_backward(ctx, ffn_activation(m), (size_t)N * (size_t)I, L->ipre, m->di,
                                    m->di2);
    /* Layer 0's attention block needs a gradient only when something in it is adapted. */
    bool need_qkv = l > 0 || L->qkv.rank > 0;
    bool need_attn = need_qkv || L->attn_out.rank > 0;
    struct ar_mem none = {0};
    if (!st) /* the residual: ∂L/∂a = ∂L/∂r2 + the intermediate's input gradient */
        st = ar__model_lora_bwd(m, &L->inter, m->di2, need_attn ? m->da : none, true);
    if (st || !need_attn)
        return st;
    if (!st)
        st = ar_layernorm_backward(ctx, N, C, m->da, L->r1, L->ln1_g, L->mean1, L->rstd1, m->dx,
                                   false); /* dx = ∂L/∂r1 */
    if (!st)
        st = ar_dropout_backward(ctx, NC, p, seed, 1u + 2u * (uint32_t)l, m->dx, m->dh);
    if (!st)
        st = ar__model_lora_bwd(m, &L->attn_out, m->dh, need_qkv ? m->dctx : none, false);
    if (!st && need_qkv)
        st = ar_attention_backward(L->att, m->dctx, m->dqkv);
    if (!st && need_qkv)
        st = ar__model_lora_bwd(m, &L->qkv, m->dqkv, l > 0 ? m->dx : none, true);
    return st;
}

enum ar_status ar__bert_backward(struct ar_model *m, float loss_scale)
{
    float p = m->training ? m->opts.hidden_dropout : 0.0f;
    uint64_t seed = ar__model_mix(m->opts.seed, m->step);
    enum ar_status st = m->token_cls /* the token head leaves ∂L/∂x in m->dx itself */
                            ? ar__token_head_backward(m, loss_scale, p, seed)
                            : ar_cross_entropy_backward(m->ctx, m->batch, m->num_labels, m->probs,
                                                        m->labels, loss_scale / (float)m->counted,
                                                        m->dlogits);
    if (!st && !m->token_cls)
        st = head_backward(m, p, seed);
    for (int l = m->cfg.num_layers - 1; !st && l >= 0; l--)
        st = layer_backward(m, l, p, seed);
    return st;
}
