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

/* torch.optim.AdamW's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01; and
 * grad_scale 1, step 1. */
struct ar_adamw_params ar_adamw_default_params(void);

/* Updates n parameters in place, with grad·grad_scale as the gradient (grad itself is not
 * modified). decay_mask (n floats) is optional: absent means weight decay applies to all;
 * present, it applies where the mask is non-zero (gates, biases and norms get 0 in the engine's
 * mask, see arena.h). The scalar factors 1 − lr·wd, lr/(1 − β1ᵗ) and sqrt(1 − β2ᵗ) are computed
 * in double and rounded to float, as PyTorch 1.13's single-tensor AdamW does; the result matches
 * torch.optim.AdamW to float32 rounding (tests/test_adamw.c). Enqueued, not waited for. */
enum ar_status ar_adamw_update(struct ar_ctx *ctx, const struct ar_adamw_params *hp, size_t n,
                               struct ar_mem param, struct ar_mem grad, struct ar_mem m,
                               struct ar_mem v, struct ar_mem decay_mask);

/* Sum of squares of n floats (for global-norm gradient clipping: grad_scale = min(1, max_norm /
 * sqrt(sum))), returned on the host; waits for the queue. A two-stage work-group reduction in
 * float32 with a fixed summation order, so the result is the same on every run. */
enum ar_status ar_sum_squares(struct ar_ctx *ctx, size_t n, struct ar_mem x, double *out);

#ifdef __cplusplus
}
#endif

#endif
