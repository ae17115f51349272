/* `adarank-cl bench step`: one whole LoRA training step of a real checkpoint, against PyTorch.
 *
 * A step is what core/train.c does per optimizer step with no accumulation: zero the gradient
 * region, forward to the loss in training mode, backward, the global gradient norm (clipping to
 * 1), one AdamW update over the arena, clFinish. The batch is synthetic but full: B rows of T
 * random token ids, no padding, random labels. After warm-up steps (CLBlast and our kernels
 * compile on first use) K steps are timed and the median reported, with the median of each phase
 * (forward, backward, optimizer; every phase already ends in a host wait, so timing them costs
 * nothing extra).
 *
 * The reference is tests/bench/bench_step_torch.py, run as a child process with the same model,
 * batch, length, rank, targets and threads: the ratio adarank-cl / PyTorch is measured in one run,
 * so the machine's load and speed cancel as far as they can (issue 3). Without PyTorch the run
 * says why and reports adarank-cl alone. Memory: the peak RSS of each process, and our device
 * bytes split into the frozen base, the trainable arena (which scales with the adapters, not the
 * model) and the rest (activations, sized for B×T).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_step.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: adarank-cl bench step [options]\n\n"
            "Times one LoRA training step (forward + backward + gradient clip + AdamW) of a real\n"
            "checkpoint on a synthetic full-length batch, and the same step in PyTorch\n"
            "(tests/bench/bench_step_torch.py, run with python3 when torch is importable), and\n"
            "prints both, their ratio, peak host memory and device memory.\n\n"
            "  --model DIR       checkpoint folder (default: $ADARANK_MODEL_DIR, else\n"
            "                    .cache/models/all-MiniLM-L6-v2)\n"
            "  --batch B         rows per batch (default 16, --quick 4)\n"
            "  --seq T           tokens per row (default 128, --quick 32; at most the model's\n"
            "                    positions)\n"
            "  --rank R          LoRA rank (default 8)\n"
            "  --targets LIST    LoRA target modules (default query,value)\n"
            "  --steps K         timed steps after 2 warm-up steps, median reported (default 5,\n"
            "                    --quick 2)\n"
            "  --rounds N        alternate N times: adarank-cl's steps, then PyTorch's; every\n"
            "                    figure is the median over the rounds, the ratio the median of\n"
            "                    the rounds' ratios (default 1)\n"
            "  --threads N       CPU threads for PoCL (POCL_MAX_PTHREAD_COUNT) and for PyTorch\n"
            "                    (default: $POCL_MAX_PTHREAD_COUNT, else the online CPUs)\n"
            "  --device N|NAME   device index or name substring\n"
            "  --torch-script F  the PyTorch reference (default: found next to the sources)\n"
            "  --python P        the interpreter (default: $ADARANK_PYTHON, /usr/bin/python3,\n"
            "                    python3: the first that imports torch)\n"
            "  --no-torch        skip the PyTorch reference\n"
            "  --profile         then run one more step with every operation timed alone and\n"
            "                    print where the time goes (not with --json)\n"
            "  --quick           small defaults and one warm-up step (for tests)\n"
            "  --json            one JSON object on stdout instead of the text\n");
}

static int parse_int(const char *opt, const char *text, long lo, long hi, int *out)
{
    long v = 0;
    if (bench_parse_long(text, lo, hi, &v)) {
        fprintf(stderr, "adarank-cl bench step: %s needs an integer in %ld..%ld, got \"%s\"\n", opt,
                lo, hi, text);
        return CLI_EXIT_USAGE;
    }
    *out = (int)v;
    return CLI_EXIT_OK;
}

static int parse_options(int argc, char **argv, struct step_options *o)
{
    *o = (struct step_options){.rank = 8, .targets = "query,value"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = CLI_EXIT_OK;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--quick")) {
            o->quick = true;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--no-torch")) {
            o->no_torch = true;
        } else if (!strcmp(a, "--profile")) {
            o->profile = true;
        } else if (!v) {
            fprintf(stderr,
                    "adarank-cl bench step: unknown option or missing value \"%s\" "
                    "(try --help)\n",
                    a);
            return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--model")) {
            o->model = argv[++i];
        } else if (!strcmp(a, "--targets")) {
            o->targets = argv[++i];
        } else if (!strcmp(a, "--device")) {
            o->device = argv[++i];
        } else if (!strcmp(a, "--torch-script")) {
            o->script = argv[++i];
        } else if (!strcmp(a, "--python")) {
            o->python = argv[++i];
        } else if (!strcmp(a, "--batch")) {
            rc = parse_int(a, argv[++i], 1, 4096, &o->batch);
        } else if (!strcmp(a, "--seq")) {
            rc = parse_int(a, argv[++i], 1, 65536, &o->seq);
        } else if (!strcmp(a, "--rank")) {
            rc = parse_int(a, argv[++i], 0, 1024, &o->rank);
        } else if (!strcmp(a, "--steps")) {
            rc = parse_int(a, argv[++i], 1, 1000, &o->steps);
        } else if (!strcmp(a, "--rounds")) {
            rc = parse_int(a, argv[++i], 1, 100, &o->rounds);
        } else if (!strcmp(a, "--threads")) {
            rc = parse_int(a, argv[++i], 1, 1024, &o->threads);
        } else {
            fprintf(stderr, "adarank-cl bench step: unknown option \"%s\" (try --help)\n", a);
            return CLI_EXIT_USAGE;
        }
        if (rc != CLI_EXIT_OK) return rc;
    }
    if (!o->model) o->model = getenv("ADARANK_MODEL_DIR");
    if (!o->model || !*o->model) o->model = ".cache/models/all-MiniLM-L6-v2";
    if (!o->batch) o->batch = o->quick ? 4 : 16;
    if (!o->steps) o->steps = o->quick ? 2 : 5;
    if (!o->rounds) o->rounds = 1;
    o->warmup = o->quick ? 1 : 2;
    const char *pocl = getenv("POCL_MAX_PTHREAD_COUNT");
    if (!o->threads && pocl && atoi(pocl) > 0) o->threads = atoi(pocl);
    if (!o->threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads = n > 0 ? (int)n : 1;
    }
    return CLI_EXIT_OK;
}

/* ---- adarank-cl's step ----------------------------------------------------------------------- */

/* CPU time of the whole process, PoCL's worker threads included: less sensitive than wall time
 * to other processes sharing the cores (but it counts threads that spin while waiting). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The classifier's label count when the checkpoint carries a head (its shape must match), else
 * 2. A missing or unreadable checkpoint is left for ar_model_load to report. */
static int checkpoint_labels(const char *dir)
{
    struct ar_safetensors *st = NULL;
    char err[256];
    int labels = 2;
    if (ar_safetensors_open(dir, &st, err, sizeof err) == AR_STATUS_OK) {
        const struct ar_st_tensor *t = ar_safetensors_find(st, "classifier.weight");
        if (!t) t = ar_safetensors_find(st, "classifier.out_proj.weight");
        if (t && t->ndim == 2 && t->shape[0] >= 2 && t->shape[0] <= 1 << 20)
            labels = (int)t->shape[0];
    }
    ar_safetensors_free(st);
    return labels;
}

/* Frozen base parameters of a BERT/RoBERTa, as model_load.c lays them out, without padding. */
static size_t base_floats(const struct ar_model_config *c)
{
    size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    size_t emb =
        ((size_t)c->vocab_size + (size_t)c->max_positions + (size_t)c->type_vocab_size) * C;
    size_t layer = 4 * C * C + 4 * C + 2 * I * C + I + C + 4 * C; /* q,k,v,o; FFN; 2 LNs */
    size_t pooler = strcmp(c->model_type, "roberta") ? C * C + C : 0;
    return emb + 2 * C + (size_t)c->num_layers * layer + pooler;
}

/* A full batch: ids uniform in [1, vocab) (0 is BERT's padding), one segment, no padding. */
struct synthetic {
    int32_t *ids, *types, *mask, *labels;
};

static bool synthetic_new(struct synthetic *s, int B, int T, int vocab, int labels)
{
    size_t n = (size_t)B * (size_t)T;
    s->ids = malloc(n * sizeof *s->ids);
    s->types = calloc(n, sizeof *s->types);
    s->mask = malloc(n * sizeof *s->mask);
    s->labels = malloc((size_t)B * sizeof *s->labels);
    if (!s->ids || !s->types || !s->mask || !s->labels) return false;
    unsigned long long state = 7;
    for (size_t i = 0; i < n + (size_t)B; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned r = (unsigned)(state >> 33);
        if (i < n)
            s->ids[i] = 1 + (int32_t)(r % (unsigned)(vocab - 1)), s->mask[i] = 1;
        else
            s->labels[i - n] = (int32_t)(r % (unsigned)labels);
    }
    return true;
}

static void synthetic_free(struct synthetic *s)
{
    free(s->ids);
    free(s->types);
    free(s->mask);
    free(s->labels);
}

/* One optimizer step as train.c takes it; phase times (s) in t[0..2]. */
enum ar_status step_run_one(struct ar_ctx *ctx, struct ar_model *model,
                            const struct ar_batch *batch, int step, double t[3], float *loss)
{
    struct ar_arena *arena = ar_model_arena(model);
    double t0 = bench_now_s();
    enum ar_status st = ar_arena_zero_grad(ctx, arena);
    if (st == AR_STATUS_OK) st = ar_model_forward(model, batch, true, (uint64_t)step, loss);
    double t1 = bench_now_s();
    if (st == AR_STATUS_OK) st = ar_model_backward(model, 1.0f);
    if (st == AR_STATUS_OK) st = ar_ctx_finish(ctx);
    double t2 = bench_now_s(), sq = 0;
    if (st == AR_STATUS_OK) st = ar_sum_squares(ctx, arena->total, arena->grad, &sq);
    struct ar_adamw_params hp = ar_adamw_default_params();
    hp.lr = 1e-4f;
    hp.grad_scale = sqrt(sq) > 1.0 ? (float)(1.0 / (sqrt(sq) + 1e-6)) : 1.0f;
    hp.step = step + 1;
    if (st == AR_STATUS_OK)
        st = ar_adamw_update(ctx, &hp, arena->total, arena->param, arena->grad, arena->m, arena->v,
                             arena->decay_mask);
    if (st == AR_STATUS_OK) st = ar_ctx_finish(ctx);
    double t3 = bench_now_s();
    t[0] = t1 - t0, t[1] = t2 - t1, t[2] = t3 - t2;
    return st;
}

static enum ar_status time_steps(struct ar_ctx *ctx, struct ar_model *model,
                                 const struct ar_batch *batch, const struct step_options *o,
                                 struct step_result *r)
{
    int K = o->steps;
    double *t = malloc((size_t)K * 5 * sizeof *t);
    if (!t) return AR_STATUS_OUT_OF_MEMORY;
    enum ar_status st = AR_STATUS_OK;
    for (int s = 0; st == AR_STATUS_OK && s < o->warmup + K; s++) {
        double phase[3], t0 = bench_now_s(), c0 = cpu_s();
        float loss = NAN;
        st = step_run_one(ctx, model, batch, s, phase, &loss);
        double total = bench_now_s() - t0, cpu = cpu_s() - c0;
        if (s == 0) r->loss_first = loss;
        r->loss_last = loss;
        if (st == AR_STATUS_OK && !isfinite(loss)) {
            fprintf(stderr, "adarank-cl bench step: the loss is %g at step %d\n", (double)loss, s);
            st = AR_STATUS_INVALID_ARGUMENT;
        }
        int k = s - o->warmup;
        if (k >= 0)
            t[k] = total, t[K + k] = phase[0], t[2 * K + k] = phase[1], t[3 * K + k] = phase[2],
            t[4 * K + k] = cpu;
    }
    if (st == AR_STATUS_OK) {
        r->step_s = bench_median(t, K);
        for (int p = 0; p < 3; p++)
            r->phase_s[p] = bench_median(t + (p + 1) * K, K);
        r->cpu_s = bench_median(t + 4 * K, K);
    }
    free(t);
    return st;
}

/* Medians over the rounds: PyTorch runs right after each round of adarank-cl's steps, so a
 * round's ratio compares two measurements taken a minute apart, and the median of the rounds'
 * ratios is steadier on a shared machine than one ratio of two separate runs. The figures of
 * each round are kept as series of R values in one block. */
enum round_series { OURS_STEP, OURS_FORWARD, OURS_BACKWARD, OURS_OPTIMIZER, OURS_CPU, TORCH_STEP,
                    TORCH_CPU, WALL_RATIO, CPU_RATIO, SERIES };

struct rounds {
    double *v; /* SERIES series of R values, then R for bench_median to sort */
    int R;
};

static double *series(const struct rounds *rd, enum round_series s)
{
    return rd->v + (size_t)s * (size_t)rd->R;
}

/* The median of the first n values of a series (left in place: sorted in the spare series). */
static double rounds_median(const struct rounds *rd, enum round_series s, int n)
{
    double *spare = series(rd, SERIES);
    memcpy(spare, series(rd, s), (size_t)n * sizeof *spare);
    return bench_median(spare, n);
}

static enum ar_status time_rounds(struct ar_ctx *ctx, struct ar_model *model,
                                  const struct ar_batch *batch, const struct step_options *o,
                                  struct step_result *r, struct torch_result *t)
{
    struct rounds rd = {malloc((size_t)o->rounds * (SERIES + 1) * sizeof(double)), o->rounds};
    if (!rd.v) return AR_STATUS_OUT_OF_MEMORY;
    enum ar_status st = AR_STATUS_OK;
    int done = 0, torch_done = 0; /* PyTorch stops at its first failure */
    float loss_first = NAN;
    for (; done < o->rounds && st == AR_STATUS_OK; done++) {
        st = time_steps(ctx, model, batch, o, r);
        if (st != AR_STATUS_OK) break;
        if (done == 0) loss_first = r->loss_first;
        series(&rd, OURS_STEP)[done] = r->step_s;
        for (int p = 0; p < 3; p++)
            series(&rd, OURS_FORWARD + p)[done] = r->phase_s[p];
        series(&rd, OURS_CPU)[done] = r->cpu_s;
        if (torch_done == done) {
            step_run_torch(o, r->labels, t);
            if (t->ok) {
                series(&rd, TORCH_STEP)[done] = t->step_s;
                series(&rd, TORCH_CPU)[done] = t->cpu_s;
                series(&rd, WALL_RATIO)[done] = r->step_s / t->step_s;
                series(&rd, CPU_RATIO)[done] = t->cpu_s > 0 ? r->cpu_s / t->cpu_s : 0;
                torch_done++;
            }
        }
    }
    if (st == AR_STATUS_OK) {
        r->loss_first = loss_first;
        r->step_s = rounds_median(&rd, OURS_STEP, done);
        for (int p = 0; p < 3; p++)
            r->phase_s[p] = rounds_median(&rd, OURS_FORWARD + p, done);
        r->cpu_s = rounds_median(&rd, OURS_CPU, done);
        if (torch_done == done) { /* PyTorch ran in every round */
            t->step_s = rounds_median(&rd, TORCH_STEP, done);
            t->cpu_s = rounds_median(&rd, TORCH_CPU, done);
            r->ratio = rounds_median(&rd, WALL_RATIO, done);
            if (t->cpu_s > 0) r->cpu_ratio = rounds_median(&rd, CPU_RATIO, done);
        }
    }
    free(rd.v);
    return st;
}

static int run_ours(struct ar_ctx *ctx, const struct step_options *o, struct step_result *r,
                    struct torch_result *t)
{
    struct ar_model_options mo = ar_model_default_options();
    mo.num_labels = checkpoint_labels(o->model);
    mo.target_modules = o->targets;
    mo.rank = o->rank;
    mo.lora_alpha = (float)(o->rank > 0 ? o->rank : 1); /* PEFT's default: alpha = r */
    mo.max_batch = o->batch;
    mo.max_time = o->seq;
    r->labels = mo.num_labels;
    struct ar_model *model = NULL;
    enum ar_status st = ar_model_load(ctx, o->model, &mo, &model);
    if (st != AR_STATUS_OK) {
        ar_model_free(model);
        return cli_report(ctx, st, "loading the model");
    }
    const struct ar_model_config *c = ar_model_config(model);
    struct ar_arena *arena = ar_model_arena(model);
    r->cfg = *c;
    r->modules = ar_model_module_count(model);
    r->trainable_floats = arena->total;
    r->base_bytes = c->arch == AR_ARCH_BERT ? base_floats(c) * sizeof(float) : 0; /* 0: unknown */
    r->arena_bytes = 5 * arena->total * sizeof(float); /* param, grad, m, v, decay mask */
    struct synthetic s = {0};
    if (!synthetic_new(&s, o->batch, o->seq, c->vocab_size, mo.num_labels))
        st = AR_STATUS_OUT_OF_MEMORY;
    struct ar_batch batch = {o->batch, o->seq, s.ids, s.types, s.mask, s.labels};
    if (st == AR_STATUS_OK) st = time_rounds(ctx, model, &batch, o, r, t);
    if (st == AR_STATUS_OK && o->profile && !o->json)
        st = step_profile_run(ctx, model, &batch, o->rounds * (o->warmup + o->steps), r);
    r->device_now = ar_ctx_device_bytes(ctx, &r->device_peak);
    struct rusage ru;
    r->rss_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
    synthetic_free(&s);
    ar_model_free(model);
    return st == AR_STATUS_OK ? CLI_EXIT_OK : cli_report(ctx, st, "bench step");
}

/* --seq may not exceed the model's positions; the default shrinks to fit. */
static int check_model(struct step_options *o, bool seq_given)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/config.json", o->model);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr,
                "adarank-cl bench step: --model %s: no config.json there (a checkpoint "
                "folder holds config.json and model.safetensors)\n",
                o->model);
        return CLI_EXIT_BAD_INPUT;
    }
    struct ar_model_config cfg;
    if (ar_model_config_load(path, &cfg, err, sizeof err) != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl bench step: %s\n", err);
        return CLI_EXIT_BAD_INPUT;
    }
    int positions =
        cfg.max_positions - (strcmp(cfg.model_type, "roberta") ? 0 : cfg.pad_token_id + 1);
    if (!seq_given) o->seq = (o->quick ? 32 : 128) < positions ? (o->quick ? 32 : 128) : positions;
    if (o->seq > positions) {
        fprintf(stderr, "adarank-cl bench step: --seq %d exceeds the %d positions of %s\n", o->seq,
                positions, o->model);
        return CLI_EXIT_BAD_INPUT;
    }
    return CLI_EXIT_OK;
}

int cli_bench_step(int argc, char **argv)
{
    struct step_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    if ((rc = check_model(&o, o.seq > 0)) != CLI_EXIT_OK) return rc;
    /* PoCL's CPU device reads its thread count once, when the platform is first opened. */
    char threads[16];
    snprintf(threads, sizeof threads, "%d", o.threads);
    setenv("POCL_MAX_PTHREAD_COUNT", threads, 1);
    struct step_result ours = {0};
    step_loadavg(ours.load);
    struct ar_ctx *ctx = cli_open_context(o.device, &rc);
    if (!ctx) return rc;
    struct torch_result torch = {0};
    rc = run_ours(ctx, &o, &ours, &torch);
    if (rc == CLI_EXIT_OK) {
        step_loadavg(ours.load + 3);
        step_print(&o, ctx, &ours, &torch);
        if (o.profile && !o.json) step_profile_print(ctx, &ours);
    }
    ar_ctx_free(ctx);
    return rc;
}
