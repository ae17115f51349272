/* `adarank-cl bench gemm`: CLBlast (through ar_gemm, on the chosen OpenCL device) against
 * OpenBLAS on the host, on the products one fine-tuning step of a BERT-base-sized encoder makes.
 *
 * Dimension legend: M = B·T = 512 tokens, C = 768 hidden, 3C = 2304 (fused QKV), 4C = 3072
 * (FFN), R = 8 (LoRA rank). A linear layer y (M, N) = x (M, K) · Wᵀ with W (N, K) as PyTorch
 * stores it is an "NT" product; its backward makes dx = dy · W ("NN") and dW = dyᵀ · x ("TN").
 *
 * Each product is timed alone: two warm-up calls (CLBlast compiles its kernels on first use),
 * then --repeats calls, each followed by clFinish and then by the same product in OpenBLAS.
 * The GF/s columns are medians; the ratio is the median over the adjacent pairs. OpenBLAS runs
 * with as many threads as the machine has online cores: on a CPU OpenCL device (PoCL) both
 * libraries then use the same cores, which is the comparison that decides whether the device
 * path is worth it; on a GPU it is the host baseline a user would otherwise have.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef ADARANK_WITH_OPENBLAS
#include <cblas.h>
#endif

#include "bench_common.h"
#include "cli.h"

struct shape {
    const char *what;
    bool ta, tb;
    size_t m, n, k;
    bool quick; /* part of --quick */
};

static const struct shape shapes[] = {
    {"x.W^T attention out, C->C", false, true, 512, 768, 768, true},
    {"x.W^T fused QKV, C->3C", false, true, 512, 2304, 768, false},
    {"x.W^T FFN up, C->4C", false, true, 512, 3072, 768, true},
    {"x.W^T FFN down, 4C->C", false, true, 512, 768, 3072, false},
    {"dy.W attention out (dx)", false, false, 512, 768, 768, false},
    {"dy.W FFN up (dx)", false, false, 512, 768, 3072, false},
    {"dy^T.x attention out (dW)", true, false, 768, 768, 512, false},
    {"dy^T.x FFN up (dW)", true, false, 3072, 768, 512, true},
    {"square 1024", false, false, 1024, 1024, 1024, true},
    {"LoRA x.A^T, C->R", false, true, 512, 8, 768, true},
    {"LoRA z.B^T, R->C", false, true, 512, 768, 8, true},
    {"LoRA dy.B (dz)", false, false, 512, 8, 768, false},
    {"LoRA dz^T.x (dA)", true, false, 8, 768, 512, false},
    {"LoRA dy^T.z (dB)", true, false, 768, 8, 512, false},
};
#define SHAPE_COUNT (sizeof shapes / sizeof shapes[0])

struct options {
    const char *device;
    bool quick, json, no_tuning;
    long repeats;
};

struct result {
    double clblast_s, openblas_s; /* medians; openblas_s = 0 without OpenBLAS */
    double ratio;                 /* median of OpenBLAS / CLBlast over adjacent pairs; 0 without */
    double max_rel_diff;          /* CLBlast vs OpenBLAS, relative to max |C| */
};

static size_t quick_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < SHAPE_COUNT; i++)
        n += shapes[i].quick;
    return n;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: adarank-cl bench gemm [options]\n\n"
            "Times CLBlast (on the OpenCL device) and OpenBLAS (on the host) on the matrix\n"
            "products of one fine-tuning step of a BERT-base-sized encoder (512 tokens, width\n"
            "768, LoRA rank 8; forward and backward), and prints GF/s and their ratio.\n\n"
            "  --device N|NAME   device index or name substring (default: $ADARANK_DEVICE, the\n"
            "                    first GPU, else the first device)\n"
            "  --repeats N       timed runs per product, median reported (default 10, --quick 3)\n"
            "  --quick           %zu of the %zu products (the main job uses this)\n"
            "  --no-tuning       do not apply adarank's CLBlast tables (CLBlast's own defaults)\n"
            "  --json            one JSON object on stdout instead of the table\n\n"
            "OpenBLAS uses as many threads as there are online cores. Built without OpenBLAS\n"
            "(meson -Dopenblas=disabled) only CLBlast is timed.\n",
            quick_count(), SHAPE_COUNT);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.repeats = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--quick")) {
            o->quick = true;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--no-tuning")) {
            o->no_tuning = true;
        } else if (!strcmp(a, "--device") && i + 1 < argc) {
            o->device = argv[++i];
        } else if (!strcmp(a, "--repeats") && i + 1 < argc) {
            if (bench_parse_long(argv[++i], 1, 1000, &o->repeats)) {
                fprintf(stderr, "adarank-cl bench gemm: --repeats needs 1..1000, got \"%s\"\n",
                        argv[i]);
                return CLI_EXIT_USAGE;
            }
        } else {
            fprintf(stderr,
                    "adarank-cl bench gemm: unknown option or missing value \"%s\" (try "
                    "--help)\n",
                    a);
            return CLI_EXIT_USAGE;
        }
    }
    if (o->repeats == 0) o->repeats = o->quick ? 3 : 10;
    return CLI_EXIT_OK;
}

/* Row strides of the operands as stored (row-major): A is (m, k), or (k, m) when transposed. */
static size_t lda_of(const struct shape *s)
{
    return s->ta ? s->m : s->k;
}

static size_t ldb_of(const struct shape *s)
{
    return s->tb ? s->k : s->n;
}

/* Host and device operands large enough for every product, filled once. */
struct operands {
    float *a, *b, *c, *c_ref;
    struct ar_mem da, db, dc;
    size_t na, nb, nc;
};

/* One timed CLBlast call, queue drained. */
static enum ar_status time_clblast_once(struct ar_ctx *ctx, const struct shape *s,
                                        const struct operands *p, double *seconds)
{
    double t0 = bench_now_s();
    enum ar_status st = ar_gemm(ctx, s->ta, s->tb, s->m, s->n, s->k, 1.0f, p->da, lda_of(s),
                                p->db, ldb_of(s), 0.0f, p->dc, s->n);
    if (st == AR_STATUS_OK) st = ar_ctx_finish(ctx);
    *seconds = bench_now_s() - t0;
    return st;
}

#ifdef ADARANK_WITH_OPENBLAS
static double time_openblas_once(const struct shape *s, const struct operands *p)
{
    double t0 = bench_now_s();
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                s->tb ? CblasTrans : CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f, p->a,
                (int)lda_of(s), p->b, (int)ldb_of(s), 0.0f, p->c_ref, (int)s->n);
    return bench_now_s() - t0;
}
#endif

/* Times one product. The two libraries alternate call by call, so both medians come from the
 * same minutes of a shared machine, and the ratio is the median of the per-pair ratios: a pair
 * is two adjacent calls, so a slow spell of the machine slows both of them. */
static enum ar_status time_product(struct ar_ctx *ctx, const struct shape *s,
                                   const struct operands *p, long repeats, double *ct, double *ot,
                                   double *ratios, struct result *res)
{
    enum ar_status st = AR_STATUS_OK;
    long rated = 0;
    for (long r = -2; r < repeats && st == AR_STATUS_OK; r++) {
        double tc = 0, to = 0;
        st = time_clblast_once(ctx, s, p, &tc);
#ifdef ADARANK_WITH_OPENBLAS
        to = time_openblas_once(s, p);
#endif
        if (r < 0) continue;
        ct[r] = tc, ot[r] = to;
        if (tc > 0 && to > 0) ratios[rated++] = to / tc;
    }
    if (st != AR_STATUS_OK) return st;
    res->clblast_s = bench_median(ct, repeats);
#ifdef ADARANK_WITH_OPENBLAS
    res->openblas_s = bench_median(ot, repeats);
#endif
    res->ratio = rated ? bench_median(ratios, rated) : 0;
    return AR_STATUS_OK;
}

/* Both libraries computed the same product: a cheap guard against timing a broken path. */
static double max_rel_diff(const float *x, const float *y, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)x[i] - y[i]));
        scale = fmax(scale, fabs((double)y[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

static double gflops(const struct shape *s, double seconds)
{
    return seconds > 0 ? 2.0 * (double)s->m * (double)s->n * (double)s->k / seconds * 1e-9 : 0;
}

static const char *op_name(const struct shape *s)
{
    return s->ta ? (s->tb ? "TT" : "TN") : (s->tb ? "NT" : "NN");
}

static void print_text(const struct options *o, struct ar_ctx *ctx, const struct result *res,
                       int threads)
{
    const struct ar_device_info *d = ar_ctx_device(ctx);
    const char *table = ar_ctx_tuning_source(ctx);
    printf("bench gemm on device %d: %s / %s\n", d->index, d->platform_name, d->name);
    printf("CLBlast tuning table: %s\n", table          ? table
                                         : o->no_tuning ? "none (--no-tuning: CLBlast's defaults)"
                                                        : "none found (CLBlast's defaults)");
    if (threads > 0)
        printf("OpenBLAS: %d threads (= online cores)\n", threads);
    else
        printf("OpenBLAS: not built in (meson -Dopenblas=enabled to compare)\n");
    printf("median of %ld runs after 2 warm-up runs, the libraries alternating call by call; ratio: "
           "median over\nthe adjacent pairs; float32, row-major, C = A.B\n\n",
           o->repeats);
    printf("%-27s %2s %5s %5s %5s %12s %13s %7s\n", "product", "op", "m", "n", "k", "CLBlast GF/s",
           "OpenBLAS GF/s", "ratio");
    double log_sum = 0;
    int rated = 0;
    for (size_t i = 0; i < SHAPE_COUNT; i++) {
        const struct shape *s = &shapes[i];
        if (o->quick && !s->quick) continue;
        double cg = gflops(s, res[i].clblast_s), og = gflops(s, res[i].openblas_s);
        printf("%-27s %2s %5zu %5zu %5zu %12.1f", s->what, op_name(s), s->m, s->n, s->k, cg);
        if (threads > 0 && og > 0 && res[i].ratio > 0) {
            printf(" %13.1f %7.3f\n", og, res[i].ratio);
            log_sum += log(res[i].ratio), rated++;
        } else {
            printf(" %13s %7s\n", "-", "-");
        }
    }
    if (rated)
        printf("\nratio CLBlast/OpenBLAS (geometric mean over %d products): %.3f\n", rated,
               exp(log_sum / rated));
    else
        printf("\nratio CLBlast/OpenBLAS: n/a (built without OpenBLAS)\n");
}

static void print_json(const struct options *o, struct ar_ctx *ctx, const struct result *res,
                       int threads)
{
    const struct ar_device_info *d = ar_ctx_device(ctx);
    const char *table = ar_ctx_tuning_source(ctx);
    printf("{\"device_index\": %d, \"device\": ", d->index);
    cli_json_string(d->name);
    printf(", \"platform\": ");
    cli_json_string(d->platform_name);
    printf(", \"tuning_table\": ");
    if (table)
        cli_json_string(table);
    else
        printf("null");
    printf(", \"tuning_applied\": %s, \"openblas_threads\": %d, \"repeats\": %ld, "
           "\"results\": [",
           o->no_tuning ? "false" : "true", threads, o->repeats);
    double log_sum = 0;
    int rated = 0, first = 1;
    for (size_t i = 0; i < SHAPE_COUNT; i++) {
        const struct shape *s = &shapes[i];
        if (o->quick && !s->quick) continue;
        double cg = gflops(s, res[i].clblast_s), og = gflops(s, res[i].openblas_s);
        printf("%s\n  {\"product\": \"%s\", \"op\": \"%s\", \"m\": %zu, \"n\": %zu, \"k\": %zu, "
               "\"clblast_gflops\": %.3f, \"clblast_ms\": %.4f",
               first ? "" : ",", s->what, op_name(s), s->m, s->n, s->k, cg, res[i].clblast_s * 1e3);
        first = 0;
        if (threads > 0 && og > 0 && res[i].ratio > 0) {
            printf(", \"openblas_gflops\": %.3f, \"openblas_ms\": %.4f, \"ratio\": %.4f, "
                   "\"max_rel_diff\": %.3g}",
                   og, res[i].openblas_s * 1e3, res[i].ratio, res[i].max_rel_diff);
            log_sum += log(res[i].ratio), rated++;
        } else {
            printf(", \"openblas_gflops\": null, \"ratio\": null}");
        }
    }
    printf("\n], \"geomean_ratio\": ");
    if (rated)
        printf("%.4f}\n", exp(log_sum / rated));
    else
        printf("null}\n");
}

static enum ar_status operands_init(struct ar_ctx *ctx, struct operands *p)
{
    for (size_t i = 0; i < SHAPE_COUNT; i++) {
        const struct shape *s = &shapes[i];
        p->na = s->m * s->k > p->na ? s->m * s->k : p->na;
        p->nb = s->n * s->k > p->nb ? s->n * s->k : p->nb;
        p->nc = s->m * s->n > p->nc ? s->m * s->n : p->nc;
    }
    p->a = malloc(p->na * sizeof(float));
    p->b = malloc(p->nb * sizeof(float));
    p->c = malloc(p->nc * sizeof(float));
    p->c_ref = malloc(p->nc * sizeof(float));
    if (!p->a || !p->b || !p->c || !p->c_ref) return AR_STATUS_OUT_OF_MEMORY;
    unsigned long long state = 42; /* values in [-1, 1): no denormals, no overflow */
    for (size_t i = 0; i < p->na + p->nb; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        float v = (float)((double)(state >> 40) / 16777216.0) * 2.0f - 1.0f;
        *(i < p->na ? &p->a[i] : &p->b[i - p->na]) = v;
    }
    enum ar_status st = ar_mem_alloc(ctx, p->na, &p->da);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, p->nb, &p->db);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, p->nc, &p->dc);
    if (st == AR_STATUS_OK) st = ar_mem_write(ctx, p->da, p->a, p->na);
    if (st == AR_STATUS_OK) st = ar_mem_write(ctx, p->db, p->b, p->nb);
    return st;
}

static void operands_free(struct operands *p)
{
    ar_mem_release(&p->da);
    ar_mem_release(&p->db);
    ar_mem_release(&p->dc);
    free(p->a), free(p->b), free(p->c), free(p->c_ref);
}

/* Times every selected product; a CLBlast result that disagrees with OpenBLAS by more than
 * 1e-3 of its scale (float32 sums of up to 3072 terms in [-1,1) stay near 1e-6) is an error. */
static int run_all(const struct options *o, struct ar_ctx *ctx, struct operands *p,
                   struct result *res)
{
    size_t n = (size_t)o->repeats;
    double *ct = malloc(n * sizeof *ct), *ot = malloc(n * sizeof *ot);
    double *ratios = malloc(n * sizeof *ratios);
    int rc = ct && ot && ratios ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    for (size_t i = 0; i < SHAPE_COUNT && rc == CLI_EXIT_OK; i++) {
        const struct shape *s = &shapes[i];
        if (o->quick && !s->quick) continue;
        enum ar_status st = time_product(ctx, s, p, o->repeats, ct, ot, ratios, &res[i]);
        if (st == AR_STATUS_OK) st = ar_mem_read(ctx, p->dc, p->c, s->m * s->n);
        if (st != AR_STATUS_OK) {
            rc = cli_report(ctx, st, s->what);
            break;
        }
#ifdef ADARANK_WITH_OPENBLAS
        res[i].max_rel_diff = max_rel_diff(p->c, p->c_ref, s->m * s->n);
        if (!(res[i].max_rel_diff <= 1e-3)) {
            fprintf(stderr,
                    "adarank-cl bench gemm: %s: CLBlast and OpenBLAS disagree (max "
                    "relative difference %.3g)\n",
                    s->what, res[i].max_rel_diff);
            rc = CLI_EXIT_FAILURE;
        }
#else
        (void)max_rel_diff;
#endif
    }
    free(ct), free(ot), free(ratios);
    return rc;
}

int cli_bench_gemm(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    int threads = 0;
#ifdef ADARANK_WITH_OPENBLAS
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cores > 0 ? (int)cores : 1;
    openblas_set_num_threads(threads);
#endif
    struct ar_ctx_params params = ar_ctx_default_params();
    params.device = o.device;
    params.apply_tuning = !o.no_tuning;
    struct ar_ctx *ctx = cli_open_context_with(&params, &rc);
    if (!ctx) return rc;
    struct operands p = {0};
    struct result res[SHAPE_COUNT] = {0};
    enum ar_status st = operands_init(ctx, &p);
    if (st != AR_STATUS_OK)
        rc = cli_report(ctx, st, "allocating the operands");
    else
        rc = run_all(&o, ctx, &p, res);
    if (rc == CLI_EXIT_OK) {
        if (o.json)
            print_json(&o, ctx, res, threads);
        else
            print_text(&o, ctx, res, threads);
    }
    operands_free(&p);
    ar_ctx_free(ctx);
    return rc;
}
