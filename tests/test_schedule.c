/* Learning-rate schedules against values worked out by hand from transformers' formulas
 * (optimization.py: get_linear/cosine/constant_schedule_with_warmup). */
#include "test.h"

#include "adarank/train.h"

/* The schedule is computed in double from small integers: exact up to a few ulps of double. */
#define TOL 1e-12

static void check_lr(const struct ar_schedule *s, int step, double want)
{
    double got = ar_schedule_lr(s, step);
    CHECK(fabs(got - want) <= TOL, "%s step %d: got %.17g want %.17g",
          ar_lr_schedule_name(s->kind), step, got, want);
}

int main(void)
{
    /* lr 1e-3, 10 warm-up steps of 110: step/10 during warm-up, then (110-step)/100. */
    struct ar_schedule lin = {AR_LR_SCHEDULE_LINEAR, 1e-3, 10, 110};
    check_lr(&lin, 0, 0.0); /* HF's first warm-up update has lr 0 */
    check_lr(&lin, 1, 1e-4);
    check_lr(&lin, 5, 5e-4);
    check_lr(&lin, 10, 1e-3);
    check_lr(&lin, 35, 1e-3 * 75 / 100);
    check_lr(&lin, 60, 5e-4);
    check_lr(&lin, 109, 1e-5);
    check_lr(&lin, 110, 0.0);
    check_lr(&lin, 500, 0.0);

    /* cosine: ½(1 + cos(π·p)), p = (step-10)/100: p = 0.5 → half, p = 0.25 → (1+√½)/2 */
    struct ar_schedule cosine = {AR_LR_SCHEDULE_COSINE, 2e-3, 10, 110};
    check_lr(&cosine, 5, 1e-3);
    check_lr(&cosine, 10, 2e-3);
    check_lr(&cosine, 60, 1e-3);
    check_lr(&cosine, 35, 2e-3 * 0.5 * (1 + sqrt(0.5)));
    check_lr(&cosine, 85, 2e-3 * 0.5 * (1 - sqrt(0.5)));
    check_lr(&cosine, 110, 0.0);

    struct ar_schedule constant = {AR_LR_SCHEDULE_CONSTANT, 5e-4, 4, 10};
    check_lr(&constant, 2, 2.5e-4);
    check_lr(&constant, 4, 5e-4);
    check_lr(&constant, 1000, 5e-4);

    /* no warm-up: the first update has the full lr */
    struct ar_schedule nowarm = {AR_LR_SCHEDULE_LINEAR, 1.0, 0, 4};
    check_lr(&nowarm, 0, 1.0);
    check_lr(&nowarm, 1, 0.75);
    check_lr(&nowarm, 3, 0.25);

    CHECK(ar_schedule_warmup_steps(0.06, 100) == 6, "6%% of 100: %d",
          ar_schedule_warmup_steps(0.06, 100));
    CHECK(ar_schedule_warmup_steps(0.1, 25) == 3, "ceil(2.5) = 3");
    CHECK(ar_schedule_warmup_steps(0.0, 25) == 0, "no warm-up");
    CHECK(ar_schedule_warmup_steps(2.0, 25) == 25, "capped at the total");

    enum ar_lr_schedule k;
    CHECK(ar_lr_schedule_parse("cosine", &k) && k == AR_LR_SCHEDULE_COSINE, "parse");
    CHECK(!ar_lr_schedule_parse("Cosine", &k) && !ar_lr_schedule_parse("step", &k),
          "unknown names refused");
    CHECK(!strcmp(ar_lr_schedule_name(AR_LR_SCHEDULE_LINEAR), "linear"), "name");
    return test_finish("schedule");
}
