/* Plain-C data logic of the GTK app (gui_model.h): command lines, summaries, hover text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/render.h"
#include "gui_model.h"

const char *const ar_gui_methods[] = {"lora", "sora", "autolora", "dylora", "flexora", "adalora"};
const int ar_gui_n_methods = (int)(sizeof ar_gui_methods / sizeof ar_gui_methods[0]);
static const char *const method_labels[] = {"LoRA",   "SoRA",    "AutoLoRA",
                                            "DyLoRA", "Flexora", "AdaLoRA"};

const char *ar_gui_method_label(const char *method)
{
    for (int i = 0; method && i < ar_gui_n_methods; i++)
        if (!strcmp(method, ar_gui_methods[i])) return method_labels[i];
    return method ? method : "";
}

/* ---- command lines ------------------------------------------------------------------------ */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = '\0';
    return d;
}

int ar_gui_split_args(const char *s, char **argv, int cap)
{
    int n = 0;
    while (s && *s) {
        while (*s == ' ' || *s == '\t' || *s == '\n')
            s++;
        if (!*s) break;
        char buf[4096];
        size_t len = 0;
        while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
            if (*s == '"' || *s == '\'') { /* a quoted part, glued to what surrounds it */
                char q = *s++;
                while (*s && *s != q)
                    if (len + 1 < sizeof buf)
                        buf[len++] = *s++;
                    else
                        s++;
                if (!*s) {
                    for (int i = 0; i < n && i < cap; i++)
                        free(argv[i]);
                    return -1;
                }
                s++;
            } else if (len + 1 < sizeof buf) {
                buf[len++] = *s++;
            } else {
                s++;
            }
        }
        if (n < cap) argv[n] = dup_n(buf, len);
        n++;
    }
    return n;
}

/* Appends "--key value" when value is set. */
static void put_opt(char **argv, int *n, const char *key, const char *value)
{
    if (!value || !*value) return;
    argv[(*n)++] = dup_n(key, strlen(key));
    argv[(*n)++] = dup_n(value, strlen(value));
}

static void put_num(char **argv, int *n, const char *key, double v, bool integer)
{
    if (!(v > 0)) return;
    char text[64];
    if (integer)
        snprintf(text, sizeof text, "%lld", (long long)v);
    else
        snprintf(text, sizeof text, "%.9g", v);
    put_opt(argv, n, key, text);
}

char **ar_gui_launch_argv(const struct ar_gui_launch *l, const char *cli, char *err,
                          size_t err_size)
{
    static const char *const what[] = {"a model folder", "a training data file", "a run folder"};
    const char *required[] = {l->model_dir, l->train_file, l->out_dir};
    for (int i = 0; i < 3; i++) {
        if (!required[i] || !*required[i]) {
            snprintf(err, err_size, "choose %s first", what[i]);
            return NULL;
        }
    }
    int n_extra = ar_gui_split_args(l->extra, NULL, 0);
    if (n_extra < 0) {
        snprintf(err, err_size, "more options: a quote is not closed");
        return NULL;
    }
    int cap = 2 + 2 * 16 + 1 + n_extra + 1;
    char **argv = calloc((size_t)cap, sizeof *argv);
    if (!argv) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    int n = 0;
    argv[n++] = dup_n(cli, strlen(cli));
    argv[n++] = dup_n("train", 5);
    put_opt(argv, &n, "--model", l->model_dir);
    put_opt(argv, &n, "--train", l->train_file);
    put_opt(argv, &n, "--validation", l->validation_file);
    put_opt(argv, &n, "--out", l->out_dir);
    put_opt(argv, &n, "--method", l->method);
    put_opt(argv, &n, "--targets", l->targets);
    put_opt(argv, &n, "--device", l->device);
    put_num(argv, &n, "--rank", l->rank, true);
    put_num(argv, &n, "--alpha", l->alpha, false);
    put_num(argv, &n, "--lr", l->lr, false);
    put_num(argv, &n, "--epochs", l->epochs, true);
    put_num(argv, &n, "--batch", l->batch, true);
    put_num(argv, &n, "--max-length", l->max_length, true);
    put_num(argv, &n, "--max-steps", l->max_steps, true);
    put_num(argv, &n, "--eval-every", l->eval_every, true);
    argv[n++] = dup_n("--quiet", 7);
    n += ar_gui_split_args(l->extra, argv + n, n_extra);
    argv[n] = NULL;
    return argv;
}

void ar_gui_argv_free(char **argv)
{
    for (int i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* ---- summary ------------------------------------------------------------------------------ */

static double last_of(const struct ar_metrics_series *s)
{
    return s->count ? s->y[s->count - 1] : NAN;
}

int ar_gui_module_rank(const struct ar_metrics_run *run, int row, int *allocated)
{
    if (row < 0 || row >= run->n_modules) return -1;
    *allocated = run->modules[row].rank;
    if (run->n_snapshots > 0) {
        size_t at = (run->n_snapshots - 1) * (size_t)run->n_modules + (size_t)row;
        *allocated = run->allocated[at];
        if (!run->final_ranks) return run->effective[at];
    }
    return run->final_ranks ? run->final_ranks[row] : -1;
}

void ar_gui_summary_compute(const struct ar_metrics_run *run, struct ar_gui_summary *s)
{
    memset(s, 0, sizeof *s);
    s->step = run->last_step;
    s->epoch = last_of(&run->epoch), s->loss = last_of(&run->loss), s->lr = last_of(&run->lr);
    s->tokens_per_s = last_of(&run->tokens_per_s), s->elapsed = last_of(&run->elapsed);
    for (int i = 0; i < run->n_modules; i++) {
        const struct ar_metrics_module *m = &run->modules[i];
        int alloc = m->rank, eff = ar_gui_module_rank(run, i, &alloc);
        if (eff < 0) eff = alloc; /* no snapshot yet: every rank is live */
        s->trainable += (int64_t)eff * (m->in + m->out);
        s->trainable_allocated += (int64_t)alloc * (m->in + m->out);
        s->ranks_kept += eff, s->ranks_allocated += alloc;
    }
    s->eval_metric = NAN;
    for (size_t i = 0; i < run->n_splits; i++) {
        const struct ar_metrics_eval_split *sp = &run->splits[i];
        if (strcmp(sp->name, "validation")) continue;
        if (sp->accuracy.count)
            s->eval_metric = last_of(&sp->accuracy), s->eval_name = "accuracy";
        else if (sp->perplexity.count) /* causal LM: no accuracy */
            s->eval_metric = last_of(&sp->perplexity), s->eval_name = "perplexity";
        else if (sp->loss.count)
            s->eval_metric = last_of(&sp->loss), s->eval_name = "loss";
    }
    s->status = run->ended && run->end_status ? run->end_status : "running";
}

void ar_gui_format_count(double v, char *out, size_t size)
{
    if (isnan(v))
        snprintf(out, size, "\xE2\x80\x93");
    else if (fabs(v) >= 1e9)
        snprintf(out, size, "%.2f G", v / 1e9);
    else if (fabs(v) >= 1e6)
        snprintf(out, size, "%.2f M", v / 1e6);
    else if (fabs(v) >= 1e3)
        snprintf(out, size, "%.1f k", v / 1e3);
    else
        snprintf(out, size, "%.0f", v);
}

void ar_gui_format_duration(double seconds, char *out, size_t size)
{
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(out, size, "\xE2\x80\x93");
        return;
    }
    long s = lround(seconds);
    if (s < 60)
        snprintf(out, size, "%ld s", s);
    else if (s < 3600)
        snprintf(out, size, "%ld min %02ld s", s / 60, s % 60);
    else
        snprintf(out, size, "%ld h %02ld min", s / 3600, (s % 3600) / 60);
}

bool ar_gui_heat_tooltip(const struct ar_metrics_run *run, int row, double step, char *out,
                         size_t size)
{
    if (row < 0 || row >= run->n_modules) return false;
    const char *name = run->modules[row].name;
    long snap = ar_render_snapshot_at(run->snapshot_step, run->n_snapshots, step);
    if (snap < 0) {
        snprintf(out, size, "%s\nstep %.0f: no rank snapshot yet", name, step);
        return true;
    }
    size_t at = (size_t)snap * (size_t)run->n_modules + (size_t)row;
    snprintf(out, size, "%s\nstep %lld: effective rank %d / %d (sparsity %.0f%%)", name,
             (long long)run->snapshot_step[snap], run->effective[at], run->allocated[at],
             100.0 * run->sparsity[at]);
    return true;
}

/* ---- the CLI ------------------------------------------------------------------------------ */

static char *join(const char *dir, const char *rest)
{
    size_t n = strlen(dir) + strlen(rest) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, rest);
    return p;
}

int ar_gui_cli_candidates(const char *env_cli, const char *exe_dir, char **out, int cap)
{
    int n = 0;
    if (env_cli && *env_cli && n < cap) out[n++] = dup_n(env_cli, strlen(env_cli));
    if (exe_dir && *exe_dir) {
        if (n < cap) out[n++] = join(exe_dir, "../core/cli/adarank-cl");
        if (n < cap) out[n++] = join(exe_dir, "adarank-cl");
    }
    return n;
}
