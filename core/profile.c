/* Per-operation timing (include/adarank/profile.h). Each hooked operation calls
 * ar__profile_begin before it enqueues and ar__profile_end after. Operations nest (a batched
 * product packs its views with copies): each is charged its own time, without the time of the
 * operations inside it, so the totals add up to the wall time once. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define PROFILE_NEST 8

struct ar__profile {
    struct ar_profile_op *ops;
    size_t count, cap;
    int depth;                  /* nesting of begin/end pairs in progress */
    double inner[PROFILE_NEST]; /* per level: time of the finished operations nested in it */
    bool on;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void clear(struct ar__profile *p)
{
    for (size_t i = 0; i < p->count; i++)
        free((char *)p->ops[i].name);
    p->count = 0;
}

void ar__profile_free(struct ar__profile *p)
{
    if (!p) return;
    clear(p);
    free(p->ops);
    free(p);
}

enum ar_status ar_ctx_profile(struct ar_ctx *ctx, bool on)
{
    if (!ctx->profile) {
        if (!on) return AR_STATUS_OK;
        ctx->profile = calloc(1, sizeof *ctx->profile);
        if (!ctx->profile) return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "profile totals");
    }
    if (on) clear(ctx->profile);
    ctx->profile->on = on;
    ctx->profile->depth = 0;
    return AR_STATUS_OK;
}

size_t ar_ctx_profile_ops(const struct ar_ctx *ctx, const struct ar_profile_op **ops)
{
    *ops = ctx->profile ? ctx->profile->ops : NULL;
    return ctx->profile ? ctx->profile->count : 0;
}

double ar__profile_begin(struct ar_ctx *ctx)
{
    struct ar__profile *p = ctx->profile;
    if (!p || !p->on) return -1;
    if (p->depth >= PROFILE_NEST) { /* deeper than any caller nests: not timed */
        p->depth++;
        return -1;
    }
    p->inner[p->depth++] = 0;
    clFinish(ctx->queue); /* an error here resurfaces at the operation or the next finish */
    return now_s();
}

void ar__profile_end(struct ar_ctx *ctx, double t0, const char *name)
{
    struct ar__profile *p = ctx->profile;
    if (!p || !p->on || p->depth == 0) return;
    int level = --p->depth;
    if (t0 < 0) return;
    clFinish(ctx->queue);
    double total = now_s() - t0, dt = total - p->inner[level];
    if (level > 0) p->inner[level - 1] += total;
    for (size_t i = 0; i < p->count; i++) {
        if (strcmp(p->ops[i].name, name) == 0) {
            p->ops[i].calls++;
            p->ops[i].seconds += dt;
            return;
        }
    }
    if (p->count == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        struct ar_profile_op *ops = realloc(p->ops, cap * sizeof *ops);
        if (!ops) return; /* a profile missing an entry, not a failed step */
        p->ops = ops, p->cap = cap;
    }
    size_t n = strlen(name) + 1;
    char *copy = malloc(n);
    if (!copy) return;
    memcpy(copy, name, n);
    p->ops[p->count++] = (struct ar_profile_op){copy, 1, dt};
}
