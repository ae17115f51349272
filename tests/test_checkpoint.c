/* Checkpoints (checkpoint.h) on the tiny BERT fixture (2 layers, hidden 72, 3 classes):
 *   - a run saved at a step and resumed in a fresh trainer continues bit for bit (same losses,
 *     same final arena) as the run that never stopped, for methods with state beyond the arena
 *     (SoRA's ξ schedule, AdaLoRA's Ī/Ū and pattern, AutoLoRA's and Flexora's selection
 *     variables with their Adam moments and search cursor; DyLoRA's step-drawn rank);
 *   - every damage is detected with a message and leaves the trainer as it was: bad magic, other
 *     version, truncation at many points, padding, a flipped byte anywhere (checksum), another
 *     arena layout, another method;
 *   - the newest bad file falls back to the previous one with a message; only the newest
 *     AR_CHECKPOINT_KEEP files stay; metrics.jsonl is cut back to a step.
 * Token ids come from a toy encoder (no tokenizer needed). */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "toy_data.h"

#define STEPS 10
#define SAVE_AT 4

static char err[2048];
static char model_dir[1024];
static const char *tmp; /* test_tmpdir: removed however the test ends */

/* CHECK_OK as an expression: true when the call succeeded. */
static bool ok(struct ar_ctx *ctx, enum ar_status st)
{
    CHECK_OK(ctx, st);
    return st == AR_STATUS_OK;
}

/* A model, its method and a trainer: what a run (or its resumption) builds from one config. */
struct run {
    struct ar_model *model;
    struct ar_method *method;
    struct ar_trainer *trainer;
    double loss[STEPS + 1]; /* by step */
    const char *save_dir;   /* step_end saves at steps 3 and SAVE_AT here */
};

static enum ar_status on_event(void *u, struct ar_trainer *t, const struct ar_train_event *ev)
{
    (void)t;
    struct run *r = u;
    if (ev->kind == AR_TRAIN_EVENT_STEP && ev->state->step <= STEPS)
        r->loss[ev->state->step] = ev->loss;
    return AR_STATUS_OK;
}

static enum ar_status step_end(void *u, struct ar_trainer *t, const struct ar_train_state *s)
{
    struct run *r = u;
    if (r->save_dir && (s->step == 3 || s->step == SAVE_AT))
        return ar_checkpoint_save(t, r->method, r->save_dir, NULL, 0);
    return AR_STATUS_OK;
}

static bool build(struct ar_ctx *ctx, struct run *r, enum ar_method_kind kind, int rank,
                  const struct ar_encoded *train, const struct ar_encoded *val)
{
    memset(r->loss, 0, sizeof r->loss);
    struct ar_model_options o = ar_model_default_options();
    o.num_labels = 3, o.rank = rank, o.lora_alpha = 8, o.lora_dropout = 0.1f;
    o.hidden_dropout = 0.1f; /* the dropout stream must continue too */
    o.max_batch = 8, o.max_time = 16, o.seed = 11;
    if (!ok(ctx, ar_model_load(ctx, model_dir, &o, &r->model)))
        return false;
    struct ar_method_params mp = ar_method_default_params(kind);
    if (!ok(ctx, ar_method_new(ctx, r->model, &mp, 7, &r->method)))
        return false;
    if ((kind == AR_METHOD_AUTOLORA || kind == AR_METHOD_FLEXORA) &&
        !ok(ctx, ar_method_set_search_data(r->method, val, 4, 0)))
        return false;
    struct ar_train_params p = ar_train_default_params();
    p.batch_size = 4, p.grad_accum = 2, p.max_steps = STEPS, p.eval_every = 3, p.log_every = 1;
    p.eval_batch_size = 8, p.seed = 5, p.restore_best = true, p.lr = 5e-3;
    struct ar_train_hooks h = {.user = r, .on_event = on_event, .step_end = step_end};
    return ok(ctx, ar_trainer_new(ctx, r->model, &p, train, val, &r->trainer)) &&
           ok(ctx, ar_method_attach(r->method, r->trainer)) &&
           ok(ctx, ar_trainer_add_hooks(r->trainer, &h));
}

static void destroy(struct run *r)
{
    ar_trainer_free(r->trainer);
    ar_method_free(r->method);
    ar_model_free(r->model);
    memset(r, 0, sizeof *r);
}

static float *read_params(struct ar_ctx *ctx, struct ar_model *m)
{
    struct ar_arena *a = ar_model_arena(m);
    float *host = calloc(a->total + 1, sizeof *host);
    if (host)
        CHECK_OK(ctx, ar_mem_read(ctx, a->param, host, a->total));
    return host;
}

/* ---- 1. save at SAVE_AT, resume in a fresh run: the same losses and final parameters -------- */

static void resume_case(struct ar_ctx *ctx, enum ar_method_kind kind,
                        const struct ar_encoded *train, const struct ar_encoded *val)
{
    const char *name = ar_method_kind_name(kind);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    mkdir(dir, 0755);
    struct run a = {.save_dir = dir}, b = {0};
    if (!build(ctx, &a, kind, 4, train, val) || !ok(ctx, ar_trainer_run(a.trainer)))
        return;
    float *pa = read_params(ctx, a.model);
    if (build(ctx, &b, kind, 4, train, val)) {
        int step = -1;
        char notes[1024];
        CHECK_OK(ctx, ar_checkpoint_load_latest(b.trainer, b.method, dir, &step, notes,
                                                sizeof notes));
        CHECK(step == SAVE_AT && !notes[0], "%s: resumed from step %d (notes: %s)", name, step,
              notes);
        CHECK_OK(ctx, ar_trainer_run(b.trainer));
        for (int s = SAVE_AT + 1; s <= STEPS; s++)
            CHECK(a.loss[s] == b.loss[s] && a.loss[s] > 0, "%s: step %d loss %.9g, "
                  "uninterrupted %.9g", name, s, b.loss[s], a.loss[s]);
        float *pb = read_params(ctx, b.model);
        size_t n = ar_model_arena(a.model)->total;
        CHECK(pa && pb && !memcmp(pa, pb, n * sizeof *pa), "%s: final parameters differ", name);
        /* the method's own view: gates, selection weights, AdaLoRA's importance from Ī·Ū */
        const struct ar_method_report *ra = NULL, *rb = NULL;
        CHECK_OK(ctx, ar_method_report(a.method, &ra));
        float *va = NULL;
        size_t nv = 0;
        for (int i = 0; ra && i < ra->n_modules; i++)
            nv += (size_t)ra->values_count[i];
        va = calloc(nv + 1, sizeof *va); /* a's report is overwritten by the next call only */
        for (int i = 0, at = 0; va && ra && i < ra->n_modules; at += ra->values_count[i++])
            memcpy(va + at, ra->values[i], (size_t)ra->values_count[i] * sizeof *va);
        CHECK_OK(ctx, ar_method_report(b.method, &rb));
        bool same = va && rb && nv > 0;
        for (int i = 0, at = 0; same && i < rb->n_modules; at += rb->values_count[i++])
            same = !memcmp(va + at, rb->values[i], (size_t)rb->values_count[i] * sizeof *va);
        CHECK(same, "%s: the method's %s values differ", name, ra ? ra->values_kind : "?");
        free(va);
        int best_a, best_b;
        ar_trainer_best_eval(a.trainer, &best_a);
        ar_trainer_best_eval(b.trainer, &best_b);
        CHECK(best_a == best_b, "%s: best step %d vs %d", name, best_b, best_a);
        free(pb);
    }
    free(pa);
    destroy(&a), destroy(&b);
}

/* ---- 2. damaged files ------------------------------------------------------------------------ */

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(*size + 1);
    if (d && fread(d, 1, *size, f) != *size)
        *size = 0;
    fclose(f);
    return d;
}

static void spit(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(d, 1, n, f);
        fclose(f);
    }
}

/* Loading `bytes` fails with BAD_FORMAT, a message holding `want`, and the trainer untouched. */
static void expect_bad(struct ar_ctx *ctx, struct run *r, const void *bytes, size_t n,
                       const char *want, const char *what)
{
    char path[512];
    snprintf(path, sizeof path, "%s/damaged.arck", tmp);
    spit(path, bytes, n);
    enum ar_status st = ar_checkpoint_load(r->trainer, r->method, path);
    const char *msg = ar_ctx_errmsg(ctx);
    CHECK(st == AR_STATUS_BAD_FORMAT && strstr(msg, want) && strstr(msg, "damaged.arck"),
          "%s: status %s, message \"%s\" (want \"%s\")", what, ar_status_name(st), msg, want);
    struct ar_train_progress p;
    ar_trainer_get_progress(r->trainer, &p);
    CHECK(p.step == 0 && p.micro_step == 0, "%s: the trainer moved to step %d", what, p.step);
}

static void damage_cases(struct ar_ctx *ctx, const struct ar_encoded *train,
                         const struct ar_encoded *val)
{
    char good[512];
    snprintf(good, sizeof good, "%s/sora/checkpoint-%d.arck", tmp, SAVE_AT);
    size_t size = 0;
    unsigned char *d = slurp(good, &size);
    CHECK(d && size > 100, "%s: %zu bytes", good, size);
    if (!d || size <= 100) {
        free(d);
        return;
    }
    unsigned char *c = malloc(size + 1);
    struct run r = {0};
    if (!c || !build(ctx, &r, AR_METHOD_SORA, 4, train, val)) {
        free(c), free(d);
        return;
    }
    memcpy(c, d, size);
    c[0] = 'X';
    expect_bad(ctx, &r, c, size, "bad magic", "magic");
    memcpy(c, d, size);
    c[4] = 2;
    expect_bad(ctx, &r, c, size, "version 2", "version");
    /* truncation: inside the header, at every 1/37 of the file, one byte short */
    for (size_t cut = 0; cut < size; cut += cut < 40 ? 7 : size / 37 + 1) {
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu of %zu", cut, size);
        expect_bad(ctx, &r, d, cut, "truncated", what);
    }
    expect_bad(ctx, &r, d, size - 1, "truncated", "one byte short");
    memcpy(c, d, size);
    c[size] = 0;
    expect_bad(ctx, &r, c, size + 1, "padded", "one byte more");
    /* a flipped bit anywhere after the size field: the checksum */
    for (size_t at = 16; at < size; at += size / 23 + 1) {
        memcpy(c, d, size);
        c[at] ^= 0x10;
        char what[64];
        snprintf(what, sizeof what, "byte %zu of %zu flipped", at, size);
        expect_bad(ctx, &r, c, size, "checksum mismatch", what);
    }
    memcpy(c, d, size);
    c[size - 1] ^= 1;
    expect_bad(ctx, &r, c, size, "checksum mismatch", "the checksum itself");
    destroy(&r);
    /* another arena layout (rank 2), another method (LoRA) */
    if (build(ctx, &r, AR_METHOD_SORA, 2, train, val))
        expect_bad(ctx, &r, d, size, "arena layout differs", "rank 2 model");
    destroy(&r);
    if (build(ctx, &r, AR_METHOD_LORA, 4, train, val)) {
        enum ar_status st = ar_checkpoint_load(r.trainer, r.method, good);
        CHECK(st != AR_STATUS_OK && strstr(ar_ctx_errmsg(ctx), "saved by method sora"),
              "method mismatch: %s", ar_ctx_errmsg(ctx));
    }
    destroy(&r);
    free(c), free(d);
}

/* ---- 3. falling back, keeping two, finding none ---------------------------------------------- */

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void fallback_cases(struct ar_ctx *ctx, const struct ar_encoded *train,
                           const struct ar_encoded *val)
{
    char dir[512], newest[600];
    snprintf(dir, sizeof dir, "%s/sora", tmp);
    int steps[8];
    int n = ar_checkpoint_list(dir, steps, 8);
    CHECK(n == 2 && steps[0] == SAVE_AT && steps[1] == 3 && count_files(dir) == 2,
          "keeps the newest %d: %d files (%d, %d)", AR_CHECKPOINT_KEEP, n, steps[0], steps[1]);
    snprintf(newest, sizeof newest, "%s/checkpoint-%d.arck", dir, SAVE_AT);
    size_t size = 0;
    unsigned char *d = slurp(newest, &size);
    if (!d)
        return;
    d[size / 2] ^= 0x01;
    spit(newest, d, size);
    int step = -1;
    char notes[2048], path[600];
    CHECK_OK(ctx, ar_checkpoint_find(dir, &step, path, sizeof path, notes, sizeof notes));
    CHECK(step == 3 && strstr(notes, "checkpoint-4.arck") && strstr(notes, "checksum mismatch") &&
              strstr(notes, "falling back"),
          "find: step %d, notes \"%s\"", step, notes);
    struct run r = {0};
    if (build(ctx, &r, AR_METHOD_SORA, 4, train, val)) {
        CHECK_OK(ctx, ar_checkpoint_load_latest(r.trainer, r.method, dir, &step, notes,
                                                sizeof notes));
        struct ar_train_progress p;
        ar_trainer_get_progress(r.trainer, &p);
        CHECK(step == 3 && p.step == 3 && strstr(notes, "checksum mismatch"),
              "load_latest: step %d (%d), notes \"%s\"", step, p.step, notes);
        /* both bad: an error naming the last one tried */
        snprintf(path, sizeof path, "%s/checkpoint-3.arck", dir);
        spit(path, "ARCK", 4);
        enum ar_status st = ar_checkpoint_load_latest(r.trainer, r.method, dir, &step, notes,
                                                      sizeof notes);
        CHECK(st == AR_STATUS_BAD_FORMAT && strstr(ar_ctx_errmsg(ctx), "no good checkpoint") &&
                  strstr(notes, "no older checkpoint"),
              "none good: %s / %s", ar_status_name(st), ar_ctx_errmsg(ctx));
        ar_checkpoint_remove_all(dir);
        st = ar_checkpoint_load_latest(r.trainer, r.method, dir, &step, notes, sizeof notes);
        CHECK(st == AR_STATUS_NOT_FOUND && count_files(dir) == 0, "none: %s",
              ar_status_name(st));
        /* a save removes the temporary a killed write left */
        snprintf(path, sizeof path, "%s/checkpoint-9.arck.tmp", dir);
        spit(path, "ARCK", 4);
        CHECK_OK(ctx, ar_checkpoint_save(r.trainer, r.method, dir, path, sizeof path));
        CHECK(strstr(path, "checkpoint-3.arck") && count_files(dir) == 1,
              "saved %s; %d files (no temporaries)", path, count_files(dir));
    }
    destroy(&r);
    free(d);
}

/* ---- 4. metrics.jsonl cut back to a step ---------------------------------------------------- */

static void trim_case(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", tmp);
    const char *stream = "{\"event\":\"run_start\",\"schema\":1}\n"
                         "{\"event\":\"ranks\",\"step\":0}\n"
                         "{\"event\":\"step\",\"step\":1,\"loss\":1}\n"
                         "{\"event\":\"ranks\",\"step\":1}\n"
                         "{\"event\":\"step\",\"step\":2,\"loss\":1}\n"
                         "{\"event\":\"run_end\",\"step\":2,\"status\":\"interrupted\"}\n"
                         "{\"event\":\"step\",\"step\":3,\"loss\":1}\n"
                         "{\"event\":\"ranks\",\"step\":3}\n"
                         "{\"event\":\"step\",\"st";
    spit(path, stream, strlen(stream));
    int last_ranks = -2;
    CHECK(ar_checkpoint_trim_metrics(path, 2, &last_ranks, err, sizeof err) == AR_STATUS_OK,
          "trim: %s", err);
    size_t size = 0;
    unsigned char *d = slurp(path, &size);
    const char *want = "{\"event\":\"run_start\",\"schema\":1}\n"
                       "{\"event\":\"ranks\",\"step\":0}\n"
                       "{\"event\":\"step\",\"step\":1,\"loss\":1}\n"
                       "{\"event\":\"ranks\",\"step\":1}\n"
                       "{\"event\":\"step\",\"step\":2,\"loss\":1}\n";
    CHECK(d && size == strlen(want) && !memcmp(d, want, size) && last_ranks == 1,
          "trimmed to step 2 (last ranks %d):\n%.*s", last_ranks, (int)size, d ? (char *)d : "");
    free(d);
    spit(path, stream, strlen(stream)); /* a cut last line is dropped even when nothing else is */
    CHECK(ar_checkpoint_trim_metrics(path, 99, NULL, err, sizeof err) == AR_STATUS_OK, "%s", err);
    d = slurp(path, &size);
    CHECK(d && size > 0 && d[size - 1] == '\n' && !strstr((char *)d, "run_end"),
          "the partial line and run_end are dropped");
    free(d);
    snprintf(path, sizeof path, "%s/no_such.jsonl", tmp);
    CHECK(ar_checkpoint_trim_metrics(path, 2, NULL, err, sizeof err) == AR_STATUS_IO &&
              strstr(err, "no_such.jsonl"),
          "missing file: %s", err);
}

int main(void)
{
    const char *data = getenv("ADARANK_TEST_DATA");
    snprintf(model_dir, sizeof model_dir, "%s/fixtures/bert_tiny", data ? data : "tests");
    struct ar_ctx *ctx = test_open_ctx();
    if (!(tmp = test_tmpdir("checkpoint")))
        return 1;
    struct ar_encoded *train = toy_reviews(27, 3, "ckpt.tsv");
    struct ar_encoded *val = toy_reviews(9, 3, "ckpt.tsv");
    if (!train || !val)
        return test_finish("checkpoint");
    /* 27 rows, batch 4: 7 batches an epoch in steps of 2, 2, 2 and 1; SAVE_AT is mid-epoch */
    resume_case(ctx, AR_METHOD_SORA, train, val);
    resume_case(ctx, AR_METHOD_ADALORA, train, val);
    resume_case(ctx, AR_METHOD_AUTOLORA, train, val);
    resume_case(ctx, AR_METHOD_FLEXORA, train, val);
    resume_case(ctx, AR_METHOD_DYLORA, train, val);
    damage_cases(ctx, train, val);
    fallback_cases(ctx, train, val);
    trim_case();
    ar_encoded_free(train), ar_encoded_free(val);
    ar_ctx_free(ctx);
    return test_finish("checkpoint");
}
