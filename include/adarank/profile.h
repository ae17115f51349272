/* Per-operation timing of a context: where a training step's device time goes.
 *
 * While profiling is on, every operation the context enqueues (each of our kernels by name,
 * each matrix product by kind and shape, buffer fills and copies, host transfers) runs alone:
 * the queue is drained before and after it, and the wall time in between is added to that
 * operation's total. The totals include the launch overhead the host pays per operation, which
 * is part of what a step costs; they exclude the overlap of host and device work a normal run
 * has, so a profiled step is slower than an unprofiled one and the totals are a ranking, not a
 * measurement of the unprofiled step. Operations that run others are charged their own time
 * only: a batched product's time excludes the packing of its views ("gemm batched: packing
 * views", listed apart). Off by default: then the cost is one pointer test per operation.
 */
#ifndef ADARANK_PROFILE_H
#define ADARANK_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ar_ctx;

struct ar_profile_op {
    const char *name; /* "layernorm_forward", "gemm NT 2048x1152x384", "gemm batched ...", ... */
    long calls;
    double seconds; /* wall time, summed over the calls */
};

/* Turns profiling on (clearing the totals) or off (keeping them for ar_ctx_profile_ops). */
enum ar_status ar_ctx_profile(struct ar_ctx *ctx, bool on);

/* The totals so far, in first-seen order; valid until the next ar_ctx_profile(ctx, true) or
 * ar_ctx_free. Returns the count (0 when profiling was never on). */
size_t ar_ctx_profile_ops(const struct ar_ctx *ctx, const struct ar_profile_op **ops);

#ifdef __cplusplus
}
#endif

#endif
