/* Sequence classification for the decoders (GPT-2, Llama), as transformers'
 * GPT2ForSequenceClassification and LlamaForSequenceClassification compute it
 * (tests/fixtures/gen_decoders_cls.py runs those classes as the reference):
 *
 *   h (B, C)      = x_L[b, last(b)]      the final-norm hidden state of each row's last token
 *   logits (B, V) = h · scoreᵀ           score (V, C), no bias: arena slice "score.weight"
 *   loss          = mean cross-entropy over the rows whose label is ≥ 0
 *
 * last(b) is the last position of row b whose attention mask is 1 (its last real token).
 * transformers finds it as (number of ids ≠ pad_token_id) − 1, which is the same position
 * for right-padded rows that hold no pad id among their real tokens, the layout
 * ar_padded_batch_fill makes; using the mask also works when pad_token_id is the eos id (GPT-2
 * has no pad token) and an eos is part of the text. Left padding is not supported.
 *
 * score is trained whole (PEFT's modules_to_save ["score"]); a checkpoint's "score.weight" is
 * loaded (model_load.c), else it is drawn N(0, initializer_range²) from the seed, as transformers'
 * _init_weights does for a new Linear. There is no dropout on this head in those classes. */
#include <math.h>
#include <stdlib.h>

#include "model_internal.h"

enum ar_status ar__last_token_plan(struct ar_model *m)
{
    size_t n = (size_t)m->num_labels * (size_t)m->cfg.hidden_size;
    enum ar_status st =
        ar_arena_layout_add(m->layout, "score.weight", n, AR_ARENA_DECAY, &m->head.w_off);
    if (st != AR_STATUS_OK)
        return ar__fail(m->ctx, st, "arena: cannot add slice score.weight (%zu floats)", n);
    return AR_STATUS_OK;
}

/* The row's last token, from the host copy of the attention mask the upload kept (model
 * internals: m->host_mask (B·T) stays until the next forward). −1 when the row has none. */
static int last_token(const struct ar_model *m, int row)
{
    int last = -1;
    for (int t = 0; t < m->time; t++)
        if (m->host_mask[(size_t)row * (size_t)m->time + (size_t)t] != 0.0f) last = t;
    return last;
}

static enum ar_status upload_labels(struct ar_model *m, const struct ar_batch *b)
{
    int B = m->batch, N = B * m->time;
    int32_t *labels = m->host_ints + 2 * N; /* the decoders' label staging (model_gpt2.c) */
    m->counted = 0;
    for (int i = 0; i < B; i++) {
        if (last_token(m, i) < 0)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "model forward: row %d has no token (its attention mask is all 0)", i);
        labels[i] = b->labels ? b->labels[i] : -100;
        if (labels[i] >= m->num_labels)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "model forward: label %d of row %d is not below num_labels %d",
                            labels[i], i, m->num_labels);
        m->counted += labels[i] >= 0;
    }
    if (!b->labels) return AR_STATUS_OK;
    return ar_mem_write(m->ctx, m->labels, (const float *)(const void *)labels, (size_t)B);
}

enum ar_status ar__last_token_forward(struct ar_model *m, const struct ar_batch *b)
{
    struct ar_ctx *ctx = m->ctx;
    size_t B = (size_t)m->batch, T = (size_t)m->time, C = (size_t)m->cfg.hidden_size;
    size_t V = (size_t)m->num_labels;
    enum ar_status st = upload_labels(m, b);
    for (size_t i = 0; !st && i < B; i++) /* cls (B, C) ← x (B, T, C) at (i, last(i)) */
        st = ar_mem_copy(ctx, ar_mem_at(m->cls, i * C),
                         ar_mem_at(m->x, (i * T + (size_t)last_token(m, (int)i)) * C), C);
    if (!st) /* logits (B, V) = cls (B, C) · scoreᵀ, score (V, C) */
        st = ar_gemm(ctx, false, true, B, V, C, 1.0f, m->cls, C,
                     ar_mem_at(m->arena.param, m->head.w_off), C, 0.0f, m->logits, V);
    if (st || !b->labels) return st;
    st = ar_cross_entropy_forward(ctx, (int)B, (int)V, m->logits, m->labels, m->probs, m->losses);
    if (!st) st = ar_mem_read(ctx, m->losses, m->host_losses, B);
    if (st) return st;
    double sum = 0;
    for (size_t i = 0; i < B; i++)
        sum += m->host_losses[i];
    m->loss = m->counted ? (float)(sum / m->counted) : NAN;
    m->have_loss = m->counted > 0;
    return AR_STATUS_OK;
}

enum ar_status ar__last_token_backward(struct ar_model *m, float loss_scale, struct ar_mem dx)
{
    struct ar_ctx *ctx = m->ctx;
    size_t B = (size_t)m->batch, T = (size_t)m->time, C = (size_t)m->cfg.hidden_size;
    size_t V = (size_t)m->num_labels;
    struct ar_mem w = ar_mem_at(m->arena.param, m->head.w_off);
    enum ar_status st = ar_cross_entropy_backward(ctx, (int)B, (int)V, m->probs, m->labels,
                                                  loss_scale / (float)m->counted, m->dlogits);
    if (!st) /* d score (V, C) += dlogitsᵀ (V, B) · cls (B, C) */
        st = ar_gemm(ctx, true, false, V, C, B, 1.0f, m->dlogits, V, m->cls, C, 1.0f,
                     ar_mem_at(m->arena.grad, m->head.w_off), C);
    if (!st) /* dcls (B, C) = dlogits (B, V) · score (V, C) */
        st = ar_gemm(ctx, false, false, B, C, V, 1.0f, m->dlogits, V, w, C, 0.0f, m->dcls, C);
    if (!st) /* ∂L/∂x (B, T, C): zero but at each row's last token */
        st = ar_mem_fill(ctx, dx, 0.0f, B * T * C);
    for (size_t i = 0; !st && i < B; i++)
        st = ar_mem_copy(ctx, ar_mem_at(dx, (i * T + (size_t)last_token(m, (int)i)) * C),
                         ar_mem_at(m->dcls, i * C), C);
    return st;
}
