/* The fixture-matching scaffolding the model tests share (test_model_bert.c, test_model_gpt2.c,
 * test_model_llama.c): reading tests/fixtures/ files, comparing device values with the policy of
 * test.h, gradient accumulation, the AdamW trajectory, dropout gradients against finite
 * differences and expected load errors. Header-only, static inline: test.h's pass/fail counters
 * are per translation unit, so these CHECKs must be compiled into the test that reports them.
 * Each test passes its own K_FWD / K_BWD (the k of test_tolerance, derived in its banner). */
#ifndef ADARANK_TEST_MODEL_CHECK_H
#define ADARANK_TEST_MODEL_CHECK_H

#include <assert.h>
#include <stdint.h>

#include "adarank/model.h"
#include "fixture.h"
#include "test.h"

static double worst_ratio; /* largest error / tolerance seen by check_near(), for the report */

/* CHECK_CLOSE, and records how close to its tolerance the worst element came. */
static inline void check_near(const char *what, const double *ref, const float *got, size_t n,
                              double k)
{
    double tol = test_tolerance(k, fmax(test_max_abs(ref, n), 1e-30));
    for (size_t i = 0; i < n; i++)
        worst_ratio = fmax(worst_ratio, fabs((double)got[i] - ref[i]) / tol);
    CHECK_CLOSE(what, ref, got, n, k);
}

/* "$ADARANK_TEST_DATA/fixtures/<rel>" in a static buffer: valid until the next call. */
static inline const char *data_path(const char *rel)
{
    static char buf[1024];
    return fixture_path(rel, buf, sizeof buf);
}

static inline int load_fx(const char *file, struct fixture *f)
{
    char err[512];
    int rc = fixture_load(data_path(file), f, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    return rc;
}

/* The reference values (doubles, owned by the fixture) of an array that must be there. */
static inline const double *fx(const struct fixture *f, const char *name, size_t *n)
{
    const struct fixture_array *a = fixture_find(f, name);
    CHECK(a != NULL, "fixture lacks %s", name);
    if (a && n)
        *n = a->count;
    return a ? a->f64 : NULL;
}

/* Integer arrays (exact in the doubles) live until free_held(): batches point into them. NULL
 * when the fixture lacks the array, which is a failure only when it is required. */
static int32_t *held[64];
static int held_count;

static inline const int32_t *fx_ints(const struct fixture *f, const char *name, bool required)
{
    const struct fixture_array *a = fixture_find(f, name);
    if (required)
        CHECK(a != NULL, "fixture lacks %s", name);
    if (!a || held_count == 64)
        return NULL;
    int32_t *v = malloc(a->count * sizeof *v);
    for (size_t i = 0; v && i < a->count; i++)
        v[i] = (int32_t)a->f64[i];
    held[held_count++] = v;
    return v;
}

static inline void free_held(void)
{
    for (int i = 0; i < held_count; i++)
        free(held[i]);
    held_count = 0;
}

/* Writes "param.NAME" into the arena at off (set), or compares the arena's gradient there with
 * "grad.NAME" at tolerance k_bwd. */
static inline void arena_tensor(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                                const char *name, size_t off, bool set, double k_bwd)
{
    char key[320]; /* "param." + a name of up to 255 characters */
    snprintf(key, sizeof key, "%s%s", set ? "param." : "grad.", name);
    const struct fixture_array *a = fixture_find(f, key);
    CHECK(a != NULL, "fixture lacks %s", key);
    if (!a)
        return;
    struct ar_arena *arena = ar_model_arena(m);
    if (set) {
        CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(arena->param, off), a->f32, a->count));
        return;
    }
    float *got = malloc(a->count * sizeof *got);
    CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(arena->grad, off), got, a->count));
    check_near(key, a->f64, got, a->count, k_bwd);
    free(got);
}

/* Every module's A, B and gate: set from or checked against the fixture. */
static inline void module_trainables(struct ar_ctx *ctx, struct ar_model *m,
                                     const struct fixture *f, bool set, double k_bwd)
{
    const char *part[] = {"lora_A", "lora_B", "gate"};
    for (int i = 0; i < ar_model_module_count(m); i++) {
        const struct ar_model_module *mod = ar_model_module(m, i);
        size_t off[] = {mod->a_off, mod->b_off, mod->gate_off};
        for (int k = 0; k < 3; k++) {
            char name[256];
            snprintf(name, sizeof name, "%s.%s", mod->name, part[k]);
            arena_tensor(ctx, m, f, name, off[k], set, k_bwd);
        }
    }
}

/* Backward accumulates: two backward passes at loss_scale 0.5 give the gradients of one at 1.
 * Every backward op is linear in the upstream gradient and 0.5 is exact in binary, so the two
 * halves add up to the same float32 values up to the last GEMM's accumulation (k = 1). */
static inline void accumulation(struct ar_ctx *ctx, struct ar_model *m)
{
    struct ar_arena *a = ar_model_arena(m);
    float *once = malloc(a->total * sizeof *once), *twice = malloc(a->total * sizeof *twice);
    double *ref = malloc(a->total * sizeof *ref);
    CHECK_OK(ctx, ar_mem_read(ctx, a->grad, once, a->total));
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, a));
    CHECK_OK(ctx, ar_model_backward(m, 0.5f));
    CHECK_OK(ctx, ar_model_backward(m, 0.5f));
    CHECK_OK(ctx, ar_mem_read(ctx, a->grad, twice, a->total));
    for (size_t i = 0; i < a->total; i++)
        ref[i] = once[i];
    CHECK_CLOSE("gradients of 2 × backward(0.5) vs backward(1)", ref, twice, a->total, 1);
    free(once);
    free(twice);
    free(ref);
}

/* 10 AdamW steps (torch.optim.AdamW, lr 1e-2, wd 0.01 on the arena's decay mask) against the
 * fixture's "adamw_losses". Adam divides each gradient by its running RMS, so an element whose
 * gradient is tiny moves by up to lr whatever its float32 error; the losses then differ by
 * O(lr · |∂L/∂p|) per step and grow with the step count. We allow the forward tolerance (k_fwd)
 * per step, times 1 + step: measured errors are reported by the check. */
static inline void check_adamw(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                               const struct ar_batch *b, double k_fwd)
{
    size_t n = 0;
    const double *ref = fx(f, "adamw_losses", &n);
    struct ar_arena *a = ar_model_arena(m);
    struct ar_adamw_params hp = ar_adamw_default_params();
    hp.lr = 1e-2f;
    hp.weight_decay = 0.01f;
    hp.grad_scale = 1.0f;
    double worst = 0;
    for (size_t step = 1; ref && step <= n; step++) {
        float loss = 0;
        CHECK_OK(ctx, ar_arena_zero_grad(ctx, a));
        CHECK_OK(ctx, ar_model_forward(m, b, false, step, &loss));
        CHECK_OK(ctx, ar_model_backward(m, 1.0f));
        hp.step = (int)step;
        CHECK_OK(ctx, ar_adamw_update(ctx, &hp, a->total, a->param, a->grad, a->m, a->v,
                                      a->decay_mask));
        double err = fabs(loss - ref[step - 1]);
        double tol = (1.0 + (double)step) * test_tolerance(k_fwd, fmax(ref[0], 1.0));
        worst = fmax(worst, err / tol);
        CHECK(err <= tol, "AdamW step %zu: loss %.9g want %.9g (err %.3g > tol %.3g)", step,
              (double)loss, ref[step - 1], err, tol);
    }
    printf("  AdamW: 10 losses %.6f -> %.6f, worst error %.3g of its tolerance\n",
           ref ? ref[0] : 0.0, ref ? ref[n - 1] : 0.0, worst);
}

/* The training-mode loss with one parameter set to value (seed step 5). */
static inline float loss_at(struct ar_ctx *ctx, struct ar_model *m, const struct ar_batch *b,
                            size_t off, float value)
{
    float loss = NAN;
    CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(ar_model_arena(m)->param, off), &value, 1));
    CHECK_OK(ctx, ar_model_forward(m, b, true, 5, &loss));
    return loss;
}

/* Training mode (dropout on, the model loaded with it): the same (seed, step) gives the same
 * loss, another step another one; backward must recompute exactly the forward's masks, so the
 * analytic gradients of the first min(rank, gates) gates of every module_step-th module match
 * central finite differences of the float32 loss at the same (seed, step). With h = 1e-2 the
 * truncation error h²/6·|d³L/dg³| and the rounding error eps32·sqrt(K_FWD)·|L|/h are both about
 * 1e-5 on the tiny models, so a wrong mask (which changes a gradient by roughly the dropout rate)
 * is far outside the 5% + 1e-4 allowed. */
static inline void check_dropout_gradients(struct ar_ctx *ctx, struct ar_model *m,
                                           const struct ar_batch *b, int module_step, int gates)
{
    float l1 = 0, l2 = 0, l3 = 0;
    CHECK_OK(ctx, ar_model_forward(m, b, true, 6, &l3));
    CHECK_OK(ctx, ar_model_forward(m, b, true, 5, &l2));
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, ar_model_arena(m)));
    CHECK_OK(ctx, ar_model_forward(m, b, true, 5, &l1));
    CHECK(l1 == l2 && l1 != l3, "dropout is a function of (seed, step): %g %g %g", (double)l1,
          (double)l2, (double)l3);
    CHECK_OK(ctx, ar_model_backward(m, 1.0f));
    assert(gates <= 8 && module_step > 0);
    double worst = 0;
    for (int i = 0; i < ar_model_module_count(m); i += module_step) {
        const struct ar_model_module *mod = ar_model_module(m, i);
        float g[8], p[8];
        int count = mod->rank < gates ? mod->rank : gates;
        CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(ar_model_arena(m)->grad, mod->gate_off), g,
                                  (size_t)count));
        CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(ar_model_arena(m)->param, mod->gate_off), p,
                                  (size_t)count));
        for (int j = 0; j < count; j++) {
            float h = 1e-2f;
            double up = loss_at(ctx, m, b, mod->gate_off + (size_t)j, p[j] + h);
            double down = loss_at(ctx, m, b, mod->gate_off + (size_t)j, p[j] - h);
            loss_at(ctx, m, b, mod->gate_off + (size_t)j, p[j]);
            double fd = (up - down) / (2.0 * (double)h), tol = 5e-2 * fabs(fd) + 1e-4;
            worst = fmax(worst, fabs(g[j] - fd) / tol);
            CHECK(fabs(g[j] - fd) <= tol, "%s gate %d: analytic %.6g, finite differences %.6g",
                  mod->name, j, (double)g[j], fd);
        }
    }
    printf("dropout on: gate gradients vs finite differences, worst %.3g of the tolerance\n",
           worst);
}

/* Loading fixtures/<dir> with o fails with status want and a message holding s1, s2, s3 (each
 * NULL to skip). */
static inline void expect_error(struct ar_ctx *ctx, const char *dir, struct ar_model_options o,
                                enum ar_status want, const char *s1, const char *s2,
                                const char *s3)
{
    struct ar_model *m = NULL;
    enum ar_status st = ar_model_load(ctx, data_path(dir), &o, &m);
    const char *msg = ar_ctx_errmsg(ctx);
    CHECK(st == want && m == NULL, "%s: status %s, want %s", dir, ar_status_name(st),
          ar_status_name(want));
    const char *parts[] = {s1, s2, s3};
    for (int i = 0; i < 3; i++)
        CHECK(!parts[i] || strstr(msg, parts[i]), "%s: message lacks \"%s\": %s", dir, parts[i],
              msg);
    printf("  %s: %s\n", dir, msg);
    ar_model_free(m);
}

/* ---- causal LMs (test_model_gpt2.c, test_model_llama.c) ---- */

/* The fixture's batch: ids, attn_mask and token_labels, all required. */
static inline struct ar_batch lm_batch(const struct fixture *f)
{
    const struct fixture_array *ids = fixture_find(f, "ids");
    struct ar_batch b = {.batch = ids ? (int)ids->dims[0] : 0,
                         .time = ids ? (int)ids->dims[1] : 0,
                         .ids = fx_ints(f, "ids", true),
                         .attn_mask = fx_ints(f, "attn_mask", true),
                         .token_labels = fx_ints(f, "token_labels", true)};
    return b;
}

/* The logits of rows [from, from + rows) of the fixture (each T·V), read back from the model. */
static inline void check_lm_logits(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                                   int from, int rows, int fx_time, int time, double k)
{
    size_t n = 0;
    const double *ref = fx(f, "logits", &n);
    int V = ar_model_config(m)->vocab_size;
    size_t got_n = (size_t)rows * (size_t)time * (size_t)V;
    float *got = malloc(got_n * sizeof *got);
    double *want = malloc(got_n * sizeof *want);
    CHECK_OK(ctx, ar_model_logits(m, got));
    for (int r = 0; ref && r < rows; r++)
        for (int t = 0; t < time; t++)
            memcpy(want + ((size_t)r * (size_t)time + (size_t)t) * (size_t)V,
                   ref + ((size_t)(from + r) * (size_t)fx_time + (size_t)t) * (size_t)V,
                   (size_t)V * sizeof *want);
    if (ref)
        check_near("logits", want, got, got_n, k);
    free(got);
    free(want);
}

/* An evaluation forward of the fixture's batch b: its logits and loss at tolerance k. */
static inline void check_lm_forward(struct ar_ctx *ctx, struct ar_model *m,
                                    const struct fixture *f, const struct ar_batch *b, double k)
{
    float loss = 0;
    CHECK_OK(ctx, ar_model_forward(m, b, false, 0, &loss));
    check_lm_logits(ctx, m, f, 0, b->batch, b->time, b->time, k);
    const double *ref = fx(f, "loss", NULL);
    if (ref)
        CHECK(fabs(loss - ref[0]) <= test_tolerance(k, ref[0]), "loss %.9g want %.9g",
              (double)loss, ref[0]);
}

/* Dynamic padding: the last row of b alone, cut to its length, gives the same logits; without
 * targets the loss is NaN and there is nothing to backward. */
static inline void check_lm_padding(struct ar_ctx *ctx, struct ar_model *m,
                                    const struct fixture *f, const struct ar_batch *b, double k)
{
    float loss = 0;
    int last = b->batch - 1, len = 0;
    for (int t = 0; t < b->time; t++)
        len += b->attn_mask[last * b->time + t];
    struct ar_batch one = {.batch = 1, .time = len, .ids = b->ids + last * b->time};
    CHECK_OK(ctx, ar_model_forward(m, &one, false, 0, &loss));
    CHECK(isnan(loss), "no targets: loss is NaN, got %g", (double)loss);
    check_lm_logits(ctx, m, f, last, 1, b->time, len, k);
    CHECK(ar_model_backward(m, 1.0f) == AR_STATUS_INVALID_ARGUMENT, "backward without a loss");
}

/* Training mode on the tiny decoder in fixtures/<dir> loaded with o (dropout on), its LoRA values
 * from fixtures/<file>: check_dropout_gradients on modules 0, 3, 6, … (every kind of linear),
 * 2 gates each. */
static inline void check_lm_dropout(struct ar_ctx *ctx, const char *dir, const char *file,
                                    struct ar_model_options o, double k_bwd)
{
    struct fixture f = {0};
    CHECK(load_fx(file, &f) == 0, "cannot read %s", file);
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(dir), &o, &m));
    if (m) {
        module_trainables(ctx, m, &f, true, k_bwd);
        struct ar_batch b = lm_batch(&f);
        check_dropout_gradients(ctx, m, &b, 3, 2);
    }
    ar_model_free(m);
    fixture_free(&f);
}

/* A micro decoder (fixtures/<dir> loaded with o; transformers' outputs in fixtures/<file>) at
 * init, where B = 0 makes the adapted model the base model: its logits and loss match at
 * tolerance k, and a backward works. Prints "<what> logits and loss match". */
static inline void check_lm_micro(struct ar_ctx *ctx, const char *dir, const char *file,
                                  struct ar_model_options o, double k, const char *what)
{
    struct fixture f = {0};
    CHECK(load_fx(file, &f) == 0, "cannot read %s", file);
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(dir), &o, &m));
    if (m && f.count) {
        struct ar_batch b = lm_batch(&f);
        check_lm_forward(ctx, m, &f, &b, k);
        CHECK_OK(ctx, ar_model_backward(m, 1.0f));
        printf("%s logits and loss match\n", what);
    }
    ar_model_free(m);
    fixture_free(&f);
}

/* A causal LM against its fixture (written by gen_decoders.py): the LoRA trainables set from
 * it, the forward's logits and loss, every module's gradients, gradient accumulation, padding
 * and the fixture's AdamW steps, within the policy at k_fwd (forward) and k_bwd (backward). */
static inline void check_lm_parity(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                                   double k_fwd, double k_bwd)
{
    module_trainables(ctx, m, f, true, k_bwd);
    worst_ratio = 0;
    struct ar_batch b = lm_batch(f);
    check_lm_forward(ctx, m, f, &b, k_fwd);
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, ar_model_arena(m)));
    CHECK_OK(ctx, ar_model_backward(m, 1.0f));
    module_trainables(ctx, m, f, false, k_bwd);
    printf("  parity: logits, loss and %d modules' gradients: worst error %.3g of its tolerance\n",
           ar_model_module_count(m), worst_ratio);
    accumulation(ctx, m);

    check_lm_padding(ctx, m, f, &b, k_fwd);
    check_adamw(ctx, m, f, &b, k_fwd);
}

/* Bad batches and call orders on a micro decoder (vocabulary 11, max_batch 2, max_time 6): a
 * clear status and message for each, then a training forward and backward that work. */
static inline void lm_bad_batches(struct ar_ctx *ctx, struct ar_model *m)
{
    CHECK(ar_model_backward(m, 1.0f) == AR_STATUS_INVALID_ARGUMENT, "backward before forward");
    int32_t ids[6] = {2, 3, 4, 11, 1, 1}, tl[6] = {3, 4, 5, 1, 1, -100};
    struct ar_batch b = {.batch = 1, .time = 6, .ids = ids, .token_labels = tl};
    CHECK(ar_model_forward(m, &b, false, 0, NULL) == AR_STATUS_INVALID_ARGUMENT, "id 11 >= 11");
    CHECK(strstr(ar_ctx_errmsg(ctx), "column 3") != NULL, "names the column: %s",
          ar_ctx_errmsg(ctx));
    ids[3] = 5;
    tl[2] = 11;
    CHECK(ar_model_forward(m, &b, false, 0, NULL) == AR_STATUS_INVALID_ARGUMENT, "target 11");
    CHECK(strstr(ar_ctx_errmsg(ctx), "column 2") != NULL, "names the column: %s",
          ar_ctx_errmsg(ctx));
    tl[2] = 5;
    b.batch = 3;
    CHECK(ar_model_forward(m, &b, false, 0, NULL) == AR_STATUS_INVALID_ARGUMENT, "batch > max");
    b.batch = 1;
    for (int t = 0; t < 6; t++)
        tl[t] = -100;
    float loss = 0;
    CHECK_OK(ctx, ar_model_forward(m, &b, true, 3, &loss));
    CHECK(isnan(loss), "no counted target: loss NaN, got %g", (double)loss);
    CHECK(ar_model_backward(m, 1.0f) == AR_STATUS_INVALID_ARGUMENT, "nothing counted: no backward");
    tl[0] = 3;
    CHECK_OK(ctx, ar_model_forward(m, &b, true, 3, &loss));
    CHECK(isfinite(loss), "a training forward (dropout on) works: %g", (double)loss);
    CHECK_OK(ctx, ar_model_backward(m, 0.5f));
}

/* The refusals every causal-LM decoder shares, on fixtures/<tiny>/bad_shape and <tiny>/micro_hub
 * (8 positions; o: rank 2 on one target of the family, max_batch 2, max_time 6): a tensor of the
 * wrong shape (bad_tensor stored as [8, 3], want_shape the shape it must have), a misspelt
 * target (typo; the message suggests o's), another family's target (foreign), rank 0, a task
 * the decoder does not do, max_time past the positions. Then micro_hub loads and
 * lm_bad_batches runs on it; the model is returned for more checks (NULL when it did not load). */
static inline struct ar_model *check_lm_refusals(struct ar_ctx *ctx, const char *tiny,
                                                 struct ar_model_options o,
                                                 const char *bad_tensor, const char *want_shape,
                                                 const char *typo, const char *foreign)
{
    char bad[256], micro[256];
    snprintf(bad, sizeof bad, "%s/bad_shape", tiny);
    snprintf(micro, sizeof micro, "%s/micro_hub", tiny);
    const char *target = o.target_modules;
    expect_error(ctx, bad, o, AR_STATUS_BAD_FORMAT, bad_tensor, "[8, 3]", want_shape);
    o.target_modules = typo;
    expect_error(ctx, micro, o, AR_STATUS_INVALID_ARGUMENT, typo, target, NULL);
    o.target_modules = foreign;
    expect_error(ctx, micro, o, AR_STATUS_INVALID_ARGUMENT, foreign, NULL, NULL);
    o.target_modules = target;
    o.rank = 0;
    expect_error(ctx, micro, o, AR_STATUS_INVALID_ARGUMENT, "rank > 0", "frozen", NULL);
    o.rank = 2;
    o.task = AR_TASK_TOKEN_CLS; /* sequence classification works (test_model_decoder_cls.c) */
    expect_error(ctx, micro, o, AR_STATUS_UNSUPPORTED, "causal-LM", "sequence-classification",
                 NULL);
    o.task = AR_TASK_CAUSAL_LM;
    o.max_time = 9; /* the micro models have 8 positions */
    expect_error(ctx, micro, o, AR_STATUS_INVALID_ARGUMENT, "max_time 9", NULL, NULL);
    o.max_time = 6;

    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(micro), &o, &m));
    if (m)
        lm_bad_batches(ctx, m);
    return m;
}

#endif
