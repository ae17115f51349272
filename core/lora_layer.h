/* The gated LoRA layer's object, shared by core/lora.c (set-up, forward) and
 * core/lora_backward.c. Library-internal. */
#ifndef ADARANK_CORE_LORA_LAYER_H
#define ADARANK_CORE_LORA_LAYER_H

#include "internal.h"

/* Every cl/lora.cl kernel is built with the work-group size the host launches the reduction with
 * (lora_gate_backward's local array is AR_WGS long). */
#define AR__LORA_WGS 64
#define AR__LORA_DEFINES "-DAR_WGS=64"

struct ar_lora_layer {
    struct ar_ctx *ctx;
    struct ar_lora_dims dims;
    struct ar_lora_opts opts;
    /* Workspace for at most dims.n rows; all absent when rank = 0 (a frozen linear). */
    struct ar_mem x;  /* (N, in)      copy of the last forward's input */
    struct ar_mem xd; /* (G, N, in)   X̃_k, then T_k = dU_k·A_k; only when dropout > 0 */
    struct ar_mem u;  /* (N, G·R)     U = X̃·Aᵀ */
    struct ar_mem v;  /* (N, G·R)     V = s·U⊙(g⊙m); absent in plain mode */
    struct ar_mem dv; /* (N, G·R)     dV = ∂L/∂V, turned into dU in place */
    /* What the last forward did, for backward. */
    bool have_forward;
    bool dropped; /* dropout was applied (training and p > 0) */
    int n;
    uint64_t seed, step;
};

/* Validates the weights a forward or backward reads; `what` names the caller in messages. */
enum ar_status ar__lora_check_weights(const struct ar_lora_layer *layer,
                                      const struct ar_lora_weights *w, const char *what);

/* Enqueues Xd[k] = dropout_k(X) (G, n, in) for the last forward's (seed, step). */
enum ar_status ar__lora_dropout(struct ar_lora_layer *layer, int n);

/* Offsets and sizes handed to kernels are 32-bit; checks one and fails naming it. */
enum ar_status ar__lora_u32(struct ar_ctx *ctx, size_t value, const char *what, cl_uint *out);

#endif
