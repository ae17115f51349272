/* Fused-qkv attention (ops.h) against a plain-C double reference: padding masks with a different
 * length per batch row (and a hole), a fully padded row (zeros, not NaN), causal masking, no
 * mask, and a workspace larger than the call. The gradient dqkv is checked against central finite
 * differences in double of L = Σ w ⊙ out(qkv). Every operand sits at a non-zero offset inside a
 * guarded buffer, and each workspace first runs a pass over NaNs that must leave no trace. */
#include "ops_check.h"

#define FD_STEP 1e-4 /* see test.h */

struct att_case {
    int b, t, h, d;
    bool causal;
    const float *mask; /* (B, T), 1 keeps a key; NULL: no mask */
    const double *w;   /* (B, T, C): the loss weights (= dout) */
    size_t fd_every;   /* finite differences on every fd_every-th qkv element (0: all) */
};

/* out (B, T, C) = softmax(q·kᵀ/sqrt(D) over the kept keys)·v, heads concatenated. */
static void att_ref(const struct att_case *ac, const double *qkv, double *out)
{
    int t = ac->t, h = ac->h, d = ac->d, c = h * d;
    double *p = malloc(t * sizeof *p);
    for (int bi = 0; bi < ac->b; bi++)
        for (int hi = 0; hi < h; hi++)
            for (int i = 0; i < t; i++) {
                const double *q = qkv + ((size_t)bi * t + i) * 3 * c + hi * d;
                double m = -INFINITY, sum = 0;
                for (int j = 0; j < t; j++) {
                    bool kept = (!ac->mask || ac->mask[bi * t + j] != 0) && (!ac->causal || j <= i);
                    const double *k = qkv + ((size_t)bi * t + j) * 3 * c + c + hi * d;
                    double s = 0;
                    for (int e = 0; e < d; e++)
                        s += q[e] * k[e];
                    p[j] = kept ? s / sqrt((double)d) : -INFINITY;
                    m = fmax(m, p[j]);
                }
                for (int j = 0; j < t; j++) {
                    p[j] = m == -INFINITY ? 0.0 : exp(p[j] - m);
                    sum += p[j];
                }
                double *o = out + ((size_t)bi * t + i) * c + hi * d;
                for (int e = 0; e < d; e++) {
                    double acc = 0;
                    for (int j = 0; j < t; j++)
                        acc += p[j] * qkv[((size_t)bi * t + j) * 3 * c + 2 * c + hi * d + e];
                    o[e] = sum > 0 ? acc / sum : 0.0;
                }
            }
    free(p);
}

static double att_loss(const struct att_case *ac, const double *qkv, double *out)
{
    att_ref(ac, qkv, out);
    double l = 0;
    for (size_t i = 0; i < (size_t)ac->b * ac->t * ac->h * ac->d; i++)
        l += ac->w[i] * out[i];
    return l;
}

/* grad[i] for the sampled i (every ac->fd_every-th); the others are left alone. */
static void fd_grad(const struct att_case *ac, double *qkv, size_t n, double *grad)
{
    double *out = malloc((size_t)ac->b * ac->t * ac->h * ac->d * sizeof *out);
    size_t every = ac->fd_every ? ac->fd_every : 1;
    for (size_t i = 0; i < n; i += every) {
        double keep = qkv[i];
        qkv[i] = keep + FD_STEP;
        double fp = att_loss(ac, qkv, out);
        qkv[i] = keep - FD_STEP;
        double fm = att_loss(ac, qkv, out);
        qkv[i] = keep;
        grad[i] = (fp - fm) / (2 * FD_STEP);
    }
    free(out);
}

static bool all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

/* One case on a workspace one batch row and three time steps larger than the call. */
static void run_case(struct ar_ctx *ctx, const char *name, struct att_case ac)
{
    int c = ac.h * ac.d;
    size_t n_qkv = (size_t)ac.b * ac.t * 3 * c, n_out = (size_t)ac.b * ac.t * c;
    unsigned long long seed = 1000 + ac.b * 100 + ac.t;
    float *qkv = malloc((n_qkv * 2 + n_out * 2) * sizeof *qkv), *dqkv = qkv + n_qkv;
    float *dout = dqkv + n_qkv, *out = dout + n_out;
    fill_uniform(qkv, n_qkv, -2, 2, &seed); /* scores of a few units: peaked, not uniform rows */
    fill_uniform(dout, n_out, -1, 1, &seed);
    double *qd = to_double(qkv, n_qkv), *wd = to_double(dout, n_out);
    double *ref = malloc((n_out + n_qkv) * sizeof *ref), *grad = ref + n_out;
    ac.w = wd;
    att_ref(&ac, qd, ref);
    fd_grad(&ac, qd, n_qkv, grad);

    struct ar_attention_dims dims = {ac.b + 1, ac.t + 3, ac.h, ac.d, ac.causal};
    struct ar_attention *att = NULL;
    CHECK_OK(ctx, ar_attention_new(ctx, &dims, &att));
    struct tbuf tq = tb_new(ctx, n_qkv, 5), to = tb_new(ctx, n_out, 3);
    struct tbuf tm = tb_new(ctx, (size_t)ac.b * ac.t, 7), tdo = tb_new(ctx, n_out, 9);
    struct tbuf tdq = tb_new(ctx, n_qkv, 11);
    struct ar_mem mask = {0};
    if (ac.mask) {
        tb_write(ctx, &tm, ac.mask);
        mask = tm.mem;
    }
    /* A pass over NaNs first: nothing of it may reach the calls below (a padded head layout
     * rewrites its padding on every call, core/attention.c). */
    float *nans = malloc((n_qkv > n_out ? n_qkv : n_out) * sizeof *nans);
    for (size_t i = 0; i < (n_qkv > n_out ? n_qkv : n_out); i++)
        nans[i] = NAN;
    tb_write(ctx, &tq, nans);
    tb_write(ctx, &tdo, nans);
    free(nans);
    CHECK_OK(ctx, ar_attention_forward(att, ac.b, ac.t, tq.mem, mask, to.mem));
    CHECK_OK(ctx, ar_attention_backward(att, tdo.mem, tdq.mem));
    tb_write(ctx, &tq, qkv);
    tb_write(ctx, &tdo, dout);
    /* A smaller call first: backward must use the last forward's shape and contents. For long
     * sequences it is one short enough (32) to keep the head size unpadded, so the checked call
     * also switches layouts (core/attention.c pads from T = 64 on). */
    int t_small = ac.t > 64 ? 32 : ac.t > 1 ? ac.t - 1 : 1;
    CHECK_OK(ctx, ar_attention_forward(att, 1, t_small, tq.mem, (struct ar_mem){0}, to.mem));
    CHECK_OK(ctx, ar_attention_forward(att, ac.b, ac.t, tq.mem, mask, to.mem));
    CHECK_OK(ctx, ar_attention_backward(att, tdo.mem, tdq.mem));
    tb_read(ctx, &to, out, "attention out");
    tb_read(ctx, &tdq, dqkv, "attention dqkv");
    CHECK(all_finite(out, n_out) && all_finite(dqkv, n_qkv), "%s: NaN or Inf", name);

    char what[128];
    /* Chain: scores (k = D), softmax with exp (3 ulp), P·v (k = T); terms are ≤ max |v|. */
    double scale = fmax(test_max_abs(ref, n_out), 2.0);
    snprintf(what, sizeof what, "%s: out", name);
    check_close_tol(what, ref, out, n_out, test_tolerance_ulp(ac.d + ac.t, 3, scale));
    /* Backward chain: dP (k = D), the softmax row sum (k = T), dq/dk (k = T). */
    size_t every = ac.fd_every ? ac.fd_every : 1, m = 0;
    for (size_t i = 0; i < n_qkv; i += every, m++) { /* compact the sampled elements */
        grad[m] = grad[i];
        dqkv[m] = dqkv[i];
    }
    snprintf(what, sizeof what, "%s: dqkv vs finite differences (%zu)", name, m);
    check_close_tol(what, grad, dqkv, m,
                    test_tolerance_ulp(ac.d + 2 * ac.t, 3, test_max_abs(grad, m)));

    ar_attention_free(att);
    struct tbuf *all[] = {&tq, &to, &tm, &tdo, &tdq};
    for (int i = 0; i < 5; i++)
        tb_free(all[i]);
    free(qkv);
    free(qd);
    free(wd);
    free(ref);
}

/* lengths[bi] kept keys at the start of each row (right padding, as tokenizers produce). */
static float *padding_mask(int b, int t, const int *lengths)
{
    float *m = malloc((size_t)b * t * sizeof *m);
    for (int bi = 0; bi < b; bi++)
        for (int j = 0; j < t; j++)
            m[bi * t + j] = j < lengths[bi] ? 1.0f : 0.0f;
    return m;
}

/* A fully padded batch row: its outputs and all gradients through it are exact zeros. */
static void test_fully_masked(struct ar_ctx *ctx)
{
    enum { B = 2, T = 5, H = 2, D = 3, C = H * D };
    const int lengths[B] = {3, 0};
    float *mask = padding_mask(B, T, lengths);
    run_case(ctx, "fully padded row", (struct att_case){B, T, H, D, false, mask, NULL, 0});
    struct ar_attention_dims dims = {B, T, H, D, true};
    struct ar_attention *att = NULL;
    CHECK_OK(ctx, ar_attention_new(ctx, &dims, &att));
    float qkv[B * T * 3 * C], out[B * T * C];
    unsigned long long seed = 9;
    fill_uniform(qkv, B * T * 3 * C, -1, 1, &seed);
    struct tbuf tq = tb_new(ctx, B * T * 3 * C, 2), to = tb_new(ctx, B * T * C, 2);
    struct tbuf tm = tb_new(ctx, B * T, 2);
    tb_write(ctx, &tq, qkv);
    tb_write(ctx, &tm, mask);
    CHECK_OK(ctx, ar_attention_forward(att, B, T, tq.mem, tm.mem, to.mem));
    tb_read(ctx, &to, out, "fully masked out");
    int nonzero = 0;
    for (int i = T * C; i < B * T * C; i++)
        nonzero += out[i] != 0.0f; /* NaN counts too */
    CHECK(nonzero == 0, "fully padded row (causal): %d outputs are not 0", nonzero);
    ar_attention_free(att);
    tb_free(&tq);
    tb_free(&to);
    tb_free(&tm);
    free(mask);
}

static void test_bad_input(struct ar_ctx *ctx)
{
    struct ar_attention *att = NULL;
    struct ar_attention_dims dims = {2, 8, 2, 4, false};
    CHECK_FAILS(ctx, ar_attention_new(ctx, NULL, &att), AR_STATUS_INVALID_ARGUMENT, "dims");
    struct ar_attention_dims zero = {2, 8, 0, 4, false};
    CHECK_FAILS(ctx, ar_attention_new(ctx, &zero, &att), AR_STATUS_INVALID_ARGUMENT,
                "heads=0 head_size=4 must all be positive");
    CHECK(att == NULL, "no object on failure");
    CHECK_OK(ctx, ar_attention_new(ctx, &dims, &att));
    struct tbuf t = tb_new(ctx, 2 * 8 * 3 * 8, 1);
    struct ar_mem m = t.mem, none = {0};
    const enum ar_status shape = AR_STATUS_SHAPE_MISMATCH, bad = AR_STATUS_INVALID_ARGUMENT;
    CHECK_FAILS(ctx, ar_attention_backward(att, m, m), bad, "no successful forward");
    CHECK_FAILS(ctx, ar_attention_forward(att, 3, 8, m, none, m), shape, "b=3 t=8 must be in 1..2");
    CHECK_FAILS(ctx, ar_attention_forward(att, 2, 9, m, none, m), shape, "and 1..8");
    CHECK_FAILS(ctx, ar_attention_forward(att, 0, 4, m, none, m), shape, "b=0");
    CHECK_FAILS(ctx, ar_attention_forward(att, 2, -1, m, none, m), shape, "t=-1");
    CHECK_FAILS(ctx, ar_attention_forward(att, 2, 8, none, none, m), bad, "operand qkv");
    CHECK_FAILS(ctx, ar_attention_forward(att, 2, 8, m, none, none), bad, "operand out");
    struct ar_mem out = ar_mem_at(m, 2 * 8 * 3 * 8 - 2 * 8 * 8); /* the view's last (B, T, C) */
    CHECK_OK(ctx, ar_attention_forward(att, 2, 8, m, none, out));
    CHECK_FAILS(ctx, ar_attention_backward(att, m, none), bad, "operand dqkv");
    CHECK(ar_attention_forward(NULL, 1, 1, m, none, m) == bad, "NULL attention object");
    ar_attention_free(att);
    ar_attention_free(NULL);
    tb_free(&t);
}

static void run_all_cases(struct ar_ctx *ctx);

/* Every case under both softmax kernels and with the head size stored as it is and padded to
 * a multiple of 64 (core/attention.c picks both per device type and head size). */
int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    static const char *const layouts[] = {"group", "item"}, *const pads[] = {"0", "64"};
    for (int l = 0; l < 2; l++)
        for (int p = 0; p < 2; p++) {
            setenv("ADARANK_ROW_KERNELS", layouts[l], 1);
            setenv("ADARANK_ATTENTION_HEAD_PAD", pads[p], 1);
            printf("softmax: one %s per row; head size padded to a multiple of %s\n", layouts[l],
                   pads[p]);
            run_all_cases(ctx);
        }
    unsetenv("ADARANK_ROW_KERNELS");
    unsetenv("ADARANK_ATTENTION_HEAD_PAD");
    test_bad_input(ctx);
    ar_attention_free(NULL);
    ar_ctx_free(ctx);
    return test_finish("attention");
}

static void run_all_cases(struct ar_ctx *ctx)
{
    const int lengths[3] = {13, 5, 9};
    float *mask = padding_mask(3, 13, lengths);
    mask[2 * 13 + 3] = 0.0f; /* a hole inside row 2: masks need not be suffixes */
    run_case(ctx, "B=2 T=13 H=3 D=24 padded",
             (struct att_case){2, 13, 3, 24, false, mask, NULL, 0});
    run_case(ctx, "B=3 T=13 H=3 D=24 padded causal",
             (struct att_case){3, 13, 3, 24, true, mask, NULL, 0});
    run_case(ctx, "B=1 T=13 H=3 D=24 no mask",
             (struct att_case){1, 13, 3, 24, false, NULL, NULL, 0});
    run_case(ctx, "B=2 T=7 H=2 D=5 causal no mask",
             (struct att_case){2, 7, 2, 5, true, NULL, NULL, 0});
    run_case(ctx, "B=1 T=1 H=1 D=3", (struct att_case){1, 1, 1, 3, false, NULL, NULL, 0});
    float *long_mask = padding_mask(1, 70, (const int[]){66});
    run_case(ctx, "B=1 T=70 H=1 D=8 padded (row > work-group)",
             (struct att_case){1, 70, 1, 8, false, long_mask, NULL, 0});
    free(long_mask);
    /* A realistic size (CLBlast may pick other kernels), differences on every 997th element. */
    const int big_len[2] = {128, 77};
    float *big_mask = padding_mask(2, 128, big_len);
    run_case(ctx, "B=2 T=128 H=4 D=32 padded",
             (struct att_case){2, 128, 4, 32, false, big_mask, NULL, 997});
    free(big_mask);
    test_fully_masked(ctx);
    free(mask);
}
