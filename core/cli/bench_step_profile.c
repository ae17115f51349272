/* `adarank-cl bench step --profile`: where a training step's time goes, operation by operation.
 *
 * After the timed steps, one more step runs with the context's profiler on (profile.h): every
 * kernel, matrix product, buffer fill or copy and host transfer runs alone and its wall time is
 * added to its name. The table lists them by total time, with the share of the profiled step,
 * and sums them by kind (products, our kernels, buffer operations). Draining the queue around
 * every operation makes the profiled step slower than a normal one, so read the shares as a
 * ranking of where the work is, not as a breakdown of the unprofiled step.
 */
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "bench_step.h"

enum kind { KIND_PRODUCT, KIND_KERNEL, KIND_BUFFER, KIND_COUNT };

static enum kind kind_of(const char *name)
{
    if (strstr(name, "packing")) return KIND_BUFFER; /* "gemm batched: (un)packing ..." */
    if (strncmp(name, "gemm", 4) == 0) return KIND_PRODUCT;
    if (!strcmp(name, "fill") || !strcmp(name, "copy") || strncmp(name, "write ", 6) == 0 ||
        strncmp(name, "read ", 5) == 0)
        return KIND_BUFFER;
    return KIND_KERNEL;
}

static int by_time(const void *a, const void *b)
{
    double x = (*(const struct ar_profile_op *const *)a)->seconds;
    double y = (*(const struct ar_profile_op *const *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

enum ar_status step_profile_run(struct ar_ctx *ctx, struct ar_model *model,
                                const struct ar_batch *batch, int step, struct step_result *r)
{
    enum ar_status st = ar_ctx_profile(ctx, true);
    double phase[3] = {0}, t0 = bench_now_s();
    float loss = 0;
    if (st == AR_STATUS_OK) st = step_run_one(ctx, model, batch, step, phase, &loss);
    r->profiled_step_s = bench_now_s() - t0;
    enum ar_status off = ar_ctx_profile(ctx, false);
    return st != AR_STATUS_OK ? st : off;
}

void step_profile_print(struct ar_ctx *ctx, const struct step_result *r)
{
    const struct ar_profile_op *ops = NULL;
    size_t n = ar_ctx_profile_ops(ctx, &ops);
    const struct ar_profile_op **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) {
        printf("\nprofile: out of memory\n");
        return;
    }
    double total = r->profiled_step_s, sum[KIND_COUNT] = {0};
    for (size_t i = 0; i < n; i++) {
        order[i] = &ops[i];
        sum[kind_of(ops[i].name)] += ops[i].seconds;
    }
    qsort(order, n, sizeof *order, by_time);
    printf("\nprofile: one step with every operation run alone (%.1f ms, against %.1f ms "
           "unprofiled)\n",
           total * 1e3, r->step_s * 1e3);
    printf("%-44s %6s %10s %8s %7s\n", "operation", "calls", "ms", "ms/call", "% step");
    for (size_t i = 0; i < n; i++) {
        const struct ar_profile_op *op = order[i];
        printf("%-44.44s %6ld %10.1f %8.3f %6.1f%%\n", op->name, op->calls, op->seconds * 1e3,
               op->seconds * 1e3 / (double)op->calls, 100.0 * op->seconds / total);
    }
    static const char *const kinds[KIND_COUNT] = {"matrix products (CLBlast)", "our kernels",
                                                  "buffer fills, copies, packing, transfers"};
    double known = 0;
    for (int k = 0; k < KIND_COUNT; k++) {
        printf("%-40s %8.1f ms %6.1f%%\n", kinds[k], sum[k] * 1e3, 100.0 * sum[k] / total);
        known += sum[k];
    }
    printf("%-40s %8.1f ms %6.1f%%\n", "host work between operations", (total - known) * 1e3,
           100.0 * (total - known) / total);
    free(order);
}
