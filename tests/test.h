/* The tests' shared harness: checks that report file and line, a context opener, and the one
 * tolerance policy every numerical comparison uses.
 *
 * Each test program prints "N passed, N failed" and exits 0 only when nothing failed. It exits 77
 * (meson's SKIP) only when the machine has no OpenCL device at all and ADARANK_REQUIRE_DEVICE is
 * unset; the set-up installs PoCL and CI sets ADARANK_REQUIRE_DEVICE=1, so nothing skips there.
 * Checks on the real checkpoint likewise fail, not skip, under ADARANK_REQUIRE_MODEL. */
#ifndef ADARANK_TEST_H
#define ADARANK_TEST_H

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/adarank.h"

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            test_passed++;                                                                         \
        } else {                                                                                   \
            test_failed++;                                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* A library call that must succeed; prints the context's message when it does not. */
#define CHECK_OK(ctx, call)                                                                        \
    do {                                                                                           \
        enum ar_status check_ok_st_ = (call);                                                      \
        CHECK(check_ok_st_ == AR_STATUS_OK, "%s: %s", ar_status_name(check_ok_st_),                \
              ar_ctx_errmsg(ctx));                                                                 \
    } while (0)

static inline int test_finish(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

/* For a check that needs the all-MiniLM-L6-v2 checkpoint at $ADARANK_MODEL_DIR and cannot find
 * it: a note on a developer's build that never fetched it, a failure under ADARANK_REQUIRE_MODEL
 * (`./setup.sh test` fetches the checkpoint and sets it, so a missing one is a broken set-up). */
static inline void test_model_missing(const char *what)
{
    if (getenv("ADARANK_REQUIRE_MODEL"))
        CHECK(0, "%s: no all-MiniLM-L6-v2 at $ADARANK_MODEL_DIR, but ADARANK_REQUIRE_MODEL is set",
              what);
    else
        printf("%s: no all-MiniLM-L6-v2 at $ADARANK_MODEL_DIR: not checked\n", what);
}

/* Opens the default device (or $ADARANK_DEVICE); exits 77 only when no device exists at all. */
static inline struct ar_ctx *test_open_ctx(void)
{
    char err[1024];
    struct ar_device_info *list = NULL;
    int count = 0;
    if (ar_device_list(&list, &count, err, sizeof err) != AR_STATUS_OK || count == 0) {
        free(list);
        if (getenv("ADARANK_REQUIRE_DEVICE")) {
            fprintf(stderr, "no OpenCL device, but ADARANK_REQUIRE_DEVICE is set\n");
            exit(1);
        }
        fprintf(stderr, "no OpenCL device on this machine: skipping\n");
        exit(77);
    }
    free(list);
    struct ar_ctx *ctx = NULL;
    enum ar_status st = ar_ctx_new(NULL, &ctx);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "cannot open a context: %s\n", ar_ctx_errmsg(ctx));
        exit(1);
    }
    return ctx;
}

/* ---- the tolerance policy -------------------------------------------------------------------
 *
 * A float32 result is compared with a reference computed in double precision. The error of a
 * float32 dot product of length k grows like sqrt(k)·eps·|terms| for round-to-nearest with
 * random signs (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1 / 2nd ed. Thm 3.1
 * gives the k·eps worst case); CLBlast and our kernels may reorder sums, so we allow a safety
 * factor of 8 over the probabilistic bound, measured against the scale of the data:
 *
 *     |got_i − ref_i| ≤ 8 · eps32 · sqrt(k + 1) · scale    for every i,
 *
 * where scale = max(max_i |ref_i|, rms of the products' terms) is passed by the test (for a plain
 * reference: max |ref|). Elementwise kernels use k = 1. Results that went through several
 * products in a chain (a backward pass) pass the longest chain's total k. Finite differences are
 * compared separately (see test_fd_tolerance). */
static inline double test_tolerance(double k, double scale)
{
    return 8.0 * FLT_EPSILON * sqrt(k + 1.0) * scale;
}

/* Kernels that call OpenCL built-in functions inherit their allowed error on top of the policy
 * above: the OpenCL 1.2 specification (section 7.4, table 7.1, full profile) allows exp and log
 * 3 ulp, tanh 5 ulp, erf 16 ulp, rsqrt 2 ulp and division 2.5 ulp. A result computed through such
 * calls gets `ulps` = the largest allowance in its chain, in float32 ulps (≤ eps32·|value|) of the
 * scale. */
static inline double test_tolerance_ulp(double k, double ulps, double scale)
{
    return test_tolerance(k, scale) + ulps * FLT_EPSILON * scale;
}

static inline double test_max_abs(const double *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

/* Checks every element against the policy; reports the worst element on failure. */
#define CHECK_CLOSE(what, ref, got, n, k)                                                          \
    do {                                                                                           \
        double scale_ = test_max_abs((ref), (n));                                                  \
        double tol_ = test_tolerance((k), scale_ > 0 ? scale_ : 1.0);                              \
        size_t worst_ = 0;                                                                         \
        double worst_err_ = 0;                                                                     \
        for (size_t i_ = 0; i_ < (size_t)(n); i_++) {                                              \
            double e_ = fabs((double)(got)[i_] - (ref)[i_]);                                       \
            if (!(e_ <= worst_err_)) {                                                             \
                worst_err_ = e_;                                                                   \
                worst_ = i_;                                                                       \
            }                                                                                      \
        }                                                                                          \
        CHECK(worst_err_ <= tol_, "%s: element %zu got %.9g want %.9g (err %.3g > tol %.3g)",     \
              (what), worst_, (double)(got)[worst_], (ref)[worst_], worst_err_, tol_);             \
    } while (0)

/* Central finite differences in double, step h, on a function whose third derivative is of the
 * order of its values: truncation error ~h², rounding ~eps64/h. With h = 1e-4 both are below
 * 1e-8 relative; the float32 analytic gradient dominates, so FD comparisons use the policy above
 * with the analytic chain's k. */

/* Deterministic test data: a small LCG so fixtures and tests agree on every platform. */
static inline float test_uniform(unsigned long long *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f; /* [-1, 1) */
}

/* ---- scratch folders (test_tmp.c, linked into every C test) ---------------------------------
 *
 * test_tmpdir("name") makes $TMPDIR/adarank-test-<name>-XXXXXX (TMPDIR defaults to /tmp) and
 * registers it for removal, with everything in it, on every way out the process can catch: a
 * normal exit (a failed CHECK included), and SIGINT, SIGTERM (meson's timeout), SIGHUP, SIGSEGV,
 * SIGBUS, SIGFPE and SIGABRT, after which the signal is raised again, so the test still dies of
 * it. ADARANK_KEEP_TMP=1 keeps the folders for debugging. Only SIGKILL can leave one behind.
 * Returns the folder's path (valid until exit), or NULL with a message on stderr. */
const char *test_tmpdir(const char *name);
/* fn runs first at every clean-up (at most 4): e.g. killing a child that writes into a folder. */
void test_tmp_on_cleanup(void (*fn)(void));
/* Removes the registered folders now (also what the exit handler does); idempotent. */
void test_tmp_cleanup(void);

#endif
