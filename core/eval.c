/* ar_evaluate: the model over a labelled set, without dropout, to loss and metrics, and
 * ar_evaluate_outputs: the same with per-example predictions and probabilities (train.h). */
#include <math.h>
#include <stdlib.h>

#include "adarank/train.h"
#include "eval_internal.h"
#include "internal.h"

/* Sorting by length before batching means batches of similar lengths and little padding; the
 * order does not change the metrics, and predictions go back to their examples' positions. */
static const struct ar_encoded *sort_set;

static int by_length(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    int lx = ar_encoded_length(sort_set, x), ly = ar_encoded_length(sort_set, y);
    return lx != ly ? (lx > ly) - (lx < ly) : (x > y) - (x < y);
}

/* Softmax of one row of v logits into p, in double (max subtracted first, so no exp overflows). */
static void softmax_row(const float *logits, int v, float *p)
{
    float top = logits[0];
    for (int c = 1; c < v; c++)
        top = logits[c] > top ? logits[c] : top;
    double sum = 0;
    for (int c = 0; c < v; c++)
        sum += exp((double)logits[c] - top);
    for (int c = 0; c < v; c++)
        p[c] = (float)(exp((double)logits[c] - top) / sum);
}

enum ar_status ar_evaluate(struct ar_ctx *ctx, struct ar_model *model, const struct ar_encoded *set,
                           int batch_size, int32_t pad_id, struct ar_eval_result *out,
                           int32_t *predictions)
{
    const struct ar_eval_outputs o = {.predictions = predictions};
    return ar_evaluate_outputs(ctx, model, set, batch_size, pad_id, out, &o);
}

enum ar_status ar_evaluate_outputs(struct ar_ctx *ctx, struct ar_model *model,
                                   const struct ar_encoded *set, int batch_size, int32_t pad_id,
                                   struct ar_eval_result *out,
                                   const struct ar_eval_outputs *outputs)
{
    const struct ar_eval_outputs none = {0}, *o = outputs ? outputs : &none;
    if (ar_model_task(model) == AR_TASK_CAUSAL_LM)
        return ar__evaluate_lm(ctx, model, set, batch_size, pad_id, out, o);
    if (ar_model_task(model) == AR_TASK_TOKEN_CLS)
        return ar__evaluate_tokens(ctx, model, set, batch_size, pad_id, out, o);
    *out = (struct ar_eval_result){0};
    out->loss = out->accuracy = out->macro_f1 = out->mcc = out->perplexity = NAN;
    if (batch_size < 1 || set->count < 1 || set->num_labels < 1)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "evaluate: %d examples, %d classes, batch size %d", set->count,
                        set->num_labels, batch_size);
    int v = set->num_labels;
    int *order = malloc((size_t)set->count * sizeof *order);
    float *logits = malloc((size_t)batch_size * (size_t)v * sizeof *logits);
    struct ar_confusion conf = {0};
    struct ar_padded_batch pb = {0};
    enum ar_status st = !order || !logits ? AR_STATUS_OUT_OF_MEMORY : ar_confusion_init(&conf, v);
    if (st != AR_STATUS_OK) {
        st = ar__fail(ctx, st, "evaluate: out of memory");
        goto done;
    }
    for (int i = 0; i < set->count; i++)
        order[i] = i;
    sort_set = set; /* qsort has no user pointer in C17; evaluation runs on one thread */
    qsort(order, (size_t)set->count, sizeof *order, by_length);
    double loss_sum = 0;
    for (int at = 0; at < set->count && st == AR_STATUS_OK; at += batch_size) {
        int n = set->count - at < batch_size ? set->count - at : batch_size;
        st = ar_padded_batch_fill(&pb, set, order + at, n, pad_id);
        if (st != AR_STATUS_OK) {
            st = ar__fail(ctx, st, "evaluate: cannot build a batch");
            break;
        }
        struct ar_batch b = {pb.batch, pb.time, pb.ids, pb.type_ids, pb.attn_mask, pb.labels};
        float loss = 0;
        st = ar_model_forward(model, &b, false, 0, &loss);
        if (st == AR_STATUS_OK)
            st = ar_model_logits(model, logits);
        if (st != AR_STATUS_OK)
            break;
        loss_sum += (double)loss * n;
        for (int r = 0; r < n; r++) {
            const float *row = logits + (size_t)r * v;
            int best = 0;
            for (int c = 1; c < v; c++)
                if (row[c] > row[best])
                    best = c;
            ar_confusion_add(&conf, pb.labels[r], best);
            if (o->predictions)
                o->predictions[order[at + r]] = best;
            if (o->probabilities)
                softmax_row(row, v, o->probabilities + (size_t)order[at + r] * (size_t)v);
        }
    }
    if (st == AR_STATUS_OK) {
        out->count = set->count;
        out->loss = loss_sum / set->count;
        out->accuracy = ar_metric_accuracy(&conf);
        out->macro_f1 = ar_metric_macro_f1(&conf);
        out->mcc = ar_metric_mcc(&conf);
    }
done:
    ar_padded_batch_free(&pb);
    ar_confusion_free(&conf);
    free(logits);
    free(order);
    return st;
}
