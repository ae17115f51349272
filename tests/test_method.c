/* Rank methods on the tiny BERT fixture: mechanisms, with assertions that can fail.
 *
 *   LoRA    gates stay exactly 1 through training (PEFT's LoRA).
 *   SoRA    the number of non-zero gates falls as the threshold ξ rises; the exported (pruned,
 *           gate-folded) factors give the same logits as the gated model.
 *   AdaLoRA the kept components follow the cubic budget schedule step by step; the reported
 *           importance is positive from the first step and is the score the mask ranks (it
 *           reproduces every module's pattern); the pruned export gives the model's logits.
 *           (Parity with PEFT itself: test_method_adalora_peft.c.)
 *   DyLoRA  after one training run the model evaluates at every rank of the range; the factors
 *           exported at rank b give the model's logits at rank b.
 */
#include "method_toy.h"

#define N_EXAMPLES 24 /* examples of method_toy.h's toy task */

static struct ar_model *load_model(struct ar_ctx *ctx, int rank)
{
    return toy_model(ctx, rank, 2.0f * (float)rank);
}

/* Logits are O(1); the exported path reorders one rank-sized sum per output, so the float32
 * policy of test.h with k = the longest chain (hidden 72 + intermediate 100) applies. */
static void check_same_logits(const char *what, const float *want, const float *got)
{
    double ref[24];
    for (int i = 0; i < 24; i++)
        ref[i] = want[i];
    CHECK_CLOSE(what, ref, got, 24, 72 + 100);
}

static void test_lora(struct ar_ctx *ctx, const struct ar_encoded *set)
{
    struct ar_model *model = load_model(ctx, 4);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_LORA);
    struct ar_method *method = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 1, &method));
    CHECK_OK(ctx, toy_train(ctx, model, method, set, 4));
    const struct ar_method_report *r = NULL;
    CHECK_OK(ctx, ar_method_report(method, &r));
    int not_one = 0;
    for (int i = 0; r && i < r->n_modules; i++)
        for (int j = 0; j < r->values_count[i]; j++)
            not_one += r->values[i][j] != 1.0f;
    CHECK(not_one == 0, "LoRA gates moved: %d entries differ from 1", not_one);
    CHECK(r && r->effective[0] == 4 && r->allocated[0] == 4, "LoRA rank %d of %d",
          r ? r->effective[0] : -1, r ? r->allocated[0] : -1);
    ar_method_free(method);
    ar_model_free(model);
}

/* Non-zero gates after a fixed short SoRA run at threshold xi (no scheduler). */
static int sora_nonzero(struct ar_ctx *ctx, const struct ar_encoded *set, float xi,
                        bool check_export)
{
    struct ar_model *model = load_model(ctx, 8);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_SORA);
    p.sora.xi = p.sora.xi_max = xi;
    p.sora.stages = 1;
    struct ar_method *method = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 11, &method));
    CHECK_OK(ctx, toy_train(ctx, model, method, set, 6));
    CHECK_OK(ctx, ar_method_finish(method));
    const struct ar_method_report *r = NULL;
    CHECK_OK(ctx, ar_method_report(method, &r));
    int nonzero = 0;
    for (int i = 0; r && i < r->n_modules; i++)
        nonzero += r->effective[i];
    if (check_export) {
        float gated[24], pruned[24];
        toy_logits(ctx, model, set, gated);
        toy_load_exported(ctx, model, method, NULL);
        toy_logits(ctx, model, set, pruned);
        check_same_logits("SoRA pruned vs gated logits", gated, pruned);
    }
    ar_method_free(method);
    ar_model_free(model);
    return nonzero;
}

static void test_sora(struct ar_ctx *ctx, const struct ar_encoded *set)
{
    /* Gates start N(0, 1): with 4 modules × 8 = 32 gates, each step shrinks |g| by ξ. */
    int n0 = sora_nonzero(ctx, set, 0.0f, false);
    int n1 = sora_nonzero(ctx, set, 0.1f, true);
    int n2 = sora_nonzero(ctx, set, 0.3f, false);
    printf("sora non-zero gates at xi 0, 0.1, 0.3: %d %d %d\n", n0, n1, n2);
    CHECK(n0 == 32, "without a threshold every gate stays non-zero (%d of 32)", n0);
    CHECK(n1 < n0 && n2 < n1, "non-zero gates must fall as ξ rises: %d, %d, %d", n0, n1, n2);
}

static void test_dylora(struct ar_ctx *ctx, const struct ar_encoded *set)
{
    struct ar_model *model = load_model(ctx, 4);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_DYLORA);
    struct ar_method *method = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 5, &method));
    CHECK_OK(ctx, toy_train(ctx, model, method, set, 6));
    CHECK_OK(ctx, ar_method_finish(method));
    for (int b = 1; b <= 4; b++) {
        CHECK_OK(ctx, ar_method_set_rank(method, b));
        const struct ar_method_report *r = NULL;
        CHECK_OK(ctx, ar_method_report(method, &r));
        CHECK(r && r->effective[0] == b, "rank %d: effective %d", b, r ? r->effective[0] : -1);
        float at_rank[24];
        toy_logits(ctx, model, set, at_rank);
        int finite = 1;
        for (int i = 0; i < 24; i++)
            finite &= isfinite(at_rank[i]);
        CHECK(finite, "rank %d: logits not finite", b);
        if (b == 2) {
            /* The export at rank 2 is a rank-2 plain LoRA with the α/2 scaling folded in. */
            toy_load_exported(ctx, model, method, NULL);
            float exported[24];
            toy_logits(ctx, model, set, exported);
            check_same_logits("DyLoRA rank-2 export vs model at rank 2", at_rank, exported);
            break;
        }
    }
    CHECK(ar_method_set_rank(method, 9) == AR_STATUS_INVALID_ARGUMENT, "rank above R refused");
    ar_method_free(method);
    ar_model_free(model);
}

/* AdaLoRA's budget: b(t) = ⌊(b_0 − b_T)(1 − (t − t_i)/(T − t_f − t_i))³ + b_T⌋ between the phases
 * (METHODS.md §5.4), with t = the steps done before this one (PEFT's global_step), recomputed here
 * independently and compared with the number of components the method keeps after every step.
 * The reported importance must be the score the mask ranked: positive, and the kept components
 * exactly the `budget` best by it (every masked score ≤ every kept one). */
struct budget_watch {
    struct ar_method *method;
    int steps, kept[16], budget[16];
    int ranked; /* steps whose pattern was checked against the reported importance */
};

static int cmp_importance(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

/* Report r's importance must reproduce its pattern: with τ the (b0 − budget)-th smallest score
 * over all modules, module i keeps exactly its components scoring above τ (effective[i]). */
static void check_importance(const struct ar_method_report *r, int step)
{
    float all[64], lo = INFINITY;
    int total = 0, kept = 0, finite = 1;
    for (int i = 0; i < r->n_modules; i++)
        for (int j = 0; j < r->values_count[i] && total < 64; j++) {
            all[total++] = r->values[i][j];
            finite &= isfinite(r->values[i][j]);
            lo = fminf(lo, r->values[i][j]);
        }
    CHECK(strcmp(r->values_kind, "importance") == 0, "values kind %s", r->values_kind);
    CHECK(finite && lo > 0.0f, "step %d: importance must be finite and positive (min %g)", step,
          (double)lo);
    qsort(all, (size_t)total, sizeof *all, cmp_importance);
    int k = total - (int)r->threshold;
    float tau = k >= 1 && k <= total ? all[k - 1] : -INFINITY;
    for (int i = 0; i < r->n_modules; i++) {
        int above = 0;
        for (int j = 0; j < r->values_count[i]; j++)
            above += r->values[i][j] > tau;
        CHECK(above == r->effective[i], "step %d module %d: %d scores above the threshold, %d kept",
              step, i, above, r->effective[i]);
        kept += r->effective[i];
    }
    CHECK(kept == (int)r->threshold, "step %d: %d kept, budget %g", step, kept, r->threshold);
}

static enum ar_status watch_step(void *user, struct ar_trainer *t, const struct ar_train_state *s)
{
    (void)t;
    struct budget_watch *w = user;
    const struct ar_method_report *r = NULL;
    enum ar_status st = ar_method_report(w->method, &r);
    if (st != AR_STATUS_OK || s->step < 1 || s->step > 16)
        return st;
    int kept = 0;
    for (int i = 0; i < r->n_modules; i++)
        kept += r->effective[i];
    w->kept[s->step - 1] = kept;
    w->budget[s->step - 1] = (int)r->threshold;
    w->steps = s->step;
    if (kept < 16) { /* a mask has cut: its scores are the reported importance */
        check_importance(r, s->step);
        w->ranked++;
    } else { /* before the first mask: already the live score, positive after one gradient */
        float lo = INFINITY;
        for (int i = 0; i < r->n_modules; i++)
            for (int j = 0; j < r->values_count[i]; j++)
                lo = fminf(lo, r->values[i][j]);
        CHECK(lo > 0.0f, "step %d: importance %g before the first mask", s->step, (double)lo);
    }
    return AR_STATUS_OK;
}

static void test_adalora(struct ar_ctx *ctx, const struct ar_encoded *set)
{
    struct ar_model *model = load_model(ctx, 4);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_ADALORA);
    p.adalora.target_rank = 2;
    p.adalora.tinit = 2;
    p.adalora.tfinal = 3;
    p.adalora.delta_t = 1;
    struct ar_method *method = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 9, &method));
    struct ar_train_params tp = toy_short_run(10);
    struct ar_trainer *t = NULL;
    CHECK_OK(ctx, ar_trainer_new(ctx, model, &tp, set, NULL, &t));
    CHECK_OK(ctx, ar_method_attach(method, t));
    struct budget_watch w = {.method = method};
    struct ar_train_hooks hooks = {.user = &w, .after_step = watch_step};
    CHECK_OK(ctx, ar_trainer_add_hooks(t, &hooks));
    CHECK_OK(ctx, ar_trainer_run(t));
    CHECK(w.steps == 10, "watched %d steps", w.steps);
    /* 4 modules × R 4: b0 = 16, bT = 4 × 2 = 8; T = 10, tinit 2, tfinal 3: after step s, t = s − 1;
     * budget phase t = 3..6 (s = 4..7), final mask at t = 7 (s = 8), frozen after. */
    for (int step = 1; step <= w.steps; step++) {
        int t_peft = step - 1, want;
        if (t_peft <= 2)
            want = 16;
        else if (t_peft >= 7)
            want = 8;
        else {
            double left = 1.0 - (double)(t_peft - 2) / 5.0;
            want = (int)floor(8.0 * left * left * left + 8.0);
        }
        CHECK(w.budget[step - 1] == want, "step %d: budget %d, schedule says %d", step,
              w.budget[step - 1], want);
        CHECK(w.kept[step - 1] == want, "step %d: %d components kept, budget %d", step,
              w.kept[step - 1], want);
    }
    CHECK(w.ranked == 7, "the importance was checked at %d masked steps, want 7", w.ranked);
    CHECK_OK(ctx, ar_method_finish(method));
    float gated[24], exported[24];
    toy_logits(ctx, model, set, gated);
    toy_load_exported(ctx, model, method, NULL);
    toy_logits(ctx, model, set, exported);
    check_same_logits("AdaLoRA pruned export vs model", gated, exported);
    ar_trainer_free(t);
    ar_method_free(method);
    ar_model_free(model);
}

static void test_bad_input(struct ar_ctx *ctx)
{
    enum ar_method_kind k;
    CHECK(!ar_method_kind_parse("sorra", &k), "unknown method name refused");
    CHECK(ar_method_kind_parse("adalora", &k) && k == AR_METHOD_ADALORA, "parse adalora");
    struct ar_model *model = load_model(ctx, 4);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_DYLORA);
    p.dylora.min_rank = 5;
    struct ar_method *method = NULL;
    CHECK(ar_method_new(ctx, model, &p, 1, &method) == AR_STATUS_INVALID_ARGUMENT,
          "min_rank above R refused");
    CHECK(strstr(ar_ctx_errmsg(ctx), "min_rank") != NULL, "message: %s", ar_ctx_errmsg(ctx));
    p = ar_method_default_params(AR_METHOD_LORA);
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 1, &method));
    CHECK(ar_method_set_rank(method, 2) == AR_STATUS_UNSUPPORTED, "set_rank is DyLoRA's");
    ar_method_free(method);
    ar_model_free(model);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    struct ar_encoded *set = toy_set(N_EXAMPLES, 42);
    test_lora(ctx, set);
    test_sora(ctx, set);
    test_dylora(ctx, set);
    test_adalora(ctx, set);
    test_bad_input(ctx);
    ar_encoded_free(set);
    ar_ctx_free(ctx);
    return test_finish("method");
}
