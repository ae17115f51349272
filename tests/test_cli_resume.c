/* `adarank-cl resume` end to end on the tiny BERT fixture (tests/fixtures/bert_tiny) with the
 * WordPiece tokenizer of cli_spawn.c: a run killed with SIGKILL mid-way and resumed ends with the
 * same losses, the same final loss and the same adapter bytes as an uninterrupted run of the same
 * seed (lora, and sora whose gates and ξ schedule are method state); also after SIGINT, and with
 * a corrupt newest checkpoint (the previous one is used, with a message). AutoLoRA and Flexora,
 * which search and then retrain a fresh LoRA, are killed in the search and in the retraining,
 * and (AutoLoRA) as if between the two: the retraining then starts over from the stage record.
 * `resume` without a checkpoint is a clear error, exit 3.
 *
 * The runs use dropout (hidden and LoRA), gradient accumulation over an odd number of batches per
 * epoch and evaluations, so the resumed run must restore the epoch order, the position inside it,
 * the dropout stream (the micro-step), Adam's moments and the early-stopping state.
 *
 * argv[1] is the adarank-cl binary (meson passes it). */
#include <signal.h>
#include <unistd.h>

#include "cli_spawn.h"
#include "test.h"

#define STEPS 40       /* lora, sora */
#define STAGE_STEPS 16 /* autolora, flexora: a search of 8 steps (half), then 16 retraining */

/* The step losses of a run, in order; *resumed counts run_start records with "resumed". */
static size_t read_losses(const char *run_dir, double *loss, size_t cap, int *resumed)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    struct ar_metrics_run m = {0};
    size_t n = 0;
    enum ar_status st = ar_metrics_read_file(path, &m, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "%s: %s", path, err);
    for (; st == AR_STATUS_OK && n < m.loss.count && n < cap; n++) {
        loss[n] = m.loss.y[n];
        CHECK(m.loss.x[n] == (double)(n + 1), "%s: step record %zu has step %g (a gap or a "
              "duplicate)", run_dir, n, m.loss.x[n]);
    }
    CHECK(st != AR_STATUS_OK || (m.ended && m.end_status && !strcmp(m.end_status, "completed")),
          "%s: run_end completed", run_dir);
    ar_metrics_run_clear(&m);
    char *text = cli_read_all(path, NULL);
    *resumed = 0;
    for (const char *p = text; p && (p = strstr(p, "\"resumed\":true")); p++)
        (*resumed)++;
    free(text);
    return n;
}

static bool same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *da = cli_read_all(a, &na), *db = cli_read_all(b, &nb);
    bool same = da && db && na == nb && na > 0 && !memcmp(da, db, na);
    free(da), free(db);
    return same;
}

/* How often `what` occurs in run_dir/metrics.jsonl. */
static int count_records(const char *run_dir, const char *what)
{
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    char *text = cli_read_all(path, NULL);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, what)); p++)
        n++;
    free(text);
    return n;
}

/* Compares run_dir with the reference run: every step loss, the final one, the adapter bytes,
 * and as many rank snapshots and evaluations (a resumed stream has none twice). */
static void check_same(const char *name, const char *ref, const char *run_dir, int steps)
{
    double la[STEPS + 8], lb[STEPS + 8];
    int ra = 0, rb = 0;
    size_t na = read_losses(ref, la, STEPS + 8, &ra), nb = read_losses(run_dir, lb, STEPS + 8, &rb);
    CHECK(na == (size_t)steps && nb == (size_t)steps, "%s: %zu and %zu step records, want %d",
          name, na, nb, steps);
    CHECK(ra == 0 && rb >= 1, "%s: resumed run_start records %d (reference %d)", name, rb, ra);
    CHECK(na == nb && nb > 0 && la[nb - 1] == lb[nb - 1], "%s: final loss %.9g, uninterrupted "
          "%.9g", name, nb ? lb[nb - 1] : NAN, na ? la[na - 1] : NAN);
    for (size_t i = 0; i < na && i < nb; i++)
        CHECK(la[i] == lb[i], "%s: step %zu loss %.9g, uninterrupted %.9g", name, i + 1, lb[i],
              la[i]);
    const char *records[] = {"\"event\":\"ranks\"", "\"event\":\"eval\""};
    for (int i = 0; i < 2; i++)
        CHECK(count_records(ref, records[i]) == count_records(run_dir, records[i]),
              "%s: %d %s records, uninterrupted %d", name, count_records(run_dir, records[i]),
              records[i], count_records(ref, records[i]));
    const char *files[] = {"adapter_model.safetensors", "adarank_state.json"};
    for (int i = 0; i < 2; i++) {
        char a[640], b[640];
        snprintf(a, sizeof a, "%s/adapter/%s", ref, files[i]);
        snprintf(b, sizeof b, "%s/adapter/%s", run_dir, files[i]);
        CHECK(access(a, F_OK) != 0 ? access(b, F_OK) != 0 : same_file(a, b),
              "%s: adapter/%s differs from the uninterrupted run's", name, files[i]);
    }
}

/* Corrupts the newest checkpoint of run_dir by flipping one byte in its middle. */
static void flip_newest(const char *run_dir)
{
    int steps[8];
    int n = ar_checkpoint_list(run_dir, steps, 8);
    CHECK(n >= 2, "%s: %d checkpoints, want 2 to fall back", run_dir, n);
    if (n < 2)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/checkpoint-%d.arck", run_dir, steps[0]);
    size_t size = 0;
    char *d = cli_read_all(path, &size);
    if (d && size) {
        d[size / 2] ^= 0x40;
        FILE *f = fopen(path, "wb");
        fwrite(d, 1, size, f);
        fclose(f);
    }
    free(d);
}

static bool exists(const char *dir, const char *name)
{
    char path[640];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

enum interruption {
    KILL,          /* SIGKILL mid-way */
    KILL_CORRUPT,  /* and the newest checkpoint damaged */
    SIGINT_STOP,   /* SIGINT: the run writes its own checkpoint */
    KILL_SEARCH,   /* two-stage methods: SIGKILL in the search */
    KILL_RETRAIN,  /* in the retraining */
    KILL_BETWEEN,  /* as if between the stage record and the retraining's first checkpoint:
                    * killed in the retraining, whose checkpoints are then deleted */
};

/* The step after which the kill is sent (it lands a little later): inside the stage the case is
 * about, away from its edges. */
static int kill_step(enum interruption c, int steps)
{
    int search = steps / 2; /* the default search fraction, 0.5 */
    switch (c) {
    case KILL:
        return 7;
    case KILL_SEARCH:
        return 2;
    case KILL_RETRAIN:
    case KILL_BETWEEN:
        return search + 3;
    default: /* KILL_CORRUPT, SIGINT_STOP: mid-way, after two checkpoints to choose from */
        return 12;
    }
}

/* What the run folder must show right after the kill, and what the resume must say. */
static void check_killed(const char *name, enum interruption c, const char *dir)
{
    if (c == KILL_SEARCH)
        CHECK(!exists(dir, "stage.json") && exists(dir, "search-checkpoints"),
              "%s: killed in the search: no stage.json yet, search-checkpoints/ there", name);
    if (c == KILL_RETRAIN || c == KILL_BETWEEN)
        CHECK(exists(dir, "stage.json") && !exists(dir, "search-checkpoints"),
              "%s: killed in the retraining: stage.json there, search-checkpoints/ gone", name);
    if (c == KILL_CORRUPT)
        flip_newest(dir);
    int steps[8];
    for (int i = 0, n = ar_checkpoint_list(dir, steps, 8); c == KILL_BETWEEN && i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/checkpoint-%d.arck", dir, steps[i]);
        CHECK(unlink(path) == 0, "%s: delete %s", name, path);
    }
}

static void check_resumed(const char *name, enum interruption c)
{
    const char *says = c == KILL_SEARCH    ? "of the search"
                       : c == KILL_BETWEEN ? "resuming at the start of the retraining"
                       : c == KILL_RETRAIN ? "of the retraining"
                                           : "resumed from";
    CHECK(strstr(cli_output, says), "%s: resume says \"%s\":\n%s", name, says, cli_output);
    if (c == KILL_CORRUPT)
        CHECK(strstr(cli_output, "checksum mismatch") &&
                  strstr(cli_output, "falling back to the previous checkpoint"),
              "%s: the corrupt newest checkpoint is named and skipped:\n%s", name, cli_output);
}

/* One method: the uninterrupted run, then the interrupted-and-resumed ones. */
static void method_case(const char *method, const char *model, const char *train, int steps,
                        int n_cases, const enum interruption *cases)
{
    char ref[384], steps_text[16];
    snprintf(ref, sizeof ref, "%s/%s_ref", cli_tmp, method);
    snprintf(steps_text, sizeof steps_text, "%d", steps);
    const char *args[] = {"train", "--model", model, "--train", train, "--out", ref,
                          "--method", method, "--max-steps", steps_text, "--batch", "4",
                          "--grad-accum", "2", "--rank", "4", "--lora-dropout", "0.1",
                          "--eval-every", "5", "--log-every", "1", "--max-length", "16",
                          "--seed", "5", "--quiet", "--checkpoint-every", "0",
                          "--flexora-select-layers", "1", NULL};
    if (strcmp(method, "flexora"))
        args[30] = NULL; /* a Flexora key: the other methods reject it */
    int rc = cli_run(args);
    CHECK(rc == 0, "%s: uninterrupted run: exit %d\n%s", method, rc, cli_output);
    bool two_stage = !strcmp(method, "autolora") || !strcmp(method, "flexora");
    int total = two_stage ? steps + steps / 2 : steps;
    for (int c = 0; c < n_cases; c++) {
        char dir[384], name[64];
        snprintf(dir, sizeof dir, "%s/%s_case%d", cli_tmp, method, c);
        snprintf(name, sizeof name, "%s case %d", method, c);
        args[6] = dir;
        args[29] = cases[c] == SIGINT_STOP ? "0" : "1"; /* SIGINT writes its own checkpoint */
        pid_t pid = cli_start(args);
        bool midway = cli_wait_for_step(pid, dir, kill_step(cases[c], steps), 120);
        kill(pid, cases[c] == SIGINT_STOP ? SIGINT : SIGKILL);
        rc = cli_finish(pid);
        CHECK(midway, "%s: the run ended before it could be interrupted (exit %d)\n%s", name, rc,
              cli_output);
        if (cases[c] == SIGINT_STOP)
            CHECK(rc == 5 && strstr(cli_output, "checkpoint"), "%s: SIGINT: exit %d\n%s", name,
                  rc, cli_output);
        else
            CHECK(rc == 128 + SIGKILL, "%s: SIGKILL: %d", name, rc);
        check_killed(name, cases[c], dir);
        const char *resume[] = {"resume", dir, "--quiet", NULL};
        rc = cli_run(resume);
        CHECK(rc == 0, "%s: resume: exit %d\n%s", name, rc, cli_output);
        check_resumed(name, cases[c]);
        check_same(name, ref, dir, total);
    }
}

int main(int argc, char **argv)
{
    struct ar_ctx *ctx = test_open_ctx(); /* skips (77) only without any OpenCL device */
    ar_ctx_free(ctx);
    if (!cli_spawn_init(argc, argv, "cli-resume"))
        return 1;
    const char *model = cli_model;
    char train[384];
    snprintf(train, sizeof train, "%s/train.tsv", cli_tmp);
    CHECK(cli_write_data(train, 30, 0, 7), "data file %s", train);

    /* 27 training rows, batch 4: 7 batches an epoch, steps of 2 and one of 1 */
    const enum interruption lora_cases[] = {KILL, KILL_CORRUPT, SIGINT_STOP};
    method_case("lora", model, train, STEPS, 3, lora_cases);
    const enum interruption sora_cases[] = {KILL};
    method_case("sora", model, train, STEPS, 1, sora_cases);
    const enum interruption autolora_cases[] = {KILL_SEARCH, KILL_RETRAIN, KILL_BETWEEN};
    method_case("autolora", model, train, STAGE_STEPS, 3, autolora_cases);
    const enum interruption flexora_cases[] = {KILL_SEARCH, KILL_RETRAIN};
    method_case("flexora", model, train, STAGE_STEPS, 2, flexora_cases);

    /* no checkpoint: a clear error, exit 3, before anything is loaded */
    char ref[384];
    snprintf(ref, sizeof ref, "%s/lora_ref", cli_tmp);
    const char *resume[] = {"resume", ref, NULL};
    int rc = cli_run(resume);
    CHECK(rc == 3 && strstr(cli_output, "no good checkpoint"), "no checkpoint: exit %d\n%s", rc,
          cli_output);
    char missing[384];
    snprintf(missing, sizeof missing, "%s/nothing_here", cli_tmp);
    resume[1] = missing;
    rc = cli_run(resume);
    CHECK(rc == 3 && strstr(cli_output, "not a run folder"), "no run folder: exit %d\n%s", rc,
          cli_output);
    /* a damaged stage record: named, exit 3, before anything is loaded */
    char stage[512];
    snprintf(stage, sizeof stage, "%s/autolora_ref/stage.json", cli_tmp);
    CHECK(cli_write_text(stage, "{\"version\": 1, \"stage\": 2, \"search_ranks\": [1, -2]}\n"),
          "write %s", stage);
    snprintf(ref, sizeof ref, "%s/autolora_ref", cli_tmp);
    resume[1] = ref;
    rc = cli_run(resume);
    CHECK(rc == 3 && strstr(cli_output, "stage.json: not a stage record"),
          "damaged stage.json: exit %d\n%s", rc, cli_output);
    const char *usage[] = {"resume", NULL};
    CHECK(cli_run(usage) == 2, "resume without RUN_DIR: usage");
    return test_finish("cli_resume");
}
