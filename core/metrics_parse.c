/* One metrics.jsonl line -> the in-memory series of struct ar_metrics_run (schema in
 * include/adarank/metrics.h). Strict about types, tolerant of unknown members and events, so a
 * newer writer stays readable. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

struct parse {
    struct ar_metrics_run *run;
    const struct ar__json_node *obj;
    const char *where;
    char *err;
    size_t err_size;
};

static enum ar_status bad(struct parse *p, const char *fmt, const char *name)
{
    char what[256];
    snprintf(what, sizeof what, fmt, name);
    snprintf(p->err, p->err_size, "%s: %s", p->where, what);
    return AR_STATUS_BAD_FORMAT;
}

static enum ar_status oom(struct parse *p)
{
    snprintf(p->err, p->err_size, "%s: out of memory", p->where);
    return AR_STATUS_OUT_OF_MEMORY;
}

bool ar__metrics_grow(void **ptr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap * 2 : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(*ptr, cap2 * size);
    if (!p) return false;
    *ptr = p;
    *cap = cap2;
    return true;
}

bool ar__metrics_series_push(struct ar_metrics_series *s, double x, double y)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *nx = realloc(s->x, cap * sizeof *nx);
        if (!nx) return false;
        s->x = nx;
        double *ny = realloc(s->y, cap * sizeof *ny);
        if (!ny) return false;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->count] = x, s->y[s->count] = y;
    s->count++;
    return true;
}

/* ---- typed members ------------------------------------------------------------------------ */

static enum ar_status req_int(struct parse *p, const struct ar__json_node *o, const char *key,
                              int64_t *out)
{
    const struct ar__json_node *n = ar__json_get(o, key);
    if (!n) return bad(p, "missing \"%s\"", key);
    if (!ar__json_as_int(n, out)) return bad(p, "\"%s\" must be an integer", key);
    return AR_STATUS_OK;
}

/* Optional number: absent or null -> NaN. */
static enum ar_status opt_num(struct parse *p, const char *key, double *out)
{
    const struct ar__json_node *n = ar__json_get(p->obj, key);
    *out = NAN;
    if (!n || n->type == AR__JSON_NULL) return AR_STATUS_OK;
    if (!ar__json_as_double(n, out)) return bad(p, "\"%s\" must be a number or null", key);
    return AR_STATUS_OK;
}

static enum ar_status opt_str(struct parse *p, const struct ar__json_node *o, const char *key,
                              char **out)
{
    const struct ar__json_node *n = ar__json_get(o, key);
    const char *s = "";
    if (n && !ar__json_as_string(n, &s)) return bad(p, "\"%s\" must be a string", key);
    free(*out);
    *out = strdup(s);
    return *out ? AR_STATUS_OK : oom(p);
}

/* An array member of exactly `n` elements (n < 0: any length). */
static enum ar_status req_array(struct parse *p, const struct ar__json_node *o, const char *key,
                                long n, const struct ar__json_node **out)
{
    const struct ar__json_node *a = ar__json_get(o, key);
    if (!a) return bad(p, "missing \"%s\"", key);
    if (a->type != AR__JSON_ARRAY) return bad(p, "\"%s\" must be an array", key);
    if (n >= 0 && a->count != (size_t)n) {
        char what[160];
        snprintf(what, sizeof what, "\"%%s\" has %zu entries, the run has %ld", a->count, n);
        return bad(p, what, key);
    }
    *out = a;
    return AR_STATUS_OK;
}

bool ar__metrics_int_elems(const struct ar__json_node *a, int *out)
{
    for (size_t i = 0; i < a->count; i++) {
        int64_t v;
        if (!ar__json_as_int(a->items[i], &v) || v < 0 || v > 1 << 30) return false;
        out[i] = (int)v;
    }
    return true;
}

bool ar__metrics_float_elems(const struct ar__json_node *a, float *out)
{
    for (size_t i = 0; i < a->count; i++) {
        double v;
        if (a->items[i]->type == AR__JSON_NULL)
            v = NAN;
        else if (!ar__json_as_double(a->items[i], &v))
            return false;
        out[i] = (float)v;
    }
    return true;
}

/* ---- run_start ---------------------------------------------------------------------------- */

static void node_text(struct ar__json_buf *b, const struct ar__json_node *n)
{
    char text[40];
    switch (n->type) {
    case AR__JSON_NULL:
        ar__json_put(b, "null");
        break;
    case AR__JSON_TRUE:
        ar__json_put(b, "true");
        break;
    case AR__JSON_FALSE:
        ar__json_put(b, "false");
        break;
    case AR__JSON_STRING:
        ar__json_write_string_n(b, n->str, n->len);
        break;
    case AR__JSON_NUMBER:
        ar__json_format_double(text, sizeof text, "%.9g", n->num);
        ar__json_put(b, text);
        break;
    default:
        ar__json_put(b, n->type == AR__JSON_ARRAY ? "[" : "{");
        for (size_t i = 0; i < n->count; i++) {
            ar__json_comma(b);
            if (n->type == AR__JSON_OBJECT) {
                ar__json_write_string(b, n->keys[i]);
                ar__json_put(b, ":");
            }
            node_text(b, n->items[i]);
        }
        ar__json_put(b, n->type == AR__JSON_ARRAY ? "]" : "}");
    }
}

/* Flattens the config object into "a.b" = value-text items for display. */
static bool flatten_config(struct ar_metrics_run *run, const struct ar__json_node *o,
                           const char *prefix, size_t *cap)
{
    for (size_t i = 0; i < o->count; i++) {
        char key[256];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", o->keys[i]);
        if (o->items[i]->type == AR__JSON_OBJECT) {
            if (!flatten_config(run, o->items[i], key, cap)) return false;
            continue;
        }
        if (!ar__metrics_grow((void **)&run->config, cap, run->n_config + 1, sizeof *run->config))
            return false;
        struct ar__json_buf b = {0};
        node_text(&b, o->items[i]);
        char *k = strdup(key);
        if (b.oom || !k) {
            free(k), ar__json_buf_free(&b);
            return false;
        }
        run->config[run->n_config++] = (struct ar_metrics_config_item){k, b.data};
    }
    return true;
}

static enum ar_status parse_module(struct parse *p, const struct ar__json_node *m,
                                   struct ar_metrics_module *out)
{
    int64_t layer, in, outf, rank;
    const char *name;
    if (m->type != AR__JSON_OBJECT) return bad(p, "\"%s\" entries must be objects", "modules");
    if (!ar__json_as_string(ar__json_get(m, "name"), &name))
        return bad(p, "a module needs a string \"%s\"", "name");
    enum ar_status st;
    if ((st = req_int(p, m, "layer", &layer)) || (st = req_int(p, m, "in", &in)) ||
        (st = req_int(p, m, "out", &outf)) || (st = req_int(p, m, "rank", &rank)))
        return st;
    if (rank < 0 || in < 0 || outf < 0) return bad(p, "module \"%s\" has a negative size", name);
    out->name = strdup(name);
    out->layer = (int)layer, out->in = (int)in, out->out = (int)outf, out->rank = (int)rank;
    return out->name ? AR_STATUS_OK : oom(p);
}

static enum ar_status parse_resume(struct parse *p, const struct ar__json_node *mods)
{
    struct ar_metrics_run *run = p->run;
    if (mods->count != (size_t)run->n_modules)
        return bad(p, "a resumed run_start must list the same modules (%s)", "count differs");
    for (size_t i = 0; i < mods->count; i++) {
        const char *name = NULL;
        ar__json_as_string(ar__json_get(mods->items[i], "name"), &name);
        if (!name || strcmp(name, run->modules[i].name))
            return bad(p, "a resumed run_start must list the same modules (%s)", "names differ");
    }
    run->n_resumes++;
    return AR_STATUS_OK;
}

static enum ar_status parse_run_start(struct parse *p)
{
    struct ar_metrics_run *run = p->run;
    int64_t schema, layers = 0;
    enum ar_status st = req_int(p, p->obj, "schema", &schema);
    if (st) return st;
    if (schema != AR_METRICS_SCHEMA)
        return bad(p, "unsupported metrics schema (this reader knows schema 1)%s", "");
    const struct ar__json_node *mods, *config = ar__json_get(p->obj, "config");
    if ((st = req_array(p, p->obj, "modules", -1, &mods))) return st;
    if (config && config->type != AR__JSON_OBJECT)
        return bad(p, "\"%s\" must be an object", "config");
    if (ar__json_get(p->obj, "layers") && (st = req_int(p, p->obj, "layers", &layers))) return st;
    if (run->schema) return parse_resume(p, mods);
    if ((st = opt_str(p, p->obj, "method", &run->method)) ||
        (st = opt_str(p, p->obj, "model", &run->model)) ||
        (st = opt_str(p, p->obj, "device", &run->device)) ||
        (st = opt_num(p, "time", &run->start_time)))
        return st;
    run->modules = calloc(mods->count ? mods->count : 1, sizeof *run->modules);
    if (!run->modules) return oom(p);
    run->n_modules = (int)mods->count;
    for (size_t i = 0; i < mods->count; i++)
        if ((st = parse_module(p, mods->items[i], &run->modules[i]))) return st;
    run->n_layers = (int)layers;
    size_t cap = 0;
    if (config && !flatten_config(run, config, "", &cap)) return oom(p);
    int n = run->n_modules ? run->n_modules : 1;
    run->gate = calloc(n, sizeof *run->gate);
    run->selection = calloc(n, sizeof *run->selection);
    run->importance = calloc(n, sizeof *run->importance);
    run->gate_count = calloc(n, sizeof(int));
    run->selection_count = calloc(n, sizeof(int));
    run->importance_count = calloc(n, sizeof(int));
    if (!run->gate || !run->selection || !run->importance || !run->gate_count ||
        !run->selection_count || !run->importance_count)
        return oom(p);
    run->schema = (int)schema;
    return AR_STATUS_OK;
}

/* ---- step and eval ------------------------------------------------------------------------ */

static enum ar_status push_opt(struct parse *p, const char *key, double x,
                               struct ar_metrics_series *s)
{
    double v;
    enum ar_status st = opt_num(p, key, &v);
    if (st == AR_STATUS_OK && !isnan(v) && !ar__metrics_series_push(s, x, v)) return oom(p);
    return st;
}

static enum ar_status parse_step(struct parse *p, double x)
{
    struct ar_metrics_run *r = p->run;
    enum ar_status st;
    if ((st = push_opt(p, "loss", x, &r->loss)) || (st = push_opt(p, "lr", x, &r->lr)) ||
        (st = push_opt(p, "grad_norm", x, &r->grad_norm)) ||
        (st = push_opt(p, "tokens_per_s", x, &r->tokens_per_s)) ||
        (st = push_opt(p, "epoch", x, &r->epoch)) || (st = push_opt(p, "elapsed", x, &r->elapsed)))
        return st;
    return AR_STATUS_OK;
}

static struct ar_metrics_eval_split *find_split(struct ar_metrics_run *run, const char *name)
{
    for (size_t i = 0; i < run->n_splits; i++)
        if (!strcmp(run->splits[i].name, name)) return &run->splits[i];
    struct ar_metrics_eval_split *grown =
        realloc(run->splits, (run->n_splits + 1) * sizeof *run->splits);
    if (!grown) return NULL;
    run->splits = grown;
    struct ar_metrics_eval_split *s = &run->splits[run->n_splits];
    *s = (struct ar_metrics_eval_split){.name = strdup(name)};
    if (!s->name) return NULL;
    run->n_splits++;
    return s;
}

static enum ar_status parse_eval(struct parse *p, double x)
{
    const char *split = "validation";
    const struct ar__json_node *n = ar__json_get(p->obj, "split");
    if (n && !ar__json_as_string(n, &split)) return bad(p, "\"%s\" must be a string", "split");
    struct ar_metrics_eval_split *s = find_split(p->run, split);
    if (!s) return oom(p);
    enum ar_status st;
    if ((st = push_opt(p, "loss", x, &s->loss)) ||
        (st = push_opt(p, "accuracy", x, &s->accuracy)) || (st = push_opt(p, "f1", x, &s->f1)) ||
        (st = push_opt(p, "mcc", x, &s->mcc)) ||
        (st = push_opt(p, "perplexity", x, &s->perplexity)))
        return st;
    return AR_STATUS_OK;
}

/* ---- run_end ------------------------------------------------------------------------------ */

static enum ar_status parse_end(struct parse *p)
{
    struct ar_metrics_run *run = p->run;
    enum ar_status st;
    if ((st = opt_str(p, p->obj, "status", &run->end_status)) ||
        (st = opt_str(p, p->obj, "message", &run->end_message)))
        return st;
    const struct ar__json_node *fr = ar__json_get(p->obj, "final_ranks");
    if (fr) {
        if ((st = req_array(p, p->obj, "final_ranks", run->n_modules, &fr))) return st;
        free(run->final_ranks);
        run->final_ranks = calloc(fr->count ? fr->count : 1, sizeof(int));
        if (!run->final_ranks) return oom(p);
        if (!ar__metrics_int_elems(fr, run->final_ranks))
            return bad(p, "\"%s\" must hold non-negative integers", "final_ranks");
    }
    run->ended = true;
    return AR_STATUS_OK;
}

static enum ar_status parse_event(struct parse *p)
{
    const char *event;
    if (p->obj->type != AR__JSON_OBJECT) return bad(p, "a line must be a JSON object%s", "");
    if (!ar__json_as_string(ar__json_get(p->obj, "event"), &event))
        return bad(p, "missing string \"%s\"", "event");
    if (!strcmp(event, "run_start")) return parse_run_start(p);
    if (!p->run->schema) return bad(p, "the first event must be run_start, not \"%s\"", event);
    int64_t step;
    enum ar_status st = req_int(p, p->obj, "step", &step);
    if (st) return st;
    if (step < 0) return bad(p, "\"%s\" must not be negative", "step");
    if (step > p->run->last_step) p->run->last_step = step;
    if (!strcmp(event, "step")) return parse_step(p, (double)step);
    if (!strcmp(event, "eval")) return parse_eval(p, (double)step);
    if (!strcmp(event, "ranks"))
        return ar__metrics_parse_ranks(p->run, p->obj, step, p->where, p->err, p->err_size);
    if (!strcmp(event, "run_end")) return parse_end(p);
    return AR_STATUS_OK; /* unknown events are skipped: a newer writer may add kinds */
}

enum ar_status ar_metrics_run_parse_line(struct ar_metrics_run *run, const char *line, size_t len,
                                         const char *where, char *err, size_t err_size)
{
    char perr[256];
    struct ar__json_doc *doc = ar__json_parse(line, len, perr, sizeof perr);
    if (!doc) {
        snprintf(err, err_size, "%s: not valid JSON (%s)", where, perr);
        return AR_STATUS_BAD_FORMAT;
    }
    struct parse p = {run, ar__json_root(doc), where, err, err_size};
    enum ar_status st = parse_event(&p);
    ar__json_free(doc);
    return st;
}
