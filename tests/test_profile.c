/* The per-operation profiler (profile.h): off, nothing is recorded; on, every kind of operation
 * is recorded under its name with its call count; a batched product's packing is charged apart
 * from the product, so the charged times add up to no more than the wall time; turning it on
 * again starts from zero, and off keeps the totals. */
#include <time.h>

#include "test.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const struct ar_profile_op *find(struct ar_ctx *ctx, const char *name)
{
    const struct ar_profile_op *ops = NULL;
    size_t n = ar_ctx_profile_ops(ctx, &ops);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ops[i].name, name)) return &ops[i];
    return NULL;
}

/* A few operations of every kind: a fill, a kernel (twice), a product, a batched product whose
 * B is an offset view (packed first), a read. */
static void run_ops(struct ar_ctx *ctx, struct ar_mem a, struct ar_mem b, struct ar_mem c)
{
    float host[4];
    CHECK_OK(ctx, ar_mem_fill(ctx, a, 0.5f, 4096));
    CHECK_OK(ctx, ar_add(ctx, 1000, a, a, b));
    CHECK_OK(ctx, ar_add(ctx, 1000, b, a, b));
    CHECK_OK(ctx, ar_gemm(ctx, false, true, 33, 17, 65, 1.0f, a, 65, b, 65, 0.0f, c, 17));
    CHECK_OK(ctx, ar_gemm_strided_batched(ctx, false, false, 8, 8, 8, 1.0f, a, 8, 64,
                                          ar_mem_at(b, 3), 8, 64, 0.0f, c, 8, 64, 4));
    CHECK_OK(ctx, ar_mem_read(ctx, c, host, 4));
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    struct ar_mem a, b, c;
    CHECK_OK(ctx, ar_mem_alloc(ctx, 4096, &a));
    CHECK_OK(ctx, ar_mem_alloc(ctx, 4096, &b));
    CHECK_OK(ctx, ar_mem_alloc(ctx, 4096, &c));
    const struct ar_profile_op *ops = NULL;

    run_ops(ctx, a, b, c); /* never profiled: nothing recorded, nothing allocated */
    CHECK(ar_ctx_profile_ops(ctx, &ops) == 0 && ops == NULL, "nothing recorded while off");

    CHECK_OK(ctx, ar_ctx_profile(ctx, true));
    double t0 = now_s();
    run_ops(ctx, a, b, c);
    double wall = now_s() - t0;
    CHECK_OK(ctx, ar_ctx_profile(ctx, false));
    static const struct {
        const char *name;
        long calls;
    } want[] = {
        {"fill", 1},
        {"add", 2},
        {"gemm NT 33x17x65", 1},
        {"gemm batched NN 8x8x8 x4", 1},
        {"gemm batched: packing views", 1},
        {"read (device to host)", 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct ar_profile_op *op = find(ctx, want[i].name);
        CHECK(op && op->calls == want[i].calls && op->seconds > 0,
              "\"%s\": want %ld call(s) with a time, got %ld, %g s", want[i].name, want[i].calls,
              op ? op->calls : -1L, op ? op->seconds : -1.0);
    }
    size_t n = ar_ctx_profile_ops(ctx, &ops);
    double charged = 0;
    for (size_t i = 0; i < n; i++)
        charged += ops[i].seconds;
    CHECK(n == sizeof want / sizeof want[0], "%zu operations recorded, want %zu", n,
          sizeof want / sizeof want[0]);
    /* Nested time counted once: the charged total cannot exceed the wall time around it. */
    CHECK(charged <= wall, "charged %.6f s in %.6f s of wall time", charged, wall);

    run_ops(ctx, a, b, c); /* off again: the totals stay as they were */
    const struct ar_profile_op *add = find(ctx, "add");
    CHECK(add && add->calls == 2, "off keeps the totals: add has %ld calls", add ? add->calls : -1L);

    CHECK_OK(ctx, ar_ctx_profile(ctx, true)); /* on again: from zero */
    CHECK(ar_ctx_profile_ops(ctx, &ops) == 0, "turning it on clears the totals");
    CHECK_OK(ctx, ar_add(ctx, 1000, a, a, b));
    add = find(ctx, "add");
    CHECK(add && add->calls == 1, "recording again: add has %ld calls", add ? add->calls : -1L);

    ar_mem_release(&a), ar_mem_release(&b), ar_mem_release(&c);
    ar_ctx_free(ctx);
    return test_finish("profile");
}
