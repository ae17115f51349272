/* GPT-2 forward and backward for causal-LM fine-tuning (model.h), as transformers'
 * GPT2LMHeadModel computes it (tests/fixtures/gen_decoders.py runs that class as the reference),
 * and for sequence classification (GPT2ForSequenceClassification: the same blocks, then
 * model_head_last_token.c's head on ln_f's output instead of the LM head):
 *
 *   x₀ = dropout(wte[ids] + wpe[t])                                        embeddings
 *   per block (pre-LN, Radford et al. 2019 §2.3):
 *       qkv = LN1(x)·W_attnᵀ (+LoRA)          c_attn: ONE lora group, G = 1, (N, 3C)
 *       r2  = x + dropout(causal_attention(qkv)·W_projᵀ (+LoRA))
 *       x'  = r2 + dropout(gelu_new(LN2(r2)·W_fcᵀ (+LoRA))·W_mlpᵀ (+LoRA))
 *   logits (N, V) = ln_f(x_L)·wteᵀ            LM head tied to the frozen token embeddings
 *   loss = mean cross-entropy over the tokens whose (already shifted) target is ≥ 0
 *
 * Residual stream: block l reads layers[l].r1 and writes layers[l + 1].r1 (the last block
 * m->resid), so the LayerNorm inputs backward needs are kept without copies. The backward walks
 * the blocks in reverse with the running residual gradient in m->dx; only the LoRA factors and
 * gates get gradients (the embeddings and the tied head are frozen), so block 0's input gradient
 * is never formed.
 */
#include <math.h>
#include <string.h>

#include "model_internal.h"

enum { STREAM_EMB = 0 }; /* hidden dropout streams: 0 embeddings, 1 + 2l and 2 + 2l the blocks */

static enum ar_activation ffn_activation(const struct ar_model *m)
{
    return m->cfg.hidden_act == AR_HIDDEN_ACT_GELU ? AR_ACTIVATION_GELU : AR_ACTIVATION_GELU_TANH;
}

enum ar_status ar__decoder_upload(struct ar_model *m, const struct ar_batch *b, bool zero_pos)
{
    const struct ar_model_config *c = &m->cfg;
    int B = b->batch, T = b->time, N = B * T, V = c->vocab_size;
    int32_t *ids = m->host_ints, *pos = ids + N, *labels = pos + 2 * N;
    m->counted = 0;
    for (int i = 0; i < B; i++) {
        for (int t = 0; t < T; t++) {
            int k = i * T + t;
            ids[k] = b->ids[k];
            pos[k] = zero_pos ? 0 : t; /* GPT2Model: arange(T) whatever the padding */
            m->host_mask[k] = b->attn_mask ? (b->attn_mask[k] != 0) : 1.0f;
            labels[k] = b->token_labels ? b->token_labels[k] : -100;
            if (ids[k] < 0 || ids[k] >= V || t >= c->max_positions || labels[k] >= V)
                return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                                "model forward: row %d, column %d: token id %d or target %d "
                                "outside the vocabulary %d, or position %d of %d",
                                i, t, ids[k], labels[k], V, t, c->max_positions);
            m->counted += labels[k] >= 0;
        }
    }
    enum ar_status st = ar_mem_write(m->ctx, m->ids, (const float *)(const void *)ids, (size_t)N);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(m->ctx, m->pos, (const float *)(const void *)pos, (size_t)N);
    if (st == AR_STATUS_OK && b->token_labels)
        st = ar_mem_write(m->ctx, m->labels, (const float *)(const void *)labels, (size_t)N);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(m->ctx, m->key_mask, m->host_mask, (size_t)N);
    return st;
}

/* The residual stream after block l. */
static struct ar_mem block_output(struct ar_model *m, int l)
{
    return l + 1 < m->cfg.num_layers ? m->layers[l + 1].r1 : m->resid;
}

static enum ar_status block_forward(struct ar_model *m, int l, float p, uint64_t seed)
{
    struct ar_ctx *ctx = m->ctx;
    struct ar__bert_layer *L = &m->layers[l];
    int N = m->batch * m->time, C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    size_t NC = (size_t)N * (size_t)C;
    float eps = m->cfg.norm_eps;
    struct ar_mem next = block_output(m, l);
    enum ar_status st = ar_layernorm_forward(ctx, N, C, eps, L->r1, L->ln1_g, L->ln1_b, m->a,
                                             L->mean1, L->rstd1);
    if (!st)
        st = ar__model_lora_fwd(m, &L->qkv, N, m->a, m->qkv);
    if (!st)
        st = ar_attention_forward(L->att, m->batch, m->time, m->qkv, m->key_mask, m->ctx_out);
    if (!st)
        st = ar__model_lora_fwd(m, &L->attn_out, N, m->ctx_out, m->h);
    if (!st)
        st = ar_dropout_forward(ctx, NC, p, seed, 1u + 2u * (uint32_t)l, m->h, L->r2);
    if (!st)
        st = ar_add(ctx, NC, L->r2, L->r1, L->r2);
    if (!st)
        st = ar_layernorm_forward(ctx, N, C, eps, L->r2, L->ln2_g, L->ln2_b, m->a, L->mean2,
                                  L->rstd2);
    if (!st)
        st = ar__model_lora_fwd(m, &L->inter, N, m->a, L->ipre);
    if (!st)
        st = ar_activation_forward(ctx, ffn_activation(m), (size_t)N * (size_t)I, L->ipre,
                                   m->iact);
    if (!st)
        st = ar__model_lora_fwd(m, &L->out, N, m->iact, m->h);
    if (!st)
        st = ar_dropout_forward(ctx, NC, p, seed, 2u + 2u * (uint32_t)l, m->h, next);
    if (!st)
        st = ar_add(ctx, NC, next, L->r2, next);
    return st;
}

enum ar_status ar__decoder_loss(struct ar_model *m)
{
    int N = m->batch * m->time;
    enum ar_status st = ar_cross_entropy_forward(m->ctx, N, m->num_labels, m->logits, m->labels,
                                                 m->probs, m->losses);
    if (!st)
        st = ar_mem_read(m->ctx, m->losses, m->host_losses, (size_t)N);
    if (st)
        return st;
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += m->host_losses[i];
    m->loss = m->counted ? (float)(sum / m->counted) : NAN;
    m->have_loss = m->counted > 0;
    return AR_STATUS_OK;
}

enum ar_status ar__gpt2_forward(struct ar_model *m, const struct ar_batch *b, bool training,
                                uint64_t step)
{
    m->have_loss = false;
    m->loss = NAN;
    enum ar_status st = ar__decoder_upload(m, b, false);
    if (st)
        return st;
    struct ar_ctx *ctx = m->ctx;
    int N = m->batch * m->time, C = m->cfg.hidden_size, V = m->num_labels;
    float p = training ? m->opts.hidden_dropout : 0.0f;
    uint64_t seed = ar__model_mix(m->opts.seed, step);
    struct ar_mem none = {0};
    st = ar_embedding_forward(ctx, N, C, m->ids, m->pos, none, m->wte, m->wpe, none, m->h);
    if (!st)
        st = ar_dropout_forward(ctx, (size_t)N * (size_t)C, p, seed, STREAM_EMB, m->h,
                                m->layers[0].r1);
    for (int l = 0; !st && l < m->cfg.num_layers; l++)
        st = block_forward(m, l, p, seed);
    if (!st)
        st = ar_layernorm_forward(ctx, N, C, m->cfg.norm_eps, m->resid, m->ln_f_g, m->ln_f_b, m->x,
                                  m->emb_mean, m->emb_rstd);
    if (!st && !m->causal_lm) /* sequence classification: the last token's score */
        return ar__last_token_forward(m, b);
    if (!st) /* logits (N, V) = x (N, C) · wteᵀ, wte (V, C): the tied LM head */
        st = ar_gemm(ctx, false, true, (size_t)N, (size_t)V, (size_t)C, 1.0f, m->x, (size_t)C,
                     m->wte, (size_t)C, 0.0f, m->logits, (size_t)V);
    if (!st && b->token_labels)
        st = ar__decoder_loss(m);
    return st;
}

/* ---- backward --------------------------------------------------------------------------- */

/* m->dx holds ∂L/∂(block output); leaves ∂L/∂(block input) there (not formed for block 0). */
static enum ar_status block_backward(struct ar_model *m, int l, float p, uint64_t seed)
{
    struct ar_ctx *ctx = m->ctx;
    struct ar__bert_layer *L = &m->layers[l];
    int N = m->batch * m->time, C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    size_t NC = (size_t)N * (size_t)C;
    bool need_qkv = l > 0 || L->qkv.rank > 0;
    bool need_attn = need_qkv || L->attn_out.rank > 0; /* does ∂L/∂r2 reach an adapter? */
    struct ar_mem none = {0};
    enum ar_status st = ar_dropout_backward(ctx, NC, p, seed, 2u + 2u * (uint32_t)l, m->dx, m->dh);
    if (!st)
        st = ar__model_lora_bwd(m, &L->out, m->dh, m->di, false);
    if (!st)
        st = ar_activation_backward(ctx, ffn_activation(m), (size_t)N * (size_t)I, L->ipre, m->di,
                                    m->di2);
    if (!st)
        st = ar__model_lora_bwd(m, &L->inter, m->di2, need_attn ? m->da : none, false);
    if (st || !need_attn)
        return st;
    /* The residual: ∂L/∂r2 = ∂L/∂out + LN2's input gradient. */
    st = ar_layernorm_backward(ctx, N, C, m->da, L->r2, L->ln2_g, L->mean2, L->rstd2, m->dx, true);
    if (!st)
        st = ar_dropout_backward(ctx, NC, p, seed, 1u + 2u * (uint32_t)l, m->dx, m->dh);
    if (!st)
        st = ar__model_lora_bwd(m, &L->attn_out, m->dh, need_qkv ? m->dctx : none, false);
    if (!st && need_qkv)
        st = ar_attention_backward(L->att, m->dctx, m->dqkv);
    if (!st && need_qkv)
        st = ar__model_lora_bwd(m, &L->qkv, m->dqkv, l > 0 ? m->da : none, false);
    if (!st && l > 0) /* ∂L/∂in = ∂L/∂r2 + LN1's input gradient */
        st = ar_layernorm_backward(ctx, N, C, m->da, L->r1, L->ln1_g, L->mean1, L->rstd1, m->dx,
                                   true);
    return st;
}

enum ar_status ar__gpt2_backward(struct ar_model *m, float loss_scale)
{
    struct ar_ctx *ctx = m->ctx;
    size_t N = (size_t)m->batch * (size_t)m->time, C = (size_t)m->cfg.hidden_size;
    size_t V = (size_t)m->num_labels;
    float p = m->training ? m->opts.hidden_dropout : 0.0f;
    uint64_t seed = ar__model_mix(m->opts.seed, m->step);
    enum ar_status st;
    if (!m->causal_lm) { /* ∂L/∂ln_f(x) from the sequence-classification head */
        st = ar__last_token_backward(m, loss_scale, m->da);
    } else {
        st = ar_cross_entropy_backward(ctx, (int)N, (int)V, m->probs, m->labels,
                                       loss_scale / (float)m->counted, m->dlogits);
        if (!st) /* dx̂ (N, C) = dlogits (N, V) · wte (V, C); the tied wte itself is frozen */
            st = ar_gemm(ctx, false, false, N, C, V, 1.0f, m->dlogits, V, m->wte, C, 0.0f, m->da,
                         C);
    }
    if (!st)
        st = ar_layernorm_backward(ctx, (int)N, (int)C, m->da, m->resid, m->ln_f_g, m->emb_mean,
                                   m->emb_rstd, m->dx, false);
    for (int l = m->cfg.num_layers - 1; !st && l >= 0; l--)
        st = block_backward(m, l, p, seed);
    return st;
}
