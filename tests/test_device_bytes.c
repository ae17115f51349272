/* ar_ctx_device_bytes: the device memory a context holds through ar_mem_alloc, current and peak.
 * `adarank-cl bench step` reports it; here the counts are checked exactly, buffer by buffer,
 * including a buffer released while a command still uses it and one outliving its context. */
#include <time.h>

#include "test.h"

static void test_counts(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    size_t peak = 1;
    CHECK(ar_ctx_device_bytes(ctx, &peak) == 0 && peak == 0, "a new context holds nothing");
    struct ar_mem a, b;
    CHECK_OK(ctx, ar_mem_alloc(ctx, 1000, &a));
    CHECK_OK(ctx, ar_mem_alloc(ctx, 250, &b));
    size_t now = ar_ctx_device_bytes(ctx, &peak);
    CHECK(now == 5000 && peak == 5000, "two buffers: %zu bytes now, %zu peak (want 5000)", now,
          peak);

    /* Released with a fill still queued: OpenCL frees it once the fill is done. */
    CHECK_OK(ctx, ar_mem_fill(ctx, a, 1.0f, 1000));
    ar_mem_release(&a);
    CHECK_OK(ctx, ar_ctx_finish(ctx));
    /* PoCL runs the destructor callback on its own thread once the fill has completed, which
     * can be a moment after clFinish returns (once in six full test runs here): wait up to 2 s. */
    now = ar_ctx_device_bytes(ctx, &peak);
    for (int ms = 0; now != 1000 && ms < 2000; ms++) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        now = ar_ctx_device_bytes(ctx, &peak);
    }
    CHECK(now == 1000 && peak == 5000, "after a release: %zu now, %zu peak (want 1000, 5000)", now,
          peak);

    struct ar_mem c;
    CHECK_OK(ctx, ar_mem_alloc(ctx, 100, &c));
    now = ar_ctx_device_bytes(ctx, &peak);
    CHECK(now == 1400 && peak == 5000, "the peak stays: %zu now, %zu peak", now, peak);
    ar_mem_release(&c);
    CHECK(ar_ctx_device_bytes(ctx, NULL) == 1000, "NULL peak is fine");

    /* A failed allocation counts nothing. */
    struct ar_mem z;
    CHECK(ar_mem_alloc(ctx, 0, &z) == AR_STATUS_INVALID_ARGUMENT, "zero floats is refused");
    CHECK(ar_ctx_device_bytes(ctx, NULL) == 1000, "a refused allocation counts nothing");

    /* The context may go first: b's destructor callback must not touch freed memory (run the
     * test under valgrind or ASan to see it). */
    ar_ctx_free(ctx);
    ar_mem_release(&b);
    CHECK(ar_ctx_device_bytes(NULL, &peak) == 0 && peak == 0, "a NULL context holds nothing");
}

int main(void)
{
    test_counts();
    return test_finish("device_bytes");
}
