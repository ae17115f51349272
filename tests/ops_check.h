/* Helpers shared by test_ops.c and test_attention.c: device operands at a non-zero offset inside
 * a guarded buffer (so a kernel that ignores the offset, or writes past the view, is caught),
 * random host data, and a comparison against an explicit tolerance from test.h's policy. */
#ifndef ADARANK_TESTS_OPS_CHECK_H
#define ADARANK_TESTS_OPS_CHECK_H

#include "test.h"

#define GUARD_VALUE -7777.0f /* what the floats around a view must still hold afterwards */

struct tbuf {
    struct ar_mem all; /* the whole buffer: guard, view, guard */
    struct ar_mem mem; /* the view the op sees */
    size_t n, off, total;
};

/* A view of n floats at offset `off` (> 0 in the tests) with `off` guard floats after it. */
static inline struct tbuf tb_new(struct ar_ctx *ctx, size_t n, size_t off)
{
    struct tbuf t = {.n = n, .off = off, .total = n + 2 * off};
    CHECK_OK(ctx, ar_mem_alloc(ctx, t.total, &t.all));
    CHECK_OK(ctx, ar_mem_fill(ctx, t.all, GUARD_VALUE, t.total));
    t.mem = ar_mem_at(t.all, off);
    return t;
}

static inline void tb_write(struct ar_ctx *ctx, struct tbuf *t, const float *x)
{
    CHECK_OK(ctx, ar_mem_write(ctx, t->mem, x, t->n));
}

/* Integer tensors travel as their 4-byte patterns (ops.h). */
static inline void tb_write_int(struct ar_ctx *ctx, struct tbuf *t, const int *x)
{
    float *bits = malloc(t->n * sizeof *bits);
    memcpy(bits, x, t->n * sizeof *bits);
    CHECK_OK(ctx, ar_mem_write(ctx, t->mem, bits, t->n));
    free(bits);
}

/* Reads the view into x and checks that the guards are intact. */
static inline void tb_read(struct ar_ctx *ctx, struct tbuf *t, float *x, const char *what)
{
    float *all = malloc(t->total * sizeof *all);
    CHECK_OK(ctx, ar_mem_read(ctx, t->all, all, t->total));
    size_t bad = 0;
    for (size_t i = 0; i < t->off; i++)
        bad += (all[i] != GUARD_VALUE) + (all[t->off + t->n + i] != GUARD_VALUE);
    CHECK(bad == 0, "%s: %zu guard floats around the view were overwritten", what, bad);
    memcpy(x, all + t->off, t->n * sizeof *x);
    free(all);
}

static inline void tb_free(struct tbuf *t)
{
    ar_mem_release(&t->all);
    t->mem = t->all;
}

static inline void fill_uniform(float *x, size_t n, float lo, float hi, unsigned long long *seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * 0.5f * (test_uniform(seed) + 1.0f);
}

static inline double *to_double(const float *x, size_t n)
{
    double *d = calloc(n ? n : 1, sizeof *d); /* zeroed: n may be 0 */
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

/* Every element within tol; reports the worst one. */
static inline void check_close_tol(const char *what, const double *ref, const float *got,
                                   size_t n, double tol)
{
    size_t worst = 0;
    double worst_err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= worst_err)) {
            worst_err = e;
            worst = i;
        }
    }
    CHECK(worst_err <= tol, "%s: element %zu got %.9g want %.9g (err %.3g > tol %.3g)", what,
          worst, (double)got[worst], ref[worst], worst_err, tol);
    printf("  %-52s max err %.2e = %.2f of tol\n", what, worst_err, tol > 0 ? worst_err / tol : 0);
}

/* The call failed with `status` and a message that names `needle`. */
#define CHECK_FAILS(ctx, call, status, needle)                                                     \
    do {                                                                                           \
        enum ar_status check_fails_st_ = (call);                                                   \
        CHECK(check_fails_st_ == (status) && strstr(ar_ctx_errmsg(ctx), (needle)) != NULL,         \
              "got %s \"%s\", want %s naming \"%s\"", ar_status_name(check_fails_st_),             \
              ar_ctx_errmsg(ctx), ar_status_name(status), (needle));                               \
    } while (0)

#endif
