/* The transformer ops of ops.h (all but attention: see test_attention.c) against plain-C double
 * references, on awkward sizes (C not a multiple of the work-group size, N = 1, 7, 39) and with
 * every operand at a non-zero offset inside a guarded buffer. Backward ops are checked against
 * central finite differences in double of a scalar loss L = Σ w ⊙ y(x) with random weights w. */
#include <stdint.h>

#include "ops_check.h"

#define FD_STEP 1e-4 /* see test.h: truncation ~h², rounding ~eps64/h, both < 1e-8 relative */

typedef double (*loss_fn)(const double *x, void *user);

/* Central differences of f at x (modified in place and restored). */
static void fd_grad(loss_fn f, void *user, double *x, size_t n, double *grad)
{
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + FD_STEP;
        double fp = f(x, user);
        x[i] = keep - FD_STEP;
        double fm = f(x, user);
        x[i] = keep;
        grad[i] = (fp - fm) / (2 * FD_STEP);
    }
}

/* ---- embeddings ------------------------------------------------------------------------- */

static void test_embedding(struct ar_ctx *ctx, int n, int c, bool with_types)
{
    enum { V = 11, P = 13, TV = 2 };
    unsigned long long seed = 11;
    int *ids = malloc(3 * n * sizeof *ids), *pos = ids + n, *types = ids + 2 * n;
    for (int i = 0; i < n; i++) {
        ids[i] = (i * 7 + 3) % V;
        pos[i] = i % P;
        types[i] = (i / 3) % TV;
    }
    float *wte = malloc((V + P + TV) * c * sizeof *wte), *wpe = wte + V * c, *wtt = wpe + P * c;
    fill_uniform(wte, (V + P + TV) * (size_t)c, -1, 1, &seed);
    struct tbuf tid = tb_new(ctx, n, 3), tpos = tb_new(ctx, n, 5), ttyp = tb_new(ctx, n, 7);
    struct tbuf tte = tb_new(ctx, V * c, 9), tpe = tb_new(ctx, P * c, 2);
    struct tbuf ttt = tb_new(ctx, TV * c, 4);
    struct tbuf tout = tb_new(ctx, (size_t)n * c, 6);
    tb_write_int(ctx, &tid, ids);
    tb_write_int(ctx, &tpos, pos);
    tb_write_int(ctx, &ttyp, types);
    tb_write(ctx, &tte, wte);
    tb_write(ctx, &tpe, wpe);
    tb_write(ctx, &ttt, wtt);
    struct ar_mem none = {0};
    CHECK_OK(ctx, ar_embedding_forward(ctx, n, c, tid.mem, tpos.mem, with_types ? ttyp.mem : none,
                                       tte.mem, tpe.mem, with_types ? ttt.mem : none, tout.mem));
    float *got = malloc((size_t)n * c * sizeof *got);
    double *ref = malloc((size_t)n * c * sizeof *ref);
    tb_read(ctx, &tout, got, "embedding out");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < c; j++)
            ref[i * c + j] = (double)wte[ids[i] * c + j] + wpe[pos[i] * c + j] +
                             (with_types ? wtt[types[i] * c + j] : 0.0);
    CHECK_CLOSE("embedding", ref, got, (size_t)n * c, 2);
    struct tbuf *all[] = {&tid, &tpos, &ttyp, &tte, &tpe, &ttt, &tout};
    for (int i = 0; i < 7; i++)
        tb_free(all[i]);
    free(ids);
    free(wte);
    free(got);
    free(ref);
}

/* ---- LayerNorm ------------------------------------------------------------------------- */

struct ln_case {
    int n, c;
    double eps;
    const double *gamma, *beta, *w; /* w: the loss weights (= dy) */
};

static void ln_ref(const struct ln_case *lc, const double *x, double *y, double *mean,
                   double *rstd)
{
    int c = lc->c;
    for (int i = 0; i < lc->n; i++) {
        const double *xr = x + (size_t)i * c;
        double mu = 0, var = 0;
        for (int j = 0; j < c; j++)
            mu += xr[j];
        mu /= c;
        for (int j = 0; j < c; j++)
            var += (xr[j] - mu) * (xr[j] - mu);
        double rs = 1.0 / sqrt(var / c + lc->eps);
        for (int j = 0; j < c; j++)
            y[(size_t)i * c + j] = (xr[j] - mu) * rs * lc->gamma[j] + lc->beta[j];
        mean[i] = mu;
        rstd[i] = rs;
    }
}

static double ln_loss(const double *x, void *user)
{
    const struct ln_case *lc = user;
    size_t nc = (size_t)lc->n * lc->c;
    double *y = malloc((nc + 2 * lc->n) * sizeof *y), l = 0;
    ln_ref(lc, x, y, y + nc, y + nc + lc->n);
    for (size_t i = 0; i < nc; i++)
        l += lc->w[i] * y[i];
    free(y);
    return l;
}

static void test_layernorm(struct ar_ctx *ctx, int n, int c, float eps)
{
    unsigned long long seed = 100 + n * 1000 + c;
    size_t nc = (size_t)n * c;
    float *x = malloc((4 * nc + 2 * c + 2 * n) * sizeof *x), *dy = x + nc, *got = dy + nc,
          *dx0 = got + nc, *gamma = dx0 + nc, *beta = gamma + c, *stats = beta + c;
    fill_uniform(x, nc, 2.0f, 4.0f, &seed); /* mean ≈ 3 ≫ std: the two-pass variance matters */
    fill_uniform(dy, nc, -1, 1, &seed);
    fill_uniform(dx0, nc, -1, 1, &seed);
    fill_uniform(gamma, c, 0.5f, 1.5f, &seed);
    fill_uniform(beta, c, -0.5f, 0.5f, &seed);
    double *xd = to_double(x, nc), *gd = to_double(gamma, c), *bd = to_double(beta, c);
    double *wd = to_double(dy, nc), *ref = malloc((2 * nc + 2 * n) * sizeof *ref);
    double *grad = ref + nc, *mean = grad + nc, *rstd = mean + n;
    struct ln_case lc = {n, c, eps, gd, bd, wd};
    ln_ref(&lc, xd, ref, mean, rstd);

    struct tbuf tx = tb_new(ctx, nc, 3), tg = tb_new(ctx, c, 5), tb = tb_new(ctx, c, 7);
    struct tbuf ty = tb_new(ctx, nc, 11), tm = tb_new(ctx, n, 2), tr = tb_new(ctx, n, 4);
    struct tbuf tdy = tb_new(ctx, nc, 6), tdx = tb_new(ctx, nc, 8);
    tb_write(ctx, &tx, x);
    tb_write(ctx, &tg, gamma);
    tb_write(ctx, &tb, beta);
    tb_write(ctx, &tdy, dy);
    CHECK_OK(ctx, ar_layernorm_forward(ctx, n, c, eps, tx.mem, tg.mem, tb.mem, ty.mem, tm.mem,
                                       tr.mem));
    /* The terms of the normalisation are |x|·rstd·|gamma|, larger than |y| when |mean| ≫ std. */
    double rmax = test_max_abs(rstd, n), xmax = test_max_abs(xd, nc), gmax = test_max_abs(gd, c);
    double scale = fmax(test_max_abs(ref, nc), xmax * rmax * gmax);
    tb_read(ctx, &ty, got, "layernorm y");
    check_close_tol("layernorm y", ref, got, nc, test_tolerance_ulp(c, 2, scale));
    tb_read(ctx, &tm, stats, "layernorm mean");
    check_close_tol("layernorm mean", mean, stats, n, test_tolerance(c, xmax));
    tb_read(ctx, &tr, stats, "layernorm rstd");
    check_close_tol("layernorm rstd", rstd, stats, n, test_tolerance_ulp(c, 2, xmax * rmax * rmax));

    /* Backward: overwrite, then accumulate onto dx0. */
    fd_grad(ln_loss, &lc, xd, nc, grad);
    double gscale = fmax(test_max_abs(grad, nc), xmax * rmax * gmax * rmax);
    CHECK_OK(ctx, ar_layernorm_backward(ctx, n, c, tdy.mem, tx.mem, tg.mem, tm.mem, tr.mem,
                                        tdx.mem, false));
    tb_read(ctx, &tdx, got, "layernorm dx");
    check_close_tol("layernorm dx vs finite differences", grad, got, nc,
                    test_tolerance_ulp(c, 2, gscale));
    tb_write(ctx, &tdx, dx0);
    CHECK_OK(ctx, ar_layernorm_backward(ctx, n, c, tdy.mem, tx.mem, tg.mem, tm.mem, tr.mem,
                                        tdx.mem, true));
    tb_read(ctx, &tdx, got, "layernorm dx accumulated");
    for (size_t i = 0; i < nc; i++)
        grad[i] += dx0[i];
    check_close_tol("layernorm dx accumulated", grad, got, nc, test_tolerance_ulp(c, 2, gscale));

    /* y may alias x. */
    CHECK_OK(ctx, ar_layernorm_forward(ctx, n, c, eps, tx.mem, tg.mem, tb.mem, tx.mem, tm.mem,
                                       tr.mem));
    tb_read(ctx, &tx, got, "layernorm in place");
    check_close_tol("layernorm in place", ref, got, nc, test_tolerance_ulp(c, 2, scale));

    struct tbuf *all[] = {&tx, &tg, &tb, &ty, &tm, &tr, &tdy, &tdx};
    for (int i = 0; i < 8; i++)
        tb_free(all[i]);
    free(x);
    free(xd);
    free(gd);
    free(bd);
    free(wd);
    free(ref);
}

/* ---- add, bias ------------------------------------------------------------------------- */

static void test_add_bias(struct ar_ctx *ctx, int n, int c)
{
    unsigned long long seed = 7 + n;
    size_t nc = (size_t)n * c;
    float *a = malloc((4 * nc + 2 * c) * sizeof *a), *b = a + nc, *got = b + nc, *dy = got + nc,
          *bias = dy + nc, *db0 = bias + c;
    fill_uniform(a, 2 * nc, -1, 1, &seed);
    fill_uniform(dy, nc + 2 * c, -1, 1, &seed);
    double *ref = malloc(nc * sizeof *ref);
    struct tbuf ta = tb_new(ctx, nc, 3), tb = tb_new(ctx, nc, 5), ty = tb_new(ctx, nc, 1);
    struct tbuf tbias = tb_new(ctx, c, 2), tdb = tb_new(ctx, c, 9);
    tb_write(ctx, &ta, a);
    tb_write(ctx, &tb, b);
    tb_write(ctx, &tbias, bias);

    CHECK_OK(ctx, ar_add(ctx, nc, ta.mem, tb.mem, ty.mem));
    for (size_t i = 0; i < nc; i++)
        ref[i] = (double)a[i] + b[i];
    tb_read(ctx, &ty, got, "add");
    CHECK_CLOSE("add", ref, got, nc, 1);
    CHECK_OK(ctx, ar_add(ctx, nc, ta.mem, tb.mem, ta.mem)); /* y aliases a */
    tb_read(ctx, &ta, got, "add in place");
    CHECK_CLOSE("add in place", ref, got, nc, 1);

    CHECK_OK(ctx, ar_bias_add(ctx, n, c, tbias.mem, tb.mem));
    for (size_t i = 0; i < nc; i++)
        ref[i] = (double)b[i] + bias[i % c];
    tb_read(ctx, &tb, got, "bias add");
    CHECK_CLOSE("bias add", ref, got, nc, 1);

    tb_write(ctx, &tb, dy);
    for (int acc = 0; acc < 2; acc++) {
        tb_write(ctx, &tdb, db0);
        CHECK_OK(ctx, ar_bias_grad(ctx, n, c, tb.mem, tdb.mem, acc));
        for (int j = 0; j < c; j++) {
            ref[j] = acc ? db0[j] : 0.0;
            for (int r = 0; r < n; r++)
                ref[j] += dy[(size_t)r * c + j];
        }
        tb_read(ctx, &tdb, got, "bias grad");
        /* The sum's terms are |dy| ≤ 1: scale by the row count, not by the (cancelling) sum. */
        check_close_tol(acc ? "bias grad accumulated" : "bias grad", ref, got, c,
                        test_tolerance(n, n));
    }
    struct tbuf *all[] = {&ta, &tb, &ty, &tbias, &tdb};
    for (int i = 0; i < 5; i++)
        tb_free(all[i]);
    free(a);
    free(ref);
}

/* ---- activations ----------------------------------------------------------------------- */

static double act_ref(enum ar_activation act, double x)
{
    switch (act) {
    case AR_ACTIVATION_GELU:
        return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case AR_ACTIVATION_GELU_TANH:
        return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    default:
        return tanh(x);
    }
}

/* Central differences of L = Σ w ⊙ act(x): L is a sum of independent terms, so its difference
 * quotient in x_i is that of the i-th term alone (which keeps the test O(n), not O(n²)). */
static void act_fd_grad(enum ar_activation act, const double *x, const double *w, size_t n,
                        double *grad)
{
    for (size_t i = 0; i < n; i++)
        grad[i] = w[i] * (act_ref(act, x[i] + FD_STEP) - act_ref(act, x[i] - FD_STEP)) /
                  (2 * FD_STEP);
}

static void test_activation(struct ar_ctx *ctx, enum ar_activation act, size_t n)
{
    /* The kernels build erf and tanh from exp (cl/elementwise.cl) and are held to the built-ins'
     * allowances (test.h): erf 16 ulp for GELU, tanh 5 ulp for the others. Measured: < 0.1 of
     * the tolerance; tests/fixtures/fit_activations.py predicts about 1 eps32. */
    static const double ulps[] = {16, 5, 5};
    const char *names[] = {"gelu", "gelu_tanh", "tanh"};
    unsigned long long seed = 31 + act;
    float *x = malloc(3 * n * sizeof *x), *dy = x + n, *got = dy + n;
    fill_uniform(x, n, -6, 6, &seed);
    /* Zero, the tails, and both sides of the kernels' branch points (cl/elementwise.cl):
     * |x| = √2 for GELU's erf (z = 1), |u| = 0.625 for tanh. */
    const float special[] = {0,     1e-3f,      -10,        10,         1.4142134f, 1.4142137f,
                             -1.4142134f, -1.4142137f, 0.6249999f, 0.6250001f, -0.6249999f,
                             -0.6250001f};
    memcpy(x, special, sizeof special);
    fill_uniform(dy, n, -1, 1, &seed);
    double *xd = to_double(x, n), *wd = to_double(dy, n), *ref = malloc(2 * n * sizeof *ref);
    double *grad = ref + n;
    for (size_t i = 0; i < n; i++)
        ref[i] = act_ref(act, xd[i]);
    act_fd_grad(act, xd, wd, n, grad);

    struct tbuf tx = tb_new(ctx, n, 13), ty = tb_new(ctx, n, 3), tdy = tb_new(ctx, n, 17);
    tb_write(ctx, &tx, x);
    tb_write(ctx, &tdy, dy);
    char what[64];
    CHECK_OK(ctx, ar_activation_forward(ctx, act, n, tx.mem, ty.mem));
    tb_read(ctx, &ty, got, "activation");
    snprintf(what, sizeof what, "%s forward", names[act]);
    check_close_tol(what, ref, got, n, test_tolerance_ulp(1, ulps[act], test_max_abs(ref, n)));
    CHECK_OK(ctx, ar_activation_backward(ctx, act, n, tx.mem, tdy.mem, ty.mem));
    tb_read(ctx, &ty, got, "activation backward");
    snprintf(what, sizeof what, "%s backward vs finite differences", names[act]);
    /* The slope's terms: x·φ(x)·… and 0.5·x·(1 − t²)·u'(x) reach ~1.1; |dy| ≤ 1. */
    check_close_tol(what, grad, got, n,
                    test_tolerance_ulp(1, ulps[act], fmax(test_max_abs(grad, n), 1.5)));
    tb_free(&tx);
    tb_free(&ty);
    tb_free(&tdy);
    free(x);
    free(xd);
    free(wd);
    free(ref);
}

/* ---- dropout --------------------------------------------------------------------------- */

/* The prelude's counter-based generator (cl/prelude.cl), replicated to predict the mask. */
static uint32_t host_hash(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static float host_uniform(uint64_t seed, uint32_t stream, uint32_t index)
{
    uint32_t lo = (uint32_t)seed, hi = (uint32_t)(seed >> 32);
    uint32_t h = host_hash(lo ^ host_hash(hi ^ host_hash(stream ^ host_hash(index))));
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

static size_t count_diff(const float *a, const float *b, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

static void test_dropout(struct ar_ctx *ctx)
{
    enum { N = 100003 };
    const float p = 0.1f, scale = 1.0f / (1.0f - p);
    const uint64_t seed = 0x123456789abcdefULL;
    unsigned long long rng = 5;
    float *x = malloc(4 * N * sizeof *x), *y = x + N, *y2 = y + N, *want = y2 + N;
    fill_uniform(x, N, 0.5f, 1.5f, &rng); /* nonzero, so a zero output means dropped */
    struct tbuf tx = tb_new(ctx, N, 3), ty = tb_new(ctx, N, 5);
    tb_write(ctx, &tx, x);

    CHECK_OK(ctx, ar_dropout_forward(ctx, N, p, seed, 7, tx.mem, ty.mem));
    tb_read(ctx, &ty, y, "dropout");
    size_t kept = 0;
    for (size_t i = 0; i < N; i++) {
        bool keep = host_uniform(seed, 7, (uint32_t)i) >= p;
        want[i] = keep ? x[i] * scale : 0.0f;
        kept += y[i] != 0;
    }
    CHECK(count_diff(y, want, N) == 0, "dropout: %zu elements differ from the predicted mask",
          count_diff(y, want, N));
    /* Binomial(N, 1 − p): 5 standard deviations is a 1-in-3.5-million false alarm. */
    double frac = (double)kept / N, sd = sqrt(p * (1 - p) / N);
    CHECK(fabs(frac - (1 - p)) <= 5 * sd, "kept fraction %.5f, want %.2f ± %.5f", frac, 1 - p,
          5 * sd);
    printf("  dropout p=%.2f: kept fraction %.5f over %d\n", (double)p, frac, N);

    /* Same (seed, stream): same mask; another stream or seed (even only its high word): not. */
    CHECK_OK(ctx, ar_dropout_forward(ctx, N, p, seed, 7, tx.mem, ty.mem));
    tb_read(ctx, &ty, y2, "dropout again");
    CHECK(count_diff(y, y2, N) == 0, "dropout is not reproducible");
    CHECK_OK(ctx, ar_dropout_forward(ctx, N, p, seed, 8, tx.mem, ty.mem));
    tb_read(ctx, &ty, y2, "dropout stream 8");
    CHECK(count_diff(y, y2, N) > N / 10, "another stream changes the mask (%zu differ)",
          count_diff(y, y2, N));
    CHECK_OK(ctx, ar_dropout_forward(ctx, N, p, seed ^ (1ULL << 40), 7, tx.mem, ty.mem));
    tb_read(ctx, &ty, y2, "dropout seed");
    CHECK(count_diff(y, y2, N) > N / 10, "the seed's high word changes the mask (%zu differ)",
          count_diff(y, y2, N));

    /* Backward reproduces the forward's mask: dx = dy·keep/(1 − p), here with dy = x. */
    CHECK_OK(ctx, ar_dropout_backward(ctx, N, p, seed, 7, tx.mem, ty.mem));
    tb_read(ctx, &ty, y2, "dropout backward");
    CHECK(count_diff(y, y2, N) == 0, "backward mask differs from forward");

    /* p = 0 copies (in place too), p = 1 drops everything. */
    CHECK_OK(ctx, ar_dropout_forward(ctx, N, 0.0f, seed, 7, tx.mem, tx.mem));
    tb_read(ctx, &tx, y2, "dropout p=0");
    CHECK(count_diff(x, y2, N) == 0, "p = 0 is not a copy");
    CHECK_OK(ctx, ar_dropout_forward(ctx, N, 1.0f, seed, 7, tx.mem, ty.mem));
    tb_read(ctx, &ty, y2, "dropout p=1");
    memset(want, 0, N * sizeof *want);
    CHECK(count_diff(want, y2, N) == 0, "p = 1 leaves something");
    tb_free(&tx);
    tb_free(&ty);
    free(x);
}

/* ---- strided row copy ------------------------------------------------------------------ */

static void test_copy_rows(struct ar_ctx *ctx)
{
    enum { B = 3, T = 13, C = 45 };
    unsigned long long seed = 77;
    float *x = malloc((2 * B * T * C + B * C) * sizeof *x), *back = x + B * T * C;
    float *cls = back + B * T * C;
    fill_uniform(x, B * T * C, -1, 1, &seed);
    struct tbuf tx = tb_new(ctx, B * T * C, 3), tc = tb_new(ctx, B * C, 5);
    struct tbuf tback = tb_new(ctx, B * T * C, 7);
    tb_write(ctx, &tx, x);
    CHECK_OK(ctx, ar_mem_fill(ctx, tback.mem, 0.0f, B * T * C));
    /* Gather the [CLS] rows (t = 0) of (B, T, C), then scatter them back into zeros. */
    CHECK_OK(ctx, ar_copy_rows(ctx, B, C, tx.mem, T * C, tc.mem, C));
    CHECK_OK(ctx, ar_copy_rows(ctx, B, C, tc.mem, C, tback.mem, T * C));
    tb_read(ctx, &tc, cls, "copy rows gather");
    tb_read(ctx, &tback, back, "copy rows scatter");
    size_t bad = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < C; j++) {
                float v = x[(b * T + t) * C + j];
                bad += back[(b * T + t) * C + j] != (t == 0 ? v : 0.0f);
                bad += t == 0 && cls[b * C + j] != v;
            }
    CHECK(bad == 0, "copy rows: %zu wrong elements", bad);
    tb_free(&tx);
    tb_free(&tc);
    tb_free(&tback);
    free(x);
}

/* ---- cross-entropy --------------------------------------------------------------------- */

struct ce_case {
    int n, v;
    const int *labels;
    double scale; /* 1/counted: the loss is the mean over counted rows */
};

/* Per-row losses (0 for ignored rows) and probabilities, by log-sum-exp in double. */
static void ce_ref(const struct ce_case *cc, const double *x, double *loss, double *probs)
{
    for (int i = 0; i < cc->n; i++) {
        const double *xr = x + (size_t)i * cc->v;
        double m = -INFINITY, s = 0;
        for (int j = 0; j < cc->v; j++)
            m = fmax(m, xr[j]);
        for (int j = 0; j < cc->v; j++)
            s += exp(xr[j] - m);
        for (int j = 0; probs && j < cc->v; j++)
            probs[(size_t)i * cc->v + j] = exp(xr[j] - m) / s;
        loss[i] = cc->labels[i] < 0 ? 0.0 : m + log(s) - xr[cc->labels[i]];
    }
}

static double ce_loss(const double *x, void *user)
{
    const struct ce_case *cc = user;
    double *loss = malloc(cc->n * sizeof *loss), l = 0;
    ce_ref(cc, x, loss, NULL);
    for (int i = 0; i < cc->n; i++)
        l += loss[i];
    free(loss);
    return l * cc->scale;
}

static void test_cross_entropy(struct ar_ctx *ctx, int n, int v, float range, bool all_ignored)
{
    unsigned long long seed = 3 + n + v;
    size_t nv = (size_t)n * v;
    int *labels = malloc(n * sizeof *labels), counted = 0;
    for (int i = 0; i < n; i++) {
        labels[i] = i % 4 == 1 ? -100 : i % 4 == 3 ? -1 : (i * 5 + 2) % v;
        if (all_ignored)
            labels[i] = -100;
        counted += labels[i] >= 0;
    }
    float *x = malloc((2 * nv + n) * sizeof *x), *got = x + nv, *losses = got + nv;
    fill_uniform(x, nv, -range, range, &seed);
    double *xd = to_double(x, nv), *probs = malloc((2 * nv + n) * sizeof *probs);
    double *grad = probs + nv, *loss = grad + nv;
    struct ce_case cc = {n, v, labels, counted ? 1.0 / counted : 0.0};
    ce_ref(&cc, xd, loss, probs);
    fd_grad(ce_loss, &cc, xd, nv, grad);

    struct tbuf tx = tb_new(ctx, nv, 3), tl = tb_new(ctx, n, 5), tp = tb_new(ctx, nv, 7);
    struct tbuf tloss = tb_new(ctx, n, 2), td = tb_new(ctx, nv, 9);
    tb_write(ctx, &tx, x);
    tb_write_int(ctx, &tl, labels);
    CHECK_OK(ctx, ar_cross_entropy_forward(ctx, n, v, tx.mem, tl.mem, tp.mem, tloss.mem));
    char what[96];
    snprintf(what, sizeof what, "cross-entropy n=%d v=%d logits ±%g", n, v, (double)range);
    tb_read(ctx, &tp, got, "cross-entropy probs");
    check_close_tol(what, probs, got, nv, test_tolerance_ulp(v, 3, 1.0));
    tb_read(ctx, &tloss, losses, "cross-entropy losses");
    /* The log-sum-exp's terms are the logits themselves. */
    check_close_tol(what, loss, losses, n,
                    test_tolerance_ulp(v, 3, fmax(test_max_abs(loss, n), range)));
    for (int i = 0; i < n; i++)
        CHECK(labels[i] >= 0 || losses[i] == 0.0f, "ignored row %d has loss %g", i,
              (double)losses[i]);
    CHECK_OK(ctx, ar_cross_entropy_backward(ctx, n, v, tp.mem, tl.mem, (float)cc.scale, td.mem));
    tb_read(ctx, &td, got, "cross-entropy dlogits");
    check_close_tol(what, grad, got, nv, test_tolerance_ulp(v, 3, fmax(cc.scale, 1e-30)));

    /* A label ≥ V is a caller's bug that shows as a NaN loss. */
    int bad_label = v;
    tb_write_int(ctx, &tl, &bad_label);
    CHECK_OK(ctx, ar_cross_entropy_forward(ctx, 1, v, tx.mem, tl.mem, tp.mem, tloss.mem));
    tb_read(ctx, &tloss, losses, "cross-entropy bad label");
    CHECK(isnan(losses[0]), "label %d of %d classes gives loss %g, want NaN", v, v,
          (double)losses[0]);

    struct tbuf *all[] = {&tx, &tl, &tp, &tloss, &td};
    for (int i = 0; i < 5; i++)
        tb_free(all[i]);
    free(labels);
    free(x);
    free(xd);
    free(probs);
}

/* ---- bad input ------------------------------------------------------------------------- */

static void test_bad_input(struct ar_ctx *ctx)
{
    struct tbuf t = tb_new(ctx, 64, 1);
    struct ar_mem m = t.mem, none = {0};
    const enum ar_status bad = AR_STATUS_INVALID_ARGUMENT;
    CHECK_FAILS(ctx, ar_embedding_forward(ctx, 0, 4, m, m, none, m, m, none, m), bad,
                "ar_embedding_forward: n=0");
    CHECK_FAILS(ctx, ar_embedding_forward(ctx, 4, 4, m, m, none, m, none, none, m), bad, "wpe");
    CHECK_FAILS(ctx, ar_embedding_forward(ctx, 4, 4, m, m, m, m, m, none, m), bad, "token-type");
    CHECK_FAILS(ctx, ar_layernorm_forward(ctx, 4, -1, 1e-5f, m, m, m, m, m, m), bad,
                "ar_layernorm_forward: n=4 rows and c=-1");
    CHECK_FAILS(ctx, ar_layernorm_forward(ctx, 4, 4, -1.0f, m, m, m, m, m, m), bad, "eps");
    CHECK_FAILS(ctx, ar_layernorm_forward(ctx, 4, 4, 1e-5f, m, none, m, m, m, m), bad, "gamma");
    CHECK_FAILS(ctx, ar_layernorm_backward(ctx, 4, 4, m, m, m, m, none, m, false), bad, "rstd");
    CHECK_FAILS(ctx, ar_add(ctx, 0, m, m, m), bad, "ar_add: element count 0");
    CHECK_FAILS(ctx, ar_add(ctx, 4, m, none, m), bad, "operand b is missing");
    CHECK_FAILS(ctx, ar_bias_add(ctx, 4, 4, none, m), bad, "bias");
    CHECK_FAILS(ctx, ar_bias_grad(ctx, -2, 4, m, m, false), bad, "ar_bias_grad: n=-2");
    CHECK_FAILS(ctx, ar_activation_forward(ctx, (enum ar_activation)7, 4, m, m), bad,
                "unknown activation 7");
    CHECK_FAILS(ctx, ar_activation_backward(ctx, AR_ACTIVATION_TANH, 4, m, none, m), bad, "dy");
    CHECK_FAILS(ctx, ar_dropout_forward(ctx, 4, 1.5f, 1, 0, m, m), bad, "p=1.5");
    CHECK_FAILS(ctx, ar_dropout_backward(ctx, 4, 0.1f, 1, 0, m, none), bad, "output");
    CHECK_FAILS(ctx, ar_copy_rows(ctx, 2, 8, m, 4, m, 8), bad, "row strides");
    CHECK_FAILS(ctx, ar_copy_rows(ctx, 0, 8, m, 8, m, 8), bad, "ar_copy_rows: n=0");
    CHECK_FAILS(ctx, ar_cross_entropy_forward(ctx, 2, 0, m, m, m, m), bad,
                "ar_cross_entropy_forward");
    CHECK_FAILS(ctx, ar_cross_entropy_forward(ctx, 2, 3, m, none, m, m), bad, "labels");
    CHECK_FAILS(ctx, ar_cross_entropy_backward(ctx, 2, 3, m, m, NAN, m), bad, "not finite");
    tb_free(&t);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    test_embedding(ctx, 7, 45, true);
    test_embedding(ctx, 39, 72, false);
    test_embedding(ctx, 1, 384, true);
    /* Under both row kernels (one work-group or one work-item per row, ops_internal.h). */
    const int ln_sizes[][2] = {{1, 72}, {7, 45}, {39, 72}, {3, 384}, {2, 1}, {5, 13}};
    static const char *const row_kernels[] = {"group", "item"};
    for (int r = 0; r < 2; r++) {
        setenv("ADARANK_ROW_KERNELS", row_kernels[r], 1);
        for (int i = 0; i < 6; i++)
            test_layernorm(ctx, ln_sizes[i][0], ln_sizes[i][1], i == 3 ? 1e-12f : 1e-5f);
    }
    unsetenv("ADARANK_ROW_KERNELS");
    test_add_bias(ctx, 1, 45);
    test_add_bias(ctx, 39, 72);
    test_activation(ctx, AR_ACTIVATION_GELU, 20011);
    test_activation(ctx, AR_ACTIVATION_GELU_TANH, 20011);
    test_activation(ctx, AR_ACTIVATION_TANH, 20011);
    test_dropout(ctx);
    test_copy_rows(ctx);
    test_cross_entropy(ctx, 1, 2, 3, false);
    test_cross_entropy(ctx, 7, 45, 3, false);
    test_cross_entropy(ctx, 39, 300, 5, false);
    test_cross_entropy(ctx, 7, 3, 100, false); /* exp(100) overflows float: needs the max shift */
    test_cross_entropy(ctx, 7, 5, 3, true);
    test_bad_input(ctx);
    ar_ctx_free(ctx);
    return test_finish("ops");
}
