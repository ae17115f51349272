/* What the PEFT tests share (test_peft_import.c, test_peft_roundtrip.c): random parameters for a
 * toy model and its adapter exported the way `adarank-cl train` does. Uses test.h's CHECKs, so
 * include it after test.h in the one file of a test program that checks. */
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
static void peft_check_randomize(struct ar_ctx *ctx, struct ar_model *model,
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

/* The adapter as `train` exports it into dir: the method's folded factors of every module
 * (want_ranks[i], when given, is the rank module i must export at) and the classifier weight and
 * bias saved whole, base model base_dir, task SEQ_CLS. */
static void peft_check_export(struct ar_ctx *ctx, struct ar_model *model, struct ar_method *method,
                              const char *base_dir, const int *want_ranks, bool full_target_names,
                              const char *dir)
{
    int n = ar_model_module_count(model);
    CHECK(n <= PEFT_CHECK_MAX_MODULES, "%d modules", n);
    n = n < PEFT_CHECK_MAX_MODULES ? n : PEFT_CHECK_MAX_MODULES;
    struct ar_peft_module mods[PEFT_CHECK_MAX_MODULES];
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
    struct ar_arena *arena = ar_model_arena(model);
    int hidden = ar_model_config(model)->hidden_size;
    struct ar_peft_tensor head[2];
    int n_head = 0;
    for (size_t i = 0; i < ar_arena_layout_count(arena->layout) && n_head < 2; i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(arena->layout, i);
        if (strncmp(s->name, "classifier.", 11)) continue;
        float *data = malloc(s->count * sizeof *data);
        CHECK_OK(ctx, ar_mem_read(ctx, ar_arena_view(s, arena->param), data, s->count));
        bool bias = strstr(s->name, ".bias") != NULL;
        head[n_head] = (struct ar_peft_tensor){.name = s->name, .ndim = bias ? 1 : 2, .data = data};
        head[n_head].shape[0] = bias ? (int64_t)s->count : (int64_t)s->count / hidden;
        head[n_head].shape[1] = bias ? 0 : hidden;
        n_head++;
    }
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
    for (int i = 0; i < n; i++)
        free((void *)mods[i].a), free((void *)mods[i].b);
    for (int i = 0; i < n_head; i++)
        free((void *)head[i].data);
}

#endif
