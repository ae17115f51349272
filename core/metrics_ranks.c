/* The "ranks" event of metrics.jsonl -> one snapshot row of the run's rank matrices, the latest
 * gate/selection/importance vectors and the Flexora layer scores; and freeing a run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

struct rparse {
    struct ar_metrics_run *run;
    const struct ar__json_node *obj;
    const char *where;
    char *err;
    size_t err_size;
};

static enum ar_status rbad(struct rparse *p, const char *what, const char *key)
{
    snprintf(p->err, p->err_size, "%s: \"%s\" %s", p->where, key, what);
    return AR_STATUS_BAD_FORMAT;
}

static enum ar_status room(struct rparse *p)
{
    snprintf(p->err, p->err_size, "%s: out of memory", p->where);
    return AR_STATUS_OUT_OF_MEMORY;
}

/* An array of exactly n entries, or NULL when absent (an error is reported through *st). */
static const struct ar__json_node *array_n(struct rparse *p, const struct ar__json_node *o,
                                           const char *key, size_t n, bool required,
                                           enum ar_status *st)
{
    const struct ar__json_node *a = ar__json_get(o, key);
    *st = AR_STATUS_OK;
    if (!a || a->type == AR__JSON_NULL) {
        if (required) *st = rbad(p, "is missing", key);
        return NULL;
    }
    if (a->type != AR__JSON_ARRAY) {
        *st = rbad(p, "must be an array", key);
        return NULL;
    }
    if (a->count != n) {
        char what[96];
        snprintf(what, sizeof what, "has %zu entries, the run has %zu", a->count, n);
        *st = rbad(p, what, key);
        return NULL;
    }
    return a;
}

static enum ar_status opt_series(struct rparse *p, const char *key, double x,
                                 struct ar_metrics_series *s)
{
    const struct ar__json_node *n = ar__json_get(p->obj, key);
    double v;
    if (!n || n->type == AR__JSON_NULL) return AR_STATUS_OK;
    if (!ar__json_as_double(n, &v)) return rbad(p, "must be a number or null", key);
    return ar__metrics_series_push(s, x, v) ? AR_STATUS_OK : room(p);
}

/* gate / selection / importance: the latest vector of each module replaces the previous one. */
static enum ar_status latest_values(struct rparse *p, const char *key, float **vals, int *counts)
{
    enum ar_status st;
    size_t n = (size_t)p->run->n_modules;
    const struct ar__json_node *a = array_n(p, p->obj, key, n, false, &st);
    if (!a) return st;
    for (size_t i = 0; i < n; i++) {
        const struct ar__json_node *v = a->items[i];
        if (v->type != AR__JSON_ARRAY) return rbad(p, "must hold one array per module", key);
        float *copy = malloc((v->count ? v->count : 1) * sizeof *copy);
        if (!copy) return room(p);
        if (!ar__metrics_float_elems(v, copy)) {
            free(copy);
            return rbad(p, "must hold arrays of numbers", key);
        }
        free(vals[i]);
        vals[i] = copy;
        counts[i] = (int)v->count;
    }
    return AR_STATUS_OK;
}

static enum ar_status parse_flexora(struct rparse *p, int64_t step)
{
    struct ar_metrics_run *run = p->run;
    const struct ar__json_node *f = ar__json_get(p->obj, "flexora");
    if (!f || f->type == AR__JSON_NULL) return AR_STATUS_OK;
    if (f->type != AR__JSON_OBJECT) return rbad(p, "must be an object", "flexora");
    const struct ar__json_node *score = ar__json_get(f, "score");
    if (!score || score->type != AR__JSON_ARRAY || score->count == 0)
        return rbad(p, "must be a non-empty array", "flexora.score");
    if (run->n_layers == 0 && run->n_flexora == 0)
        run->n_layers = (int)score->count; /* older writers may omit run_start's "layers" */
    enum ar_status st;
    size_t nl = (size_t)run->n_layers;
    if (!array_n(p, f, "score", nl, true, &st)) return st;
    size_t row = run->n_flexora;
    size_t cap_steps = run->flexora_cap, cap_scores = run->flexora_cap;
    if (!ar__metrics_grow((void **)&run->flexora_step, &cap_steps, row + 1, sizeof(int64_t)) ||
        !ar__metrics_grow((void **)&run->flexora_score, &cap_scores, row + 1, nl * sizeof(float)))
        return room(p);
    run->flexora_cap = cap_steps < cap_scores ? cap_steps : cap_scores;
    if (!ar__metrics_float_elems(score, run->flexora_score + row * nl))
        return rbad(p, "must hold numbers", "flexora.score");
    run->flexora_step[row] = step;
    const struct ar__json_node *sel = array_n(p, f, "selected", nl, false, &st);
    if (st) return st;
    if (sel) {
        if (!run->flexora_selected && !(run->flexora_selected = calloc(nl, sizeof(bool))))
            return room(p);
        for (size_t i = 0; i < nl; i++)
            if (!ar__json_as_bool(sel->items[i], &run->flexora_selected[i]))
                return rbad(p, "must hold booleans", "flexora.selected");
    }
    run->n_flexora++;
    return AR_STATUS_OK;
}

/* Appends one row to the (snapshot, module) matrices. */
static enum ar_status append_snapshot(struct rparse *p, int64_t step)
{
    struct ar_metrics_run *run = p->run;
    size_t n = (size_t)run->n_modules, row = run->n_snapshots;
    size_t w = n ? n : 1;
    size_t c1 = run->snapshots_cap, c2 = c1, c3 = c1, c4 = c1;
    if (!ar__metrics_grow((void **)&run->snapshot_step, &c1, row + 1, sizeof(int64_t)) ||
        !ar__metrics_grow((void **)&run->effective, &c2, row + 1, w * sizeof(int)) ||
        !ar__metrics_grow((void **)&run->allocated, &c3, row + 1, w * sizeof(int)) ||
        !ar__metrics_grow((void **)&run->sparsity, &c4, row + 1, w * sizeof(float)))
        return room(p);
    run->snapshots_cap = c1; /* all four grow in lockstep from the same capacity */
    enum ar_status st;
    const struct ar__json_node *eff = array_n(p, p->obj, "effective", n, true, &st);
    if (!eff) return st;
    const struct ar__json_node *alloc = array_n(p, p->obj, "allocated", n, true, &st);
    if (!alloc) return st;
    const struct ar__json_node *spars = array_n(p, p->obj, "sparsity", n, false, &st);
    if (st) return st;
    int *e = run->effective + row * n, *a = run->allocated + row * n;
    float *s = run->sparsity + row * n;
    if (!ar__metrics_int_elems(eff, e))
        return rbad(p, "must hold non-negative integers", "effective");
    if (!ar__metrics_int_elems(alloc, a))
        return rbad(p, "must hold non-negative integers", "allocated");
    for (size_t i = 0; i < n; i++)
        if (e[i] > a[i]) return rbad(p, "exceeds \"allocated\"", "effective");
    if (spars) {
        if (!ar__metrics_float_elems(spars, s)) return rbad(p, "must hold numbers", "sparsity");
    } else {
        for (size_t i = 0; i < n; i++)
            s[i] = a[i] > 0 ? 1.0f - (float)e[i] / (float)a[i] : 1.0f;
    }
    run->snapshot_step[row] = step;
    run->n_snapshots++;
    return AR_STATUS_OK;
}

enum ar_status ar__metrics_parse_ranks(struct ar_metrics_run *run, const struct ar__json_node *obj,
                                       int64_t step, const char *where, char *err, size_t err_size)
{
    struct rparse p = {run, obj, where, err, err_size};
    enum ar_status st;
    if ((st = append_snapshot(&p, step)) ||
        (st = opt_series(&p, "total_sparsity", (double)step, &run->total_sparsity)) ||
        (st = opt_series(&p, "threshold", (double)step, &run->threshold)) ||
        (st = latest_values(&p, "gate", run->gate, run->gate_count)) ||
        (st = latest_values(&p, "selection", run->selection, run->selection_count)) ||
        (st = latest_values(&p, "importance", run->importance, run->importance_count)) ||
        (st = parse_flexora(&p, step)))
        return st;
    return AR_STATUS_OK;
}

static void series_free(struct ar_metrics_series *s)
{
    free(s->x), free(s->y);
}

static void free_vectors(float **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void ar_metrics_run_clear(struct ar_metrics_run *run)
{
    if (!run) return;
    free(run->method), free(run->model), free(run->device);
    for (int i = 0; run->modules && i < run->n_modules; i++)
        free((char *)run->modules[i].name);
    free(run->modules);
    for (size_t i = 0; i < run->n_config; i++)
        free(run->config[i].key), free(run->config[i].value);
    free(run->config);
    struct ar_metrics_series *series[] = {&run->loss,           &run->lr,       &run->grad_norm,
                                          &run->tokens_per_s,   &run->epoch,    &run->elapsed,
                                          &run->total_sparsity, &run->threshold};
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++)
        series_free(series[i]);
    free(run->snapshot_step), free(run->effective), free(run->allocated), free(run->sparsity);
    free_vectors(run->gate, run->n_modules);
    free_vectors(run->selection, run->n_modules);
    free_vectors(run->importance, run->n_modules);
    free(run->gate_count), free(run->selection_count), free(run->importance_count);
    free(run->flexora_step), free(run->flexora_score), free(run->flexora_selected);
    for (size_t i = 0; i < run->n_splits; i++) {
        struct ar_metrics_eval_split *s = &run->splits[i];
        free(s->name);
        series_free(&s->loss), series_free(&s->accuracy), series_free(&s->f1), series_free(&s->mcc);
        series_free(&s->perplexity);
    }
    free(run->splits);
    free(run->end_status), free(run->end_message), free(run->final_ranks);
    memset(run, 0, sizeof *run);
}
