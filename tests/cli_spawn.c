/* The CLI tests' shared helpers (cli_spawn.h). */
#define _XOPEN_SOURCE 700 /* waitid */
#include "cli_spawn.h"
#include "test.h" /* test_tmpdir */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char cli_tmp[256];
char cli_model[384];
char cli_output[65536];
static const char *cli_path;
static volatile pid_t running = -1; /* the adarank-cl started and not yet waited for */

/* Runs first at every clean-up of the scratch folder (test_tmp.c): a running adarank-cl would
 * go on writing into it. */
static void kill_running(void)
{
    if (running > 0) {
        kill(running, SIGKILL);
        waitpid(running, NULL, 0);
        running = -1;
    }
}

bool cli_spawn_init(int argc, char **argv, const char *name)
{
    cli_path = argc > 1 ? argv[1] : getenv("ADARANK_CLI");
    const char *data = getenv("ADARANK_TEST_DATA");
    if (!cli_path || !data) {
        fprintf(stderr, "usage: %s ADARANK_CLI (with ADARANK_TEST_DATA set)\n", argv[0]);
        return false;
    }
    test_tmp_on_cleanup(kill_running);
    const char *dir = test_tmpdir(name);
    if (!dir || strlen(dir) >= sizeof cli_tmp)
        return false;
    snprintf(cli_tmp, sizeof cli_tmp, "%s", dir);
    snprintf(cli_model, sizeof cli_model, "%s/model", cli_tmp);
    return cli_write_model_dir(cli_model, data);
}

pid_t cli_start(const char *const *args)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)cli_path;
    for (; *args && n < 63; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    fflush(NULL); /* the child must not write the parent's buffered output again */
    pid_t pid = fork();
    if (pid == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/output.txt", cli_tmp);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1), dup2(fd, 2);
        signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL), signal(SIGHUP, SIG_DFL);
        execv(cli_path, argv);
        _exit(127);
    }
    running = pid;
    return pid;
}

int cli_finish(pid_t pid)
{
    int status = 0;
    if (pid > 0)
        waitpid(pid, &status, 0);
    running = -1;
    char path[512];
    snprintf(path, sizeof path, "%s/output.txt", cli_tmp);
    char *text = cli_read_all(path, NULL);
    snprintf(cli_output, sizeof cli_output, "%s", text ? text : "");
    free(text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cli_run(const char *const *args)
{
    return cli_finish(cli_start(args));
}

/* The highest step of the step records in run_dir/metrics.jsonl; 0 when there is none. */
static int last_step(const char *run_dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    char *text = cli_read_all(path, NULL);
    const char *key = "\"event\":\"step\",\"step\":";
    int last = 0;
    for (const char *p = text; p && (p = strstr(p, key)); p++)
        last = atoi(p + strlen(key)) > last ? atoi(p + strlen(key)) : last;
    free(text);
    return last;
}

bool cli_wait_for_step(pid_t pid, const char *run_dir, int step, int seconds)
{
    for (int i = 0; i < seconds * 100; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        if (last_step(run_dir) >= step)
            return true;
        siginfo_t info = {0}; /* WNOWAIT: ended, but not reaped */
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid)
            return false;
    }
    return false;
}

bool cli_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fputs(text, f) >= 0;
    return f && fclose(f) == 0 && ok;
}

char *cli_read_all(const char *path, size_t *size)
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

bool cli_write_model_dir(const char *dir, const char *fixtures)
{
    mkdir(dir, 0755);
    char src[512], dst[512];
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/fixtures/bert_tiny/%s", fixtures, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        if (symlink(src, dst) != 0) {
            perror(dst);
            return false;
        }
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
    return cli_write_text(dst, json);
}

bool cli_write_data(const char *path, int rows, int shift, int period)
{
    static const char *const texts[] = {"good food, very tasty!", "bad taste. i hate it",
                                        "it was ok and meh",      "love it so good",
                                        "awful bland food",       "fine, not great",
                                        "yum so nice"};
    static const char *const labels[] = {"pos", "neg", "mid", "pos", "neg", "mid", "pos"};
    char buf[8192] = "label\ttext\n";
    for (int i = 0; i < rows; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s\t%s\n",
                 labels[(i + shift) % period], texts[(i + shift) % period]);
    return cli_write_text(path, buf);
}
