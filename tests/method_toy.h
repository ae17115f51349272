/* The toy task the rank-method tests share (test_method.c, test_method_search.c,
 * test_hypergrad.c): a learnable classification set on the tiny BERT fixture, the model with LoRA
 * on query and value, short training runs, and replacing the adapters by their export.
 * Header-only, static inline: test.h's pass/fail counters are per translation unit, so these
 * CHECKs must be compiled into the test that reports them. */
#ifndef ADARANK_TEST_METHOD_TOY_H
#define ADARANK_TEST_METHOD_TOY_H

#include <stdint.h>

#include "adarank/method.h"
#include "test.h"

/* "$ADARANK_TEST_DATA/fixtures/bert_tiny" (2 layers, hidden 72, 97-token vocabulary). */
static inline const char *toy_model_dir(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/bert_tiny", getenv("ADARANK_TEST_DATA"));
    return path;
}

/* A learnable toy task on the fixture's 97-token vocabulary: the label is the class of the first
 * real token modulo 3. Lengths vary (4..11), so batches are padded. The examples depend on seed
 * only: the first n of a larger set are the set of n. */
static inline struct ar_encoded *toy_set(int count, unsigned long long seed)
{
    struct ar_encoded *s = calloc(1, sizeof *s);
    s->count = count;
    s->num_labels = 3;
    s->offsets = calloc((size_t)count + 1, sizeof *s->offsets);
    s->labels = calloc((size_t)count, sizeof *s->labels);
    s->lines = calloc((size_t)count, sizeof *s->lines);
    s->ids = calloc((size_t)count * 12, sizeof *s->ids);
    s->type_ids = calloc((size_t)count * 12, sizeof *s->type_ids);
    int64_t at = 0;
    for (int i = 0; i < count; i++) {
        int len = 4 + (int)((test_uniform(&seed) + 1.0f) * 4.0f); /* 4..11 */
        s->offsets[i] = at;
        for (int t = 0; t < len; t++)
            s->ids[at + t] = 5 + (int)((test_uniform(&seed) + 1.0f) * 45.0f); /* 5..94 */
        s->ids[at] = 1;                                                       /* [CLS]-like */
        s->labels[i] = s->ids[at + 1] % 3;
        s->lines[i] = i + 2;
        s->max_len = len > s->max_len ? len : s->max_len;
        at += len;
    }
    s->offsets[count] = at;
    return s;
}

/* The fixture with LoRA of rank `rank` on query and value of both layers (modules
 * [q0, v0, q1, v1]), 3 labels, batches up to 8 × 16; NULL (and a failed check) when it does not
 * load. */
static inline struct ar_model *toy_model(struct ar_ctx *ctx, int rank, float alpha)
{
    struct ar_model_options o = ar_model_default_options();
    o.num_labels = 3;
    o.target_modules = "query,value";
    o.rank = rank;
    o.lora_alpha = alpha;
    o.max_batch = 8;
    o.max_time = 16;
    o.seed = 7;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, toy_model_dir(), &o, &m));
    return m;
}

/* B ~ U(−0.5, 0.5) (seed 99): from PEFT's B = 0 every gate gradient is exactly 0 and the first
 * hypergradient second order in the lr (the gates act only through B' = −ξ·∇B), too small to
 * test a direction on. */
static inline void toy_randomize_b(struct ar_ctx *ctx, struct ar_model *model)
{
    unsigned long long seed = 99;
    struct ar_arena *arena = ar_model_arena(model);
    for (int i = 0; i < ar_model_module_count(model); i++) {
        const struct ar_model_module *mod = ar_model_module(model, i);
        size_t n = (size_t)mod->out * (size_t)mod->rank;
        float *b = malloc(n * sizeof *b);
        for (size_t e = 0; e < n; e++)
            b[e] = 0.5f * test_uniform(&seed);
        CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(arena->param, mod->b_off), b, n));
        free(b);
    }
}

/* `steps` steps of batch 8, no warm-up, evaluation or logging. */
static inline struct ar_train_params toy_short_run(int steps)
{
    struct ar_train_params p = ar_train_default_params();
    p.lr = 5e-2; /* large, so a few steps move the gates measurably */
    p.batch_size = 8;
    p.max_steps = steps;
    p.warmup_steps = 0;
    p.eval_every = 0;
    p.log_every = 1000;
    p.seed = 3;
    p.pad_id = 0;
    return p;
}

/* A short run of the model on set with the method attached; the first failing status. */
static inline enum ar_status toy_train(struct ar_ctx *ctx, struct ar_model *model,
                                       struct ar_method *method, const struct ar_encoded *set,
                                       int steps)
{
    struct ar_train_params p = toy_short_run(steps);
    struct ar_trainer *t = NULL;
    enum ar_status st = ar_trainer_new(ctx, model, &p, set, NULL, &t);
    if (st == AR_STATUS_OK)
        st = ar_method_attach(method, t);
    if (st == AR_STATUS_OK)
        st = ar_trainer_run(t);
    ar_trainer_free(t);
    return st;
}

/* Logits (8, 3) of the first 8 examples, padded. */
static inline void toy_logits(struct ar_ctx *ctx, struct ar_model *model,
                              const struct ar_encoded *set, float *out)
{
    int rows[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    struct ar_padded_batch pb = {0};
    CHECK_OK(ctx, ar_padded_batch_fill(&pb, set, rows, 8, 0));
    struct ar_batch b = {.batch = pb.batch, .time = pb.time, .ids = pb.ids,
                         .type_ids = pb.type_ids, .attn_mask = pb.attn_mask, .labels = pb.labels};
    CHECK_OK(ctx, ar_model_forward(model, &b, false, 0, NULL));
    CHECK_OK(ctx, ar_model_logits(model, out));
    ar_padded_batch_free(&pb);
}

/* Replaces every module's adapter by its exported plain-LoRA factors: the first `kept` components
 * hold A' and B', gate 1 and mask 1; the rest are zero. The module's scale is unchanged. Checks
 * 0 ≤ kept ≤ R and, unless want is NULL, kept == want[module]. */
static inline void toy_load_exported(struct ar_ctx *ctx, struct ar_model *model,
                                     struct ar_method *method, const int *want)
{
    struct ar_arena *arena = ar_model_arena(model);
    for (int i = 0; i < ar_model_module_count(model); i++) {
        struct ar_model_module *mod = ar_model_module(model, i);
        size_t r = (size_t)mod->rank, in = (size_t)mod->in, out = (size_t)mod->out;
        float *a = calloc(r * in, sizeof *a), *b = calloc(out * r, sizeof *b);
        float *bfull = calloc(out * r, sizeof *bfull), *g = calloc(r, sizeof *g);
        int kept = -1;
        float scale = 0;
        CHECK_OK(ctx, ar_method_export_module(method, i, a, b, &kept, &scale));
        CHECK(kept >= 0 && kept <= mod->rank, "module %d kept %d", i, kept);
        CHECK(!want || kept == want[i], "module %d exported at rank %d, want %d", i, kept,
              want ? want[i] : -1);
        CHECK(scale == mod->scale, "module %d scale %g vs %g", i, scale, mod->scale);
        for (size_t o = 0; o < out; o++)
            for (int j = 0; j < kept; j++)
                bfull[o * r + (size_t)j] = b[o * (size_t)kept + (size_t)j];
        for (size_t j = 0; j < r; j++)
            mod->mask[j] = g[j] = (int)j < kept ? 1.0f : 0.0f;
        CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(arena->param, mod->a_off), a, r * in));
        CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(arena->param, mod->b_off), bfull, out * r));
        CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(arena->param, mod->gate_off), g, r));
        free(a), free(b), free(bfull), free(g);
    }
    CHECK_OK(ctx, ar_model_sync_masks(model));
}

#endif
