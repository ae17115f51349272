/* The gated LoRA layer against the plain-C double reference (test_lora_ref.h) on awkward sizes,
 * with every tensor at an odd offset inside one buffer; against PyTorch (fixtures/gen_lora.py);
 * and its dropout: the mask of the hash, its kept fraction, and gates of one = plain LoRA. */
#include "fixture.h"
#include "test_lora_ref.h"

/* The longest product chain behind each output (test.h's policy takes the chain's total k):
 * Y: X·Aᵀ (in) then ·Bᵀ (R); dX: dY·W (G·out), dY_k·B_k (out), dU·A (G·R); dA: dY·B (out) then
 * dUᵀ·X̃ (n); dB: X·Aᵀ (in) then dYᵀ·V (n); dg: as dB plus dY·B (out). */
static double k_y(const struct lora_case *c)
{
    return c->in + c->rank;
}
static double k_dx(const struct lora_case *c)
{
    return c->groups * (c->out + c->rank) + c->out;
}
static double k_da(const struct lora_case *c)
{
    return c->out + c->n;
}
static double k_db(const struct lora_case *c)
{
    return c->in + c->n;
}
static double k_dg(const struct lora_case *c)
{
    return c->in + c->out + c->n;
}

static void check_against_reference(struct ar_ctx *ctx, const struct lora_case *c)
{
    struct lora_data d = lora_make_data(c, 0x5eed0000ULL + (unsigned long long)c->groups * 131 +
                                               (unsigned long long)c->rank);
    struct lora_result res = lora_run_device(ctx, c, &d);
    struct lora_abs abs = lora_abs_reference(c, &d);
    CHECK(res.guards_broken == 0, "%s: %d floats outside the outputs changed", c->name,
          res.guards_broken);

    double *x = ref_to_double(d.x, lc_x(c)), *w = ref_to_double(d.w, lc_w(c));
    double *bias = ref_to_double(d.bias, (size_t)c->groups * c->out);
    double *a = ref_to_double(d.a, lc_a(c)), *b = ref_to_double(d.b, lc_b(c));
    double *gate = ref_to_double(d.gate, lc_g(c)), *mask = ref_to_double(d.mask, lc_g(c));
    double *dy = ref_to_double(d.dy, lc_y(c));
    double *y = calloc(lc_y(c) + 1, sizeof *y), *dx = calloc(lc_x(c) + 1, sizeof *dx);
    double *da = calloc(lc_a(c) + 1, sizeof *da), *db = calloc(lc_b(c) + 1, sizeof *db);
    double *dg = calloc(lc_g(c) + 1, sizeof *dg);
    ref_forward(c, x, w, bias, a, b, gate, mask, y, NULL);
    ref_backward(c, x, w, a, b, gate, mask, dy, dx, da, db, dg);
    /* Outputs: dX overwritten or accumulated, dA/dB/dg accumulated onto their old contents. */
    for (size_t i = 0; i < lc_x(c); i++)
        dx[i] += c->dx_accumulate ? d.dx0[i] : 0.0;
    for (size_t i = 0; i < lc_a(c); i++)
        da[i] += d.da0[i];
    for (size_t i = 0; i < lc_b(c); i++)
        db[i] += d.db0[i];
    for (size_t i = 0; i < lc_g(c); i++)
        dg[i] = d.dg0[i] + (c->dgate && !c->plain ? dg[i] : 0.0);

    char what[160];
#define CLOSE(label, ref, got, n, k)                                                               \
    snprintf(what, sizeof what, "%s: %s", c->name, label);                                         \
    lora_check_close(what, ref, abs.ref, got, n, k)
    CLOSE("Y", y, res.y, lc_y(c), k_y(c));
    CLOSE("dX", dx, res.dx, lc_x(c), k_dx(c));
    CLOSE("dA", da, res.da, lc_a(c), k_da(c));
    CLOSE("dB", db, res.db, lc_b(c), k_db(c));
    CLOSE("dg", dg, res.dg, lc_g(c), k_dg(c));
#undef CLOSE
    double *all[] = {x, w, bias, a, b, gate, mask, dy, y, dx, da, db, dg};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]);
    lora_free_abs(&abs);
    lora_free_result(&res);
    lora_free_data(&d);
}

static void test_reference_cases(struct ar_ctx *ctx)
{
    /* name, n_max, n, in, out, G, R, plain, bias, mask, dgate, dx_acc, s, p, training, seed,
     * step. Sizes are deliberately not multiples of 64 (the work-group size) or of each other. */
    const struct lora_case cases[] = {
        {"G=1 R=1 gated", 7, 7, 67, 5, 1, 1, false, true, true, true, false, 2.0f, 0, true},
        {"G=3 R=5 gated n<N", 20, 13, 70, 33, 3, 5, false, true, true, true, false, 0.5f, 0, true},
        {"G=3 R=5 plain", 20, 17, 37, 19, 3, 5, true, false, true, true, true, 4.0f, 0, true},
        {"G=3 R=0 frozen", 11, 9, 66, 21, 3, 0, false, true, false, false, false, 1.0f, 0, true},
        {"G=1 R=0 frozen no bias", 5, 5, 3, 130, 1, 0, true, false, false, false, true, 1, 0, 0},
        {"G=3 R=5 dropout", 16, 11, 70, 9, 3, 5, false, true, true, true, true, 1.5f, 0.3f, true,
         0x1234567890abcdefULL, 77},
        {"G=3 R=5 plain dropout", 16, 16, 45, 9, 3, 5, true, true, false, true, false, 1.5f, 0.3f,
         true, 42, 1ULL << 40},
        {"G=2 R=1 dropout eval", 9, 4, 65, 7, 2, 1, false, false, true, true, false, 1.0f, 0.5f,
         false, 3, 4},
        {"G=3 R=5 no mask, frozen gates", 8, 8, 64, 64, 3, 5, false, true, false, false, true,
         0.25f, 0, true},
        {"G=1 R=5 big n", 300, 257, 31, 17, 1, 5, false, true, true, true, false, 1.0f, 0.1f, true,
         9, 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_against_reference(ctx, &cases[i]);
}

/* In = out = R with W = 0, A = B = I, g = 1, s = 1: Y_k is exactly X̃_k, so the device's mask is
 * visible and must be the hash's, bit for bit. */
static void test_dropout_mask(struct ar_ctx *ctx)
{
    enum { N = 64, D = 24, G = 2 };
    const float p = 0.25f;
    struct lora_case c = {.name = "dropout mask",
                          .n_max = N,
                          .n = N,
                          .in = D,
                          .out = D,
                          .groups = G,
                          .rank = D,
                          .dgate = true,
                          .scale = 1.0f,
                          .dropout = p,
                          .training = true,
                          .seed = 99,
                          .step = 5};
    struct lora_data d = lora_make_data(&c, 7);
    memset(d.w, 0, lc_w(&c) * sizeof(float));
    memset(d.a, 0, lc_a(&c) * sizeof(float));
    memset(d.b, 0, lc_b(&c) * sizeof(float));
    for (int k = 0; k < G; k++)
        for (int j = 0; j < D; j++) {
            d.a[((size_t)k * D + j) * D + j] = 1.0f;
            d.b[((size_t)k * D + j) * D + j] = 1.0f;
            d.gate[k * D + j] = 1.0f;
        }
    for (size_t i = 0; i < lc_x(&c); i++)
        d.x[i] = 1.0f + 0.5f * d.x[i]; /* never 0, so a zero in Y means dropped */
    for (size_t i = 0; i < lc_y(&c); i++)
        d.dy[i] = 1.0f; /* then dX = Σ_k keep_k/(1 − p): backward's masks, visible */
    struct lora_result r1 = lora_run_device(ctx, &c, &d);
    struct lora_result r2 = lora_run_device(ctx, &c, &d); /* same (seed, step) */
    c.step = 6;
    struct lora_result r3 = lora_run_device(ctx, &c, &d);
    c.step = 5;

    size_t kept = 0, total = (size_t)N * D * G, same_members = 0, same_steps = 0, wrong = 0;
    float inv = (float)(1.0 / (1.0 - p));
    for (int r = 0; r < N; r++)
        for (int k = 0; k < G; k++)
            for (int i = 0; i < D; i++) {
                size_t e = (size_t)r * G * D + (size_t)k * D + i, xi = (size_t)r * D + i;
                bool keep = ref_keep(c.seed, c.step, (uint32_t)k, (uint32_t)xi, p);
                float want = keep ? d.x[xi] * inv : 0.0f;
                wrong += r1.y[e] != want;
                kept += r1.y[e] != 0.0f;
                if (k == 1) same_members += (r1.y[e] != 0.0f) == (r1.y[e - D] != 0.0f);
                same_steps += (r1.y[e] != 0.0f) == (r3.y[e] != 0.0f);
            }
    CHECK(wrong == 0, "%zu of %zu elements differ from the hash's mask (exact: 0/1 products)",
          wrong, total);
    /* Backward regenerates the forward's masks: dX counts the members that kept each input. */
    size_t dx_wrong = 0;
    for (int r = 0; r < N; r++)
        for (int i = 0; i < D; i++) {
            float want = 0.0f;
            for (int k = 0; k < G; k++)
                want += r1.y[(size_t)r * G * D + (size_t)k * D + i] != 0.0f ? inv : 0.0f;
            dx_wrong += r1.dx[(size_t)r * D + i] != want;
        }
    CHECK(dx_wrong == 0, "%zu of %d dX elements disagree with the forward's masks", dx_wrong,
          N * D);
    CHECK(memcmp(r1.y, r2.y, lc_y(&c) * sizeof(float)) == 0, "same (seed, step), other mask");
    double frac = (double)kept / (double)total;
    /* Binomial: kept ~ B(total, 1 − p); 5σ leaves a 1-in-3.5-million false alarm. */
    double sigma = sqrt(p * (1.0 - p) / (double)total);
    CHECK(fabs(frac - (1.0 - p)) <= 5 * sigma, "kept fraction %.4f, want %.2f ± %.4f", frac,
          1.0 - p, 5 * sigma);
    /* Independent masks agree on p² + (1−p)² = 62.5% of the elements; identical ones on 100%. */
    double agree_m = (double)same_members / (double)(N * D);
    double agree_s = (double)same_steps / (double)total;
    CHECK(agree_m < 0.75, "members share their mask (%.3f agree)", agree_m);
    CHECK(agree_s < 0.75, "consecutive steps share their mask (%.3f agree)", agree_s);
    lora_free_result(&r1);
    lora_free_result(&r2);
    lora_free_result(&r3);
    lora_free_data(&d);
}

/* Gates and mask of one: the gated layer must compute plain LoRA (up to rounding: s is folded
 * into V instead of the GEMM's alpha), dropout included. */
static void test_gate_ones_is_plain(struct ar_ctx *ctx)
{
    struct lora_case c = {.name = "ones vs plain",
                          .n_max = 12,
                          .n = 10,
                          .in = 45,
                          .out = 23,
                          .groups = 3,
                          .rank = 5,
                          .bias = true,
                          .mask = true,
                          .dgate = true,
                          .dx_accumulate = true,
                          .scale = 2.0f,
                          .dropout = 0.2f,
                          .training = true,
                          .seed = 11,
                          .step = 12};
    struct lora_data d = lora_make_data(&c, 21);
    for (size_t j = 0; j < lc_g(&c); j++)
        d.gate[j] = d.mask[j] = 1.0f;
    struct lora_result gated = lora_run_device(ctx, &c, &d);
    c.plain = true;
    struct lora_result plain = lora_run_device(ctx, &c, &d);
    double *ref = malloc((lc_y(&c) + lc_x(&c) + lc_a(&c) + lc_b(&c)) * sizeof *ref);
#define SAME(name, field, n, k)                                                                    \
    for (size_t i = 0; i < (n); i++)                                                               \
        ref[i] = plain.field[i];                                                                   \
    CHECK_CLOSE("g=1 vs plain: " name, ref, gated.field, (n), (k))
    SAME("Y", y, lc_y(&c), k_y(&c));
    SAME("dX", dx, lc_x(&c), k_dx(&c));
    SAME("dA", da, lc_a(&c), k_da(&c));
    SAME("dB", db, lc_b(&c), k_db(&c));
#undef SAME
    free(ref);
    lora_free_result(&gated);
    lora_free_result(&plain);
    lora_free_data(&d);
}

/* Fixture arrays as the harness's data; all initial gradients zero. */
static void check_fixture_mode(struct ar_ctx *ctx, const struct fixture *fx, bool plain)
{
    const struct fixture_array *x = fixture_find(fx, "x"), *w = fixture_find(fx, "w"),
                               *a = fixture_find(fx, "a"), *b = fixture_find(fx, "b");
    const char *prefix = plain ? "plain." : "";
    char name[64];
#define EXPECT(field) (snprintf(name, sizeof name, "%s%s", prefix, field), fixture_find(fx, name))
    const struct fixture_array *y = EXPECT("y"), *dx = EXPECT("dx"), *da = EXPECT("da"),
                               *db = EXPECT("db"), *dg = fixture_find(fx, "dgate");
#undef EXPECT
    const char *names[] = {"bias", "gate", "mask", "dy", "scale"};
    bool complete = x && w && a && b && y && dx && da && db && dg;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        complete = complete && fixture_find(fx, names[i]);
    CHECK(complete, "lora_layer.bin lacks an array (regenerate with gen_lora.py)");
    if (!complete) return;
    int n = (int)x->dims[0], in = (int)x->dims[1], groups = (int)b->dims[0];
    int out = (int)b->dims[1], rank = (int)b->dims[2];
    struct lora_case c = {.name = plain ? "fixture plain" : "fixture gated",
                          .n_max = n + 3,
                          .n = n,
                          .in = in,
                          .out = out,
                          .groups = groups,
                          .rank = rank,
                          .plain = plain,
                          .bias = true,
                          .mask = true,
                          .dgate = true,
                          .scale = fixture_find(fx, "scale")->f32[0],
                          .training = true};
    CHECK(w->count == lc_w(&c) && a->count == lc_a(&c) && y->count == lc_y(&c), "fixture shapes");
    float *zeros = calloc(lc_x(&c) + lc_a(&c) + lc_b(&c) + lc_g(&c) + 1, sizeof *zeros);
    struct lora_data d = {.x = x->f32,
                          .w = w->f32,
                          .bias = fixture_find(fx, "bias")->f32,
                          .a = a->f32,
                          .b = b->f32,
                          .gate = fixture_find(fx, "gate")->f32,
                          .mask = fixture_find(fx, "mask")->f32,
                          .dy = fixture_find(fx, "dy")->f32,
                          .dx0 = zeros,
                          .da0 = zeros,
                          .db0 = zeros,
                          .dg0 = zeros};
    struct lora_result r = lora_run_device(ctx, &c, &d);
    CHECK(r.guards_broken == 0, "%s: guards", c.name);
    CHECK_CLOSE(plain ? "torch plain Y" : "torch Y", y->f64, r.y, y->count, k_y(&c));
    CHECK_CLOSE(plain ? "torch plain dX" : "torch dX", dx->f64, r.dx, dx->count, k_dx(&c));
    CHECK_CLOSE(plain ? "torch plain dA" : "torch dA", da->f64, r.da, da->count, k_da(&c));
    CHECK_CLOSE(plain ? "torch plain dB" : "torch dB", db->f64, r.db, db->count, k_db(&c));
    if (!plain) CHECK_CLOSE("torch dg", dg->f64, r.dg, dg->count, k_dg(&c));
    lora_free_result(&r);
    free(zeros);
}

static void test_fixture(struct ar_ctx *ctx)
{
    char path[4096], err[4200];
    struct fixture fx;
    int rc = fixture_load(fixture_path("lora_layer.bin", path, sizeof path), &fx, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    check_fixture_mode(ctx, &fx, false);
    check_fixture_mode(ctx, &fx, true);
    fixture_free(&fx);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    test_reference_cases(ctx);
    test_dropout_mask(ctx);
    test_gate_ones_is_plain(ctx);
    test_fixture(ctx);
    ar_ctx_free(ctx);
    return test_finish("lora");
}
