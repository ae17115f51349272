/* Evaluation of a causal LM on prompt/completion data (train.h, ar_evaluate): the loss is the
 * mean cross-entropy per counted token over the whole set, not a mean of batch means (batches
 * hold different numbers of completion tokens), and the perplexity is exp of it, as the
 * perplexity of a completion-only loss is usually reported (e.g. exp(eval_loss) in HF Trainer's
 * run_clm example). ar__eval_token_batch, the in-order batching of sets with per-position
 * targets, is shared with eval_tokens.c. */
#include <math.h>
#include <stdlib.h>

#include "eval_internal.h"
#include "internal.h"
#include "model_internal.h"

/* Every example's loss: the mean of its counted tokens' cross-entropies. The forward leaves the
 * per-position losses (B·T, 0 where the target is ignored) on the host (ar__decoder_loss reads
 * them back to form the batch mean), so they cost no second pass and no download of the
 * (B·T, vocabulary) logits. */
static void row_losses(const struct ar_model *model, const struct ar_padded_batch *pb, int at,
                       const struct ar_eval_outputs *o)
{
    for (int r = 0; r < pb->batch; r++) {
        double sum = 0;
        int32_t n = 0;
        for (size_t k = (size_t)r * (size_t)pb->time; k < (size_t)(r + 1) * (size_t)pb->time;
             k++)
            if (pb->token_labels[k] >= 0)
                sum += model->host_losses[k], n++;
        if (o->losses)
            o->losses[at + r] = n ? sum / n : NAN;
        if (o->tokens)
            o->tokens[at + r] = n;
    }
}

enum ar_status ar__evaluate_lm(struct ar_ctx *ctx, struct ar_model *model,
                               const struct ar_encoded *set, int batch_size, int32_t pad_id,
                               struct ar_eval_result *out, const struct ar_eval_outputs *o)
{
    *out = (struct ar_eval_result){0};
    out->loss = out->accuracy = out->macro_f1 = out->mcc = out->perplexity = NAN;
    if (batch_size < 1 || set->count < 1 || !set->token_labels)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "evaluate: a causal LM needs prompt/completion examples with targets (%d "
                        "examples, batch size %d)",
                        set->count, batch_size);
    int *rows = malloc((size_t)batch_size * sizeof *rows);
    struct ar_padded_batch pb = {0};
    if (!rows) return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "evaluate: out of memory");
    double loss_sum = 0;
    int64_t tokens = 0;
    enum ar_status st = AR_STATUS_OK;
    for (int at = 0; at < set->count && st == AR_STATUS_OK; at += batch_size) {
        struct ar_batch b;
        st = ar__eval_token_batch(ctx, set, at, batch_size, pad_id, rows, &pb, &b);
        if (st != AR_STATUS_OK) break;
        int64_t counted = 0;
        for (size_t k = 0; k < (size_t)pb.batch * (size_t)pb.time; k++)
            counted += pb.token_labels[k] >= 0;
        float loss = 0;
        st = ar_model_forward(model, &b, false, 0, &loss);
        if (st == AR_STATUS_OK && counted > 0) { /* the model's loss is this batch's mean */
            loss_sum += (double)loss * (double)counted;
            tokens += counted;
        }
        if (st == AR_STATUS_OK && (o->losses || o->tokens))
            row_losses(model, &pb, at, o);
    }
    if (st == AR_STATUS_OK) {
        out->count = set->count;
        out->tokens = tokens;
        out->loss = tokens ? loss_sum / (double)tokens : NAN;
        out->perplexity = exp(out->loss);
    }
    ar_padded_batch_free(&pb);
    free(rows);
    return st;
}

enum ar_status ar__eval_token_batch(struct ar_ctx *ctx, const struct ar_encoded *set, int at,
                                    int batch_size, int32_t pad_id, int *rows,
                                    struct ar_padded_batch *pb, struct ar_batch *b)
{
    int n = set->count - at < batch_size ? set->count - at : batch_size;
    for (int i = 0; i < n; i++)
        rows[i] = at + i;
    enum ar_status st = ar_padded_batch_fill(pb, set, rows, n, pad_id);
    if (st != AR_STATUS_OK || !pb->token_labels)
        return ar__fail(ctx, st ? st : AR_STATUS_INVALID_ARGUMENT,
                        "evaluate: cannot build a batch");
    *b = (struct ar_batch){.batch = pb->batch,
                           .time = pb->time,
                           .ids = pb->ids,
                           .type_ids = pb->type_ids,
                           .attn_mask = pb->attn_mask,
                           .token_labels = pb->token_labels};
    return AR_STATUS_OK;
}
