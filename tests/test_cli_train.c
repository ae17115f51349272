/* `adarank-cl train` end to end on the tiny BERT fixture (tests/fixtures/bert_tiny, 2 layers,
 * hidden 72, vocab 97, 3 classes) with the WordPiece tokenizer of cli_spawn.c: the run folder is
 * complete, metrics.jsonl parses, a run is reproducible from its seed, bad input gives the
 * documented exit codes and messages, and SIGINT stops cleanly with exit code 5.
 *
 * argv[1] is the adarank-cl binary (meson passes it). */
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>

#include "cli_spawn.h"
#include "test.h"

static bool exists(const char *dir, const char *name)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 && (S_ISDIR(sb.st_mode) || sb.st_size > 0);
}

static void check_run_dir(const char *run_dir, int steps)
{
    CHECK(exists(run_dir, "config.json"), "config.json");
    CHECK(exists(run_dir, "metrics.jsonl"), "metrics.jsonl");
#if defined(ADARANK_WITH_CAIRO)
    CHECK(exists(run_dir, "heatmap.png"), "heatmap.png");
#endif
    CHECK(exists(run_dir, "adapter/adapter_config.json") &&
              exists(run_dir, "adapter/adapter_model.safetensors"),
          "PEFT adapter");
    DIR *d = opendir(run_dir);
    bool events = false;
    for (struct dirent *e; d && (e = readdir(d));)
        events |= !strncmp(e->d_name, "events.out.tfevents.", 20);
    if (d)
        closedir(d);
    CHECK(events, "TensorBoard events file");
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    struct ar_metrics_run m = {0};
    CHECK(ar_metrics_read_file(path, &m, err, sizeof err) == AR_STATUS_OK, "metrics: %s", err);
    CHECK(m.n_modules == 4 && m.n_layers == 2, "modules %d layers %d (q,v of 2 layers)",
          m.n_modules, m.n_layers);
    CHECK(m.loss.count == (size_t)steps, "step events %zu", m.loss.count);
    CHECK(m.ended && m.end_status && !strcmp(m.end_status, "completed"), "run_end");
    bool val = false, test = false;
    for (size_t i = 0; i < m.n_splits; i++) {
        val |= !strcmp(m.splits[i].name, "validation") && m.splits[i].accuracy.count >= 1;
        test |= !strcmp(m.splits[i].name, "test") && m.splits[i].accuracy.count == 1;
    }
    CHECK(val && test, "validation and test evaluations");
    CHECK(m.n_snapshots >= 1, "rank snapshots for the heatmap");
    ar_metrics_run_clear(&m);
    /* the effective config is a valid config */
    struct ar_train_config c;
    ar_train_config_init(&c);
    snprintf(path, sizeof path, "%s/config.json", run_dir);
    CHECK(ar_train_config_load(&c, path, err, sizeof err) == AR_STATUS_OK, "config: %s", err);
    CHECK(c.params.max_steps == steps && c.rank == 4, "effective values");
    ar_train_config_clear(&c);
}

static void read_losses(const char *run_dir, double *loss, size_t cap, size_t *n)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    struct ar_metrics_run m = {0};
    *n = 0;
    if (ar_metrics_read_file(path, &m, err, sizeof err) == AR_STATUS_OK)
        for (; *n < m.loss.count && *n < cap; (*n)++)
            loss[*n] = m.loss.y[*n];
    ar_metrics_run_clear(&m);
}

int main(int argc, char **argv)
{
    struct ar_ctx *ctx = test_open_ctx(); /* skips (77) only without any OpenCL device */
    ar_ctx_free(ctx);
    if (!cli_spawn_init(argc, argv, "cli-train"))
        return 1;
    const char *tmp = cli_tmp, *model = cli_model;
    char train[384], test[384], run1[384], run2[384], bad[384], foreign[384];
    snprintf(train, sizeof train, "%s/train.tsv", tmp);
    snprintf(test, sizeof test, "%s/test.tsv", tmp);
    snprintf(run1, sizeof run1, "%s/run1", tmp);
    snprintf(run2, sizeof run2, "%s/run2", tmp);
    CHECK(cli_write_data(train, 30, 0, 6) && cli_write_data(test, 12, 1, 6), "data files");

    const char *args[] = {"train", "--model", model, "--train", train, "--test", test, "--out",
                          run1, "--max-steps", "3", "--batch", "4", "--rank", "4",
                          "--eval-every", "2", "--log-every", "1", "--max-length", "16",
                          "--seed", "3", "--quiet", "--json", NULL};
    int rc = cli_run(args);
    CHECK(rc == 0, "train exit %d:\n%s", rc, cli_output);
    CHECK(strstr(cli_output, "\"test\": {\"count\": 12"), "JSON summary:\n%s", cli_output);
    check_run_dir(run1, 3);

    /* `eval` with the exported adapter reproduces the run's own test evaluation */
    double train_loss = NAN, eval_loss = NAN;
    const char *t = strstr(cli_output, "\"test\": {\"count\": 12, \"loss\": ");
    if (t)
        train_loss = atof(t + strlen("\"test\": {\"count\": 12, \"loss\": "));
    char adapter[640];
    snprintf(adapter, sizeof adapter, "%s/adapter", run1);
    const char *eval_args[] = {"eval", "--model", model, "--adapter", adapter, "--data", test,
                               "--json", NULL};
    rc = cli_run(eval_args);
    t = strstr(cli_output, "{\"count\": 12, \"loss\": ");
    if (t)
        eval_loss = atof(t + strlen("{\"count\": 12, \"loss\": "));
    /* Same batches and weights; only the LoRA scale moves into B (one float rounding per
     * element of B), far below the 6 printed digits' 1e-5 relative: compare at 1e-4. */
    CHECK(rc == 0 && fabs(eval_loss - train_loss) <= 1e-4 * fabs(train_loss),
          "eval loss %.6g vs the run's test loss %.6g (exit %d):\n%s", eval_loss, train_loss, rc,
          cli_output);

    /* same seed, same losses (a fresh folder); the run folder of a run may be reused */
    args[8] = run2;
    rc = cli_run(args);
    CHECK(rc == 0, "second run exit %d:\n%s", rc, cli_output);
    double l1[8], l2[8];
    size_t n1, n2;
    read_losses(run1, l1, 8, &n1);
    read_losses(run2, l2, 8, &n2);
    CHECK(n1 == 3 && n2 == 3 && !memcmp(l1, l2, sizeof(double) * 3),
          "reproducible: %.9g %.9g vs %.9g %.9g", l1[0], l1[2], l2[0], l2[2]);
    rc = cli_run(args);
    CHECK(rc == 0, "own run folder reused: exit %d:\n%s", rc, cli_output);

    /* a foreign non-empty folder is refused */
    snprintf(foreign, sizeof foreign, "%s/foreign", tmp);
    mkdir(foreign, 0755);
    char note[640];
    snprintf(note, sizeof note, "%s/notes.txt", foreign);
    cli_write_text(note, "mine\n");
    args[8] = foreign;
    rc = cli_run(args);
    CHECK(rc == 3 && strstr(cli_output, "is not a run folder"), "foreign folder: %d %s", rc,
          cli_output);

    /* bad rows: FILE:LINE and exit 3 before any training */
    snprintf(bad, sizeof bad, "%s/bad.tsv", tmp);
    cli_write_text(bad, "label\ttext\npos\tgood\nneg\tbad\textra\n");
    const char *bad_args[] = {"train", "--model", model, "--train", bad, "--out", run2, NULL};
    rc = cli_run(bad_args);
    char want[640];
    snprintf(want, sizeof want, "%s:3: expected 2 fields", bad);
    CHECK(rc == 3 && strstr(cli_output, want), "bad rows: %d %s", rc, cli_output);

    /* usage errors: exit 2 */
    const char *unknown[] = {"train", "--model", model, "--trian", train, NULL};
    rc = cli_run(unknown);
    CHECK(rc == 2 && strstr(cli_output, "unknown option --trian"), "%d %s", rc, cli_output);
    const char *missing[] = {"train", "--train", train, "--out", run2, NULL};
    rc = cli_run(missing);
    CHECK(rc == 2 && strstr(cli_output, "model: required"), "%d %s", rc, cli_output);
    char cfg[384];
    snprintf(cfg, sizeof cfg, "%s/job.json", tmp);
    cli_write_text(cfg, "{\"rank\": 4, \"learning_rate\": 0.1}");
    const char *cfg_args[] = {"train", "--config", cfg, NULL};
    rc = cli_run(cfg_args);
    CHECK(rc == 3 && strstr(cli_output, "unknown key \"learning_rate\""), "%d %s", rc, cli_output);

    /* SIGINT: stops after the current micro-batch, writes run_end "interrupted", exit 5 */
    char run3[384];
    snprintf(run3, sizeof run3, "%s/run3", tmp);
    const char *long_args[] = {"train", "--model", model, "--train", train, "--out", run3,
                               "--max-steps", "100000", "--batch", "2", "--log-every", "1",
                               "--quiet", NULL};
    pid_t pid = cli_start(long_args);
    if (cli_wait_for_step(pid, run3, 1, 120)) /* else it ended early: shown below */
        kill(pid, SIGINT);
    rc = cli_finish(pid);
    CHECK(rc == 5 && strstr(cli_output, "interrupted"), "interrupt: exit %d %s", rc, cli_output);
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run3);
    char *text = cli_read_all(path, NULL);
    CHECK(text && strstr(text, "\"status\":\"interrupted\""), "run_end interrupted");
    free(text);
    CHECK(exists(run3, "adapter/adapter_model.safetensors"), "an interrupted run keeps its adapter");
    return test_finish("cli_train");
}
