/* AdamW and the sum of squares against plain-C double references and against torch.optim.AdamW
 * (tests/fixtures/gen_lora.py), with every range at an odd offset inside a guarded buffer. */
#include "fixture.h"
#include "test.h"

/* One AdamW step in double, the formula of adamw.h. */
static void ref_adamw(const struct ar_adamw_params *hp, size_t n, double *p, const float *grad,
                      double *m, double *v, const float *mask)
{
    double bc1 = 1.0 - pow(hp->beta1, hp->step), bc2 = 1.0 - pow(hp->beta2, hp->step);
    for (size_t i = 0; i < n; i++) {
        double g = (double)grad[i] * hp->grad_scale;
        if (!mask || mask[i] != 0.0f) p[i] *= 1.0 - (double)hp->lr * hp->weight_decay;
        m[i] = hp->beta1 * m[i] + (1.0 - hp->beta1) * g;
        v[i] = hp->beta2 * v[i] + (1.0 - hp->beta2) * g * g;
        p[i] -= hp->lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + hp->eps);
    }
}

enum { GAP = 7 };
#define GUARD (-31.5f)

/* Runs `steps` AdamW steps on n parameters placed as [gap p gap g gap m gap v gap mask gap] in
 * one buffer; returns the final param, m and v and checks the guards and the inputs. */
static void run_adamw(struct ar_ctx *ctx, struct ar_adamw_params hp, size_t n, int steps,
                      const float *p0, const float *grads, const float *mask, float *p_out,
                      float *m_out, float *v_out)
{
    size_t off_p = GAP, off_g = off_p + n + GAP, off_m = off_g + n + GAP, off_v = off_m + n + GAP,
           off_k = off_v + n + GAP, total = off_k + n + GAP;
    float *host = malloc(total * sizeof *host);
    for (size_t i = 0; i < total; i++)
        host[i] = GUARD;
    memcpy(host + off_p, p0, n * sizeof *host);
    for (size_t i = 0; i < n; i++)
        host[off_m + i] = host[off_v + i] = 0.0f;
    if (mask) memcpy(host + off_k, mask, n * sizeof *host);
    struct ar_mem buf = {0}, none = {0};
    CHECK_OK(ctx, ar_mem_alloc(ctx, total, &buf));
    CHECK_OK(ctx, ar_mem_write(ctx, buf, host, total));
    for (int t = 1; t <= steps; t++) {
        CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(buf, off_g), grads + (size_t)(t - 1) * n, n));
        hp.step = t;
        CHECK_OK(ctx, ar_adamw_update(ctx, &hp, n, ar_mem_at(buf, off_p), ar_mem_at(buf, off_g),
                                      ar_mem_at(buf, off_m), ar_mem_at(buf, off_v),
                                      mask ? ar_mem_at(buf, off_k) : none));
    }
    CHECK_OK(ctx, ar_mem_read(ctx, buf, host, total));
    memcpy(p_out, host + off_p, n * sizeof *host);
    memcpy(m_out, host + off_m, n * sizeof *host);
    memcpy(v_out, host + off_v, n * sizeof *host);
    int broken = 0;
    for (size_t i = 0; i < total; i++) {
        bool data = (i >= off_p && i < off_p + n) || (i >= off_g && i < off_g + n) ||
                    (i >= off_m && i < off_m + n) || (i >= off_v && i < off_v + n) ||
                    (mask && i >= off_k && i < off_k + n);
        broken += !data && host[i] != GUARD;
        broken += mask && i >= off_k && i < off_k + n && host[i] != mask[i - off_k];
    }
    CHECK(broken == 0, "%d guard or mask floats changed", broken);
    ar_mem_release(&buf);
    free(host);
}

static void test_against_reference(struct ar_ctx *ctx, bool with_mask)
{
    enum { N = 1000, STEPS = 3 }; /* N: not a multiple of the work-group size */
    unsigned long long st = 99;
    float *p0 = malloc(N * sizeof *p0), *grads = malloc(N * STEPS * sizeof *grads);
    float *mask = malloc(N * sizeof *mask), got_p[N], got_m[N], got_v[N];
    for (int i = 0; i < N; i++) {
        p0[i] = 2.0f * test_uniform(&st);
        mask[i] = i % 5 == 0 ? 0.0f : 1.0f;
    }
    for (int i = 0; i < N * STEPS; i++)
        grads[i] = test_uniform(&st) * (i % 7 == 0 ? 1e-3f : 1.0f); /* some tiny gradients */
    struct ar_adamw_params hp = ar_adamw_default_params();
    hp.lr = 1e-2f;
    hp.weight_decay = 0.1f;
    hp.grad_scale = 0.25f;
    run_adamw(ctx, hp, N, STEPS, p0, grads, with_mask ? mask : NULL, got_p, got_m, got_v);

    double *p = malloc(N * sizeof *p), *m = calloc(N, sizeof *m), *v = calloc(N, sizeof *v);
    for (int i = 0; i < N; i++)
        p[i] = p0[i];
    for (int t = 1; t <= STEPS; t++) {
        hp.step = t;
        ref_adamw(&hp, N, p, grads + (size_t)(t - 1) * N, m, v, with_mask ? mask : NULL);
    }
    /* Each step rounds a handful of O(1) operations per element; k = 4 per step bounds that. */
    const char *tag = with_mask ? "masked" : "unmasked";
    char what[64];
    snprintf(what, sizeof what, "adamw %s param", tag);
    CHECK_CLOSE(what, p, got_p, N, 4 * STEPS);
    snprintf(what, sizeof what, "adamw %s m", tag);
    CHECK_CLOSE(what, m, got_m, N, 4 * STEPS);
    snprintf(what, sizeof what, "adamw %s v", tag);
    CHECK_CLOSE(what, v, got_v, N, 4 * STEPS);
    if (with_mask) { /* an undecayed parameter differs from a decayed one by lr·wd·p per step */
        double *decayed = malloc(N * sizeof *decayed), *dm = calloc(N, sizeof *dm),
               *dv = calloc(N, sizeof *dv);
        for (int i = 0; i < N; i++)
            decayed[i] = p0[i];
        for (int t = 1; t <= STEPS; t++) {
            hp.step = t;
            ref_adamw(&hp, N, decayed, grads + (size_t)(t - 1) * N, dm, dv, NULL);
        }
        CHECK(fabs(decayed[0] - got_p[0]) > 1e-4, "mask 0 must switch decay off (%g vs %g)",
              decayed[0], (double)got_p[0]);
        free(decayed);
        free(dm);
        free(dv);
    }
    free(p);
    free(m);
    free(v);
    free(p0);
    free(grads);
    free(mask);
}

static void test_fixture(struct ar_ctx *ctx)
{
    char path[4096], err[4200];
    struct fixture fx;
    int rc = fixture_load(fixture_path("lora_layer.bin", path, sizeof path), &fx, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    const struct fixture_array *hpa = fixture_find(&fx, "adamw.hp"),
                               *p0 = fixture_find(&fx, "adamw.param"),
                               *grads = fixture_find(&fx, "adamw.grads"),
                               *mask = fixture_find(&fx, "adamw.decay_mask"),
                               *want = fixture_find(&fx, "adamw.expected");
    CHECK(hpa && p0 && grads && mask && want && hpa->count == 6 && grads->ndim == 2,
          "fixture arrays");
    if (hpa && p0 && grads && mask && want) {
        size_t n = p0->count;
        struct ar_adamw_params hp = {
            hpa->f32[0], hpa->f32[1], hpa->f32[2], hpa->f32[3], hpa->f32[4], hpa->f32[5], 1};
        float *got = malloc(3 * n * sizeof *got);
        run_adamw(ctx, hp, n, (int)grads->dims[0], p0->f32, grads->f32, mask->f32, got, got + n,
                  got + 2 * n);
        /* torch ran in float32 too; both roundings count, so k as above plus torch's own. */
        CHECK_CLOSE("adamw vs torch.optim.AdamW", want->f64, got, n, 8 * grads->dims[0]);
        free(got);
    }
    fixture_free(&fx);
}

static void test_sum_squares(struct ar_ctx *ctx)
{
    const size_t sizes[] = {1, 63, 64, 65, 1000, 16411, 300001};
    const size_t off = 5, biggest = 300001;
    float *host = malloc((biggest + off) * sizeof *host);
    unsigned long long st = 3;
    for (size_t i = 0; i < biggest + off; i++)
        host[i] = test_uniform(&st);
    struct ar_mem buf = {0};
    CHECK_OK(ctx, ar_mem_alloc(ctx, biggest + off, &buf));
    CHECK_OK(ctx, ar_mem_write(ctx, buf, host, biggest + off));
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        double ref = 0.0, got = -1.0;
        for (size_t i = 0; i < n; i++)
            ref += (double)host[off + i] * host[off + i];
        CHECK_OK(ctx, ar_sum_squares(ctx, n, ar_mem_at(buf, off), &got));
        /* A sum of n positive terms: the policy with k = n and the sum as scale. */
        double tol = test_tolerance((double)n, ref);
        CHECK(fabs(got - ref) <= tol, "sum_squares n=%zu: got %.9g want %.9g (tol %.3g)", n, got,
              ref, tol);
    }
    double zero = -1.0;
    CHECK_OK(ctx, ar_sum_squares(ctx, 0, buf, &zero));
    CHECK(zero == 0.0, "empty sum is %g", zero);
    ar_mem_release(&buf);
    free(host);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    test_against_reference(ctx, false);
    test_against_reference(ctx, true);
    test_fixture(ctx);
    test_sum_squares(ctx);
    ar_ctx_free(ctx);
    return test_finish("adamw");
}
