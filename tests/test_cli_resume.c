/* `adarank-cl resume` end to end on the tiny BERT fixture (tests/fixtures/bert_tiny) with the
 * WordPiece tokenizer test_cli_train.c uses: a run killed with SIGKILL mid-way and resumed ends
 * with the same losses, the same final loss and the same adapter bytes as an uninterrupted run
 * of the same seed (lora, and sora whose gates and ξ schedule are method state); also after
 * SIGINT, and with a corrupt newest checkpoint (the previous one is used, with a message).
 * `resume` without a checkpoint is a clear error, exit 3.
 *
 * The runs use dropout (hidden and LoRA), gradient accumulation over an odd number of batches per
 * epoch and evaluations, so the resumed run must restore the epoch order, the position inside it,
 * the dropout stream (the micro-step), Adam's moments and the early-stopping state.
 *
 * argv[1] is the adarank-cl binary (meson passes it). */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static char tmp[] = "/tmp/adarank_cli_resume_XXXXXX";
static const char *cli;
static char out_text[65536];

#define STEPS 40

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The whole file (malloc'd, NUL-terminated); NULL when it cannot be read. */
static char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = d ? fread(d, 1, (size_t)(n > 0 ? n : 0), f) : 0;
    fclose(f);
    if (d)
        d[got] = '\0';
    if (size)
        *size = got;
    return d;
}

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
    char *text = read_all(path, NULL);
    snprintf(out_text, sizeof out_text, "%s", text ? text : "");
    free(text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run(const char *const *args)
{
    return finish(start(args));
}

/* As in test_cli_train.c: a WordPiece vocabulary of the fixture's 97 entries. */
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

static void write_data(const char *path, int rows)
{
    static const char *const texts[] = {"good food, very tasty!", "bad taste. i hate it",
                                        "it was ok and meh", "love it so good",
                                        "awful bland food", "fine, not great", "yum so nice"};
    static const char *const labels[] = {"pos", "neg", "mid", "pos", "neg", "mid", "pos"};
    char buf[8192] = "label\ttext\n";
    for (int i = 0; i < rows; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s\t%s\n", labels[i % 7],
                 texts[i % 7]);
    write_text(path, buf);
}

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
    char *text = read_all(path, NULL);
    *resumed = 0;
    for (const char *p = text; p && (p = strstr(p, "\"resumed\":true")); p++)
        (*resumed)++;
    free(text);
    return n;
}

static bool same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *da = read_all(a, &na), *db = read_all(b, &nb);
    bool same = da && db && na == nb && na > 0 && !memcmp(da, db, na);
    free(da), free(db);
    return same;
}

/* Waits until metrics.jsonl of run_dir has a step record with step ≥ `step`; false when the
 * process ended first or after 120 s. */
static bool wait_for_step(pid_t pid, const char *run_dir, int step)
{
    char path[512], want[64];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    for (int i = 0; i < 12000; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        char *text = read_all(path, NULL);
        bool seen = false;
        for (int s = step; text && s <= STEPS && !seen; s++) {
            snprintf(want, sizeof want, "\"event\":\"step\",\"step\":%d,", s);
            seen = strstr(text, want) != NULL;
        }
        free(text);
        if (seen)
            return true;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return false;
    }
    return false;
}

/* Compares run_dir with the reference run: every step loss, the final one, the adapter bytes. */
static void check_same(const char *name, const char *ref, const char *run_dir)
{
    double la[STEPS + 8], lb[STEPS + 8];
    int ra = 0, rb = 0;
    size_t na = read_losses(ref, la, STEPS + 8, &ra), nb = read_losses(run_dir, lb, STEPS + 8, &rb);
    CHECK(na == STEPS && nb == STEPS, "%s: %zu and %zu step records, want %d", name, na, nb,
          STEPS);
    CHECK(ra == 0 && rb >= 1, "%s: resumed run_start records %d (reference %d)", name, rb, ra);
    CHECK(na == nb && nb > 0 && la[nb - 1] == lb[nb - 1], "%s: final loss %.9g, uninterrupted "
          "%.9g", name, nb ? lb[nb - 1] : NAN, na ? la[na - 1] : NAN);
    for (size_t i = 0; i < na && i < nb; i++)
        CHECK(la[i] == lb[i], "%s: step %zu loss %.9g, uninterrupted %.9g", name, i + 1, lb[i],
              la[i]);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/adapter/adapter_model.safetensors", ref);
    snprintf(b, sizeof b, "%s/adapter/adapter_model.safetensors", run_dir);
    CHECK(same_file(a, b), "%s: adapter bytes differ from the uninterrupted run's", name);
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
    char *d = read_all(path, &size);
    if (d && size) {
        d[size / 2] ^= 0x40;
        FILE *f = fopen(path, "wb");
        fwrite(d, 1, size, f);
        fclose(f);
    }
    free(d);
}

enum interruption { KILL, KILL_CORRUPT, SIGINT_STOP };

/* One method: the uninterrupted run, then the interrupted-and-resumed ones. */
static void method_case(const char *method, const char *model, const char *train, int n_cases,
                        const enum interruption *cases)
{
    char ref[256], steps[16];
    snprintf(ref, sizeof ref, "%s/%s_ref", tmp, method);
    snprintf(steps, sizeof steps, "%d", STEPS);
    const char *args[] = {"train", "--model", model, "--train", train, "--out", ref,
                          "--method", method, "--max-steps", steps, "--batch", "4",
                          "--grad-accum", "2", "--rank", "4", "--lora-dropout", "0.1",
                          "--eval-every", "5", "--log-every", "1", "--max-length", "16",
                          "--seed", "5", "--quiet", "--checkpoint-every", "0", NULL};
    int rc = run(args);
    CHECK(rc == 0, "%s: uninterrupted run: exit %d\n%s", method, rc, out_text);
    for (int c = 0; c < n_cases; c++) {
        char dir[256];
        snprintf(dir, sizeof dir, "%s/%s_case%d", tmp, method, c);
        args[6] = dir;
        args[29] = cases[c] == SIGINT_STOP ? "0" : "1"; /* SIGINT writes its own checkpoint */
        pid_t pid = start(args);
        bool midway = wait_for_step(pid, dir, cases[c] == KILL ? 7 : 12);
        kill(pid, cases[c] == SIGINT_STOP ? SIGINT : SIGKILL);
        rc = finish(pid);
        CHECK(midway, "%s case %d: the run ended before it could be interrupted (exit %d)\n%s",
              method, c, rc, out_text);
        if (cases[c] == SIGINT_STOP)
            CHECK(rc == 5 && strstr(out_text, "checkpoint"), "%s: SIGINT: exit %d\n%s", method,
                  rc, out_text);
        else
            CHECK(rc == 128 + SIGKILL, "%s: SIGKILL: %d", method, rc);
        if (cases[c] == KILL_CORRUPT)
            flip_newest(dir);
        const char *resume[] = {"resume", dir, "--quiet", NULL};
        rc = run(resume);
        CHECK(rc == 0, "%s case %d: resume: exit %d\n%s", method, c, rc, out_text);
        CHECK(strstr(out_text, "resumed from"), "%s: resume says where from:\n%s", method,
              out_text);
        if (cases[c] == KILL_CORRUPT)
            CHECK(strstr(out_text, "checksum mismatch") &&
                      strstr(out_text, "falling back to the previous checkpoint"),
                  "%s: the corrupt newest checkpoint is named and skipped:\n%s", method, out_text);
        char name[64];
        snprintf(name, sizeof name, "%s case %d", method, c);
        check_same(name, ref, dir);
    }
}

int main(int argc, char **argv)
{
    cli = argc > 1 ? argv[1] : getenv("ADARANK_CLI");
    const char *data = getenv("ADARANK_TEST_DATA");
    if (!cli || !data) {
        fprintf(stderr, "usage: test_cli_resume ADARANK_CLI (with ADARANK_TEST_DATA set)\n");
        return 1;
    }
    struct ar_ctx *ctx = test_open_ctx(); /* skips (77) only without any OpenCL device */
    ar_ctx_free(ctx);
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char model[256], train[256];
    snprintf(model, sizeof model, "%s/model", tmp);
    snprintf(train, sizeof train, "%s/train.tsv", tmp);
    write_model_dir(model, data);
    write_data(train, 30);

    /* 27 training rows, batch 4: 7 batches an epoch, steps of 2 and one of 1 */
    const enum interruption lora_cases[] = {KILL, KILL_CORRUPT, SIGINT_STOP};
    method_case("lora", model, train, 3, lora_cases);
    const enum interruption sora_cases[] = {KILL};
    method_case("sora", model, train, 1, sora_cases);

    /* no checkpoint: a clear error, exit 3, before anything is loaded */
    char ref[256];
    snprintf(ref, sizeof ref, "%s/lora_ref", tmp);
    const char *resume[] = {"resume", ref, NULL};
    int rc = run(resume);
    CHECK(rc == 3 && strstr(out_text, "no good checkpoint"), "no checkpoint: exit %d\n%s", rc,
          out_text);
    char missing[256];
    snprintf(missing, sizeof missing, "%s/nothing_here", tmp);
    resume[1] = missing;
    rc = run(resume);
    CHECK(rc == 3 && strstr(out_text, "not a run folder"), "no run folder: exit %d\n%s", rc,
          out_text);
    const char *usage[] = {"resume", NULL};
    CHECK(run(usage) == 2, "resume without RUN_DIR: usage");

    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (!test_failed && !getenv("ADARANK_KEEP_TMP") && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return test_finish("cli_resume");
}
