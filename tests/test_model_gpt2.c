/* The GPT-2 causal-LM engine against transformers' GPT2LMHeadModel (llm.c's debug-state test):
 * tests/fixtures/gen_decoders.py saved a random tiny GPT-2 with save_pretrained, and wrote the
 * LoRA/gate values of all four modules of both blocks, the float64 logits (B, T, V), the loss,
 * every LoRA gradient and the losses of 10 torch.optim.AdamW steps. This test loads the checkpoint
 * with ar_model_load (Conv1D weights transposed), writes the same LoRA values into the arena and
 * matches it all; then gradient accumulation, dynamic padding, dropout against finite
 * differences, the hub's unprefixed names, and bad checkpoints, options and batches.
 *
 * Tolerances extend test.h's policy as tests/test_model_bert.c does: k is the sum of the
 * contraction lengths along the longest chain of products, per block C (c_attn) + D (scores) +
 * T (P·v) + C (attn.c_proj) + C (c_fc) + I (mlp.c_proj), then C (the tied LM head), times 2 for
 * the 2L + 1 LayerNorms' variance reductions on the path; backward runs the chain again, so
 * K_BWD = 2·K_FWD. The AdamW losses get the forward tolerance per step, times 1 + step (see
 * test_model_bert.c's check_adamw for why Adam's trajectory error grows with the steps). */
#include "adarank/model.h"
#include "fixture.h"
#include "test.h"

/* Tiny GPT-2: C 48, D 16, T 11, I 100, L 2: per block 48+16+11+48+48+100 = 271. */
#define K_FWD (2.0 * (2 * 271 + 48))
#define K_BWD (2.0 * K_FWD)
#define TINY "gpt2_tiny"

static double worst_ratio; /* largest error / tolerance of check_near(), for the report */

static void check_near(const char *what, const double *ref, const float *got, size_t n, double k)
{
    double tol = test_tolerance(k, fmax(test_max_abs(ref, n), 1e-30));
    for (size_t i = 0; i < n; i++)
        worst_ratio = fmax(worst_ratio, fabs((double)got[i] - ref[i]) / tol);
    CHECK_CLOSE(what, ref, got, n, k);
}

static const char *data_path(const char *rel)
{
    static char buf[1024];
    return fixture_path(rel, buf, sizeof buf);
}

static int load_fx(const char *file, struct fixture *f)
{
    char err[512];
    int rc = fixture_load(data_path(file), f, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    return rc;
}

static const double *fx(const struct fixture *f, const char *name, size_t *n)
{
    const struct fixture_array *a = fixture_find(f, name);
    CHECK(a != NULL, "fixture lacks %s", name);
    if (a && n)
        *n = a->count;
    return a ? a->f64 : NULL;
}

/* Integer arrays live until main frees them: batches point into them. */
static int32_t *held[32];
static int held_count;

static const int32_t *fx_ints(const struct fixture *f, const char *name)
{
    size_t n = 0;
    const double *v = fx(f, name, &n);
    if (!v || held_count == 32)
        return NULL;
    int32_t *out = malloc(n * sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = (int32_t)v[i];
    held[held_count++] = out;
    return out;
}

static struct ar_batch fixture_batch(const struct fixture *f)
{
    const struct fixture_array *ids = fixture_find(f, "ids");
    struct ar_batch b = {.batch = ids ? (int)ids->dims[0] : 0,
                         .time = ids ? (int)ids->dims[1] : 0,
                         .ids = fx_ints(f, "ids"),
                         .attn_mask = fx_ints(f, "attn_mask"),
                         .token_labels = fx_ints(f, "token_labels")};
    return b;
}

static struct ar_model_options lm_options(const char *targets, int rank, float alpha)
{
    struct ar_model_options o = ar_model_default_options();
    o.task = AR_TASK_CAUSAL_LM;
    o.target_modules = targets;
    o.rank = rank;
    o.lora_alpha = alpha;
    o.hidden_dropout = 0.1f; /* off in the parity runs: they are not training forwards */
    o.max_batch = 4;         /* larger than the fixture's batch: strides must use batch->time */
    o.max_time = 12;
    o.seed = 11;
    return o;
}

/* Every module's A, B and gate: set from "param.NAME" or checked against "grad.NAME". */
static void all_trainables(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f, bool set)
{
    struct ar_arena *a = ar_model_arena(m);
    for (int i = 0; i < ar_model_module_count(m); i++) {
        const struct ar_model_module *mod = ar_model_module(m, i);
        const char *part[] = {"lora_A", "lora_B", "gate"};
        size_t off[] = {mod->a_off, mod->b_off, mod->gate_off};
        for (int k = 0; k < 3; k++) {
            char key[256];
            size_t n = 0;
            snprintf(key, sizeof key, "%s%s.%s", set ? "param." : "grad.", mod->name, part[k]);
            const double *ref = fx(f, key, &n);
            if (!ref)
                continue;
            float *v = malloc(n * sizeof *v);
            if (set) {
                for (size_t j = 0; j < n; j++)
                    v[j] = (float)ref[j];
                CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(a->param, off[k]), v, n));
            } else {
                CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(a->grad, off[k]), v, n));
                check_near(key, ref, v, n, K_BWD);
            }
            free(v);
        }
    }
}

/* Backward accumulates: two backward passes at loss_scale 0.5 give the gradients of one at 1
 * (every backward op is linear in the upstream gradient and 0.5 is exact: k = 1). */
static void accumulation(struct ar_ctx *ctx, struct ar_model *m)
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

/* The logits of rows [from, from + rows) of the fixture (each T·V), read back from the model. */
static void check_logits(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
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

static void check_adamw(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                        const struct ar_batch *b)
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
        double tol = (1.0 + (double)step) * test_tolerance(K_FWD, fmax(ref[0], 1.0));
        worst = fmax(worst, err / tol);
        CHECK(err <= tol, "AdamW step %zu: loss %.9g want %.9g (err %.3g > tol %.3g)", step,
              (double)loss, ref[step - 1], err, tol);
    }
    printf("  AdamW: 10 losses %.6f -> %.6f, worst error %.3g of its tolerance\n",
           ref ? ref[0] : 0.0, ref ? ref[n - 1] : 0.0, worst);
}

static void parity(struct ar_ctx *ctx)
{
    struct fixture f = {0};
    CHECK(load_fx("gpt2_tiny_lora.bin", &f) == 0, "cannot read gpt2_tiny_lora.bin");
    struct ar_model_options o = lm_options("c_attn,c_proj,c_fc", 4, 8.0f);
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(TINY), &o, &m));
    if (!m || !f.count) {
        ar_model_free(m);
        fixture_free(&f);
        return;
    }
    CHECK(ar_model_module_count(m) == 8, "%d modules, want 2 blocks × 4", ar_model_module_count(m));
    const struct ar_model_module *first = ar_model_module(m, 0);
    CHECK(!strcmp(first->name, "transformer.h.0.attn.c_attn") && first->out == 144 &&
              first->in == 48,
          "first module %s (%d → %d): c_attn is one (3C, C) module", first->name, first->in,
          first->out);
    CHECK(!strcmp(ar_model_module(m, 3)->name, "transformer.h.0.mlp.c_proj"), "module 3 %s",
          ar_model_module(m, 3)->name);
    all_trainables(ctx, m, &f, true);
    worst_ratio = 0;
    struct ar_batch b = fixture_batch(&f);
    float loss = 0;
    CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, &loss));
    check_logits(ctx, m, &f, 0, b.batch, b.time, b.time, K_FWD);
    const double *ref_loss = fx(&f, "loss", NULL);
    if (ref_loss)
        CHECK(fabs(loss - ref_loss[0]) <= test_tolerance(K_FWD, ref_loss[0]),
              "loss %.9g want %.9g", (double)loss, ref_loss[0]);
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, ar_model_arena(m)));
    CHECK_OK(ctx, ar_model_backward(m, 1.0f));
    all_trainables(ctx, m, &f, false);
    printf("parity: logits, loss and 8 modules' gradients: worst error %.3g of its tolerance\n",
           worst_ratio);
    accumulation(ctx, m);

    /* Dynamic padding: the last row alone, cut to its length, gives the same logits. */
    int last = b.batch - 1, len = 0;
    for (int t = 0; t < b.time; t++)
        len += b.attn_mask[last * b.time + t];
    struct ar_batch one = {.batch = 1, .time = len, .ids = b.ids + last * b.time};
    CHECK_OK(ctx, ar_model_forward(m, &one, false, 0, &loss));
    CHECK(isnan(loss), "no targets: loss is NaN, got %g", (double)loss);
    check_logits(ctx, m, &f, last, 1, b.time, len, K_FWD);
    CHECK(ar_model_backward(m, 1.0f) == AR_STATUS_INVALID_ARGUMENT, "backward without a loss");

    check_adamw(ctx, m, &f, &b);
    ar_model_free(m);
    fixture_free(&f);
}

static float loss_at(struct ar_ctx *ctx, struct ar_model *m, const struct ar_batch *b, size_t off,
                     float value)
{
    float loss = NAN;
    CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(ar_model_arena(m)->param, off), &value, 1));
    CHECK_OK(ctx, ar_model_forward(m, b, true, 5, &loss));
    return loss;
}

/* Training mode (hidden and LoRA dropout on): backward must regenerate the forward's masks, so
 * gate gradients match central finite differences of the float32 loss at the same (seed, step).
 * h = 1e-2 as in test_model_bert.c (truncation and rounding both about 1e-5 here; a wrong mask
 * changes a gradient by roughly the dropout rate, far outside the 5% + 1e-4 allowed). */
static void dropout_gradients(struct ar_ctx *ctx)
{
    struct fixture f = {0};
    CHECK(load_fx("gpt2_tiny_lora.bin", &f) == 0, "cannot read gpt2_tiny_lora.bin");
    struct ar_model_options o = lm_options("c_attn,c_proj,c_fc", 4, 8.0f);
    o.hidden_dropout = 0.3f;
    o.lora_dropout = 0.2f;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(TINY), &o, &m));
    if (!m) {
        fixture_free(&f);
        return;
    }
    all_trainables(ctx, m, &f, true);
    struct ar_batch b = fixture_batch(&f);
    float l1 = 0, l2 = 0, l3 = 0;
    CHECK_OK(ctx, ar_model_forward(m, &b, true, 6, &l3));
    CHECK_OK(ctx, ar_model_forward(m, &b, true, 5, &l2));
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, ar_model_arena(m)));
    CHECK_OK(ctx, ar_model_forward(m, &b, true, 5, &l1));
    CHECK(l1 == l2 && l1 != l3, "dropout is a function of (seed, step): %g %g %g", (double)l1,
          (double)l2, (double)l3);
    CHECK_OK(ctx, ar_model_backward(m, 1.0f));
    double worst = 0;
    for (int i = 0; i < ar_model_module_count(m); i += 3) { /* modules 0, 3, 6: three kinds */
        const struct ar_model_module *mod = ar_model_module(m, i);
        float g[4], p[4];
        CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(ar_model_arena(m)->grad, mod->gate_off), g, 4));
        CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(ar_model_arena(m)->param, mod->gate_off), p, 4));
        for (int j = 0; j < 2; j++) {
            float h = 1e-2f;
            double up = loss_at(ctx, m, &b, mod->gate_off + (size_t)j, p[j] + h);
            double down = loss_at(ctx, m, &b, mod->gate_off + (size_t)j, p[j] - h);
            loss_at(ctx, m, &b, mod->gate_off + (size_t)j, p[j]);
            double fd = (up - down) / (2.0 * (double)h), tol = 5e-2 * fabs(fd) + 1e-4;
            worst = fmax(worst, fabs(g[j] - fd) / tol);
            CHECK(fabs(g[j] - fd) <= tol, "%s gate %d: analytic %.6g, finite differences %.6g",
                  mod->name, j, (double)g[j], fd);
        }
    }
    printf("dropout on: gate gradients vs finite differences, worst %.3g of the tolerance\n",
           worst);
    ar_model_free(m);
    fixture_free(&f);
}

/* The hub's spelling (no "transformer." prefix, no lm_head): B = 0 at init, so the adapted model
 * is the base model and its logits and loss are transformers'. */
static void hub_names(struct ar_ctx *ctx)
{
    struct fixture f = {0};
    CHECK(load_fx(TINY "/micro.bin", &f) == 0, "cannot read micro.bin");
    struct ar_model_options o = lm_options("c_attn", 2, 4.0f);
    o.max_batch = 2;
    o.max_time = 6;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(TINY "/micro_hub"), &o, &m));
    if (m && f.count) {
        struct ar_batch b = fixture_batch(&f);
        float loss = 0;
        CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, &loss));
        /* micro: C 8, D 4, T 6, I 12, one block: 8+4+6+8+8+12 + 8, ×2 (LayerNorms) */
        double k = 2.0 * (46 + 8);
        check_logits(ctx, m, &f, 0, b.batch, b.time, b.time, k);
        const double *ref = fx(&f, "loss", NULL);
        if (ref)
            CHECK(fabs(loss - ref[0]) <= test_tolerance(k, ref[0]), "micro loss %.9g want %.9g",
                  (double)loss, ref[0]);
        CHECK_OK(ctx, ar_model_backward(m, 1.0f));
        printf("hub names: micro GPT-2 logits and loss match\n");
    }
    ar_model_free(m);
    fixture_free(&f);
}

static void expect_error(struct ar_ctx *ctx, const char *dir, struct ar_model_options o,
                         enum ar_status want, const char *s1, const char *s2, const char *s3)
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

static void bad_input(struct ar_ctx *ctx)
{
    struct ar_model_options o = lm_options("c_attn", 2, 4.0f);
    o.max_batch = 2;
    o.max_time = 6;
    /* c_fc is stored (in, out) = (8, 12): the message gives the file's layout, both shapes. */
    expect_error(ctx, TINY "/bad_shape", o, AR_STATUS_BAD_FORMAT,
                 "transformer.h.0.mlp.c_fc.weight", "[8, 3]", "[8, 12]");
    o.target_modules = "c_atn";
    expect_error(ctx, TINY "/micro_hub", o, AR_STATUS_INVALID_ARGUMENT, "c_atn", "c_attn", NULL);
    o.target_modules = "query";
    expect_error(ctx, TINY "/micro_hub", o, AR_STATUS_INVALID_ARGUMENT, "query", NULL, NULL);
    o.target_modules = "c_attn";
    o.rank = 0;
    expect_error(ctx, TINY "/micro_hub", o, AR_STATUS_INVALID_ARGUMENT, "rank > 0", "frozen", NULL);
    o.rank = 2;
    o.task = AR_TASK_SEQ_CLS;
    expect_error(ctx, TINY "/micro_hub", o, AR_STATUS_UNSUPPORTED, "causal-LM", NULL, NULL);
    o.task = AR_TASK_CAUSAL_LM;
    o.max_time = 9; /* n_positions is 8 */
    expect_error(ctx, TINY "/micro_hub", o, AR_STATUS_INVALID_ARGUMENT, "max_time 9", NULL, NULL);
    o.max_time = 6;

    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(TINY "/micro_hub"), &o, &m));
    if (!m)
        return;
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
    float pooled[16];
    CHECK(ar_model_pooled_output(m, pooled) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(ar_ctx_errmsg(ctx), "no pooled output"),
          "a decoder has no pooled output: %s", ar_ctx_errmsg(ctx));
    ar_model_free(m);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    parity(ctx);
    dropout_gradients(ctx);
    hub_names(ctx);
    bad_input(ctx);
    for (int i = 0; i < held_count; i++)
        free(held[i]);
    ar_ctx_free(ctx);
    return test_finish("model_gpt2");
}
