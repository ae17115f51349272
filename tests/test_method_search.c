/* The search methods and the retraining stage on the tiny BERT fixture (2 layers, LoRA on query
 * and value: modules [q0, v0, q1, v1], R = 4), with assertions that can fail.
 *
 *   AutoLoRA  one training step moves β by Adam's first step −lr·sign(dL/dβ), and dL/dβ is the
 *             softmax chain of the gate hypergradient; the gates are softmax(β); hand-set β give
 *             the ranks of the softmax ≥ 1/R rule worked out by hand; the thresholded export
 *             gives the model's logits.
 *   Flexora   gates are (L·softmax(α)_l)^k; a search run moves α along −dL/dα, which is the chain
 *             of the gate hypergradient; the selection is the top-scored layers (or α > 0, at
 *             least one); final ranks R / 0; the finished export gives the model's logits.
 *   LoRA      with a rank pattern: effective and final ranks equal the pattern, the frozen gates
 *             carry PEFT's α/r_i, and the exported adapter gives the model's logits.
 *   final ranks of SoRA (non-zero gates) and DyLoRA (R); bad input refused with a message.
 */
#include "method_internal.h"
#include "method_toy.h"

#define N_EXAMPLES 24 /* examples of method_toy.h's toy task */
#define RANK 4
#define ALPHA 8.0f

static struct ar_model *load_model(struct ar_ctx *ctx)
{
    struct ar_model *m = toy_model(ctx, RANK, ALPHA);
    if (!m)
        exit(test_finish("method_search"));
    return m;
}

/* As test_method.c: logits are O(1) and the export reorders one rank-sized sum per output, so the
 * policy with the longest chain (hidden 72 + intermediate 100). */
static void check_export_logits(struct ar_ctx *ctx, struct ar_model *model,
                                struct ar_method *method, const struct ar_encoded *set,
                                const int *want, const char *what)
{
    float gated[24], exported[24];
    double ref[24];
    toy_logits(ctx, model, set, gated);
    toy_load_exported(ctx, model, method, want);
    toy_logits(ctx, model, set, exported);
    for (int i = 0; i < 24; i++)
        ref[i] = gated[i];
    CHECK_CLOSE(what, ref, exported, 24, 72 + 100);
}

static void check_ranks(const char *what, const int *got, const int *want, int n)
{
    for (int i = 0; i < n; i++)
        CHECK(got[i] == want[i], "%s: module %d rank %d, want %d", what, i, got[i], want[i]);
}

/* ---- AutoLoRA ---------------------------------------------------------------------------------- */

static struct ar_method *new_method(struct ar_ctx *ctx, struct ar_model *model,
                                    const struct ar_method_params *p,
                                    const struct ar_encoded *search)
{
    struct ar_method *m = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, p, 1, &m));
    if (m && search)
        CHECK_OK(ctx, ar_method_set_search_data(m, search, 8, 0));
    if (!m)
        exit(test_finish("method_search"));
    return m;
}

/* β's storage is float near 1: its spacing there is 2^-23·2 ≈ 2.4e-7, so a value computed in
 * double and stored may differ by half of that; allow the whole spacing. */
#define BETA_ULP 2.4e-7

static void test_autolora_step(struct ar_ctx *ctx, const struct ar_encoded *set,
                               const struct ar_encoded *search)
{
    struct ar_model *model = load_model(ctx);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_AUTOLORA);
    p.autolora.selection_lr = 0.01f;
    struct ar_method *m = new_method(ctx, model, &p, search);
    struct ar__bilevel *b = m->bilevel;
    CHECK(b->n == 4 * RANK, "β has %d entries", b->n);
    toy_randomize_b(ctx, model);
    CHECK_OK(ctx, toy_train(ctx, model, m, set, 1));
    CHECK(b->adam_t == 1, "one search step per optimizer step: %d", b->adam_t);
    /* dL/dβ_j = α_j(h_j − Σ_i α_i h_i) at the uniform α = 1/R of β = 1 (§2.1). */
    double worst_chain = 0, hmax = 0;
    int moved = 0, wrong_way = 0;
    for (int i = 0; i < 4; i++) {
        double mean = 0;
        for (int j = 0; j < RANK; j++)
            mean += b->h[i * RANK + j] / (double)RANK;
        for (int j = 0; j < RANK; j++) {
            int e = i * RANK + j;
            double want = (b->h[e] - mean) / RANK;
            worst_chain = fmax(worst_chain, fabs(b->grad[e] - want));
            hmax = fmax(hmax, fabs(b->h[e]));
            /* Adam's first step: −lr·g/(|g| + eps), bias corrections cancel. */
            double g = b->grad[e], step = 0.01 * g / (fabs(g) + 1e-8);
            CHECK(fabs((double)b->x[e] - (1.0 - step)) <= BETA_ULP,
                  "β_%d: %.9g after the step, Adam says %.9g", e, (double)b->x[e], 1.0 - step);
            if (fabs(g) > 1e-6) {
                moved++;
                wrong_way += (b->x[e] - 1.0f) * g >= 0;
            }
        }
    }
    printf("autolora: max |h| %.3g, %d of 16 β moved\n", hmax, moved);
    /* Both sides in double from the same floats: only summation order differs. */
    CHECK(worst_chain <= 1e-12 * fmax(hmax, 1e-30), "softmax chain off by %.3g", worst_chain);
    CHECK(hmax > 0 && moved >= 8, "the hypergradient moved only %d of 16 β", moved);
    CHECK(wrong_way == 0, "%d β moved along +dL/dβ", wrong_way);
    /* The gates are softmax(β): a float32 exp (3 ulp) and a sum of R terms. */
    const struct ar_method_report *r = NULL;
    CHECK_OK(ctx, ar_method_report(m, &r));
    CHECK(r && strcmp(r->values_kind, "selection") == 0, "values are the selection");
    for (int i = 0; r && i < 4; i++) {
        double pr[RANK], sum = 0;
        for (int j = 0; j < RANK; j++)
            sum += pr[j] = exp((double)b->x[i * RANK + j]);
        for (int j = 0; j < RANK; j++)
            pr[j] /= sum;
        CHECK_CLOSE("gates = softmax(β)", pr, r->values[i], RANK, RANK);
    }
    ar_method_free(m);
    ar_model_free(model);
}

static void test_autolora_threshold(struct ar_ctx *ctx, const struct ar_encoded *set,
                                    const struct ar_encoded *search)
{
    struct ar_model *model = load_model(ctx);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_AUTOLORA);
    struct ar_method *m = new_method(ctx, model, &p, search);
    CHECK_OK(ctx, toy_train(ctx, model, m, set, 2)); /* B ≠ 0, so the export check has content */
    /* softmax by hand, threshold 1/4:
     *   [2, 0, 0, 0]          → [.711, .096, .096, .096]  rank 1
     *   [1, 1, 1, 1]          → exactly 1/4 each          rank 4 (≥ counts)
     *   [1, 1, 0, −1]         → [.400, .400, .147, .054]  rank 2
     *   [.5, .4, .45, −3]     → [.346, .313, .330, .010]  rank 3 */
    const float beta[16] = {2, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, -1, 0.5f, 0.4f, 0.45f, -3};
    const int want[4] = {1, 4, 2, 3};
    int ranks[4] = {0};
    CHECK_OK(ctx, ar__bilevel_set(m, beta));
    CHECK_OK(ctx, ar_method_final_ranks(m, ranks));
    check_ranks("autolora final ranks", ranks, want, 4);
    const struct ar_method_report *r = NULL;
    CHECK_OK(ctx, ar_method_report(m, &r));
    if (r) {
        check_ranks("autolora effective ranks", r->effective, want, 4);
        CHECK(r->threshold == 0.25, "threshold %g, want 1/R", r->threshold);
    }
    CHECK_OK(ctx, ar_method_finish(m));
    const float *mask = ar_model_module(model, 2)->mask;
    CHECK(mask[0] == 1 && mask[1] == 1 && mask[2] == 0 && mask[3] == 0,
          "module 2 mask after finish: %g %g %g %g", mask[0], mask[1], mask[2], mask[3]);
    CHECK_OK(ctx, ar_method_final_ranks(m, ranks));
    check_ranks("autolora final ranks after finish", ranks, want, 4);
    check_export_logits(ctx, model, m, set, want, "AutoLoRA thresholded export vs model");
    ar_method_free(m);
    ar_model_free(model);
}

/* ---- Flexora ----------------------------------------------------------------------------------- */

static void test_flexora_search(struct ar_ctx *ctx, const struct ar_encoded *set,
                                const struct ar_encoded *search)
{
    struct ar_model *model = load_model(ctx);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_FLEXORA);
    p.flexora.power = 3;
    p.flexora.hyper_lr = 0.05f;
    struct ar_method *m = new_method(ctx, model, &p, search);
    struct ar__bilevel *b = m->bilevel;
    CHECK(b->n == 2, "one α per layer: %d", b->n);
    toy_randomize_b(ctx, model);
    /* Gates: w_l = L·softmax(α)_l, every gate of layer l is w_l³. */
    const float alpha[2] = {0.3f, -0.2f};
    CHECK_OK(ctx, ar__bilevel_set(m, alpha));
    double e0 = exp(0.3), e1 = exp(-0.2), w[2] = {2 * e0 / (e0 + e1), 2 * e1 / (e0 + e1)};
    const struct ar_method_report *r = NULL;
    CHECK_OK(ctx, ar_method_report(m, &r));
    for (int i = 0; r && i < r->n_modules; i++) {
        int layer = ar_model_module(model, i)->layer;
        double want[RANK];
        for (int j = 0; j < RANK; j++)
            want[j] = pow(w[layer], 3);
        CHECK_CLOSE("flexora gates = w³", want, r->values[i], RANK, 1);
    }
    /* One search step from α = 0 (p = 1/2, w = 1): dL/dw_l = Σ_{layer l} Σ_j h_j·3·w², and
     * dL/dα_l = (L·dL/dw_l)·p_l − p_l·Σ_k p_k·L·dL/dw_k (§4.1). */
    const float zero[2] = {0, 0};
    CHECK_OK(ctx, ar__bilevel_set(m, zero));
    CHECK_OK(ctx, toy_train(ctx, model, m, set, 1));
    double dw[2] = {0, 0}, hmax = 0;
    for (int i = 0; i < m->n_modules; i++)
        for (int j = 0; j < RANK; j++) {
            float h = b->h[m->gate_at[i] + (size_t)j];
            dw[ar_model_module(model, i)->layer] += 3.0 * h;
            hmax = fmax(hmax, fabs(h));
        }
    double want_grad[2] = {0.5 * (2 * dw[0] - (dw[0] + dw[1])),
                           0.5 * (2 * dw[1] - (dw[0] + dw[1]))};
    for (int l = 0; l < 2; l++) {
        CHECK(fabs(b->grad[l] - want_grad[l]) <= 1e-12 * fmax(fabs(want_grad[l]), hmax),
              "dL/dα_%d %.9g, chain says %.9g", l, b->grad[l], want_grad[l]);
        double step = 0.05 * b->grad[l] / (fabs(b->grad[l]) + 1e-8);
        /* α near 0.05: float spacing 3.7e-9; the step is computed in double and stored. */
        CHECK(fabs(b->x[l] + step) <= 1e-8, "α_%d %.9g after the step, Adam says %.9g", l,
              (double)b->x[l], -step);
    }
    CHECK(fabs(b->grad[0]) > 1e-4 && fabs(b->grad[0] + b->grad[1]) <= 1e-12 * fabs(b->grad[0]),
          "the softmax gradient sums to 0: %.9g %.9g", b->grad[0], b->grad[1]);
    printf("flexora: after one search step α = %.4g %.4g (dL/dα %.3g %.3g)\n", (double)b->x[0],
           (double)b->x[1], b->grad[0], b->grad[1]);
    /* Two more steps: the report follows α. */
    CHECK_OK(ctx, toy_train(ctx, model, m, set, 2));
    CHECK(b->adam_t == 3, "three search steps: %d", b->adam_t);
    CHECK_OK(ctx, ar_method_report(m, &r));
    CHECK(r && r->n_layers == 2 && r->layer_score && r->layer_selected, "layer report");
    for (int l = 0; r && r->layer_score && l < 2; l++) {
        CHECK(r->layer_score[l] == b->x[l], "layer score %d: %g vs α %g", l, r->layer_score[l],
              (double)b->x[l]);
        CHECK(r->layer_selected[l] == (b->x[l] > 0), "layer %d selected %d with α %g", l,
              r->layer_selected[l], (double)b->x[l]);
    }
    ar_method_free(m);
    ar_model_free(model);
}

/* Selection rules by hand on L = 2, and the finished export. */
static void test_flexora_selection(struct ar_ctx *ctx, const struct ar_encoded *set,
                                   const struct ar_encoded *search)
{
    struct {
        int select;
        float alpha[2];
        bool want[2];
    } cases[] = {
        {0, {0.3f, -0.2f}, {true, false}},  /* α > 0 (the code's selected_layer) */
        {0, {-0.5f, -0.1f}, {false, true}}, /* none > 0: the best one */
        {1, {-0.5f, -0.1f}, {false, true}}, /* top 1 */
        {1, {0.2f, 0.6f}, {false, true}},
        {2, {0.2f, -0.6f}, {true, true}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct ar_model *model = load_model(ctx);
        struct ar_method_params p = ar_method_default_params(AR_METHOD_FLEXORA);
        p.flexora.select_layers = cases[c].select;
        struct ar_method *m = new_method(ctx, model, &p, search);
        if (c == 0)
            CHECK_OK(ctx, toy_train(ctx, model, m, set, 2)); /* B ≠ 0 for the export check */
        CHECK_OK(ctx, ar__bilevel_set(m, cases[c].alpha));
        int ranks[4], want[4];
        for (int i = 0; i < 4; i++)
            want[i] = cases[c].want[ar_model_module(model, i)->layer] ? RANK : 0;
        CHECK_OK(ctx, ar_method_final_ranks(m, ranks));
        check_ranks("flexora final ranks", ranks, want, 4);
        const struct ar_method_report *r = NULL;
        CHECK_OK(ctx, ar_method_report(m, &r));
        for (int l = 0; r && l < 2; l++)
            CHECK(r->layer_selected[l] == cases[c].want[l], "case %zu: layer %d selected %d", c,
                  l, r->layer_selected[l]);
        if (c == 0) {
            CHECK_OK(ctx, ar_method_finish(m));
            CHECK_OK(ctx, ar_method_report(m, &r));
            check_ranks("flexora effective ranks after finish", r->effective, want, 4);
            check_export_logits(ctx, model, m, set, want, "Flexora finished export vs model");
        }
        ar_method_free(m);
        ar_model_free(model);
    }
}

/* ---- the retraining stage and the other methods' final ranks ---------------------------------- */

static void test_lora_pattern(struct ar_ctx *ctx, const struct ar_encoded *set)
{
    struct ar_model *model = load_model(ctx);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_LORA);
    const int pattern[4] = {2, 0, 3, 1};
    p.lora.ranks = pattern;
    p.lora.scale_by_rank = true;
    struct ar_method *m = new_method(ctx, model, &p, NULL);
    /* PEFT's rank_pattern scale α/r_i on the kernel's α/R: gate (α/r_i)/(α/R) = R/r_i. */
    const struct ar_method_report *r = NULL;
    CHECK_OK(ctx, ar_method_report(m, &r));
    for (int i = 0; r && i < 4; i++) {
        double want[RANK];
        for (int j = 0; j < RANK; j++)
            want[j] = j < pattern[i] ? (double)RANK / pattern[i] : 0.0;
        CHECK_CLOSE("LoRA pattern gates = R/r_i", want, r->values[i], RANK, 1);
    }
    check_ranks("LoRA pattern effective ranks", r->effective, pattern, 4);
    CHECK_OK(ctx, toy_train(ctx, model, m, set, 3));
    int ranks[4];
    CHECK_OK(ctx, ar_method_final_ranks(m, ranks));
    check_ranks("LoRA pattern final ranks", ranks, pattern, 4);
    CHECK_OK(ctx, ar_method_report(m, &r));
    CHECK(r->values[0][0] == 2.0f && r->values[1][0] == 0.0f, "gates frozen: %g %g",
          r->values[0][0], r->values[1][0]);
    check_export_logits(ctx, model, m, set, pattern, "LoRA rank-pattern export vs model");
    ar_method_free(m);
    ar_model_free(model);

    /* Without scale_by_rank the kept gates are 1 (the model's α/R). */
    model = load_model(ctx);
    p.lora.scale_by_rank = false;
    m = new_method(ctx, model, &p, NULL);
    CHECK_OK(ctx, ar_method_report(m, &r));
    CHECK(r->values[2][2] == 1.0f && r->values[2][3] == 0.0f, "plain pattern gates %g %g",
          r->values[2][2], r->values[2][3]);
    ar_method_free(m);
    ar_model_free(model);
}

static void test_other_final_ranks(struct ar_ctx *ctx)
{
    struct ar_model *model = load_model(ctx);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_SORA);
    struct ar_method *m = new_method(ctx, model, &p, NULL);
    /* SoRA's gates start N(0, 1), all non-zero; zero two of module 1's by hand. */
    const float zeros[1] = {0};
    const struct ar_model_module *mod = ar_model_module(model, 1);
    struct ar_arena *arena = ar_model_arena(model);
    CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(arena->param, mod->gate_off), zeros, 1));
    CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(arena->param, mod->gate_off + 2), zeros, 1));
    int ranks[4];
    const int sora_want[4] = {RANK, RANK - 2, RANK, RANK};
    CHECK_OK(ctx, ar_method_final_ranks(m, ranks));
    check_ranks("SoRA final ranks", ranks, sora_want, 4);
    ar_method_free(m);
    p = ar_method_default_params(AR_METHOD_DYLORA);
    m = new_method(ctx, model, &p, NULL);
    CHECK_OK(ctx, ar_method_set_rank(m, 2));
    const int dylora_want[4] = {RANK, RANK, RANK, RANK};
    CHECK_OK(ctx, ar_method_final_ranks(m, ranks));
    check_ranks("DyLoRA final ranks", ranks, dylora_want, 4);
    ar_method_free(m);
    ar_model_free(model);
}

/* A status and a message naming the problem. */
#define CHECK_REFUSED(call, status, word)                                                          \
    do {                                                                                           \
        enum ar_status st_ = (call);                                                               \
        CHECK(st_ == (status), "%s gave %s", #call, ar_status_name(st_));                          \
        CHECK(strstr(ar_ctx_errmsg(ctx), (word)) != NULL, "message without \"%s\": %s", (word),  \
              ar_ctx_errmsg(ctx));                                                                 \
    } while (0)

static void test_bad_input(struct ar_ctx *ctx, const struct ar_encoded *set,
                           const struct ar_encoded *search)
{
    struct ar_model *model = load_model(ctx);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_AUTOLORA);
    struct ar_method *m = new_method(ctx, model, &p, NULL);
    CHECK_REFUSED(toy_train(ctx, model, m, set, 1), AR_STATUS_INVALID_ARGUMENT, "search data");
    CHECK_REFUSED(ar_method_set_search_data(m, search, 0, 0), AR_STATUS_INVALID_ARGUMENT,
                  "batch size");
    CHECK_REFUSED(ar_method_set_search_data(m, search, 9, 0), AR_STATUS_INVALID_ARGUMENT,
                  "max_batch");
    struct ar_encoded empty = {.count = 0, .num_labels = 3};
    CHECK_REFUSED(ar_method_set_search_data(m, &empty, 8, 0), AR_STATUS_INVALID_ARGUMENT,
                  "empty");
    ar_method_free(m);

    p = ar_method_default_params(AR_METHOD_LORA);
    m = new_method(ctx, model, &p, NULL);
    CHECK_REFUSED(ar_method_set_search_data(m, search, 8, 0), AR_STATUS_UNSUPPORTED,
                  "no search stage");
    ar_method_free(m);
    m = NULL;
    const int too_big[4] = {1, 5, 1, 1};
    p.lora.ranks = too_big;
    CHECK_REFUSED(ar_method_new(ctx, model, &p, 1, &m), AR_STATUS_INVALID_ARGUMENT, "outside");
    CHECK(m == NULL, "no method on failure");

    p = ar_method_default_params(AR_METHOD_FLEXORA);
    p.flexora.power = 0;
    CHECK_REFUSED(ar_method_new(ctx, model, &p, 1, &m), AR_STATUS_INVALID_ARGUMENT, "power");
    p = ar_method_default_params(AR_METHOD_FLEXORA);
    p.flexora.select_layers = 3;
    CHECK_REFUSED(ar_method_new(ctx, model, &p, 1, &m), AR_STATUS_INVALID_ARGUMENT,
                  "select_layers");
    p = ar_method_default_params(AR_METHOD_AUTOLORA);
    p.autolora.selection_lr = 0;
    CHECK_REFUSED(ar_method_new(ctx, model, &p, 1, &m), AR_STATUS_INVALID_ARGUMENT,
                  "selection_lr");
    ar_model_free(model);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    struct ar_encoded *set = toy_set(N_EXAMPLES, 42), *search = toy_set(N_EXAMPLES, 4242);
    test_autolora_step(ctx, set, search);
    test_autolora_threshold(ctx, set, search);
    test_flexora_search(ctx, set, search);
    test_flexora_selection(ctx, set, search);
    test_lora_pattern(ctx, set);
    test_other_final_ranks(ctx);
    test_bad_input(ctx, set, search);
    ar_encoded_free(set);
    ar_encoded_free(search);
    ar_ctx_free(ctx);
    return test_finish("method_search");
}
