/* Classification metrics from a confusion matrix (see train.h): plain C, no device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/train.h"

enum ar_status ar_confusion_init(struct ar_confusion *c, int k)
{
    c->k = 0;
    c->counts = NULL;
    if (k < 1)
        return AR_STATUS_INVALID_ARGUMENT;
    c->counts = calloc((size_t)k * (size_t)k, sizeof *c->counts);
    if (!c->counts)
        return AR_STATUS_OUT_OF_MEMORY;
    c->k = k;
    return AR_STATUS_OK;
}

void ar_confusion_free(struct ar_confusion *c)
{
    free(c->counts);
    c->counts = NULL;
    c->k = 0;
}

bool ar_confusion_add(struct ar_confusion *c, int truth, int predicted)
{
    if (truth < 0 || truth >= c->k || predicted < 0 || predicted >= c->k)
        return false;
    c->counts[(size_t)truth * c->k + predicted]++;
    return true;
}

int64_t ar_confusion_total(const struct ar_confusion *c)
{
    int64_t s = 0;
    for (size_t i = 0; i < (size_t)c->k * c->k; i++)
        s += c->counts[i];
    return s;
}

/* Row sums (true counts t_k), column sums (predicted counts p_k) and the diagonal of class k. */
static void class_counts(const struct ar_confusion *c, int k, double *t, double *p, double *tp)
{
    *t = *p = 0;
    for (int j = 0; j < c->k; j++) {
        *t += (double)c->counts[(size_t)k * c->k + j];
        *p += (double)c->counts[(size_t)j * c->k + k];
    }
    *tp = (double)c->counts[(size_t)k * c->k + k];
}

double ar_metric_accuracy(const struct ar_confusion *c)
{
    double total = (double)ar_confusion_total(c), correct = 0;
    if (total == 0)
        return NAN;
    for (int k = 0; k < c->k; k++)
        correct += (double)c->counts[(size_t)k * c->k + k];
    return correct / total;
}

double ar_metric_macro_f1(const struct ar_confusion *c)
{
    double sum = 0;
    int classes = 0;
    for (int k = 0; k < c->k; k++) {
        double t, p, tp;
        class_counts(c, k, &t, &p, &tp);
        if (t == 0 && p == 0)
            continue; /* absent from truth and predictions: not a label of this evaluation */
        /* 2TP/(2TP+FP+FN) with FP = p − TP and FN = t − TP */
        sum += 2 * tp / (t + p);
        classes++;
    }
    return classes ? sum / classes : NAN;
}

double ar_metric_mcc(const struct ar_confusion *c)
{
    double s = (double)ar_confusion_total(c);
    if (s == 0)
        return NAN;
    double correct = 0, pt = 0, pp = 0, tt = 0;
    for (int k = 0; k < c->k; k++) {
        double t, p, tp;
        class_counts(c, k, &t, &p, &tp);
        correct += tp;
        pt += p * t, pp += p * p, tt += t * t;
    }
    double den = (s * s - pp) * (s * s - tt);
    if (den <= 0)
        return 0.0; /* one predicted or one true class: no correlation is defined */
    return (correct * s - pt) / sqrt(den);
}

static const char *const metric_names[] = {"loss", "accuracy", "f1", "mcc"};

const char *ar_eval_metric_name(enum ar_eval_metric metric)
{
    return (unsigned)metric < 4 ? metric_names[metric] : "unknown";
}

bool ar_eval_metric_parse(const char *name, enum ar_eval_metric *out)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, metric_names[i])) {
            *out = (enum ar_eval_metric)i;
            return true;
        }
    return false;
}

double ar_eval_result_metric(const struct ar_eval_result *r, enum ar_eval_metric metric)
{
    switch (metric) {
    case AR_EVAL_METRIC_LOSS:
        return r->loss;
    case AR_EVAL_METRIC_ACCURACY:
        return r->accuracy;
    case AR_EVAL_METRIC_F1:
        return r->macro_f1;
    case AR_EVAL_METRIC_MCC:
        return r->mcc;
    }
    return NAN;
}
