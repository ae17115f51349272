/* AdaLoRA's state, shared by method_adalora.c (training) and method_adalora_state.c (report,
 * checkpoints). Library-internal. */
#ifndef ADARANK_CORE_METHOD_ADALORA_H
#define ADARANK_CORE_METHOD_ADALORA_H

#include "method_internal.h"

struct adalora_state {
    struct ar_mem ibar, ubar; /* (arena total) smoothed sensitivity and uncertainty */
    struct ar_mem gram;       /* (R, R) scratch for QQᵀ and PᵀP */
    float *host_gram;         /* (R, R) */
    float *ib, *ub;           /* (arena total) host copies when scoring */
    float *score;             /* (gate_total) triplet scores: live until the final mask, then
                                 the ones it ranked */
    unsigned char *keep;      /* (gate_total) the budget's pattern */
    int max_rank;
    bool frozen;              /* the final pattern is fixed */
    double budget;            /* the current b(t) */
    double orth_loss;         /* the regulariser's value at the last backward */
};

/* S_i = s(λ_i) + mean_j s(Q_ij) + mean_j s(P_ji), s = Ī·Ū, of every component into a->score. */
enum ar_status ar__adalora_score(struct ar_method *m);

/* The orthogonality term γ/(2n)·Σ_k(‖Q_kQ_kᵀ − I‖_F + ‖P_kᵀP_k − I‖_F) at the parameters of the
 * last backward: what PEFT's AdaLoraModel.forward adds to the loss (the trainer reports the task
 * loss alone). NAN for other methods or before the first backward. */
double ar__adalora_orth_loss(const struct ar_method *m);

/* The report and the checkpoint state (method_adalora_state.c). */
enum ar_status ar__adalora_report(struct ar_method *m);
enum ar_status ar__adalora_save_state(struct ar_method *m, struct ar__bytes *out);
enum ar_status ar__adalora_load_state(struct ar_method *m, struct ar__bytes_reader *in);

#endif
