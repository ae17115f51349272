/* Accuracy, macro F1 and Matthews correlation against values computed by hand (and agreeing with
 * scikit-learn's accuracy_score, f1_score(average="macro") and matthews_corrcoef). */
#include "test.h"

#include "adarank/train.h"

/* Ratios of small integers and one square root in double: a few ulps. */
#define TOL 1e-12

static void fill(struct ar_confusion *c, const int *truth, const int *pred, int n)
{
    for (int i = 0; i < n; i++)
        CHECK(ar_confusion_add(c, truth[i], pred[i]), "add %d", i);
}

int main(void)
{
    struct ar_confusion c;
    /* Binary: TP = 3 (class 1 right), TN = 4, FP = 1, FN = 2; n = 10.
     * accuracy 7/10; F1(1) = 6/(6+1+2) = 2/3, F1(0) = 8/(8+2+1) = 8/11;
     * MCC = (3·4 − 1·2)/sqrt(4·5·6·5) = 10/sqrt(600). */
    int t1[] = {1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    int p1[] = {1, 1, 1, 0, 0, 0, 0, 0, 0, 1};
    CHECK(ar_confusion_init(&c, 2) == AR_STATUS_OK, "init");
    fill(&c, t1, p1, 10);
    CHECK(ar_confusion_total(&c) == 10, "total");
    CHECK(fabs(ar_metric_accuracy(&c) - 0.7) <= TOL, "acc %.17g", ar_metric_accuracy(&c));
    double f1 = (2.0 / 3 + 8.0 / 11) / 2;
    CHECK(fabs(ar_metric_macro_f1(&c) - f1) <= TOL, "f1 %.17g want %.17g", ar_metric_macro_f1(&c),
          f1);
    double mcc = 10 / sqrt(600.0);
    CHECK(fabs(ar_metric_mcc(&c) - mcc) <= TOL, "mcc %.17g want %.17g", ar_metric_mcc(&c), mcc);
    CHECK(!ar_confusion_add(&c, 2, 0) && !ar_confusion_add(&c, 0, -1), "out of range refused");
    ar_confusion_free(&c);

    /* Three classes: truth 0 0 1 1 2 2, predicted 0 1 1 1 0 2.
     * per class (TP, t, p): 0 (1,2,2) F1 1/2; 1 (2,2,3) F1 4/5; 2 (1,2,1) F1 2/3.
     * MCC: c = 4, s = 6, Σpt = 2·2 + 3·2 + 1·2 = 12, Σp² = 14, Σt² = 12:
     * (4·6 − 12)/sqrt((36 − 14)(36 − 12)) = 12/sqrt(528). */
    int t3[] = {0, 0, 1, 1, 2, 2};
    int p3[] = {0, 1, 1, 1, 0, 2};
    ar_confusion_init(&c, 3);
    fill(&c, t3, p3, 6);
    CHECK(fabs(ar_metric_accuracy(&c) - 4.0 / 6) <= TOL, "acc3");
    f1 = (0.5 + 0.8 + 2.0 / 3) / 3;
    CHECK(fabs(ar_metric_macro_f1(&c) - f1) <= TOL, "f1_3 %.17g want %.17g",
          ar_metric_macro_f1(&c), f1);
    mcc = 12 / sqrt(528.0);
    CHECK(fabs(ar_metric_mcc(&c) - mcc) <= TOL, "mcc3 %.17g want %.17g", ar_metric_mcc(&c), mcc);
    ar_confusion_free(&c);

    /* A classifier that always says 1 on the fine-food test split (658 ones, 342 zeros): the
     * majority baseline of 65.8%; F1 = (0 + 2·658/(658+1000))/2; MCC 0 (one predicted class). */
    ar_confusion_init(&c, 2);
    for (int i = 0; i < 1000; i++)
        ar_confusion_add(&c, i < 658, 1);
    CHECK(fabs(ar_metric_accuracy(&c) - 0.658) <= TOL, "majority");
    CHECK(fabs(ar_metric_macro_f1(&c) - 658.0 / 1658) <= TOL, "f1 of the majority: %.17g",
          ar_metric_macro_f1(&c));
    CHECK(ar_metric_mcc(&c) == 0.0, "mcc of a constant prediction is 0");
    ar_confusion_free(&c);

    /* A class that never occurs (K = 4, classes 0 and 1 only) does not dilute macro F1. */
    ar_confusion_init(&c, 4);
    int t4[] = {0, 1}, p4[] = {0, 1};
    fill(&c, t4, p4, 2);
    CHECK(ar_metric_macro_f1(&c) == 1.0 && ar_metric_mcc(&c) == 1.0, "perfect");
    ar_confusion_free(&c);

    ar_confusion_init(&c, 2);
    CHECK(isnan(ar_metric_accuracy(&c)) && isnan(ar_metric_macro_f1(&c)) &&
              isnan(ar_metric_mcc(&c)),
          "empty: NaN");
    ar_confusion_free(&c);
    CHECK(ar_confusion_init(&c, 0) == AR_STATUS_INVALID_ARGUMENT, "k = 0 refused");
    return test_finish("eval_metrics");
}
