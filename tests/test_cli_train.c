/* `adarank-cl train` end to end on the tiny BERT fixture (tests/fixtures/bert_tiny, 2 layers,
 * hidden 72, vocab 97, 3 classes) with a WordPiece tokenizer.json written here: the run folder is
 * complete, metrics.jsonl parses, a run is reproducible from its seed, bad input gives the
 * documented exit codes and messages, and SIGINT stops cleanly with exit code 5.
 *
 * argv[1] is the adarank-cl binary (meson passes it). */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static char tmp[] = "/tmp/adarank_cli_train_XXXXXX";
static const char *cli;
static char out_text[65536];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static size_t read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return n;
}

static bool exists(const char *dir, const char *name)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 && (S_ISDIR(sb.st_mode) || sb.st_size > 0);
}

/* Starts adarank-cl with args (NULL-terminated), stdout+stderr to tmp/output.txt. */
static pid_t start(const char *const *args)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)cli;
    for (; *args && n < 63; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        char path[256];
        snprintf(path, sizeof path, "%s/output.txt", tmp);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1), dup2(fd, 2);
        execv(cli, argv);
        _exit(127);
    }
    return pid;
}

static int finish(pid_t pid)
{
    int status = 0;
    waitpid(pid, &status, 0);
    char path[256];
    snprintf(path, sizeof path, "%s/output.txt", tmp);
    read_text(path, out_text, sizeof out_text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run(const char *const *args)
{
    return finish(start(args));
}

/* A WordPiece vocabulary of 97 entries (the fixture's vocab_size): specials, a few words, the
 * letters and their ## continuations, so every lowercase ASCII word tokenizes. */
static void write_model_dir(const char *dir, const char *fixtures)
{
    mkdir(dir, 0755);
    char src[512], dst[512];
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/fixtures/bert_tiny/%s", fixtures, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        CHECK(symlink(src, dst) == 0, "symlink %s", src);
    }
    static char json[16384];
    const char *words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "ok", "very",
                           "not", "the", "food", "taste", "great", "awful", "fine", "is",
                           "and", "it", "was", ".", ",", "!", "love", "hate", "meh",
                           "so", "tasty", "bland", "yum", "nice", "poor"};
    int nw = (int)(sizeof words / sizeof words[0]);
    size_t len = (size_t)snprintf(json, sizeof json, "{\"version\": \"1.0\", \"truncation\": null, "
                                  "\"padding\": null, \"added_tokens\": [");
    for (int i = 0; i < 4; i++)
        len += (size_t)snprintf(json + len, sizeof json - len,
                                "%s{\"id\": %d, \"content\": \"%s\", \"single_word\": false, "
                                "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
                                "\"special\": true}",
                                i ? ", " : "", i, words[i]);
    len += (size_t)snprintf(json + len, sizeof json - len,
                            "], \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": "
                            "true, \"handle_chinese_chars\": true, \"strip_accents\": null, "
                            "\"lowercase\": true}, \"pre_tokenizer\": {\"type\": "
                            "\"BertPreTokenizer\"}, \"post_processor\": {\"type\": "
                            "\"BertProcessing\", \"sep\": [\"[SEP]\", 3], \"cls\": [\"[CLS]\", "
                            "2]}, \"decoder\": null, \"model\": {\"type\": \"WordPiece\", "
                            "\"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\", "
                            "\"max_input_chars_per_word\": 100, \"vocab\": {");
    int id = 0;
    for (; id < nw; id++)
        len += (size_t)snprintf(json + len, sizeof json - len, "%s\"%s\": %d", id ? ", " : "",
                                words[id], id);
    for (char c = 'a'; c <= 'z' && id < 97; c++, id++)
        len += (size_t)snprintf(json + len, sizeof json - len, ", \"%c\": %d", c, id);
    for (char c = 'a'; c <= 'z' && id < 97; c++, id++)
        len += (size_t)snprintf(json + len, sizeof json - len, ", \"##%c\": %d", c, id);
    snprintf(json + len, sizeof json - len, "}}}\n");
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    write_text(dst, json);
}

/* 3 classes (the fixture's head), 30 rows; the test file shares the labels. */
static void write_data(const char *path, int rows, int shift)
{
    static const char *const texts[] = {"good food, very tasty!", "bad taste. i hate it",
                                        "it was ok and meh", "love it so good",
                                        "awful bland food", "fine, not great"};
    static const char *const labels[] = {"pos", "neg", "mid", "pos", "neg", "mid"};
    char buf[8192] = "label\ttext\n";
    for (int i = 0; i < rows; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s\t%s\n",
                 labels[(i + shift) % 6], texts[(i + shift) % 6]);
    write_text(path, buf);
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
    cli = argc > 1 ? argv[1] : getenv("ADARANK_CLI");
    const char *data = getenv("ADARANK_TEST_DATA");
    if (!cli || !data) {
        fprintf(stderr, "usage: test_cli_train ADARANK_CLI (with ADARANK_TEST_DATA set)\n");
        return 1;
    }
    struct ar_ctx *ctx = test_open_ctx(); /* skips (77) only without any OpenCL device */
    ar_ctx_free(ctx);
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char model[256], train[256], test[256], run1[256], run2[256], bad[256], foreign[256];
    snprintf(model, sizeof model, "%s/model", tmp);
    snprintf(train, sizeof train, "%s/train.tsv", tmp);
    snprintf(test, sizeof test, "%s/test.tsv", tmp);
    snprintf(run1, sizeof run1, "%s/run1", tmp);
    snprintf(run2, sizeof run2, "%s/run2", tmp);
    write_model_dir(model, data);
    write_data(train, 30, 0);
    write_data(test, 12, 1);

    const char *args[] = {"train", "--model", model, "--train", train, "--test", test, "--out",
                          run1, "--max-steps", "3", "--batch", "4", "--rank", "4",
                          "--eval-every", "2", "--log-every", "1", "--max-length", "16",
                          "--seed", "3", "--quiet", "--json", NULL};
    int rc = run(args);
    CHECK(rc == 0, "train exit %d:\n%s", rc, out_text);
    CHECK(strstr(out_text, "\"test\": {\"count\": 12"), "JSON summary:\n%s", out_text);
    check_run_dir(run1, 3);

    /* `eval` with the exported adapter reproduces the run's own test evaluation */
    double train_loss = NAN, eval_loss = NAN;
    const char *t = strstr(out_text, "\"test\": {\"count\": 12, \"loss\": ");
    if (t)
        train_loss = atof(t + strlen("\"test\": {\"count\": 12, \"loss\": "));
    char adapter[300];
    snprintf(adapter, sizeof adapter, "%s/adapter", run1);
    const char *eval_args[] = {"eval", "--model", model, "--adapter", adapter, "--data", test,
                               "--json", NULL};
    rc = run(eval_args);
    t = strstr(out_text, "{\"count\": 12, \"loss\": ");
    if (t)
        eval_loss = atof(t + strlen("{\"count\": 12, \"loss\": "));
    /* Same batches and weights; only the LoRA scale moves into B (one float rounding per
     * element of B), far below the 6 printed digits' 1e-5 relative: compare at 1e-4. */
    CHECK(rc == 0 && fabs(eval_loss - train_loss) <= 1e-4 * fabs(train_loss),
          "eval loss %.6g vs the run's test loss %.6g (exit %d):\n%s", eval_loss, train_loss, rc,
          out_text);

    /* same seed, same losses (a fresh folder); the run folder of a run may be reused */
    args[8] = run2;
    rc = run(args);
    CHECK(rc == 0, "second run exit %d:\n%s", rc, out_text);
    double l1[8], l2[8];
    size_t n1, n2;
    read_losses(run1, l1, 8, &n1);
    read_losses(run2, l2, 8, &n2);
    CHECK(n1 == 3 && n2 == 3 && !memcmp(l1, l2, sizeof(double) * 3),
          "reproducible: %.9g %.9g vs %.9g %.9g", l1[0], l1[2], l2[0], l2[2]);
    rc = run(args);
    CHECK(rc == 0, "own run folder reused: exit %d:\n%s", rc, out_text);

    /* a foreign non-empty folder is refused */
    snprintf(foreign, sizeof foreign, "%s/foreign", tmp);
    mkdir(foreign, 0755);
    char note[300];
    snprintf(note, sizeof note, "%s/notes.txt", foreign);
    write_text(note, "mine\n");
    args[8] = foreign;
    rc = run(args);
    CHECK(rc == 3 && strstr(out_text, "is not a run folder"), "foreign folder: %d %s", rc,
          out_text);

    /* bad rows: FILE:LINE and exit 3 before any training */
    snprintf(bad, sizeof bad, "%s/bad.tsv", tmp);
    write_text(bad, "label\ttext\npos\tgood\nneg\tbad\textra\n");
    const char *bad_args[] = {"train", "--model", model, "--train", bad, "--out", run2, NULL};
    rc = run(bad_args);
    char want[300];
    snprintf(want, sizeof want, "%s:3: expected 2 fields", bad);
    CHECK(rc == 3 && strstr(out_text, want), "bad rows: %d %s", rc, out_text);

    /* usage errors: exit 2 */
    const char *unknown[] = {"train", "--model", model, "--trian", train, NULL};
    rc = run(unknown);
    CHECK(rc == 2 && strstr(out_text, "unknown option --trian"), "%d %s", rc, out_text);
    const char *missing[] = {"train", "--train", train, "--out", run2, NULL};
    rc = run(missing);
    CHECK(rc == 2 && strstr(out_text, "model: required"), "%d %s", rc, out_text);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/job.json", tmp);
    write_text(cfg, "{\"rank\": 4, \"learning_rate\": 0.1}");
    const char *cfg_args[] = {"train", "--config", cfg, NULL};
    rc = run(cfg_args);
    CHECK(rc == 3 && strstr(out_text, "unknown key \"learning_rate\""), "%d %s", rc, out_text);

    /* SIGINT: stops after the current micro-batch, writes run_end "interrupted", exit 5 */
    char run3[256];
    snprintf(run3, sizeof run3, "%s/run3", tmp);
    const char *long_args[] = {"train", "--model", model, "--train", train, "--out", run3,
                               "--max-steps", "100000", "--batch", "2", "--log-every", "1",
                               "--quiet", NULL};
    pid_t pid = start(long_args);
    char path[512], text[65536];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run3);
    for (int i = 0; i < 1200; i++) { /* up to 120 s for the first step record */
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        if (read_text(path, text, sizeof text) && strstr(text, "\"event\":\"step\""))
            break;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) { /* ended early: a failure, shown below */
            pid = -1;
            break;
        }
    }
    if (pid > 0) {
        kill(pid, SIGINT);
        rc = finish(pid);
    } else {
        rc = finish(-1);
    }
    CHECK(rc == 5 && strstr(out_text, "interrupted"), "interrupt: exit %d %s", rc, out_text);
    read_text(path, text, sizeof text);
    CHECK(strstr(text, "\"status\":\"interrupted\""), "run_end interrupted");
    CHECK(exists(run3, "adapter/adapter_model.safetensors"), "an interrupted run keeps its adapter");

    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (!test_failed && !getenv("ADARANK_KEEP_TMP") && system(cmd) != 0) /* kept for debugging */
        fprintf(stderr, "could not remove %s\n", tmp);
    return test_finish("cli_train");
}
