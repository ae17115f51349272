/* The gated LoRA linear layer: the one kernel every rank method is a special case of
 * (METHODS.md §0.2; PEFT's LoRA when g ≡ 1 and m ≡ 1).
 *
 * A *group* is G linear maps that read the same input X and have the same shape, such as the
 * query, key and value projections of one attention block (G = 3) or a single projection (G = 1).
 * Member k computes
 *
 *     Y_k = X·W_kᵀ + b_k + s·((X̃_k·A_kᵀ) ⊙ (g_k ⊙ m_k))·B_kᵀ
 *
 * where X̃_k = dropout_p(X) with a mask of its own per member (PEFT gives every adapted module its
 * own dropout), s the scale (alpha/r, or alpha/sqrt(r) for rsLoRA) and m_k the active-rank mask.
 * The group's tensors are stacked so that the shared products are single CLBlast calls:
 *
 *     X  (N, in)          input, N = batch·tokens
 *     W  (G·out, in)      frozen; never gets a gradient
 *     b  (G·out)          frozen bias, optional
 *     A  (G·R, in)        LoRA down factors, row block k is A_k
 *     B  (G, out, R)      LoRA up factors
 *     g  (G·R)            gates
 *     m  (G·R)            active-rank mask in {0, 1}, optional (absent = all ones)
 *     Y  (N, G·out)       output, column block k is Y_k
 *
 * Backward takes dY (N, G·out) and accumulates (+=) into dA, dB, dg, so gradient accumulation and
 * a zeroed flat gradient arena work without copies; dX is overwritten or accumulated as asked.
 * Only the activations backward needs are kept in the layer object (a copy of X, U = X̃·Aᵀ and
 * V = s·U⊙(g⊙m)), so the caller may reuse X's buffer after the forward; the weights backward is
 * given must be the ones its forward used. Workspace: N·in + 3·N·G·R floats, plus G·N·in with
 * dropout.
 *
 * Rank 0 is a frozen linear with no adapter, Y = X·Wᵀ + b and dX = dY·W (the engine uses this
 * layer for every linear map of the base): A, B, g, m, dA, dB, dg are then not needed and the
 * layer keeps no activations.
 *
 * Bias: b (G·out) is optional; absent means no bias. It is frozen like W and gets no gradient.
 *
 * Required buffers: X, Y, W always; A and B when R > 0; g when R > 0 and not plain. In backward:
 * dY; dA and dB when R > 0. dX is optional (absent: no input gradient), and so is dg (absent: the
 * gates are frozen, as in DyLoRA). A missing required buffer is AR_STATUS_INVALID_ARGUMENT; n
 * outside 1..dims.n is AR_STATUS_SHAPE_MISMATCH, both with a message in ar_ctx_errmsg().
 *
 * Dropout (p > 0, training): keep_k(row, i) = [ar_uniform(seed, stream(step, k), row·in + i) ≥ p]
 * from the counter-based hash of cl/prelude.cl, X̃_k = X ⊙ keep_k / (1 − p). The mask is never
 * stored: backward regenerates it from the forward's (seed, step). Give every layer its own seed
 * (e.g. a hash of the run seed and the layer index), or layers of equal shape draw equal masks.
 */
#ifndef ADARANK_LORA_H
#define ADARANK_LORA_H

#include "memory.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ar_lora_dims {
    int n;      /* rows of X: batch × sequence */
    int in;     /* input features */
    int out;    /* output features of one member */
    int rank;   /* allocated rank R of every member */
    int groups; /* G ≥ 1 */
};

struct ar_lora_opts {
    float scale;   /* s (ar_lora_layer_set_scale changes it between steps, e.g. DyLoRA's α/b) */
    float dropout; /* p in [0, 1) applied to X on the LoRA branch only */
    bool plain;    /* plain LoRA: ignore g and m (g ≡ 1), no gate pass, dg untouched */
};

struct ar_lora_weights {
    struct ar_mem w, bias, a, b, gate, mask; /* bias and mask optional */
};

struct ar_lora_grads {
    struct ar_mem dx; /* optional (N, in); absent when the input needs no gradient */
    struct ar_mem da, db, dgate;
    bool dx_accumulate; /* dX += ... instead of dX = ... */
};

struct ar_lora_layer;

/* Allocates the layer's workspace for at most dims.n rows. */
enum ar_status ar_lora_layer_new(struct ar_ctx *ctx, const struct ar_lora_dims *dims,
                                 const struct ar_lora_opts *opts, struct ar_lora_layer **out);
void ar_lora_layer_free(struct ar_lora_layer *layer); /* NULL is fine */

/* Changes s from the next forward on; call it between a backward and the next forward, never
 * between a forward and its backward. */
enum ar_status ar_lora_layer_set_scale(struct ar_lora_layer *layer, float scale);
struct ar_lora_dims ar_lora_layer_dims(const struct ar_lora_layer *layer);

/* Forward for n ≤ dims.n rows (dynamic padding gives shorter batches). `seed` and `step` pick the
 * dropout masks: the same (seed, step) gives the same masks on every device. `training` false
 * disables dropout. */
enum ar_status ar_lora_forward(struct ar_lora_layer *layer, int n, struct ar_mem x,
                               const struct ar_lora_weights *w, struct ar_mem y, bool training,
                               uint64_t seed, uint64_t step);

/* Backward of the last successful forward call (it may be called more than once). */
enum ar_status ar_lora_backward(struct ar_lora_layer *layer, struct ar_mem dy,
                                const struct ar_lora_weights *w, const struct ar_lora_grads *g);

#ifdef __cplusplus
}
#endif

#endif
