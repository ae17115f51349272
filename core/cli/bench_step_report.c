/* `adarank-cl bench step`: the PyTorch reference run as a child process, and the report.
 *
 * The reference script prints one JSON line last (tests/bench/bench_step_torch.py documents it).
 * Interpreters are tried in order until one imports torch; any failure becomes the reason in
 * "PyTorch: not available (reason)", and the run still reports adarank-cl and exits 0.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../json.h"
#include "bench_step.h"

#define SCRIPT_REL "tests/bench/bench_step_torch.py"

void step_loadavg(double out[3])
{
    out[0] = out[1] = out[2] = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    if (fscanf(f, "%lf %lf %lf", &out[0], &out[1], &out[2]) != 3) out[0] = out[1] = out[2] = NAN;
    fclose(f);
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The script: --torch-script, $ADARANK_TEST_DATA/bench/, the source tree above a build folder
 * (build-x/core/cli/adarank-cl), or the current folder. */
static bool find_script(const struct step_options *o, char *out, size_t size)
{
    if (o->script) {
        snprintf(out, size, "%s", o->script);
        return is_file(out);
    }
    const char *data = getenv("ADARANK_TEST_DATA");
    if (data && *data) {
        snprintf(out, size, "%s/bench/bench_step_torch.py", data);
        if (is_file(out)) return true;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int len = snprintf(out, size, "%s/../../../" SCRIPT_REL, exe);
            if (len > 0 && (size_t)len < size && is_file(out)) return true;
        }
    }
    snprintf(out, size, "%s", SCRIPT_REL);
    return is_file(out);
}

/* Appends text in single quotes for sh, each ' written as '\''. */
static void append_quoted(char *cmd, size_t size, const char *text)
{
    size_t len = strlen(cmd);
    if (len + 1 < size) cmd[len++] = '\'';
    for (const char *c = text; *c && len + 5 < size; c++) {
        if (*c == '\'') {
            memcpy(cmd + len, "'\\''", 4);
            len += 4;
        } else {
            cmd[len++] = *c;
        }
    }
    if (len + 1 < size) cmd[len++] = '\'';
    cmd[len] = '\0';
}

/* Runs cmd, keeping the last non-empty output line (stdout and stderr together). */
static int run_child(const char *cmd, char *last, size_t size)
{
    last[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    static char line[1 << 16];
    while (fgets(line, sizeof line, p)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len) { /* keep the start of a long line: a JSON reply then fails to parse */
            memcpy(last, line, len < size ? len + 1 : size);
            last[size - 1] = '\0';
        }
    }
    int status = pclose(p);
    return status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void copy_string(const struct ar__json_node *root, const char *key, char *out, size_t size)
{
    const char *s = NULL;
    if (ar__json_as_string(ar__json_get(root, key), &s)) snprintf(out, size, "%s", s);
}

/* Reads the script's line into *t; false (and t->reason) when it is not a success. */
static bool parse_reply(const char *line, struct torch_result *t)
{
    char err[128];
    struct ar__json_doc *doc = ar__json_parse(line, strlen(line), err, sizeof err);
    const struct ar__json_node *root = doc ? ar__json_root(doc) : NULL;
    bool ok = false;
    double ms = NAN, cpu_ms = 0, rss = -1, tr = -1, fr = -1, threads = 0;
    if (root && ar__json_as_bool(ar__json_get(root, "ok"), &ok) && !ok) {
        copy_string(root, "reason", t->reason, sizeof t->reason);
    } else if (ok && ar__json_as_double(ar__json_get(root, "step_ms"), &ms) && ms > 0) {
        copy_string(root, "impl", t->impl, sizeof t->impl);
        copy_string(root, "torch", t->version, sizeof t->version);
        ar__json_as_double(ar__json_get(root, "cpu_ms"), &cpu_ms);
        ar__json_as_double(ar__json_get(root, "peak_rss_kb"), &rss);
        ar__json_as_double(ar__json_get(root, "trainable_params"), &tr);
        ar__json_as_double(ar__json_get(root, "frozen_params"), &fr);
        ar__json_as_double(ar__json_get(root, "threads"), &threads);
        ar__json_as_double(ar__json_get(root, "loss_first"), &t->loss_first);
        t->step_s = ms * 1e-3, t->cpu_s = cpu_ms * 1e-3, t->rss_kb = (long)rss;
        t->trainable = (long)tr;
        t->frozen = (long)fr, t->threads = (int)threads;
        t->ok = true;
    } else {
        snprintf(t->reason, sizeof t->reason, "unexpected output: %.200s", line);
        ok = false;
    }
    ar__json_free(doc);
    return ok;
}

void step_run_torch(const struct step_options *o, int labels, struct torch_result *t)
{
    *t = (struct torch_result){0};
    if (o->no_torch) {
        snprintf(t->reason, sizeof t->reason, "--no-torch");
        return;
    }
    char script[4096];
    if (!find_script(o, script, sizeof script)) {
        snprintf(t->reason, sizeof t->reason,
                 "the reference script %s was not found; pass --torch-script", SCRIPT_REL);
        return;
    }
    const char *env_python = getenv("ADARANK_PYTHON");
    const char *candidates[] = {o->python, o->python ? NULL : env_python,
                                o->python ? NULL : "/usr/bin/python3",
                                o->python ? NULL : "python3"};
    char cmd[12288], args[512], last[16384];
    snprintf(args, sizeof args,
             " --batch %d --seq %d --rank %d --labels %d --steps %d --warmup %d --threads %d "
             "--targets ",
             o->batch, o->seq, o->rank, labels, o->steps, o->warmup, o->threads);
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        const char *py = candidates[i];
        if (!py || !*py) continue;
        cmd[0] = '\0';
        append_quoted(cmd, sizeof cmd, py);
        strcat(cmd, " ");
        append_quoted(cmd, sizeof cmd, script);
        strcat(cmd, " --model ");
        append_quoted(cmd, sizeof cmd, o->model);
        strncat(cmd, args, sizeof cmd - strlen(cmd) - 1);
        append_quoted(cmd, sizeof cmd, o->targets);
        strncat(cmd, " 2>&1 </dev/null", sizeof cmd - strlen(cmd) - 1);
        struct torch_result attempt = {0};
        int rc = run_child(cmd, last, sizeof last);
        if (rc == 127 || rc == 126)
            snprintf(attempt.reason, sizeof attempt.reason, "%s cannot be run", py);
        else if (rc != 0 || !last[0])
            snprintf(attempt.reason, sizeof attempt.reason, "%s exited with %d: %.300s", py, rc,
                     last);
        else
            parse_reply(last, &attempt);
        snprintf(attempt.python, sizeof attempt.python, "%s", py);
        /* The first interpreter's reason is the telling one; later ones may just be missing. */
        if (attempt.ok || !t->reason[0]) *t = attempt;
        if (attempt.ok) return;
    }
}

/* ---- the report -------------------------------------------------------------------------- */

static double mib(size_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void print_text(const struct step_options *o, struct ar_ctx *ctx,
                       const struct step_result *r, const struct torch_result *t)
{
    const struct ar_device_info *d = ar_ctx_device(ctx);
    printf("bench step on device %d: %s / %s\n", d->index, d->platform_name, d->name);
    printf("model %s (%s, %d layers, hidden %d), batch %d x %d tokens, LoRA r=%d on %s "
           "(%d modules), %d threads\n",
           o->model, r->cfg.model_type, r->cfg.num_layers, r->cfg.hidden_size, o->batch, o->seq,
           o->rank, o->targets, r->modules, o->threads);
    printf("step = zero grad + forward + backward + grad-norm clip + AdamW; median of %d after "
           "%d warm-up",
           o->steps, o->warmup);
    if (o->rounds > 1)
        printf("; median of %d rounds, each adarank-cl's steps then PyTorch's", o->rounds);
    printf("\n\n");
    printf("adarank-cl step: %.1f ms (forward %.1f, backward %.1f, optimizer %.1f ms); loss %.4f\n",
           r->step_s * 1e3, r->phase_s[0] * 1e3, r->phase_s[1] * 1e3, r->phase_s[2] * 1e3,
           (double)r->loss_first);
    if (t->ok) {
        printf("PyTorch step:    %.1f ms (%s, torch %s, %d threads, %s); loss %.4f\n",
               t->step_s * 1e3, t->impl, t->version, t->threads, t->python, t->loss_first);
        printf("ratio adarank-cl/PyTorch: %.2f%s\n", r->ratio,
               o->rounds > 1 ? " (median of the rounds' ratios)" : "");
        if (t->cpu_s > 0)
            printf("CPU time per step (all threads): adarank-cl %.1f ms, PyTorch %.1f ms, ratio "
                   "%.2f\n",
                   r->cpu_s * 1e3, t->cpu_s * 1e3, r->cpu_ratio);
    } else {
        printf("PyTorch: not available (%s)\n", t->reason);
    }
    printf("memory: adarank-cl peak RSS %.1f MiB; device %.1f MiB now, %.1f MiB peak = ",
           (double)r->rss_kb / 1024.0, mib(r->device_now), mib(r->device_peak));
    size_t known = r->base_bytes + r->arena_bytes;
    if (r->base_bytes) printf("frozen base %.1f + ", mib(r->base_bytes));
    printf("trainable arena %.2f (%zu params x 5 regions) + %s %.1f\n", mib(r->arena_bytes),
           r->trainable_floats, r->base_bytes ? "activations" : "base and activations",
           r->device_peak > known ? mib(r->device_peak - known) : 0.0);
    if (t->ok)
        printf("memory: PyTorch peak RSS %.1f MiB (%ld trainable, %ld frozen params)\n",
               (double)t->rss_kb / 1024.0, t->trainable, t->frozen);
    printf("load average: %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end\n", r->load[0],
           r->load[1], r->load[2], r->load[3], r->load[4], r->load[5]);
}

static void put_string(const char *key, const char *v)
{
    printf("\"%s\": \"", key);
    for (const char *c = v; *c; c++)
        if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20) putchar(*c);
    printf("\"");
}

static void print_json(const struct step_options *o, struct ar_ctx *ctx,
                       const struct step_result *r, const struct torch_result *t)
{
    const struct ar_device_info *d = ar_ctx_device(ctx);
    printf("{\"device_index\": %d, ", d->index);
    put_string("device", d->name);
    printf(", ");
    put_string("model", o->model);
    printf(", \"batch\": %d, \"seq\": %d, \"rank\": %d, ", o->batch, o->seq, o->rank);
    put_string("targets", o->targets);
    printf(", \"threads\": %d, \"steps\": %d, \"warmup\": %d, \"rounds\": %d,\n", o->threads,
           o->steps, o->warmup, o->rounds);
    printf(" \"adarank\": {\"step_ms\": %.3f, \"forward_ms\": %.3f, \"backward_ms\": %.3f, "
           "\"optimizer_ms\": %.3f, \"cpu_ms\": %.3f, \"peak_rss_kb\": %ld, \"device_bytes\": %zu, "
           "\"device_peak_bytes\": %zu, \"base_bytes\": %zu, \"arena_bytes\": %zu, "
           "\"trainable_params\": %zu},\n",
           r->step_s * 1e3, r->phase_s[0] * 1e3, r->phase_s[1] * 1e3, r->phase_s[2] * 1e3,
           r->cpu_s * 1e3, r->rss_kb, r->device_now, r->device_peak, r->base_bytes, r->arena_bytes,
           r->trainable_floats);
    if (t->ok) {
        printf(" \"torch\": {\"step_ms\": %.3f, \"cpu_ms\": %.3f, \"peak_rss_kb\": %ld, "
               "\"trainable_params\": %ld, ",
               t->step_s * 1e3, t->cpu_s * 1e3, t->rss_kb, t->trainable);
        put_string("impl", t->impl);
        printf(", ");
        put_string("version", t->version);
        printf("}, \"ratio\": %.4f, \"cpu_ratio\": %.4f,\n", r->ratio, r->cpu_ratio);
    } else {
        printf(" \"torch\": null, ");
        put_string("torch_reason", t->reason);
        printf(", \"ratio\": null,\n");
    }
    printf(" \"loadavg\": [");
    for (int i = 0; i < 6; i++) /* start 1/5/15 min, then the end's */
        isnan(r->load[i]) ? printf("%snull", i ? ", " : "")
                          : printf("%s%.2f", i ? ", " : "", r->load[i]);
    printf("]}\n");
}

void step_print(const struct step_options *o, struct ar_ctx *ctx, const struct step_result *r,
                const struct torch_result *t)
{
    if (o->json)
        print_json(o, ctx, r, t);
    else
        print_text(o, ctx, r, t);
}
