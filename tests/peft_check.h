/* What the PEFT tests share (test_peft_import.c, test_peft_roundtrip.c, test_peft_merge.c):
 * random parameters for a toy model, and its adapter's modules and head exported the way
 * `adarank-cl train` does. Uses test.h's CHECKs, so include it after test.h in the one file of a
 * test program that checks. */
#ifndef ADARANK_TEST_PEFT_CHECK_H
#define ADARANK_TEST_PEFT_CHECK_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/method.h"
#include "adarank/peft.h"
#include "test.h"

#define PEFT_CHECK_MAX_MODULES 8

/* Every parameter but the gates (they keep the method's values, e.g. a pattern's frozen scales)
 * becomes 0.3 · uniform[-1, 1) from `seed`. */
static inline void peft_check_randomize(struct ar_ctx *ctx, struct ar_model *model,
                                        unsigned long long seed)
{
    struct ar_arena *arena = ar_model_arena(model);
    for (size_t i = 0; i < ar_arena_layout_count(arena->layout); i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(arena->layout, i);
        if (strstr(s->name, "gate")) continue;
        float *x = malloc(s->count * sizeof *x);
        for (size_t e = 0; e < s->count; e++)
            x[e] = 0.3f * test_uniform(&seed);
        CHECK_OK(ctx, ar_mem_write(ctx, ar_arena_view(s, arena->param), x, s->count));
        free(x);
    }
}

/* Every module's folded factors as the method exports them, into mods[0..max) (the caller frees
 * them with peft_check_free); want_ranks[i], when given, is the rank module i must export at.
 * Returns the module count. */
static inline int peft_check_modules(struct ar_ctx *ctx, struct ar_model *model,
                                     struct ar_method *method, const int *want_ranks,
                                     struct ar_peft_module *mods, int max)
{
    int n = ar_model_module_count(model);
    CHECK(n <= max, "%d modules", n);
    n = n < max ? n : max;
    for (int i = 0; i < n; i++) {
        const struct ar_model_module *m = ar_model_module(model, i);
        float *a = calloc((size_t)m->rank * m->in, sizeof *a);
        float *b = calloc((size_t)m->out * m->rank, sizeof *b);
        int rank = 0;
        float scale = 0;
        CHECK_OK(ctx, ar_method_export_module(method, i, a, b, &rank, &scale));
        if (want_ranks)
            CHECK(rank == want_ranks[i], "module %d exported at rank %d, want %d", i, rank,
                  want_ranks[i]);
        mods[i] = (struct ar_peft_module){m->name, rank, m->in, m->out, scale, a, b};
    }
    return n;
}

/* The head's parameters saved whole: every arena slice whose name starts with one of the
 * NULL-terminated prefixes, into head[0..max). Returns how many. */
static inline int peft_check_head(struct ar_ctx *ctx, struct ar_model *model,
                                  const char *const *prefixes, struct ar_peft_tensor *head, int max)
{
    struct ar_arena *arena = ar_model_arena(model);
    int n = 0, hidden = ar_model_config(model)->hidden_size;
    for (size_t i = 0; i < ar_arena_layout_count(arena->layout) && n < max; i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(arena->layout, i);
        bool wanted = false;
        for (const char *const *p = prefixes; *p && !wanted; p++)
            wanted = strncmp(s->name, *p, strlen(*p)) == 0;
        if (!wanted) continue;
        float *data = malloc(s->count * sizeof *data);
        CHECK_OK(ctx, ar_mem_read(ctx, ar_arena_view(s, arena->param), data, s->count));
        bool bias = strstr(s->name, ".bias") != NULL;
        head[n] = (struct ar_peft_tensor){.name = s->name, .ndim = bias ? 1 : 2, .data = data};
        head[n].shape[0] = bias ? (int64_t)s->count : (int64_t)s->count / hidden;
        head[n].shape[1] = bias ? 0 : hidden;
        n++;
    }
    return n;
}

static inline void peft_check_free(struct ar_peft_module *mods, int n, struct ar_peft_tensor *head,
                                   int n_head)
{
    for (int i = 0; i < n; i++)
        free((void *)mods[i].a), free((void *)mods[i].b);
    for (int i = 0; i < n_head; i++)
        free((void *)head[i].data);
}

/* The adapter as `train` exports it into dir: the method's folded factors of every module
 * (want_ranks[i], when given, is the rank module i must export at) and the classifier weight and
 * bias saved whole, base model base_dir, task SEQ_CLS. */
static inline void peft_check_export(struct ar_ctx *ctx, struct ar_model *model,
                                     struct ar_method *method, const char *base_dir,
                                     const int *want_ranks, bool full_target_names, const char *dir)
{
    struct ar_peft_module mods[PEFT_CHECK_MAX_MODULES];
    int n = peft_check_modules(ctx, model, method, want_ranks, mods, PEFT_CHECK_MAX_MODULES);
    static const char *const classifier[] = {"classifier.", NULL};
    struct ar_peft_tensor head[2];
    int n_head = peft_check_head(ctx, model, classifier, head, 2);
    CHECK(n_head == 2, "the model has a classifier weight and bias (%d)", n_head);
    struct ar_peft_adapter ad = {.base_model = base_dir,
                                 .task_type = "SEQ_CLS",
                                 .modules = mods,
                                 .n_modules = n,
                                 .tensors = head,
                                 .n_tensors = n_head,
                                 .full_target_names = full_target_names,
                                 .method = "lora"};
    char err[1024];
    enum ar_status st = ar_peft_export(dir, &ad, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "export: %s", err);
    peft_check_free(mods, n, head, n_head);
}

#endif
