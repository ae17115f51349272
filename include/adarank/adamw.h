/* AdamW over a flat parameter arena.
 *
 * All trainable state lives in four equally laid out device regions (parameters, gradients, first
 * and second moments) so that an update, a gradient clip or a data-parallel allreduce is one call
 * over one range. Decoupled weight decay as torch.optim.AdamW applies it (METHODS.md §0.3):
 *
 *     p ← p·(1 − lr·wd·decay_mask)
 *     m ← β1·m + (1 − β1)·grad
 *     v ← β2·v + (1 − β2)·grad²
 *     p ← p − lr · (m / (1 − β1ᵗ)) / (sqrt(v / (1 − β2ᵗ)) + eps)
 */
#ifndef ADARANK_ADAMW_H
#define ADARANK_ADAMW_H

#include "memory.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ar_adamw_params {
    float lr;
    float beta1, beta2, eps;
    float weight_decay;
    float grad_scale; /* gradients are multiplied by this first (clipping, accumulation mean) */
    int step;         /* t ≥ 1, for the bias corrections */
};

struct ar_adamw_params ar_adamw_default_params(void); /* torch defaults: 1e-3, 0.9, 0.999, 1e-8, 0.01 */

/* Updates n parameters in place. decay_mask (n floats of 0/1) is optional: absent means weight
 * decay applies to all (gates, biases and norms get 0 in the engine's mask). */
enum ar_status ar_adamw_update(struct ar_ctx *ctx, const struct ar_adamw_params *hp, size_t n,
                               struct ar_mem param, struct ar_mem grad, struct ar_mem m,
                               struct ar_mem v, struct ar_mem decay_mask);

/* Sum of squares of n floats (for global-norm gradient clipping), returned on the host. */
enum ar_status ar_sum_squares(struct ar_ctx *ctx, size_t n, struct ar_mem x, double *out);

#ifdef __cplusplus
}
#endif

#endif
