/* The flat arena of trainable state: a layout of named slices, instantiated on the device as
 * parameter, gradient and moment regions (see include/adarank/arena.h). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ar_arena_layout {
    struct ar_arena_slice *slices;
    size_t count, cap;
    size_t total;
};

struct ar_arena_layout *ar_arena_layout_new(void)
{
    return calloc(1, sizeof(struct ar_arena_layout));
}

void ar_arena_layout_free(struct ar_arena_layout *layout)
{
    if (!layout)
        return;
    for (size_t i = 0; i < layout->count; i++)
        free((char *)layout->slices[i].name);
    free(layout->slices);
    free(layout);
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

enum ar_status ar_arena_layout_add(struct ar_arena_layout *layout, const char *name, size_t count,
                                   unsigned flags, size_t *offset)
{
    if (!layout || !name || !*name || count == 0)
        return AR_STATUS_INVALID_ARGUMENT;
    if (ar_arena_layout_find(layout, name))
        return AR_STATUS_INVALID_ARGUMENT;
    size_t padded = round_up(count, AR_ARENA_ALIGN);
    if (padded < count || layout->total + padded < layout->total)
        return AR_STATUS_OUT_OF_MEMORY; /* size_t overflow */
    if (layout->count == layout->cap) {
        size_t cap = layout->cap ? layout->cap * 2 : 32;
        struct ar_arena_slice *grown = realloc(layout->slices, cap * sizeof *grown);
        if (!grown)
            return AR_STATUS_OUT_OF_MEMORY;
        layout->slices = grown;
        layout->cap = cap;
    }
    size_t len = strlen(name) + 1;
    char *copy = malloc(len);
    if (!copy)
        return AR_STATUS_OUT_OF_MEMORY;
    memcpy(copy, name, len);
    layout->slices[layout->count++] = (struct ar_arena_slice){
        .name = copy, .offset = layout->total, .count = count, .flags = flags};
    if (offset)
        *offset = layout->total;
    layout->total += padded;
    return AR_STATUS_OK;
}

size_t ar_arena_layout_count(const struct ar_arena_layout *layout)
{
    return layout->count;
}

size_t ar_arena_layout_total(const struct ar_arena_layout *layout)
{
    return layout->total;
}

const struct ar_arena_slice *ar_arena_layout_slice(const struct ar_arena_layout *layout, size_t i)
{
    return i < layout->count ? &layout->slices[i] : NULL;
}

const struct ar_arena_slice *ar_arena_layout_find(const struct ar_arena_layout *layout,
                                                  const char *name)
{
    for (size_t i = 0; i < layout->count; i++)
        if (strcmp(layout->slices[i].name, name) == 0)
            return &layout->slices[i];
    return NULL;
}

/* The decay mask is built on the host once: 1 inside decayed slices, 0 elsewhere (padding too). */
static enum ar_status write_decay_mask(struct ar_ctx *ctx, struct ar_arena *arena)
{
    float *mask = calloc(arena->total, sizeof *mask);
    if (!mask)
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "arena decay mask (%zu floats)",
                        arena->total);
    for (size_t i = 0; i < arena->layout->count; i++) {
        const struct ar_arena_slice *s = &arena->layout->slices[i];
        if (s->flags & AR_ARENA_DECAY)
            for (size_t j = 0; j < s->count; j++)
                mask[s->offset + j] = 1.0f;
    }
    enum ar_status st = ar_mem_write(ctx, arena->decay_mask, mask, arena->total);
    free(mask);
    return st;
}

enum ar_status ar_arena_new(struct ar_ctx *ctx, const struct ar_arena_layout *layout,
                            struct ar_arena *out)
{
    *out = (struct ar_arena){.layout = layout, .total = layout->total};
    if (layout->total == 0)
        return ar__fail(ctx, AR_STATUS_INVALID_ARGUMENT, "arena: the layout has no slices");
    struct ar_mem *regions[] = {&out->param, &out->grad, &out->m, &out->v, &out->decay_mask};
    enum ar_status st = AR_STATUS_OK;
    for (size_t i = 0; i < sizeof regions / sizeof regions[0] && st == AR_STATUS_OK; i++) {
        st = ar_mem_alloc(ctx, layout->total, regions[i]);
        if (st == AR_STATUS_OK)
            st = ar_mem_fill(ctx, *regions[i], 0.0f, layout->total);
    }
    if (st == AR_STATUS_OK)
        st = write_decay_mask(ctx, out);
    if (st != AR_STATUS_OK)
        ar_arena_free(out);
    return st;
}

void ar_arena_free(struct ar_arena *arena)
{
    if (!arena)
        return;
    ar_mem_release(&arena->param);
    ar_mem_release(&arena->grad);
    ar_mem_release(&arena->m);
    ar_mem_release(&arena->v);
    ar_mem_release(&arena->decay_mask);
}

enum ar_status ar_arena_zero_grad(struct ar_ctx *ctx, struct ar_arena *arena)
{
    return ar_mem_fill(ctx, arena->grad, 0.0f, arena->total);
}
