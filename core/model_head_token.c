/* The token-classification head (AR_TASK_TOKEN_CLS, model.h), as transformers'
 * BertForTokenClassification and RobertaForTokenClassification compute it on the encoder's last
 * hidden state x (N, C), N = B·T:
 *
 *   xd = dropout(x)                      hidden_dropout, its own stream
 *   logits (N, V) = xd · Wᵀ + b          W = arena "classifier.weight" (V, C), b "classifier.bias"
 *   loss = mean cross-entropy over the tokens whose label is ≥ 0 (−100 ignored)
 *
 * which is CrossEntropyLoss()(logits.view(−1, V), labels.view(−1)) in those classes: the mean
 * over counted tokens of the whole batch, not per sequence. The loss itself is the decoders'
 * per-row helper (ar__decoder_loss); model_bert.c runs the encoder around this file. Backward
 * forms ∂L/∂x for every position, so every layer's LoRA factors get gradients.
 */
#include "model_internal.h"

/* After the hidden-state streams of model_bert.c (embedding 0, layers 1…2L, the sequence head's
 * 0x7ffffffe/0x7fffffff). */
enum { STREAM_TOKEN_HEAD = 0x7ffffffd };

enum ar_status ar__token_head_forward(struct ar_model *m, float p, uint64_t seed)
{
    struct ar_ctx *ctx = m->ctx;
    size_t N = (size_t)m->batch * (size_t)m->time, C = (size_t)m->cfg.hidden_size;
    size_t V = (size_t)m->num_labels;
    struct ar_mem param = m->arena.param;
    /* m->h is the layers' scratch; after the last layer it is free until backward, which reads
     * xd from it for the weight gradient. */
    enum ar_status st = ar_dropout_forward(ctx, N * C, p, seed, STREAM_TOKEN_HEAD, m->x, m->h);
    if (!st) /* logits (N, V) = xd (N, C) · Wᵀ, W (V, C) */
        st = ar_gemm(ctx, false, true, N, V, C, 1.0f, m->h, C, ar_mem_at(param, m->head.w_off), C,
                     0.0f, m->logits, V);
    if (!st)
        st = ar_bias_add(ctx, (int)N, (int)V, ar_mem_at(param, m->head.b_off), m->logits);
    return st;
}

enum ar_status ar__token_head_backward(struct ar_model *m, float loss_scale, float p,
                                       uint64_t seed)
{
    struct ar_ctx *ctx = m->ctx;
    size_t N = (size_t)m->batch * (size_t)m->time, C = (size_t)m->cfg.hidden_size;
    size_t V = (size_t)m->num_labels;
    struct ar_mem param = m->arena.param, grad = m->arena.grad;
    /* dlogits = scale·(softmax − onehot), zero rows for the ignored tokens and the padding */
    enum ar_status st = ar_cross_entropy_backward(ctx, (int)N, (int)V, m->probs, m->labels,
                                                  loss_scale / (float)m->counted, m->dlogits);
    /* dW (V, C) += dlogitsᵀ (V, N) · xd (N, C);  db += Σ_rows dlogits */
    if (!st)
        st = ar_gemm(ctx, true, false, V, C, N, 1.0f, m->dlogits, V, m->h, C, 1.0f,
                     ar_mem_at(grad, m->head.w_off), C);
    if (!st)
        st = ar_bias_grad(ctx, (int)N, (int)V, m->dlogits, ar_mem_at(grad, m->head.b_off), true);
    /* dxd (N, C) = dlogits (N, V) · W (V, C), then through the dropout into m->dx */
    if (!st)
        st = ar_gemm(ctx, false, false, N, C, V, 1.0f, m->dlogits, V,
                     ar_mem_at(param, m->head.w_off), C, 0.0f, m->dh, C);
    if (!st)
        st = ar_dropout_backward(ctx, N * C, p, seed, STREAM_TOKEN_HEAD, m->dh, m->dx);
    return st;
}
