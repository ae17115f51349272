/* `adarank-cl bench lora`: the gated LoRA layer against plain LoRA (and against the frozen linear
 * alone, rank 0), forward + backward, on the linear maps of a BERT-base-sized encoder.
 *
 * What the gates cost: the gated layer runs the same CLBlast products as plain LoRA plus two small
 * kernels over the (N, G·R) rank activations (the gate pass of the forward, the gate gradient
 * reduction of the backward). The target is ≤ 5% over plain LoRA.
 *
 * Each mode is timed as forward + backward (dX, dA, dB and, gated, dg) followed by clFinish. After
 * two warm-up rounds (CLBlast and our kernels compile on first use) the modes run interleaved,
 * frozen, plain, gated, frozen, ..., so that a change of machine load hits all of them alike; the
 * median of each is reported, and the overhead is the median of the rounds' gated/plain ratios.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "cli.h"

struct shape {
    const char *what;
    int n, in, out, groups, rank;
    bool quick; /* part of --quick */
};

static const struct shape shapes[] = {
    {"attention q,k,v (G=3)", 512, 768, 768, 3, 8, true},
    {"attention output (G=1)", 512, 768, 768, 1, 8, true},
    {"FFN up C->4C (G=1)", 512, 768, 3072, 1, 8, false},
    {"FFN down 4C->C (G=1)", 512, 3072, 768, 1, 8, false},
};
#define SHAPE_COUNT (sizeof shapes / sizeof shapes[0])

enum mode { MODE_FROZEN, MODE_PLAIN, MODE_GATED, MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {"frozen", "plain", "gated"};

struct options {
    const char *device;
    bool quick, json, check;
    long repeats;
    float dropout;
};

struct result {
    double seconds[MODE_COUNT]; /* medians */
    double overhead_pct;        /* median over rounds of gated/plain − 1, in % */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: adarank-cl bench lora [options]\n\n"
            "Times the gated LoRA layer (forward + backward) against plain LoRA and against the\n"
            "frozen linear alone (rank 0) on BERT-base-sized linear maps (512 tokens, width 768,\n"
            "rank 8), and prints the gates' overhead over plain LoRA (target: at most 5%%).\n\n"
            "  --device N|NAME   device index or name substring (default: $ADARANK_DEVICE, the\n"
            "                    first GPU, else the first device)\n"
            "  --repeats K       timed rounds, median reported (default 10, --quick 5)\n"
            "  --quick           the two attention shapes only (the main job uses this)\n"
            "  --dropout P       LoRA dropout in [0, 1) (default 0, PEFT's default)\n"
            "  --check           exit 1 when the overhead exceeds 5%% on any shape\n"
            "  --json            one JSON object on stdout instead of the table\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--quick")) {
            o->quick = true;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--check")) {
            o->check = true;
        } else if (!strcmp(a, "--device") && i + 1 < argc) {
            o->device = argv[++i];
        } else if (!strcmp(a, "--repeats") && i + 1 < argc) {
            if (bench_parse_long(argv[++i], 1, 1000, &o->repeats)) {
                fprintf(stderr, "adarank-cl bench lora: --repeats needs 1..1000, got \"%s\"\n",
                        argv[i]);
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--dropout") && i + 1 < argc) {
            char *end = NULL;
            o->dropout = strtof(argv[++i], &end);
            if (*end || !(o->dropout >= 0.0f && o->dropout < 1.0f)) {
                fprintf(stderr, "adarank-cl bench lora: --dropout needs [0, 1), got \"%s\"\n",
                        argv[i]);
                return CLI_EXIT_USAGE;
            }
        } else {
            fprintf(stderr,
                    "adarank-cl bench lora: unknown option or missing value \"%s\" (try --help)\n",
                    a);
            return CLI_EXIT_USAGE;
        }
    }
    if (o->repeats == 0) o->repeats = o->quick ? 5 : 10;
    return CLI_EXIT_OK;
}

/* Every tensor of one shape in one device buffer, at these offsets (floats). */
struct tensors {
    struct ar_mem buf;
    struct ar_lora_weights w;
    struct ar_lora_grads g;
    struct ar_mem x, y, dy;
};

static enum ar_status tensors_new(struct ar_ctx *ctx, const struct shape *s, struct tensors *t)
{
    size_t n = (size_t)s->n, in = (size_t)s->in, cols = (size_t)s->groups * s->out;
    size_t gr = (size_t)s->groups * s->rank;
    size_t sizes[] = {n * in,   cols * in, cols,   gr * in, cols * s->rank, gr,
                      n * cols, n * cols,  n * in, gr * in, cols * s->rank, gr};
    size_t offs[12], total = 0;
    for (int i = 0; i < 12; i++) {
        offs[i] = total;
        total += (sizes[i] + 15) / 16 * 16;
    }
    *t = (struct tensors){0};
    enum ar_status st = ar_mem_alloc(ctx, total, &t->buf);
    if (st != AR_STATUS_OK) return st;
    float *host = malloc(total * sizeof *host);
    if (!host) return AR_STATUS_OUT_OF_MEMORY;
    unsigned long long state = 7;
    for (size_t i = 0; i < total; i++) { /* [-0.5, 0.5): no overflow through the products */
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        host[i] = (float)((double)(state >> 40) / 16777216.0) - 0.5f;
    }
    for (size_t j = 0; j < gr; j++)
        host[offs[5] + j] = 1.0f; /* gates of one: gated and plain compute the same Y */
    st = ar_mem_write(ctx, t->buf, host, total);
    free(host);
    struct ar_mem m[12];
    for (int i = 0; i < 12; i++)
        m[i] = ar_mem_at(t->buf, offs[i]);
    t->x = m[0];
    t->w = (struct ar_lora_weights){.w = m[1], .bias = m[2], .a = m[3], .b = m[4], .gate = m[5]};
    t->y = m[6];
    t->dy = m[7];
    t->g = (struct ar_lora_grads){.dx = m[8], .da = m[9], .db = m[10], .dgate = m[11]};
    return st;
}

static enum ar_status step(struct ar_ctx *ctx, struct ar_lora_layer *l, const struct shape *s,
                           struct tensors *t, uint64_t k)
{
    enum ar_status st = ar_lora_forward(l, s->n, t->x, &t->w, t->y, true, 1, k);
    if (st == AR_STATUS_OK) st = ar_lora_backward(l, t->dy, &t->w, &t->g);
    return st == AR_STATUS_OK ? ar_ctx_finish(ctx) : st;
}

/* The gated layer with g ≡ 1 must give plain LoRA's Y: a guard against timing a broken path. */
static enum ar_status compare_outputs(struct ar_ctx *ctx, struct ar_lora_layer *plain,
                                      struct ar_lora_layer *gated, const struct shape *s,
                                      struct tensors *t, double *rel_diff)
{
    size_t count = (size_t)s->n * s->groups * s->out;
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    enum ar_status st = a && b ? AR_STATUS_OK : AR_STATUS_OUT_OF_MEMORY;
    if (st == AR_STATUS_OK) st = ar_lora_forward(plain, s->n, t->x, &t->w, t->y, false, 0, 0);
    if (st == AR_STATUS_OK) st = ar_mem_read(ctx, t->y, a, count);
    if (st == AR_STATUS_OK) st = ar_lora_forward(gated, s->n, t->x, &t->w, t->y, false, 0, 0);
    if (st == AR_STATUS_OK) st = ar_mem_read(ctx, t->y, b, count);
    double diff = 0, scale = 0;
    for (size_t i = 0; st == AR_STATUS_OK && i < count; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)a[i]));
    }
    *rel_diff = scale > 0 ? diff / scale : diff;
    free(a);
    free(b);
    return st;
}

static enum ar_status time_shape(struct ar_ctx *ctx, const struct options *o, const struct shape *s,
                                 struct result *res, double *rel_diff)
{
    struct ar_lora_layer *layers[MODE_COUNT] = {0};
    struct tensors t;
    enum ar_status st = tensors_new(ctx, s, &t);
    for (int m = 0; m < MODE_COUNT && st == AR_STATUS_OK; m++) {
        struct ar_lora_dims dims = {s->n, s->in, s->out, m == MODE_FROZEN ? 0 : s->rank, s->groups};
        struct ar_lora_opts opts = {.scale = 2.0f, .dropout = o->dropout, .plain = m == MODE_PLAIN};
        st = ar_lora_layer_new(ctx, &dims, &opts, &layers[m]);
    }
    double *times = malloc((size_t)(o->repeats * MODE_COUNT) * sizeof *times);
    if (st == AR_STATUS_OK && !times) st = AR_STATUS_OUT_OF_MEMORY;
    if (st == AR_STATUS_OK)
        st = compare_outputs(ctx, layers[MODE_PLAIN], layers[MODE_GATED], s, &t, rel_diff);
    for (long r = -2; r < o->repeats && st == AR_STATUS_OK; r++) {
        for (int m = 0; m < MODE_COUNT && st == AR_STATUS_OK; m++) {
            double t0 = bench_now_s();
            st = step(ctx, layers[m], s, &t, (uint64_t)(r + 2));
            if (r >= 0) times[m * o->repeats + r] = bench_now_s() - t0;
        }
    }
    /* The overhead from the rounds' own ratios: gated and plain ran back to back in each round,
     * so a load change between rounds cancels (a ratio of medians would not cancel it). */
    double *ratios = malloc((size_t)o->repeats * sizeof *ratios);
    if (st == AR_STATUS_OK && !ratios) st = AR_STATUS_OUT_OF_MEMORY;
    for (long r = 0; r < o->repeats && st == AR_STATUS_OK; r++)
        ratios[r] = times[MODE_GATED * o->repeats + r] / times[MODE_PLAIN * o->repeats + r];
    if (st == AR_STATUS_OK) res->overhead_pct = 100.0 * (bench_median(ratios, o->repeats) - 1.0);
    free(ratios);
    for (int m = 0; m < MODE_COUNT && st == AR_STATUS_OK; m++)
        res->seconds[m] = bench_median(times + m * o->repeats, o->repeats);
    free(times);
    for (int m = 0; m < MODE_COUNT; m++)
        ar_lora_layer_free(layers[m]);
    ar_mem_release(&t.buf);
    return st;
}

static double overhead_pct(const struct result *r)
{
    return r->overhead_pct;
}

static void print_text(const struct options *o, struct ar_ctx *ctx, const struct result *res)
{
    const struct ar_device_info *d = ar_ctx_device(ctx);
    printf("bench lora on device %d: %s / %s\n", d->index, d->platform_name, d->name);
    printf("forward + backward (dX, dA, dB, dg), median of %ld interleaved rounds after 2 "
           "warm-up rounds; dropout %g\n\n",
           o->repeats, (double)o->dropout);
    printf("%-24s %4s %5s %5s %2s %2s %10s %10s %10s %9s\n", "linear map", "N", "in", "out", "G",
           "R", "frozen ms", "plain ms", "gated ms", "gate +%");
    for (size_t i = 0; i < SHAPE_COUNT; i++) {
        const struct shape *s = &shapes[i];
        if (o->quick && !s->quick) continue;
        const double *t = res[i].seconds;
        printf("%-24s %4d %5d %5d %2d %2d %10.3f %10.3f %10.3f %+8.2f%%\n", s->what, s->n, s->in,
               s->out, s->groups, s->rank, t[MODE_FROZEN] * 1e3, t[MODE_PLAIN] * 1e3,
               t[MODE_GATED] * 1e3, overhead_pct(&res[i]));
    }
}

static void print_json(const struct options *o, struct ar_ctx *ctx, const struct result *res)
{
    const struct ar_device_info *d = ar_ctx_device(ctx);
    printf("{\"device_index\": %d, \"device\": \"", d->index);
    for (const char *c = d->name; *c; c++)
        if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20) putchar(*c);
    printf("\", \"repeats\": %ld, \"dropout\": %g, \"target_pct\": 5, \"results\": [", o->repeats,
           (double)o->dropout);
    int first = 1;
    for (size_t i = 0; i < SHAPE_COUNT; i++) {
        const struct shape *s = &shapes[i];
        if (o->quick && !s->quick) continue;
        printf("%s\n  {\"shape\": \"%s\", \"n\": %d, \"in\": %d, \"out\": %d, \"groups\": %d, "
               "\"rank\": %d",
               first ? "" : ",", s->what, s->n, s->in, s->out, s->groups, s->rank);
        for (int m = 0; m < MODE_COUNT; m++)
            printf(", \"%s_ms\": %.4f", mode_names[m], res[i].seconds[m] * 1e3);
        printf(", \"overhead_pct\": %.3f}", overhead_pct(&res[i]));
        first = 0;
    }
    printf("\n]}\n");
}

int cli_bench_lora(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    struct ar_ctx *ctx = cli_open_context(o.device, &rc);
    if (!ctx) return rc;
    struct result res[SHAPE_COUNT] = {0};
    double worst = -INFINITY;
    for (size_t i = 0; i < SHAPE_COUNT && rc == CLI_EXIT_OK; i++) {
        if (o.quick && !shapes[i].quick) continue;
        double rel_diff = 0;
        enum ar_status st = time_shape(ctx, &o, &shapes[i], &res[i], &rel_diff);
        if (st != AR_STATUS_OK) {
            rc = cli_report(ctx, st, shapes[i].what);
        } else if (!(rel_diff <= 1e-4)) { /* float32 sums of 768 terms agree to ~1e-6 */
            fprintf(stderr,
                    "adarank-cl bench lora: %s: gated (g = 1) and plain LoRA disagree "
                    "(max relative difference %.3g)\n",
                    shapes[i].what, rel_diff);
            rc = CLI_EXIT_FAILURE;
        }
        worst = fmax(worst, overhead_pct(&res[i]));
    }
    if (rc == CLI_EXIT_OK) {
        if (o.json)
            print_json(&o, ctx, res);
        else
            print_text(&o, ctx, res);
        if (!o.json)
            printf("\nlargest gate overhead over plain LoRA: %+.2f%% (target <= 5%%: %s)\n", worst,
                   worst <= 5.0 ? "met" : "NOT met");
        if (o.check && worst > 5.0) rc = CLI_EXIT_FAILURE;
    }
    ar_ctx_free(ctx);
    return rc;
}
