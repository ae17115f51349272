/* AdaLoRA's triplet scores, its report and its checkpoint state (METHODS.md §5.3–5.4). */
#include <math.h>
#include <stdlib.h>

#include "method_adalora.h"

enum ar_status ar__adalora_score(struct ar_method *m)
{
    struct adalora_state *a = m->state;
    size_t total = ar_model_arena(m->model)->total;
    enum ar_status st = ar_mem_read(m->ctx, a->ibar, a->ib, total);
    if (st == AR_STATUS_OK)
        st = ar_mem_read(m->ctx, a->ubar, a->ub, total);
    for (int i = 0; st == AR_STATUS_OK && i < m->n_modules; i++) {
        const struct ar_model_module *mod = ar_model_module(m->model, i);
        size_t r = (size_t)mod->rank, in = (size_t)mod->in, out = (size_t)mod->out;
        for (size_t j = 0; j < r; j++) {
            size_t g = mod->gate_off + j;
            double sq = 0, sp = 0;
            for (size_t e = 0; e < in; e++) {
                size_t at = mod->a_off + j * in + e;
                sq += (double)a->ib[at] * a->ub[at];
            }
            for (size_t o = 0; o < out; o++) {
                size_t at = mod->b_off + o * r + j;
                sp += (double)a->ib[at] * a->ub[at];
            }
            a->score[m->gate_at[i] + j] =
                (float)((double)a->ib[g] * a->ub[g] + sq / (double)in + sp / (double)out);
        }
    }
    return st;
}

double ar__adalora_orth_loss(const struct ar_method *m)
{
    if (m->impl != &ar__method_adalora || !m->state)
        return NAN;
    return ((const struct adalora_state *)m->state)->orth_loss;
}

/* The importance is the score the budget ranks by: recomputed from the current Ī, Ū until the
 * final mask (so between two masks it is the score the next one will rank, and at a masking step
 * exactly the one it ranked), then the final mask's. It is 0 before the first step (no gradient
 * seen yet). Its scale is that of (p·∇p)²: about 1e-9 on all-MiniLM-L6-v2, so read it relative to
 * the other components, not against a fixed number of decimals. The effective rank is the
 * budget's pattern (λ starts at 0, so "non-zero λ" would say rank 0 before the first step). */
enum ar_status ar__adalora_report(struct ar_method *m)
{
    struct adalora_state *a = m->state;
    enum ar_status st = a->frozen ? AR_STATUS_OK : ar__adalora_score(m);
    for (int i = 0; st == AR_STATUS_OK && i < m->n_modules; i++) {
        int r = ar_model_module(m->model, i)->rank, eff = 0;
        for (int j = 0; j < r; j++)
            eff += a->keep[m->gate_at[i] + j];
        m->report.effective[i] = eff;
        m->report.sparsity[i] = r ? 1.0f - (float)eff / (float)r : 0.0f;
        m->report.values[i] = a->score + m->gate_at[i];
    }
    m->report.threshold = a->budget;
    return st;
}

/* Checkpoints: Ī and Ū (read from the device), the scores, the pattern, its budget and whether it
 * is frozen; everything else follows from the step. */
enum ar_status ar__adalora_save_state(struct ar_method *m, struct ar__bytes *out)
{
    struct adalora_state *a = m->state;
    size_t total = ar_model_arena(m->model)->total;
    enum ar_status st = ar_mem_read(m->ctx, a->ibar, a->ib, total);
    if (st == AR_STATUS_OK)
        st = ar_mem_read(m->ctx, a->ubar, a->ub, total);
    uint8_t frozen = a->frozen;
    if (st == AR_STATUS_OK &&
        !(ar__bytes_put(out, a->ib, total * sizeof *a->ib) &&
          ar__bytes_put(out, a->ub, total * sizeof *a->ub) &&
          ar__bytes_put(out, a->score, m->gate_total * sizeof *a->score) &&
          ar__bytes_put(out, a->keep, m->gate_total) && ar__bytes_put(out, &frozen, 1) &&
          ar__bytes_put(out, &a->budget, sizeof a->budget)))
        st = ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "adalora: checkpoint");
    return st;
}

enum ar_status ar__adalora_load_state(struct ar_method *m, struct ar__bytes_reader *in)
{
    struct adalora_state *a = m->state;
    size_t total = ar_model_arena(m->model)->total;
    uint8_t frozen = 0;
    if (!(ar__bytes_get(in, a->ib, total * sizeof *a->ib) &&
          ar__bytes_get(in, a->ub, total * sizeof *a->ub) &&
          ar__bytes_get(in, a->score, m->gate_total * sizeof *a->score) &&
          ar__bytes_get(in, a->keep, m->gate_total) && ar__bytes_get(in, &frozen, 1) &&
          ar__bytes_get(in, &a->budget, sizeof a->budget)))
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT, "adalora: checkpoint truncated");
    a->frozen = frozen != 0;
    enum ar_status st = ar_mem_write(m->ctx, a->ibar, a->ib, total);
    return st == AR_STATUS_OK ? ar_mem_write(m->ctx, a->ubar, a->ub, total) : st;
}
