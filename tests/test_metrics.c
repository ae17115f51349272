/* metrics.jsonl: write a run, read it back whole and incrementally (tailing a growing file with a
 * partial last line), and reject malformed lines with "FILE:LINE: what". No device needed. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define N_MOD 4

static const struct ar_metrics_module modules[N_MOD] = {
    {"bert.encoder.layer.0.attention.self.query", 0, 384, 384, 8},
    {"bert.encoder.layer.0.attention.self.value", 0, 384, 384, 8},
    {"bert.encoder.layer.1.attention.self.query", 1, 384, 384, 8},
    {"bert.encoder.layer.1.attention.self.value", 1, 384, 384, 8},
};

static void tmp_path(char *out, size_t size, const char *name)
{
    static const char *dir;
    if (!dir && !(dir = test_tmpdir("metrics")))
        exit(1);
    snprintf(out, size, "%s/%s", dir, name);
}

static struct ar_metrics_writer *open_writer(const char *path)
{
    struct ar_metrics_run_info info = {
        .method = "sora",
        .model = "all-MiniLM-L6-v2",
        .device = "pthread \"cpu\"",
        .config_json = "{\"lr\":0.0008,\"sora\":{\"xi\":0.0003,\"lambda\":10},\"seed\":42}",
        .modules = modules,
        .n_modules = N_MOD,
        .n_layers = 2};
    struct ar_metrics_writer *w = NULL;
    char err[512];
    enum ar_status st = ar_metrics_writer_open(path, &info, &w, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "open: %s", err);
    return w;
}

static void write_ranks(struct ar_metrics_writer *w, int64_t step, int drop)
{
    int eff[N_MOD], alloc[N_MOD], count[N_MOD];
    float gates[N_MOD][8];
    const float *gate_ptr[N_MOD];
    for (int i = 0; i < N_MOD; i++) {
        alloc[i] = 8, count[i] = 8;
        eff[i] = 8 - (drop * (i + 1)) / N_MOD;
        for (int j = 0; j < 8; j++)
            gates[i][j] = j < eff[i] ? 0.5f + 0.1f * (float)j : 0.0f;
        gate_ptr[i] = gates[i];
    }
    float score[2] = {0.25f, -0.5f};
    bool selected[2] = {true, false};
    struct ar_metrics_ranks r = {.step = step,
                                 .effective = eff,
                                 .allocated = alloc,
                                 .threshold = 3e-4 * (double)step,
                                 .values_count = count,
                                 .gate = gate_ptr,
                                 .n_layers = 2,
                                 .layer_score = score,
                                 .layer_selected = selected};
    CHECK(ar_metrics_write_ranks(w, &r) == AR_STATUS_OK, "%s", ar_metrics_writer_errmsg(w));
}

static void write_run(const char *path)
{
    struct ar_metrics_writer *w = open_writer(path);
    if (!w) return;
    for (int s = 1; s <= 20; s++) {
        struct ar_metrics_step st = {s, s / 10.0, 1.0 / s, 1e-4, NAN, 1000.0 * s, 0.5 * s};
        CHECK(ar_metrics_write_step(w, &st) == AR_STATUS_OK, "step");
        if (s % 5 == 0) write_ranks(w, s, s / 5);
        if (s % 10 == 0) {
            struct ar_metrics_eval e = {s, "validation", 0.5, 0.8 + s / 100.0, NAN, 0.6};
            CHECK(ar_metrics_write_eval(w, &e) == AR_STATUS_OK, "eval");
        }
    }
    int final_ranks[N_MOD] = {7, 6, 5, 4};
    CHECK(ar_metrics_write_end(w, 20, "completed", 10.0, final_ranks, "done") == AR_STATUS_OK,
          "end");
    CHECK(ar_metrics_writer_close(w) == AR_STATUS_OK, "close");
}

static void check_run(const struct ar_metrics_run *run)
{
    CHECK(run->schema == 1, "schema %d", run->schema);
    CHECK(run->method && !strcmp(run->method, "sora"), "method");
    CHECK(run->device && !strcmp(run->device, "pthread \"cpu\""), "escaped device string");
    CHECK(run->n_modules == N_MOD && run->n_layers == 2, "modules %d layers %d", run->n_modules,
          run->n_layers);
    CHECK(run->n_modules == N_MOD && !strcmp(run->modules[3].name, modules[3].name) &&
              run->modules[3].layer == 1 && run->modules[3].rank == 8,
          "module 3");
    bool found_xi = false;
    for (size_t i = 0; i < run->n_config; i++)
        if (!strcmp(run->config[i].key, "sora.xi") && !strcmp(run->config[i].value, "0.0003"))
            found_xi = true;
    CHECK(found_xi && run->n_config == 4, "config flattened (%zu items)", run->n_config);
    CHECK(run->loss.count == 20 && fabs(run->loss.y[3] - 0.25) < 1e-7 && run->loss.x[3] == 4,
          "loss series");
    CHECK(run->grad_norm.count == 0, "null grad_norm is absent");
    CHECK(run->n_snapshots == 4 && run->snapshot_step[3] == 20, "snapshots %zu", run->n_snapshots);
    if (run->n_snapshots == 4) {
        /* step 20: drop 4 -> effective 8 - (4 (i+1))/4 = 7,6,5,4 */
        CHECK(run->effective[3 * N_MOD + 3] == 4 && run->effective[3 * N_MOD] == 7, "effective");
        CHECK(fabsf(run->sparsity[3 * N_MOD + 3] - 0.5f) < 1e-6f, "sparsity computed");
    }
    CHECK(run->total_sparsity.count == 4 && fabs(run->total_sparsity.y[3] - 10.0 / 32) < 1e-6,
          "total sparsity");
    CHECK(run->threshold.count == 4, "threshold");
    CHECK(run->gate_count && run->gate_count[2] == 8 && fabsf(run->gate[2][1] - 0.6f) < 1e-6f &&
              run->gate[2][7] == 0.0f,
          "latest gate");
    CHECK(run->n_flexora == 4 && run->flexora_score[1] == -0.5f && run->flexora_selected &&
              run->flexora_selected[0] && !run->flexora_selected[1],
          "flexora");
    CHECK(run->n_splits == 1 && run->splits[0].accuracy.count == 2 && run->splits[0].f1.count == 0,
          "eval split");
    /* write_run's records are classification ones (perplexity 0: not written): absent here. */
    CHECK(run->n_splits == 1 && run->splits[0].perplexity.count == 0,
          "a classification record reads without perplexity");
    CHECK(run->ended && !strcmp(run->end_status, "completed") && run->final_ranks &&
              run->final_ranks[3] == 4,
          "run_end");
    CHECK(run->last_step == 20, "last step");
}

static void test_roundtrip(void)
{
    char path[512], err[512];
    tmp_path(path, sizeof path, "roundtrip.jsonl");
    write_run(path);
    struct ar_metrics_run run;
    enum ar_status st = ar_metrics_read_file(path, &run, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "read: %s", err);
    if (st == AR_STATUS_OK) check_run(&run);
    ar_metrics_run_clear(&run);
    remove(path);
}

/* Causal-LM eval records carry "perplexity" (written only when >= 1): it reads back into its
 * split's series, a record without it adds no point, and a wrong type is refused. The values
 * are exact binary fractions with few digits, so the writer's %.9g round-trips them exactly. */
static void test_perplexity(void)
{
    char path[512], err[512];
    tmp_path(path, sizeof path, "lm.jsonl");
    struct ar_metrics_writer *w = open_writer(path);
    if (!w) return;
    struct ar_metrics_eval e = {10, "validation", 3.5, NAN, NAN, NAN};
    e.perplexity = 33.125;
    CHECK(ar_metrics_write_eval(w, &e) == AR_STATUS_OK, "eval 10");
    e.step = 20, e.perplexity = 17.25;
    CHECK(ar_metrics_write_eval(w, &e) == AR_STATUS_OK, "eval 20");
    struct ar_metrics_eval cls = {20, "test", 0.5, 0.75, 0.5, 0.25}; /* perplexity 0: absent */
    CHECK(ar_metrics_write_eval(w, &cls) == AR_STATUS_OK, "classification eval");
    e.split = "test", e.perplexity = NAN; /* NaN: absent too */
    CHECK(ar_metrics_write_eval(w, &e) == AR_STATUS_OK, "eval without perplexity");
    CHECK(ar_metrics_writer_close(w) == AR_STATUS_OK, "close");

    struct ar_metrics_run run;
    enum ar_status st = ar_metrics_read_file(path, &run, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "read: %s", err);
    if (st == AR_STATUS_OK) {
        CHECK(run.n_splits == 2 && !strcmp(run.splits[0].name, "validation") &&
                  !strcmp(run.splits[1].name, "test"),
              "splits %zu", run.n_splits);
        const struct ar_metrics_series *v = &run.splits[0].perplexity;
        CHECK(v->count == 2 && v->x[0] == 10 && v->y[0] == 33.125 && v->x[1] == 20 &&
                  v->y[1] == 17.25,
              "validation perplexity: %zu points", v->count);
        CHECK(run.splits[0].loss.count == 2 && run.splits[0].accuracy.count == 0,
              "LM records: loss, null accuracy");
        CHECK(run.n_splits == 2 && run.splits[1].perplexity.count == 0 &&
                  run.splits[1].accuracy.count == 1,
              "records without perplexity add no point");
    }
    ar_metrics_run_clear(&run);
    remove(path);
}

/* Copies the file to a second path in pieces, polling after each: a tailing reader must end with
 * exactly what a whole-file read gives, whatever the cut points. */
static void test_tail(void)
{
    char src[512], dst[512];
    tmp_path(src, sizeof src, "tail_src.jsonl");
    tmp_path(dst, sizeof dst, "tail_dst.jsonl");
    write_run(src);
    FILE *in = fopen(src, "rb");
    CHECK(in != NULL, "open source");
    if (!in) return;
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text, in);
    fclose(in);
    remove(dst);
    struct ar_metrics_reader *r = NULL;
    CHECK(ar_metrics_reader_new(dst, &r) == AR_STATUS_OK, "reader");
    CHECK(ar_metrics_reader_poll(r, NULL) == AR_STATUS_NOT_FOUND, "missing file");
    FILE *out = fopen(dst, "wb");
    size_t pos = 0, total_events = 0, piece = 37;
    bool ok = true;
    while (pos < len) {
        size_t n = len - pos < piece ? len - pos : piece;
        fwrite(text + pos, 1, n, out);
        fflush(out);
        pos += n;
        piece = piece * 3 % 997 + 1; /* uneven cuts, often inside a line */
        size_t events = 0;
        if (ar_metrics_reader_poll(r, &events) != AR_STATUS_OK) {
            ok = false;
            fprintf(stderr, "poll: %s\n", ar_metrics_reader_errmsg(r));
            break;
        }
        total_events += events;
        if (pos < len && text[pos - 1] != '\n') ok = ok && ar_metrics_reader_pending(r) > 0;
    }
    fclose(out);
    CHECK(ok, "every poll succeeded and held back partial lines");
    CHECK(total_events == 1 + 20 + 4 + 2 + 1, "events %zu", total_events);
    CHECK(ar_metrics_reader_pending(r) == 0, "nothing pending at the end");
    check_run(ar_metrics_reader_run(r));
    ar_metrics_reader_free(r);
    remove(src), remove(dst);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

/* Each bad file gives BAD_FORMAT and a message naming the file, the line and the problem. */
static void expect_bad(const char *text, const char *line_tag, const char *what)
{
    char path[512], err[1024];
    tmp_path(path, sizeof path, "bad.jsonl");
    write_text(path, text);
    struct ar_metrics_run run;
    enum ar_status st = ar_metrics_read_file(path, &run, err, sizeof err);
    CHECK(st == AR_STATUS_BAD_FORMAT, "%s: status %s", what, ar_status_name(st));
    char tag[600];
    snprintf(tag, sizeof tag, "%s:%s", path, line_tag);
    CHECK(strstr(err, tag) && strstr(err, what), "message \"%s\" lacks \"%s\" / \"%s\"", err, tag,
          what);
    ar_metrics_run_clear(&run);
    remove(path);
}

#define START                                                                                      \
    "{\"event\":\"run_start\",\"schema\":1,\"method\":\"lora\",\"modules\":[{\"name\":\"q\","      \
    "\"layer\":0,\"in\":4,\"out\":4,\"rank\":2}]}\n"

static void test_bad_input(void)
{
    expect_bad("{\"event\":\"step\",\"step\":1}\n", "1", "first event must be run_start");
    expect_bad("{\"event\":\"run_start\",\"schema\":2,\"modules\":[]}\n", "1", "schema");
    expect_bad(START "{\"event\":\"step\",\"step\":1.5}\n", "2", "\"step\" must be an integer");
    expect_bad(START "{\"event\":\"step\",\"step\":1,\"loss\":\"x\"}\n", "2", "\"loss\" must be");
    expect_bad(START "\n{\"event\":\"ranks\",\"step\":1,\"effective\":[1,1],\"allocated\":[2,2]}\n",
               "3", "has 2 entries");
    expect_bad(START "{\"event\":\"ranks\",\"step\":1,\"effective\":[3],\"allocated\":[2]}\n", "2",
               "exceeds");
    expect_bad(START "{\"event\":\"step\",\"step\":1}\n{\"event\":\"step\" oops}\n", "3",
               "not valid JSON");
    expect_bad(START "[1,2]\n", "2", "must be a JSON object");
    expect_bad(START "{\"event\":\"eval\",\"step\":1,\"perplexity\":\"high\"}\n", "2",
               "\"perplexity\" must be a number");

    /* A truncated last line is tolerated by a whole-file read; unknown events are skipped. */
    char path[512], err[512];
    tmp_path(path, sizeof path, "trunc.jsonl");
    write_text(path, START "{\"event\":\"future_kind\",\"step\":3}\n"
                           "{\"event\":\"step\",\"step\":1,\"loss\":2}\n{\"event\":\"step\",\"st");
    struct ar_metrics_run run;
    CHECK(ar_metrics_read_file(path, &run, err, sizeof err) == AR_STATUS_OK, "truncated: %s", err);
    CHECK(run.loss.count == 1, "one complete step");
    ar_metrics_run_clear(&run);
    remove(path);

    /* A poll that hits a bad line consumes it; the next poll goes on after it. */
    write_text(path, START "{\"event\":\"step\",\"step\":-1}\n{\"event\":\"step\",\"step\":2}\n");
    struct ar_metrics_reader *r = NULL;
    ar_metrics_reader_new(path, &r);
    CHECK(ar_metrics_reader_poll(r, NULL) == AR_STATUS_BAD_FORMAT, "negative step");
    CHECK(strstr(ar_metrics_reader_errmsg(r), ":2:") != NULL, "line 2: %s",
          ar_metrics_reader_errmsg(r));
    CHECK(ar_metrics_reader_poll(r, NULL) == AR_STATUS_OK, "continues");
    CHECK(ar_metrics_reader_run(r)->last_step == 2, "read line 3");
    ar_metrics_reader_free(r);

    /* The writer refuses a config that is not a JSON object. */
    struct ar_metrics_run_info info = {.method = "lora", .config_json = "[1]"};
    struct ar_metrics_writer *w = NULL;
    CHECK(ar_metrics_writer_open(path, &info, &w, err, sizeof err) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "object"),
          "config check: %s", err);
    remove(path);
}

/* A resumed run appends a second run_start with the same modules; a different module list is
 * refused. */
static void test_resume(void)
{
    char path[512], err[512];
    tmp_path(path, sizeof path, "resume.jsonl");
    write_run(path);
    struct ar_metrics_run_info info = {.method = "sora", .modules = modules, .n_modules = N_MOD,
                                       .n_layers = 2, .resumed = true};
    struct ar_metrics_writer *w = NULL;
    CHECK(ar_metrics_writer_open(path, &info, &w, err, sizeof err) == AR_STATUS_OK, "%s", err);
    struct ar_metrics_step st = {21, 2.1, 0.04, 1e-4, 0.5, 1000, 11};
    CHECK(w && ar_metrics_write_step(w, &st) == AR_STATUS_OK, "step after resume");
    ar_metrics_writer_close(w);
    struct ar_metrics_run run;
    CHECK(ar_metrics_read_file(path, &run, err, sizeof err) == AR_STATUS_OK, "%s", err);
    CHECK(run.n_resumes == 1 && run.loss.count == 21 && run.last_step == 21 &&
              !strcmp(run.model, "all-MiniLM-L6-v2"),
          "resumed run: %d resumes, %zu losses", run.n_resumes, run.loss.count);
    ar_metrics_run_clear(&run);
    info.n_modules = N_MOD - 1;
    CHECK(ar_metrics_writer_open(path, &info, &w, err, sizeof err) == AR_STATUS_OK, "%s", err);
    ar_metrics_writer_close(w);
    CHECK(ar_metrics_read_file(path, &run, err, sizeof err) == AR_STATUS_BAD_FORMAT &&
              strstr(err, "same modules"),
          "module list changed: %s", err);
    ar_metrics_run_clear(&run);
    remove(path);
}

int main(void)
{
    test_roundtrip();
    test_perplexity();
    test_tail();
    test_bad_input();
    test_resume();
    return test_finish("metrics");
}
