/* Token-classification metrics and evaluation (train.h).
 *
 * Which tokens count: those with a label ≥ 0, i.e. the first sub-token of every word
 * (dataset_words.c), in order: the same lists transformers' run_ner.py compute_metrics hands to
 * seqeval after dropping the −100 positions, for the truth and the argmax predictions alike.
 *
 * Entities follow seqeval's default mode (its get_entities, conlleval's chunk rules) for IOB2
 * tags B-X, I-X, O: a chunk starts at a B, at an I after an O, and at any tag whose type differs
 * from the previous tag's; it ends before a B or an O, or before a tag of another type. So an
 * I-X without a B-X before it starts an entity, and "B-X I-Y" is two entities. The entity F1 is
 * the micro F1 over exact (type, start, end) matches, 2·correct / (true + predicted), and 0 when
 * there is no entity at all (seqeval's zero_division). Every sequence ends its open chunk
 * (seqeval appends an O after each sentence).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"
#include "internal.h"

/* "O" → 'O'; "B-PER" → 'B' and type "PER"; anything else → 0. */
static char tag_kind(const char *name, const char **type)
{
    *type = "";
    if (!strcmp(name, "O"))
        return 'O';
    if ((name[0] == 'B' || name[0] == 'I') && name[1] == '-' && name[2]) {
        *type = name + 2;
        return name[0];
    }
    return 0;
}

bool ar_tags_are_iob(const char *const *names, int n)
{
    bool any_entity = false;
    for (int i = 0; i < n; i++) {
        const char *type;
        char k = tag_kind(names[i], &type);
        if (!k)
            return false;
        any_entity |= k != 'O';
    }
    return any_entity;
}

/* One entity: the tag id range's type (a pointer into the names) and [start, end]. */
struct span {
    const char *type;
    int start, end;
};

/* The entities of one sequence, in order; returns how many (spans holds n). */
static int entities(const char *const *names, int k, const int32_t *tags, int n, struct span *out)
{
    int count = 0, start = -1;
    char prev = 'O';
    const char *prev_type = "";
    for (int t = 0; t <= n; t++) {
        const char *type = "";
        char kind = t < n && tags[t] >= 0 && tags[t] < k ? tag_kind(names[tags[t]], &type) : 'O';
        bool type_change = strcmp(type, prev_type) != 0;
        /* end of the open chunk: before a B or an O, or a tag of another type */
        if (start >= 0 && (kind == 'B' || kind == 'O' || type_change)) {
            out[count++] = (struct span){prev_type, start, t - 1};
            start = -1;
        }
        /* start: a B, an I after an O, or any entity tag of a new type */
        if (kind == 'B' || (kind == 'I' && (prev == 'O' || type_change)))
            start = t;
        prev = kind, prev_type = type;
    }
    return count;
}

void ar_entity_count(const char *const *names, int k, const int32_t *truth, const int32_t *pred,
                     int n, struct ar_entity_counts *c)
{
    struct span local[2][64], *a = local[0], *b = local[1];
    if (n > 64) {
        a = malloc(2 * (size_t)n * sizeof *a);
        if (!a)
            return; /* callers size n by their buffers; out of memory only on huge sequences */
        b = a + n;
    }
    int na = entities(names, k, truth, n, a), nb = entities(names, k, pred, n, b);
    c->truth += na, c->predicted += nb;
    for (int i = 0, j = 0; i < na && j < nb;) { /* both in order of start */
        if (a[i].start < b[j].start)
            i++;
        else if (b[j].start < a[i].start)
            j++;
        else {
            c->correct += a[i].end == b[j].end && !strcmp(a[i].type, b[j].type);
            i++, j++;
        }
    }
    if (a != local[0])
        free(a);
}

double ar_entity_f1(const struct ar_entity_counts *c)
{
    int64_t denom = c->truth + c->predicted;
    return denom ? 2.0 * (double)c->correct / (double)denom : 0.0;
}

/* ---- ar_evaluate for AR_TASK_TOKEN_CLS ----------------------------------------------------- */

/* The labelled tokens of batch row r: truth and argmax predictions, in order; returns the
 * count. logits (rows of the batch × time, V). */
static int row_tokens(const struct ar_padded_batch *pb, const float *logits, int v, int r,
                      int32_t *truth, int32_t *pred, struct ar_confusion *conf)
{
    int n = 0;
    for (int t = 0; t < pb->time; t++) {
        size_t k = (size_t)r * (size_t)pb->time + (size_t)t;
        if (pb->token_labels[k] < 0)
            continue;
        const float *row = logits + k * (size_t)v;
        int best = 0;
        for (int c = 1; c < v; c++)
            if (row[c] > row[best])
                best = c;
        truth[n] = pb->token_labels[k], pred[n] = best;
        ar_confusion_add(conf, truth[n], best);
        n++;
    }
    return n;
}

/* The argmax tag of every real token of batch row r (example i), into preds at i's offset. */
static void row_argmax(const struct ar_encoded *set, const struct ar_padded_batch *pb,
                       const float *logits, int v, int r, int i, int32_t *preds)
{
    int32_t *dst = preds + set->offsets[i];
    for (int t = 0; t < ar_encoded_length(set, i); t++) {
        const float *row = logits + ((size_t)r * (size_t)pb->time + (size_t)t) * (size_t)v;
        int best = 0;
        for (int c = 1; c < v; c++)
            if (row[c] > row[best])
                best = c;
        dst[t] = best;
    }
}

enum ar_status ar__evaluate_tokens(struct ar_ctx *ctx, struct ar_model *model,
                                   const struct ar_encoded *set, int batch_size, int32_t pad_id,
                                   struct ar_eval_result *out, const struct ar_eval_outputs *o)
{
    *out = (struct ar_eval_result){0};
    out->loss = out->accuracy = out->macro_f1 = out->mcc = out->perplexity = NAN;
    int v = set->num_labels;
    if (batch_size < 1 || set->count < 1 || v < 1 || !set->token_labels || !set->label_names)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT,
                        "evaluate: token classification needs a tokens/tags set (%d examples, "
                        "%d tags, batch size %d)",
                        set->count, v, batch_size);
    size_t cells = (size_t)batch_size * (size_t)set->max_len;
    float *logits = malloc((cells ? cells : 1) * (size_t)v * sizeof *logits);
    int32_t *truth = malloc(((size_t)set->max_len + 1) * 2 * sizeof *truth);
    int *rows = malloc((size_t)batch_size * sizeof *rows);
    struct ar_confusion conf = {0};
    struct ar_padded_batch pb = {0};
    struct ar_entity_counts ents = {0};
    const char *const *names = (const char *const *)set->label_names;
    bool iob = ar_tags_are_iob(names, v);
    enum ar_status st = !logits || !truth || !rows ? AR_STATUS_OUT_OF_MEMORY
                                                   : ar_confusion_init(&conf, v);
    if (st != AR_STATUS_OK)
        st = ar__fail(ctx, st, "evaluate: out of memory");
    double loss_sum = 0;
    for (int at = 0; st == AR_STATUS_OK && at < set->count; at += batch_size) {
        int n = set->count - at < batch_size ? set->count - at : batch_size;
        struct ar_batch b;
        st = ar__eval_token_batch(ctx, set, at, batch_size, pad_id, rows, &pb, &b);
        if (st != AR_STATUS_OK) break;
        float loss = 0;
        st = ar_model_forward(model, &b, false, 0, &loss);
        if (st == AR_STATUS_OK)
            st = ar_model_logits(model, logits);
        for (int r = 0; st == AR_STATUS_OK && r < n; r++) {
            int32_t *pred = truth + set->max_len + 1;
            int k = row_tokens(&pb, logits, v, r, truth, pred, &conf);
            if (iob)
                ar_entity_count(names, v, truth, pred, k, &ents);
            if (k) /* the batch's loss is its mean over counted tokens: weigh it back */
                loss_sum += (double)loss * k;
            out->tokens += k;
            if (o->token_predictions)
                row_argmax(set, &pb, logits, v, r, at + r, o->token_predictions);
        }
    }
    if (st == AR_STATUS_OK) {
        out->count = set->count;
        out->loss = out->tokens ? loss_sum / (double)out->tokens : NAN;
        out->accuracy = ar_metric_accuracy(&conf);
        out->macro_f1 = iob ? ar_entity_f1(&ents) : ar_metric_macro_f1(&conf);
        out->mcc = ar_metric_mcc(&conf);
    }
    ar_padded_batch_free(&pb);
    ar_confusion_free(&conf);
    free(logits);
    free(truth);
    free(rows);
    return st;
}
