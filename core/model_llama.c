/* Llama forward and backward for causal-LM fine-tuning (model.h), as transformers'
 * LlamaForCausalLM computes it (tests/fixtures/gen_decoders.py runs that class as the reference),
 * and for sequence classification (LlamaForSequenceClassification: model_head_last_token.c's head
 * on the final RMSNorm's output instead of lm_head):
 *
 *   x₀ = embed_tokens[ids]                                       no position table: RoPE
 *   per block (pre-norm, RMSNorm weights only, no biases anywhere):
 *       a = RMSNorm₁(x);  q = a·W_qᵀ (+LoRA);  [k | v] = a·[W_k; W_v]ᵀ (+LoRA, one G = 2 group)
 *       r2 = x + causal_attention([rope(q) | rope(k) | v])·W_oᵀ (+LoRA)
 *            (key/value heads repeated to the query heads while packing: ops.h, GQA)
 *       x' = r2 + (silu(gate) ⊙ up)·W_downᵀ (+LoRA),  [gate | up] = RMSNorm₂(r2)·[W_g; W_u]ᵀ
 *   logits (N, V) = RMSNorm(x_L)·lm_headᵀ   (lm_head, or embed_tokens when tied; frozen)
 *
 * LlamaModel has no hidden dropout, so none is applied here (hidden_dropout is ignored); LoRA
 * dropout works as everywhere. The backward mirrors model_gpt2.c's: the running residual gradient
 * lives in m->dx, only LoRA factors and gates get gradients.
 */
#include <math.h>
#include <string.h>

#include "model_internal.h"

static struct ar_rope_dims rope_dims(const struct ar_model *m)
{
    const struct ar_model_config *c = &m->cfg;
    return (struct ar_rope_dims){.batch = m->batch, .time = m->time, .heads = c->num_heads,
                                 .kv_heads = c->num_kv_heads,
                                 .head_size = c->hidden_size / c->num_heads};
}

static struct ar_mem block_output(struct ar_model *m, int l)
{
    return l + 1 < m->cfg.num_layers ? m->layers[l + 1].r1 : m->resid;
}

static enum ar_status block_forward(struct ar_model *m, int l)
{
    struct ar_ctx *ctx = m->ctx;
    struct ar__bert_layer *L = &m->layers[l];
    int N = m->batch * m->time, C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    size_t NC = (size_t)N * (size_t)C;
    float eps = m->cfg.norm_eps;
    struct ar_rope_dims rd = rope_dims(m);
    struct ar_mem next = block_output(m, l);
    enum ar_status st = ar_rmsnorm_forward(ctx, N, C, eps, L->r1, L->ln1_g, m->a, L->rstd1);
    if (!st)
        st = ar__model_lora_fwd(m, &L->qkv, N, m->a, m->lq);
    if (!st)
        st = ar__model_lora_fwd(m, &L->kv, N, m->a, m->lkv);
    if (!st)
        st = ar_rope_qkv_forward(ctx, &rd, m->lq, m->lkv, m->rope_cos, m->rope_sin, m->qkv);
    if (!st)
        st = ar_attention_forward(L->att, m->batch, m->time, m->qkv, m->key_mask, m->ctx_out);
    if (!st)
        st = ar__model_lora_fwd(m, &L->attn_out, N, m->ctx_out, m->h);
    if (!st)
        st = ar_add(ctx, NC, m->h, L->r1, L->r2);
    if (!st)
        st = ar_rmsnorm_forward(ctx, N, C, eps, L->r2, L->ln2_g, m->a, L->rstd2);
    if (!st)
        st = ar__model_lora_fwd(m, &L->inter, N, m->a, L->ipre); /* (N, 2I) [gate | up] */
    if (!st)
        st = ar_swiglu_forward(ctx, N, I, L->ipre, m->iact);
    if (!st)
        st = ar__model_lora_fwd(m, &L->out, N, m->iact, m->h);
    if (!st)
        st = ar_add(ctx, NC, m->h, L->r2, next);
    return st;
}

enum ar_status ar__llama_forward(struct ar_model *m, const struct ar_batch *b, bool training,
                                 uint64_t step)
{
    (void)training;
    (void)step;
    m->have_loss = false;
    m->loss = NAN;
    /* Positions are all 0 for the embedding op's (one zero row) position table: RoPE carries
     * them, from the row's column t. */
    enum ar_status st = ar__decoder_upload(m, b, true);
    if (st)
        return st;
    struct ar_ctx *ctx = m->ctx;
    int N = m->batch * m->time, C = m->cfg.hidden_size, V = m->num_labels;
    struct ar_mem none = {0};
    st = ar_embedding_forward(ctx, N, C, m->ids, m->pos, none, m->wte, m->wpe, none,
                              m->layers[0].r1);
    for (int l = 0; !st && l < m->cfg.num_layers; l++)
        st = block_forward(m, l);
    if (!st)
        st = ar_rmsnorm_forward(ctx, N, C, m->cfg.norm_eps, m->resid, m->ln_f_g, m->x,
                                m->emb_rstd);
    if (!st && !m->causal_lm) /* sequence classification: the last token's score */
        return ar__last_token_forward(m, b);
    if (!st) /* logits (N, V) = x (N, C) · lm_headᵀ, lm_head (V, C) */
        st = ar_gemm(ctx, false, true, (size_t)N, (size_t)V, (size_t)C, 1.0f, m->x, (size_t)C,
                     m->lm_head, (size_t)C, 0.0f, m->logits, (size_t)V);
    if (!st && b->token_labels)
        st = ar__decoder_loss(m);
    return st;
}

/* m->dx holds ∂L/∂(block output); leaves ∂L/∂(block input) there (not formed for block 0). */
static enum ar_status block_backward(struct ar_model *m, int l)
{
    struct ar_ctx *ctx = m->ctx;
    struct ar__bert_layer *L = &m->layers[l];
    int N = m->batch * m->time, C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    struct ar_rope_dims rd = rope_dims(m);
    bool need_qkv = l > 0 || L->qkv.rank > 0 || L->kv.rank > 0;
    bool need_attn = need_qkv || L->attn_out.rank > 0;
    struct ar_mem none = {0};
    enum ar_status st = ar__model_lora_bwd(m, &L->out, m->dx, m->di, false);
    if (!st)
        st = ar_swiglu_backward(ctx, N, I, L->ipre, m->di, m->di2);
    if (!st)
        st = ar__model_lora_bwd(m, &L->inter, m->di2, need_attn ? m->da : none, false);
    if (st || !need_attn)
        return st;
    /* ∂L/∂r2 = ∂L/∂out + RMSNorm₂'s input gradient */
    st = ar_rmsnorm_backward(ctx, N, C, m->da, L->r2, L->ln2_g, L->rstd2, m->dx, true);
    if (!st)
        st = ar__model_lora_bwd(m, &L->attn_out, m->dx, need_qkv ? m->dctx : none, false);
    if (st || !need_qkv)
        return st;
    st = ar_attention_backward(L->att, m->dctx, m->dqkv);
    if (!st) /* dq into dctx (consumed above), dk/dv into ldkv */
        st = ar_rope_qkv_backward(ctx, &rd, m->dqkv, m->rope_cos, m->rope_sin, m->dctx, m->ldkv);
    if (!st)
        st = ar__model_lora_bwd(m, &L->kv, m->ldkv, l > 0 ? m->da : none, false);
    if (!st)
        st = ar__model_lora_bwd(m, &L->qkv, m->dctx, l > 0 ? m->da : none, true);
    if (!st && l > 0) /* ∂L/∂in = ∂L/∂r2 + RMSNorm₁'s input gradient */
        st = ar_rmsnorm_backward(ctx, N, C, m->da, L->r1, L->ln1_g, L->rstd1, m->dx, true);
    return st;
}

enum ar_status ar__llama_backward(struct ar_model *m, float loss_scale)
{
    struct ar_ctx *ctx = m->ctx;
    size_t N = (size_t)m->batch * (size_t)m->time, C = (size_t)m->cfg.hidden_size;
    size_t V = (size_t)m->num_labels;
    enum ar_status st;
    if (!m->causal_lm) { /* ∂L/∂norm(x) from the sequence-classification head */
        st = ar__last_token_backward(m, loss_scale, m->da);
    } else {
        st = ar_cross_entropy_backward(ctx, (int)N, (int)V, m->probs, m->labels,
                                       loss_scale / (float)m->counted, m->dlogits);
        if (!st) /* dx̂ (N, C) = dlogits (N, V) · lm_head (V, C) */
            st = ar_gemm(ctx, false, false, N, C, V, 1.0f, m->dlogits, V, m->lm_head, C, 0.0f,
                         m->da, C);
    }
    if (!st)
        st = ar_rmsnorm_backward(ctx, (int)N, (int)C, m->da, m->resid, m->ln_f_g, m->emb_rstd,
                                 m->dx, false);
    for (int l = m->cfg.num_layers - 1; !st && l >= 0; l--)
        st = block_backward(m, l);
    return st;
}
