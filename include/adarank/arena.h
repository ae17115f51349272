/* The flat arena of trainable state.
 *
 * Every trainable tensor of a run (LoRA factors, gates, selection variables, the task head) is a
 * named slice of one layout, and the layout is instantiated four times on the device: parameters,
 * gradients, Adam's first and second moments (plus a weight-decay mask). So an optimizer step,
 * a global-norm clip, a checkpoint or a data-parallel allreduce of the gradients is one call over
 * one contiguous range, whatever the model (llm.c's "all parameters in one allocation").
 *
 * Slices are aligned to AR_ARENA_ALIGN floats so kernels may use vector loads on any of them.
 */
#ifndef ADARANK_ARENA_H
#define ADARANK_ARENA_H

#include "memory.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AR_ARENA_ALIGN 16 /* floats: 64 bytes, a cache line and a float16 vector */

enum ar_arena_flags {
    AR_ARENA_DECAY = 1 << 0, /* weight decay applies (LoRA factors, head weights; not gates/biases) */
};

struct ar_arena_slice {
    const char *name; /* owned by the layout */
    size_t offset;    /* in floats from the start of each region */
    size_t count;
    unsigned flags;
};

struct ar_arena_layout;

struct ar_arena_layout *ar_arena_layout_new(void);
void ar_arena_layout_free(struct ar_arena_layout *layout); /* NULL is fine */

/* Appends a slice of `count` floats. Names must be unique (returns AR_STATUS_INVALID_ARGUMENT
 * otherwise). *offset (may be NULL) receives its offset. */
enum ar_status ar_arena_layout_add(struct ar_arena_layout *layout, const char *name, size_t count,
                                   unsigned flags, size_t *offset);

size_t ar_arena_layout_count(const struct ar_arena_layout *layout);       /* number of slices */
size_t ar_arena_layout_total(const struct ar_arena_layout *layout);       /* floats, padded */
const struct ar_arena_slice *ar_arena_layout_slice(const struct ar_arena_layout *layout, size_t i);
const struct ar_arena_slice *ar_arena_layout_find(const struct ar_arena_layout *layout,
                                                  const char *name);

/* The device side: four regions of layout_total floats each, and the decay mask. */
struct ar_arena {
    const struct ar_arena_layout *layout; /* borrowed; must outlive the arena */
    size_t total;
    struct ar_mem param, grad, m, v; /* (total) each */
    struct ar_mem decay_mask;        /* (total): 1 where AR_ARENA_DECAY, else 0 */
};

/* Allocates the regions; parameters, gradients and moments start at zero. */
enum ar_status ar_arena_new(struct ar_ctx *ctx, const struct ar_arena_layout *layout,
                            struct ar_arena *out);
void ar_arena_free(struct ar_arena *arena); /* releases the buffers; a zeroed arena is fine */

/* The view of a slice in one region, e.g. ar_arena_view(&arena, arena.grad, slice). */
static inline struct ar_mem ar_arena_view(const struct ar_arena_slice *slice, struct ar_mem region)
{
    return ar_mem_at(region, slice->offset);
}

enum ar_status ar_arena_zero_grad(struct ar_ctx *ctx, struct ar_arena *arena);

#ifdef __cplusplus
}
#endif

#endif
