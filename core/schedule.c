/* Learning-rate schedules: linear warm-up, then linear, cosine or constant (see train.h).
 *
 * The formulas are those of transformers' optimization.py (get_linear_schedule_with_warmup,
 * get_cosine_schedule_with_warmup with num_cycles = 0.5, get_constant_schedule_with_warmup), which
 * METHODS.md §0.3 names as the convention the published LoRA-family numbers were trained with. */
#include <math.h>
#include <string.h>

#include "adarank/train.h"

double ar_schedule_lr(const struct ar_schedule *s, int step)
{
    if (step < 0)
        step = 0;
    if (step < s->warmup_steps)
        return s->lr * (double)step / (double)s->warmup_steps;
    if (s->kind == AR_LR_SCHEDULE_CONSTANT)
        return s->lr;
    int decay_steps = s->total_steps - s->warmup_steps;
    if (decay_steps <= 0)
        return 0.0;
    double progress = (double)(step - s->warmup_steps) / (double)decay_steps;
    if (progress >= 1.0)
        return 0.0;
    if (s->kind == AR_LR_SCHEDULE_COSINE)
        return s->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
    return s->lr * (1.0 - progress);
}

int ar_schedule_warmup_steps(double ratio, int total_steps)
{
    if (!(ratio > 0) || total_steps <= 0)
        return 0;
    double w = ceil(ratio * (double)total_steps - 1e-9); /* 0.06·100 is 6.000000000000001 */
    return w > total_steps ? total_steps : (int)w;
}

static const char *const schedule_names[] = {"linear", "cosine", "constant"};

const char *ar_lr_schedule_name(enum ar_lr_schedule kind)
{
    return (unsigned)kind < 3 ? schedule_names[kind] : "unknown";
}

bool ar_lr_schedule_parse(const char *name, enum ar_lr_schedule *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, schedule_names[i])) {
            *out = (enum ar_lr_schedule)i;
            return true;
        }
    return false;
}
