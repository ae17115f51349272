/* Reading a PEFT adapter back and loading it into a model (peft.h: ar_peft_adapter_read,
 * ar_model_load_adapter), on the tiny BERT fixture with LoRA on query and value:
 *
 *   0. an adapter written by Hugging Face PEFT itself (tests/fixtures/gen_peft_adapter.py: rsLoRA,
 *      rank_pattern, alpha_pattern, a classifier): its modules, ranks and scales, and PyTorch's
 *      logits within the tolerance policy;
 *   1. uniform rank 4, random A, B and head, exported as `train` exports: a fresh model with the
 *      adapter gives bit-identical logits (every float is copied, the scale ratio is exactly 1);
 *   2. a rank pattern {4, 2, 0, 3} at PEFT's per-module scale α/r_i: the config's rank_pattern and
 *      alpha_pattern give each module its rank and scale back, and the logits match within the
 *      tolerance policy, with the scale ratio in B (default) or in the gates; the read adapter
 *      exports again to the same ranks and scales;
 *   3. mismatches (rank above R, a module the model does not adapt, another class count, another
 *      task, no head, another in/out) and corrupt files (rank_pattern against the tensors, a
 *      missing or mis-shaped lora_B, bad config types, DoRA tensors) fail with the documented
 *      status and a message naming the module or tensor, and leave the model unchanged. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "method_toy.h"
#include "peft_check.h"

#define RANK 4
#define ALPHA 8.0f
#define N 8 /* examples */
#define K 3 /* classes */

static const char *tmp; /* test_tmpdir: removed however the test ends */

/* A model of the fixture adapting `targets` at rank R with `labels` classes. */
static struct ar_model *fresh_model(struct ar_ctx *ctx, const char *targets, int rank, int labels)
{
    struct ar_model_options o = ar_model_default_options();
    o.num_labels = labels;
    o.target_modules = targets;
    o.rank = rank;
    o.lora_alpha = ALPHA;
    o.max_batch = N;
    o.max_time = 16;
    o.seed = 123; /* another init than the exporting model's */
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, toy_model_dir(), &o, &m));
    return m;
}

static struct ar_peft_adapter *read_ok(const char *dir)
{
    struct ar_peft_adapter *a = NULL;
    char err[1024];
    enum ar_status st = ar_peft_adapter_read(dir, &a, err, sizeof err);
    CHECK(st == AR_STATUS_OK && a, "read %s: %s", dir, err);
    return a;
}

/* 0: an adapter Hugging Face PEFT 0.10 wrote (tests/fixtures/gen_peft_adapter.py): rsLoRA, a
 * rank_pattern and an alpha_pattern; logits against PEFT's float64 forward. */
static void check_peft_files(struct ar_ctx *ctx)
{
    char dir[1024], path[1024], err[512];
    snprintf(dir, sizeof dir, "%s/fixtures/peft_adapter", getenv("ADARANK_TEST_DATA"));
    struct ar_peft_adapter *a = read_ok(dir);
    struct fixture f = {0};
    int rc = fixture_load(fixture_path("peft_adapter.bin", path, sizeof path), &f, err,
                          sizeof err);
    CHECK(rc == 0, "%s", err);
    const struct fixture_array *ids = fixture_find(&f, "ids"), *mask = fixture_find(&f, "mask");
    const struct fixture_array *logits = fixture_find(&f, "logits");
    CHECK(ids && mask && logits && ids->count == 24 && logits->count == 9, "fixture arrays");
    if (!a || !ids || !mask || !logits || ids->count != 24 || logits->count != 9) {
        ar_peft_adapter_free(a);
        fixture_free(&f);
        return;
    }
    /* PEFT's scaling: alpha_m / sqrt(r_m), layer 0's value at rank 2, layer 1's query at 3,
     * layer 1's value at alpha 6 */
    static const int ranks[4] = {4, 2, 3, 4};
    static const double alphas[4] = {8, 8, 8, 6};
    CHECK(a->n_modules == 4 && a->use_rslora && a->n_tensors == 2, "%d modules", a->n_modules);
    for (int i = 0; i < a->n_modules && i < 4; i++)
        CHECK(a->modules[i].rank == ranks[i] && a->modules[i].scale == alphas[i] / sqrt(ranks[i]),
              "module %s: rank %d scale %.17g", a->modules[i].name, a->modules[i].rank,
              a->modules[i].scale);
    char targets[256];
    CHECK_OK(ctx, ar_peft_adapter_targets(a, targets, sizeof targets));
    int32_t id[24], am[24];
    for (int i = 0; i < 24; i++)
        id[i] = (int32_t)ids->f64[i], am[i] = (int32_t)mask->f64[i];
    struct ar_batch b = {.batch = 3, .time = 8, .ids = id, .attn_mask = am};
    for (unsigned flags = 0; flags <= AR_PEFT_LOAD_SCALE_IN_GATES; flags++) {
        struct ar_model *m = fresh_model(ctx, targets, ar_peft_adapter_max_rank(a), K);
        if (!m)
            break;
        CHECK_OK(ctx, ar_model_load_adapter(m, a, flags));
        float got[9];
        CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, NULL));
        CHECK_OK(ctx, ar_model_logits(m, got));
        /* float32 against PyTorch's float64: test_model_bert.c's K_FWD for this model, the sum
         * of the contraction lengths along its longest chain, doubled for the LayerNorms */
        CHECK_CLOSE(flags ? "PEFT's adapter, ratio in the gates" : "PEFT's adapter, ratio in B",
                    logits->f64, got, 9, 2.0 * (2 * 353 + 72 + 72));
        double diff = 0;
        for (int i = 0; i < 9; i++)
            diff = fmax(diff, fabs(logits->f64[i] - got[i]));
        printf("PEFT's adapter (flags %u): max |logit - PyTorch| %.3g\n", flags, diff);
        ar_model_free(m);
    }
    ar_peft_adapter_free(a);
    fixture_free(&f);
}

/* 1: uniform rank, gates 1: the loaded model is the exporting one, bit for bit. */
static void check_uniform(struct ar_ctx *ctx, const struct ar_encoded *set)
{
    struct ar_model *model = toy_model(ctx, RANK, ALPHA);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_LORA);
    struct ar_method *method = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 1, &method));
    peft_check_randomize(ctx, model, 5);
    float want[N * K], got[N * K];
    toy_logits(ctx, model, set, want);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/uniform", tmp);
    peft_check_export(ctx, model, method, toy_model_dir(), NULL, false, dir);
    struct ar_peft_adapter *a = read_ok(dir);
    if (!a)
        return;
    CHECK(a->r == RANK && a->lora_alpha == ALPHA && a->n_modules == 4 && a->n_tensors == 2 &&
              !strcmp(a->task_type, "SEQ_CLS"),
          "config: r %d alpha %g, %d modules, %d tensors", a->r, a->lora_alpha, a->n_modules,
          a->n_tensors);
    struct ar_model *fresh = fresh_model(ctx, "query,value", RANK, K);
    CHECK_OK(ctx, ar_model_load_adapter(fresh, a, 0));
    toy_logits(ctx, fresh, set, got);
    CHECK(!memcmp(want, got, sizeof want), "uniform adapter: logits differ (%.9g vs %.9g)",
          want[0], got[0]);
    ar_model_free(fresh);
    ar_peft_adapter_free(a);
    ar_method_free(method);
    ar_model_free(model);
}

static void compare(const char *what, const float *want, const float *got)
{
    double ref[N * K];
    for (int i = 0; i < N * K; i++)
        ref[i] = want[i];
    /* The scale ratio moves between B and the gates (one float rounding per element of B or g),
     * and through the model's chain: hidden 72 over 2 layers plus the head, as the merge
     * comparison of test_peft_roundtrip.c. */
    CHECK_CLOSE(what, ref, got, N * K, 72 * 4 + 100);
}

/* 2: a rank pattern at per-module scales. */
static void test_pattern(struct ar_ctx *ctx, const struct ar_encoded *set, char *dir)
{
    static const int pattern[4] = {4, 2, 0, 3}; /* q0 v0 q1 v1; q1 pruned */
    struct ar_model *model = toy_model(ctx, RANK, ALPHA);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_LORA);
    p.lora.ranks = pattern;
    p.lora.scale_by_rank = true;
    struct ar_method *method = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 1, &method));
    peft_check_randomize(ctx, model, 6);
    float want[N * K], got[N * K];
    toy_logits(ctx, model, set, want);
    peft_check_export(ctx, model, method, toy_model_dir(), NULL, false, dir);
    struct ar_peft_adapter *a = read_ok(dir);
    if (!a)
        return;
    CHECK(a->n_modules == 3 && a->modules[0].rank == 4 && a->modules[1].rank == 2 &&
              a->modules[2].rank == 3 && !strcmp(a->modules[2].name,
                                                 "bert.encoder.layer.1.attention.self.value"),
          "modules and ranks from rank_pattern");
    /* the exporting model computes s·g·B·A with g folded into B: PEFT's scale is s = α/R = 2 */
    for (int i = 0; i < a->n_modules; i++)
        CHECK(fabs(a->modules[i].scale - 2.0) < 1e-12, "module %s scale %.17g, want 2",
              a->modules[i].name, a->modules[i].scale);
    CHECK(ar_peft_adapter_max_rank(a) == 4, "max rank");
    char targets[256];
    CHECK_OK(ctx, ar_peft_adapter_targets(a, targets, sizeof targets));
    CHECK(!strcmp(targets, "bert.encoder.layer.0.attention.self.query,"
                           "bert.encoder.layer.0.attention.self.value,"
                           "bert.encoder.layer.1.attention.self.value"),
          "targets %s", targets);
    /* the same function at PEFT's α/r_i per module (B·2/s_i): the config then needs an
     * alpha_pattern, and the model's scale 2 differs from every module's but q0's */
    struct ar_peft_module scaled_mods[3];
    float *bs[3];
    for (int i = 0; i < 3; i++) {
        scaled_mods[i] = a->modules[i];
        scaled_mods[i].scale = ALPHA / (double)scaled_mods[i].rank;
        size_t n = (size_t)scaled_mods[i].out * (size_t)scaled_mods[i].rank;
        bs[i] = malloc(n * sizeof *bs[i]);
        for (size_t e = 0; e < n; e++)
            bs[i][e] = (float)(a->modules[i].b[e] * 2.0 / scaled_mods[i].scale);
        scaled_mods[i].b = bs[i];
    }
    struct ar_peft_adapter scaled = *a;
    scaled.modules = scaled_mods;
    char sdir[300], err[1024];
    snprintf(sdir, sizeof sdir, "%s/scaled", tmp);
    CHECK(ar_peft_export(sdir, &scaled, err, sizeof err) == AR_STATUS_OK, "export: %s", err);
    for (int i = 0; i < 3; i++)
        free(bs[i]);
    struct ar_peft_adapter *sa = read_ok(sdir);
    for (int i = 0; sa && i < sa->n_modules; i++)
        CHECK(sa->modules[i].scale == ALPHA / (double)sa->modules[i].rank,
              "module %s: scale %.17g, want alpha / %d", sa->modules[i].name,
              sa->modules[i].scale, sa->modules[i].rank);
    for (unsigned flags = 0; sa && flags < 4; flags++) {
        bool gates = flags & AR_PEFT_LOAD_SCALE_IN_GATES;
        struct ar_model *fresh = fresh_model(ctx, targets, 4, K);
        CHECK(ar_model_module_count(fresh) == 3, "only the adapter's modules");
        CHECK_OK(ctx, ar_model_load_adapter(fresh, flags & 2 ? sa : a, gates));
        toy_logits(ctx, fresh, set, got);
        char what[96];
        snprintf(what, sizeof what, "%s, ratio in %s", flags & 2 ? "alpha_pattern" : "pattern",
                 gates ? "the gates" : "B");
        compare(what, want, got);
        const struct ar_model_module *v0 = ar_model_module(fresh, 1);
        CHECK(v0->mask[1] == 1 && v0->mask[2] == 0 && v0->mask[3] == 0, "v0 mask beyond r_m");
        ar_model_free(fresh);
    }
    ar_peft_adapter_free(sa);
    /* a model with an R above the adapter's and query,value (q1 fresh, B = 0) computes the same */
    struct ar_model *wide = fresh_model(ctx, "query,value", 6, K);
    CHECK_OK(ctx, ar_model_load_adapter(wide, a, 0));
    toy_logits(ctx, wide, set, got);
    compare("pattern in a rank-6 model", want, got);
    ar_model_free(wide);
    /* read → export → read keeps ranks and scales */
    char again[300];
    snprintf(again, sizeof again, "%s/again", tmp);
    CHECK(ar_peft_export(again, a, err, sizeof err) == AR_STATUS_OK, "re-export: %s", err);
    struct ar_peft_adapter *b = read_ok(again);
    for (int i = 0; b && i < 3; i++)
        CHECK(b->modules[i].rank == a->modules[i].rank && b->modules[i].scale == a->modules[i].scale &&
                  !memcmp(b->modules[i].b, a->modules[i].b,
                          sizeof(float) * (size_t)a->modules[i].rank * (size_t)a->modules[i].out),
              "re-exported module %d", i);
    ar_peft_adapter_free(b);
    ar_peft_adapter_free(a);
    ar_method_free(method);
    ar_model_free(model);
}

/* A load that must fail with `want` and a message containing `needle`. */
static void expect_load(struct ar_ctx *ctx, struct ar_model *m, const struct ar_peft_adapter *a,
                        enum ar_status want, const char *needle)
{
    enum ar_status st = ar_model_load_adapter(m, a, 0);
    CHECK(st == want && strstr(ar_ctx_errmsg(ctx), needle), "want %s with \"%s\", got %s: %s",
          ar_status_name(want), needle, ar_status_name(st), ar_ctx_errmsg(ctx));
}

static void test_mismatch(struct ar_ctx *ctx, const struct ar_encoded *set, const char *dir)
{
    struct ar_peft_adapter *a = read_ok(dir);
    if (!a)
        return;
    struct ar_model *small = fresh_model(ctx, "query,value", 2, K);
    expect_load(ctx, small, a, AR_STATUS_SHAPE_MISMATCH,
                "bert.encoder.layer.0.attention.self.query: rank 4 is above the model's "
                "allocated rank 2");
    ar_model_free(small);
    struct ar_model *q = fresh_model(ctx, "query", 4, K);
    expect_load(ctx, q, a, AR_STATUS_INVALID_ARGUMENT,
                "bert.encoder.layer.0.attention.self.value: the model has no adapter on it");
    ar_model_free(q);

    struct ar_model *m = fresh_model(ctx, "query,value", 4, K);
    float before[N * K], after[N * K];
    toy_logits(ctx, m, set, before);
    struct ar_peft_adapter bad = *a;
    struct ar_peft_tensor two[2]; /* a head for 2 classes (the fixture's checkpoint has 3) */
    memcpy(two, a->tensors, sizeof two);
    two[0].shape[0] = two[1].shape[0] = 2;
    bad.tensors = two;
    expect_load(ctx, m, &bad, AR_STATUS_SHAPE_MISMATCH,
                "adapter tensor classifier.weight is (2, 72), the model's is (3, 72)");
    bad = *a;
    bad.task_type = "CAUSAL_LM";
    expect_load(ctx, m, &bad, AR_STATUS_INVALID_ARGUMENT, "task_type CAUSAL_LM");
    bad = *a;
    bad.n_tensors = 0;
    expect_load(ctx, m, &bad, AR_STATUS_BAD_FORMAT, "no classifier.weight (3, 72)");
    struct ar_peft_module mods[3];
    memcpy(mods, a->modules, sizeof mods);
    mods[2].in = 71; /* another base: the last module fails after the first two matched */
    bad = *a;
    bad.modules = mods;
    expect_load(ctx, m, &bad, AR_STATUS_SHAPE_MISMATCH,
                "bert.encoder.layer.1.attention.self.value: lora_A (3, 71)");
    toy_logits(ctx, m, set, after);
    CHECK(!memcmp(before, after, sizeof before), "a refused adapter leaves the model unchanged");
    ar_model_free(m);
    ar_peft_adapter_free(a);
}

/* ---- corrupt files -------------------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* An adapter folder with one module of lora_A (ra, 6) and lora_B (5, rb) (rb 0: no lora_B), an
 * extra tensor when `extra` is set, and the config text. */
static void write_adapter(const char *dir, const char *config, int ra, int rb, const char *extra)
{
    static float zeros[64];
    mkdir(dir, 0777);
    struct ar_st_write_tensor t[3] = {
        {"base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight", 2, {ra, 6},
         zeros},
        {"base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight", 2, {5, rb},
         zeros},
        {extra, 1, {4}, zeros}};
    char path[400], err[512];
    size_t n = rb ? 2 : 1;
    if (extra) {
        t[n] = t[2];
        n++;
    }
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    CHECK(ar_safetensors_write(path, t, n, NULL, 0, err, sizeof err) == AR_STATUS_OK, "%s", err);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    write_text(path, config);
}

static void expect_read(const char *dir, enum ar_status want, const char *needle)
{
    struct ar_peft_adapter *a = NULL;
    char err[1024] = "";
    enum ar_status st = ar_peft_adapter_read(dir, &a, err, sizeof err);
    CHECK(st == want && !a && strstr(err, needle), "%s: want %s with \"%s\", got %s: %s", dir,
          ar_status_name(want), needle, ar_status_name(st), err);
    ar_peft_adapter_free(a);
}

static void test_corrupt(void)
{
    char dir[300];
    const char *good = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8}";
    snprintf(dir, sizeof dir, "%s/none", tmp);
    expect_read(dir, AR_STATUS_NOT_FOUND, "no adapter_config.json");
    snprintf(dir, sizeof dir, "%s/ok", tmp);
    write_adapter(dir, good, 4, 4, NULL);
    struct ar_peft_adapter *a = read_ok(dir);
    CHECK(a && a->n_modules == 1 && a->modules[0].rank == 4 && a->modules[0].scale == 2.0 &&
              a->modules[0].in == 6 && a->modules[0].out == 5,
          "one module of rank 4, scale 2, (5, 6)");
    ar_peft_adapter_free(a);
    snprintf(dir, sizeof dir, "%s/pattern", tmp);
    write_adapter(dir, "{\"r\": 4, \"rank_pattern\": {\"layer.0.attention.self.query\": 2}}", 4,
                  4, NULL);
    expect_read(dir, AR_STATUS_SHAPE_MISMATCH,
                "tensor 'base_model.model.bert.encoder.layer.0.attention.self.query.lora_A."
                "weight' is (4, 6), but");
    snprintf(dir, sizeof dir, "%s/no_b", tmp);
    write_adapter(dir, good, 4, 0, NULL);
    expect_read(dir, AR_STATUS_BAD_FORMAT, "has no 'base_model.model.bert.encoder.layer.0."
                                           "attention.self.query.lora_B.weight'");
    snprintf(dir, sizeof dir, "%s/b_shape", tmp);
    write_adapter(dir, good, 4, 3, NULL);
    expect_read(dir, AR_STATUS_SHAPE_MISMATCH, "lora_A is (4, 6) and lora_B (5, 3)");
    snprintf(dir, sizeof dir, "%s/dora", tmp);
    write_adapter(dir, good, 4, 4,
                  "base_model.model.bert.encoder.layer.0.attention.self.query."
                  "lora_magnitude_vector");
    expect_read(dir, AR_STATUS_UNSUPPORTED, "lora_magnitude_vector");
    snprintf(dir, sizeof dir, "%s/prefix", tmp);
    write_adapter(dir, good, 4, 4, "classifier.bias");
    expect_read(dir, AR_STATUS_BAD_FORMAT, "tensor 'classifier.bias' is not under");
    snprintf(dir, sizeof dir, "%s/types", tmp);
    write_adapter(dir, "{\"r\": \"four\"}", 4, 4, NULL);
    expect_read(dir, AR_STATUS_BAD_FORMAT, "r: expected an integer");
    write_adapter(dir, "{\"alpha_pattern\": {\"query\": \"x\"}}", 4, 4, NULL);
    expect_read(dir, AR_STATUS_BAD_FORMAT, "alpha_pattern[\"query\"]");
    write_adapter(dir, "{\"peft_type\": \"IA3\"}", 4, 4, NULL);
    expect_read(dir, AR_STATUS_UNSUPPORTED, "peft_type \"IA3\"");
    write_adapter(dir, "[1, 2]", 4, 4, NULL);
    expect_read(dir, AR_STATUS_BAD_FORMAT, "expected a JSON object");
}

/* Full paths of 12 layers do not fit the model's 255-character target list: suffixes do. */
static void test_targets(void)
{
    struct ar_peft_module mods[24];
    static char names[24][64];
    for (int i = 0; i < 24; i++) {
        snprintf(names[i], sizeof names[i], "bert.encoder.layer.%d.attention.self.%s", i / 2,
                 i % 2 ? "value" : "query");
        mods[i] = (struct ar_peft_module){names[i], 4, 6, 5, 2.0, NULL, NULL};
    }
    struct ar_peft_adapter a = {.modules = mods, .n_modules = 24};
    char out[256];
    CHECK(ar_peft_adapter_targets(&a, out, sizeof out) == AR_STATUS_OK &&
              !strcmp(out, "attention.self.query,attention.self.value"),
          "suffix targets: %s", out);
    CHECK(ar_peft_adapter_targets(&a, out, 10) == AR_STATUS_INVALID_ARGUMENT && !out[0],
          "too small a buffer");
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    if (!(tmp = test_tmpdir("peft-import")))
        return 1;
    struct ar_encoded *set = toy_set(N, 11);
    char pattern_dir[300];
    snprintf(pattern_dir, sizeof pattern_dir, "%s/pattern_adapter", tmp);
    check_peft_files(ctx);
    check_uniform(ctx, set);
    test_pattern(ctx, set, pattern_dir);
    test_mismatch(ctx, set, pattern_dir);
    test_corrupt();
    test_targets();
    ar_encoded_free(set);
    ar_ctx_free(ctx);
    return test_finish("peft_import");
}
