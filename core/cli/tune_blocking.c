/* `adarank-cl tune --kernels blocking`: how ar_gemm should split large products on a device.
 *
 * ar_gemm can run a product as column blocks of C (blas.c); whether that helps, and from which
 * size, depends on the device's caches and on CLBlast's tables, so it is measured here like the
 * kernels' parameters are. With the tables already in the tuning folder applied, each product
 * below is timed unblocked and at each candidate width, the candidates interleaved within every
 * round so that a change in the machine's load hits them alike; the median of the rounds counts.
 *
 * The width kept is the one with the lowest geometric mean of blocked / unblocked time over the
 * products with n·k >= 1 M floats, if that mean is below 0.95; otherwise blocking stays off
 * (N_BLOCK 0). The threshold MIN_NK is then the smallest n·k from which no measured product runs
 * more than 5% slower blocked than unblocked. The stored table is checked with ar_gemm_self_check, whose
 * products include two that the table blocks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../json.h"
#include "bench_common.h"
#include "tune_store.h"

struct product {
    bool ta, tb;
    size_t m, n, k;
};

/* A transformer's large products (BERT-base on 512 tokens, MiniLM's FFN on 2048) and a square,
 * from n·k = 0.56 M to 2.25 M floats (M = 2^20). */
static const struct product products[] = {
    {false, true, 512, 768, 768},     {false, true, 2048, 1536, 384},
    {false, false, 1024, 1024, 1024}, {false, true, 512, 2304, 768},
    {false, true, 512, 3072, 768},    {false, true, 512, 768, 3072},
    {false, false, 512, 768, 3072},
};
#define PRODUCT_COUNT (sizeof products / sizeof products[0])

static const size_t widths[] = {0, 256, 384, 512}; /* 0: unblocked */
#define WIDTH_COUNT (sizeof widths / sizeof widths[0])
#define ROUNDS 3
#define LARGE_NK ((size_t)1 << 20)
/* A blocked product within this of its unblocked time is not counted as slower: run-to-run
 * noise on a busy machine is of that order. */
#define NOISE 0.05

static size_t nk(const struct product *p)
{
    return p->n * p->k;
}

/* Median time of each width on product p (seconds, in t[WIDTH_COUNT]). */
static enum ar_status time_product(struct ar_ctx *ctx, const struct product *p, struct ar_mem a,
                                   struct ar_mem b, struct ar_mem c, double *t)
{
    double runs[WIDTH_COUNT][ROUNDS];
    enum ar_status st = AR_STATUS_OK;
    size_t lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
    for (int r = -1; r < ROUNDS && st == AR_STATUS_OK; r++) /* round -1 warms up */
        for (size_t w = 0; w < WIDTH_COUNT && st == AR_STATUS_OK; w++) {
            ar_gemm_set_blocking(ctx, widths[w], 0);
            double t0 = bench_now_s();
            st = ar_gemm(ctx, p->ta, p->tb, p->m, p->n, p->k, 1.0f, a, lda, b, ldb, 0.0f, c,
                         p->n);
            if (st == AR_STATUS_OK) st = ar_ctx_finish(ctx);
            if (r >= 0) runs[w][r] = bench_now_s() - t0;
        }
    for (size_t w = 0; w < WIDTH_COUNT && st == AR_STATUS_OK; w++)
        t[w] = bench_median(runs[w], ROUNDS);
    return st;
}

/* ratio[i][w]: product i's time at width w over its unblocked time. */
static enum ar_status measure(struct ar_ctx *ctx, double ratio[][WIDTH_COUNT])
{
    size_t na = 0, nb = 0, nc = 0;
    for (size_t i = 0; i < PRODUCT_COUNT; i++) {
        const struct product *p = &products[i];
        na = p->m * p->k > na ? p->m * p->k : na;
        nb = p->n * p->k > nb ? p->n * p->k : nb;
        nc = p->m * p->n > nc ? p->m * p->n : nc;
    }
    struct ar_mem a = {0}, b = {0}, c = {0};
    enum ar_status st = ar_mem_alloc(ctx, na, &a);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, nb, &b);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, nc, &c);
    if (st == AR_STATUS_OK) st = ar_mem_fill(ctx, a, 0.5f, na);
    if (st == AR_STATUS_OK) st = ar_mem_fill(ctx, b, 0.25f, nb);
    for (size_t i = 0; i < PRODUCT_COUNT && st == AR_STATUS_OK; i++) {
        double t[WIDTH_COUNT];
        st = time_product(ctx, &products[i], a, b, c, t);
        const struct product *p = &products[i];
        printf("  %c%c %5zux%5zux%5zu (n*k %.2f M):", p->ta ? 'T' : 'N', p->tb ? 'T' : 'N',
               p->m, p->n, p->k, (double)nk(p) / (1 << 20));
        for (size_t w = 0; w < WIDTH_COUNT && st == AR_STATUS_OK; w++) {
            ratio[i][w] = t[w] / t[0];
            if (w == 0)
                printf(" unblocked %.1f ms", t[0] * 1e3);
            else
                printf(", %zu: %.2f", widths[w], ratio[i][w]);
        }
        printf("\n");
    }
    ar_mem_release(&a), ar_mem_release(&b), ar_mem_release(&c);
    return st;
}

/* The width and threshold the ratios support (width 0: no blocking); see the file comment. */
static void choose(double ratio[][WIDTH_COUNT], size_t *width, size_t *min_nk, double *gain)
{
    size_t best = 0;
    double best_mean = 1.0;
    for (size_t w = 1; w < WIDTH_COUNT; w++) {
        double log_sum = 0;
        int count = 0;
        for (size_t i = 0; i < PRODUCT_COUNT; i++)
            if (nk(&products[i]) >= LARGE_NK) log_sum += log(ratio[i][w]), count++;
        double mean = count ? exp(log_sum / count) : 1.0;
        if (mean < best_mean) best = w, best_mean = mean;
    }
    *gain = best_mean;
    *width = 0, *min_nk = 0;
    if (best == 0 || best_mean >= 0.95) return;
    /* The smallest n·k from which every measured product with at least that n·k gains. */
    size_t threshold = SIZE_MAX;
    for (size_t i = 0; i < PRODUCT_COUNT; i++) {
        size_t v = nk(&products[i]);
        bool all_gain = true;
        for (size_t j = 0; j < PRODUCT_COUNT; j++)
            if (nk(&products[j]) >= v && products[j].n > widths[best] &&
                ratio[j][best] > 1.0 + NOISE)
                all_gain = false;
        if (all_gain && v < threshold) threshold = v;
    }
    if (threshold == SIZE_MAX) return;
    *width = widths[best];
    *min_nk = threshold;
}

static struct ar_ctx *open_on(const struct ar_device_info *dev, const char *out_dir)
{
    struct ar_ctx *ctx = NULL;
    if (cli_ctx_on_device(dev, out_dir, &ctx) != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl tune: %s\n", ar_ctx_errmsg(ctx));
        ar_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

int tune_blocking(const struct ar_device_info *dev, const char *out_dir, bool dry_run)
{
    printf("%s GemmBlocking: ar_gemm's column blocks of large products, timed at widths 256, "
           "384 and 512 against one call\n",
           dry_run ? "would measure" : "measuring");
    if (dry_run) {
        printf("  then store %s/<device>-gemmblocking.json\n", out_dir);
        return CLI_EXIT_OK;
    }
    struct ar_ctx *ctx = open_on(dev, out_dir);
    if (!ctx) return CLI_EXIT_DEVICE;
    double ratio[PRODUCT_COUNT][WIDTH_COUNT];
    enum ar_status st = measure(ctx, ratio);
    if (st != AR_STATUS_OK) {
        int rc = cli_report(ctx, st, "tune: timing blocked products");
        ar_ctx_free(ctx);
        return rc;
    }
    size_t width, min_nk;
    double gain;
    choose(ratio, &width, &min_nk, &gain);
    /* The table's products must stay right: the self-check includes two that it blocks. */
    ar_gemm_set_blocking(ctx, width, min_nk);
    st = ar_gemm_self_check(ctx);
    if (st != AR_STATUS_OK) {
        int rc = cli_report(ctx, st, "tune: checking blocked products");
        ar_ctx_free(ctx);
        return rc;
    }
    ar_ctx_free(ctx);
    char note[1024];
    if (width)
        snprintf(note, sizeof note,
                 "Found by `adarank-cl tune --kernels blocking` on %s / %s: column blocks of %zu "
                 "took %.2f of the unblocked time (geometric mean over the products with n*k >= "
                 "1 M floats); no measured product with n*k >= %zu ran more than 5%% slower "
                 "blocked.",
                 dev->platform_name, dev->name, width, gain, min_nk);
    else
        snprintf(note, sizeof note,
                 "Found by `adarank-cl tune --kernels blocking` on %s / %s: no block width ran "
                 "the large products faster (best geometric mean %.2f of the unblocked time), "
                 "so products run in one call.",
                 dev->platform_name, dev->name, gain);
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    ar__json_write_key(&b, "note");
    ar__json_write_string(&b, note);
    ar__json_write_key(&b, "device_name");
    ar__json_write_string(&b, dev->name);
    ar__json_put(&b, ", \"kernel\": \"GemmBlocking\", \"precision\": 32, \"parameters\": {");
    ar__json_write_key(&b, "N_BLOCK");
    ar__json_write_int(&b, (int64_t)width);
    ar__json_write_key(&b, "MIN_NK");
    ar__json_write_int(&b, (int64_t)min_nk);
    ar__json_put(&b, "}}\n");
    if (b.oom) {
        ar__json_buf_free(&b);
        fprintf(stderr, "adarank-cl tune: out of memory\n");
        return CLI_EXIT_FAILURE;
    }
    const char *json = b.data;
    char err[512];
    int rc = CLI_EXIT_OK;
    if (ar_tuning_table_check(json, strlen(json), err, sizeof err) != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl tune: the GemmBlocking table is malformed: %s\n", err);
        rc = CLI_EXIT_FAILURE;
    } else {
        if (width)
            printf("  column blocks of %zu from n*k >= %zu: %.2f of the unblocked time\n",
                   width, min_nk, gain);
        else
            printf("  blocking does not help here (best %.2f of the unblocked time): off\n",
                   gain);
        rc = tune_write_table(dev, "GemmBlocking", json, out_dir, "measured");
    }
    ar__json_buf_free(&b);
    return rc;
}
