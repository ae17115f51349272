/* Writing RUN_DIR/metrics.jsonl: one JSON object per event, flushed per line (schema in
 * include/adarank/metrics.h and docs/metrics-schema.md).
 *
 * Each event is built in memory and written with a single fwrite of "line\n" followed by fflush,
 * so a reader tailing the file sees either nothing or a whole line, except when the process dies
 * inside that write: the reader then holds the partial line back. No fsync: the stream is a
 * progress log, and an fsync per step would cost more than the step on a fast device. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adarank/metrics.h"
#include "json.h"

struct ar_metrics_writer {
    FILE *file;
    char *path;
    int n_modules, n_layers;
    enum ar_status first_error;
    char errmsg[512];
};

static enum ar_status writer_fail(struct ar_metrics_writer *w, enum ar_status st, const char *what)
{
    snprintf(w->errmsg, sizeof w->errmsg, "%s: %s", w->path, what);
    if (w->first_error == AR_STATUS_OK) w->first_error = st;
    return st;
}

/* Numbers: 9 significant digits round-trip a float, which is what the engine measures in. */
static void put_num(struct ar__json_buf *b, const char *key, double v)
{
    ar__json_write_key(b, key);
    if (!isfinite(v)) {
        ar__json_put(b, "null");
        return;
    }
    char text[40];
    ar__json_format_double(text, sizeof text, "%.9g", v);
    ar__json_put(b, text);
}

static void put_int(struct ar__json_buf *b, const char *key, int64_t v)
{
    ar__json_write_key(b, key);
    ar__json_write_int(b, v);
}

static void put_str(struct ar__json_buf *b, const char *key, const char *v)
{
    ar__json_write_key(b, key);
    ar__json_write_string(b, v ? v : "");
}

static void put_int_array(struct ar__json_buf *b, const char *key, const int *v, int n)
{
    ar__json_write_key(b, key);
    ar__json_put(b, "[");
    for (int i = 0; i < n; i++) {
        ar__json_comma(b);
        ar__json_write_int(b, v[i]);
    }
    ar__json_put(b, "]");
}

static void put_float_values(struct ar__json_buf *b, const float *v, int n)
{
    ar__json_put(b, "[");
    for (int i = 0; i < n; i++) {
        ar__json_comma(b);
        ar__json_write_float(b, v[i]);
    }
    ar__json_put(b, "]");
}

static void put_float_array(struct ar__json_buf *b, const char *key, const float *v, int n)
{
    ar__json_write_key(b, key);
    put_float_values(b, v, n);
}

/* gate / selection / importance: an array of per-module arrays. */
static void put_nested(struct ar__json_buf *b, const char *key, const float *const *v,
                       const int *count, int n)
{
    ar__json_write_key(b, key);
    ar__json_put(b, "[");
    for (int i = 0; i < n; i++) {
        ar__json_comma(b);
        put_float_values(b, v[i], v[i] ? count[i] : 0);
    }
    ar__json_put(b, "]");
}

/* Appends the finished object as one line and flushes it; frees the buffer. */
static enum ar_status emit(struct ar_metrics_writer *w, struct ar__json_buf *b)
{
    ar__json_put(b, "}\n");
    enum ar_status st = AR_STATUS_OK;
    if (b->oom) {
        st = writer_fail(w, AR_STATUS_OUT_OF_MEMORY, "out of memory building an event");
    } else if (fwrite(b->data, 1, b->len, w->file) != b->len || fflush(w->file) != 0) {
        char what[256];
        snprintf(what, sizeof what, "write failed: %s", strerror(errno));
        st = writer_fail(w, AR_STATUS_IO, what);
    }
    ar__json_buf_free(b);
    return st;
}

static enum ar_status check_config(const char *config, char *err, size_t err_size)
{
    if (!config) return AR_STATUS_OK;
    char perr[256];
    struct ar__json_doc *doc = ar__json_parse(config, strlen(config), perr, sizeof perr);
    if (!doc) {
        snprintf(err, err_size, "config_json is not valid JSON: %s", perr);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    bool object = ar__json_root(doc)->type == AR__JSON_OBJECT;
    ar__json_free(doc);
    if (!object) {
        snprintf(err, err_size, "config_json must be a JSON object");
        return AR_STATUS_INVALID_ARGUMENT;
    }
    return AR_STATUS_OK;
}

static void put_run_start(struct ar__json_buf *b, const struct ar_metrics_run_info *info)
{
    ar__json_put(b, "{");
    put_str(b, "event", "run_start");
    put_int(b, "schema", AR_METRICS_SCHEMA);
    put_num(b, "time", (double)time(NULL));
    put_str(b, "method", info->method);
    put_str(b, "model", info->model);
    put_str(b, "device", info->device);
    if (info->resumed) {
        ar__json_write_key(b, "resumed");
        ar__json_put(b, "true");
    }
    put_int(b, "layers", info->n_layers);
    ar__json_write_key(b, "config");
    ar__json_put(b, info->config_json ? info->config_json : "{}");
    ar__json_write_key(b, "modules");
    ar__json_put(b, "[");
    for (int i = 0; i < info->n_modules; i++) {
        const struct ar_metrics_module *m = &info->modules[i];
        ar__json_comma(b);
        ar__json_put(b, "{");
        put_str(b, "name", m->name);
        put_int(b, "layer", m->layer);
        put_int(b, "in", m->in);
        put_int(b, "out", m->out);
        put_int(b, "rank", m->rank);
        ar__json_put(b, "}");
    }
    ar__json_put(b, "]");
}

enum ar_status ar_metrics_writer_open(const char *path, const struct ar_metrics_run_info *info,
                                      struct ar_metrics_writer **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!path || !info || info->n_modules < 0 || (info->n_modules > 0 && !info->modules)) {
        snprintf(err, err_size, "ar_metrics_writer_open: missing path, info or modules");
        return AR_STATUS_INVALID_ARGUMENT;
    }
    for (int i = 0; i < info->n_modules; i++) {
        if (!info->modules[i].name || info->modules[i].rank < 0) {
            snprintf(err, err_size, "metrics module %d: missing name or negative rank", i);
            return AR_STATUS_INVALID_ARGUMENT;
        }
    }
    enum ar_status st = check_config(info->config_json, err, err_size);
    if (st != AR_STATUS_OK) return st;
    struct ar_metrics_writer *w = calloc(1, sizeof *w);
    char *path_copy = strdup(path);
    if (!w || !path_copy) {
        free(w), free(path_copy);
        snprintf(err, err_size, "%s: out of memory", path);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    w->path = path_copy;
    w->n_modules = info->n_modules;
    w->n_layers = info->n_layers;
    w->file = fopen(path, info->resumed ? "ab" : "wb");
    if (!w->file) {
        snprintf(err, err_size, "%s: cannot open for writing: %s", path, strerror(errno));
        free(w->path), free(w);
        return AR_STATUS_IO;
    }
    struct ar__json_buf b = {0};
    put_run_start(&b, info);
    st = emit(w, &b);
    if (st != AR_STATUS_OK) {
        snprintf(err, err_size, "%s", w->errmsg);
        ar_metrics_writer_close(w);
        return st;
    }
    *out = w;
    return AR_STATUS_OK;
}

enum ar_status ar_metrics_write_step(struct ar_metrics_writer *w, const struct ar_metrics_step *s)
{
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    put_str(&b, "event", "step");
    put_int(&b, "step", s->step);
    put_num(&b, "epoch", s->epoch);
    put_num(&b, "loss", s->loss);
    put_num(&b, "lr", s->lr);
    put_num(&b, "grad_norm", s->grad_norm);
    put_num(&b, "tokens_per_s", s->tokens_per_s);
    put_num(&b, "elapsed", s->elapsed);
    return emit(w, &b);
}

static void put_ranks_body(struct ar__json_buf *b, const struct ar_metrics_ranks *r, int n)
{
    put_int_array(b, "effective", r->effective, n);
    put_int_array(b, "allocated", r->allocated, n);
    ar__json_write_key(b, "sparsity");
    ar__json_put(b, "[");
    long eff = 0, alloc = 0;
    for (int i = 0; i < n; i++) {
        eff += r->effective[i], alloc += r->allocated[i];
        double s = r->sparsity           ? r->sparsity[i]
                   : r->allocated[i] > 0 ? 1.0 - (double)r->effective[i] / r->allocated[i]
                                         : 1.0;
        char text[40];
        ar__json_format_double(text, sizeof text, "%.6g", s);
        ar__json_comma(b);
        ar__json_put(b, text);
    }
    ar__json_put(b, "]");
    put_num(b, "total_sparsity", alloc > 0 ? 1.0 - (double)eff / (double)alloc : 0.0);
    if (isfinite(r->threshold)) put_num(b, "threshold", r->threshold);
    if (r->gate) put_nested(b, "gate", r->gate, r->values_count, n);
    if (r->selection) put_nested(b, "selection", r->selection, r->values_count, n);
    if (r->importance) put_nested(b, "importance", r->importance, r->values_count, n);
}

enum ar_status ar_metrics_write_ranks(struct ar_metrics_writer *w, const struct ar_metrics_ranks *r)
{
    int n = w->n_modules;
    if (n > 0 && (!r->effective || !r->allocated))
        return writer_fail(w, AR_STATUS_INVALID_ARGUMENT,
                           "ranks event without effective/allocated");
    if ((r->gate || r->selection || r->importance) && !r->values_count)
        return writer_fail(w, AR_STATUS_INVALID_ARGUMENT, "ranks event values without counts");
    if (r->layer_score && r->n_layers <= 0)
        return writer_fail(w, AR_STATUS_INVALID_ARGUMENT, "flexora scores without n_layers");
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    put_str(&b, "event", "ranks");
    put_int(&b, "step", r->step);
    put_ranks_body(&b, r, n);
    if (r->layer_score) {
        ar__json_write_key(&b, "flexora");
        ar__json_put(&b, "{");
        put_float_array(&b, "score", r->layer_score, r->n_layers);
        if (r->layer_selected) {
            ar__json_write_key(&b, "selected");
            ar__json_put(&b, "[");
            for (int i = 0; i < r->n_layers; i++) {
                ar__json_comma(&b);
                ar__json_put(&b, r->layer_selected[i] ? "true" : "false");
            }
            ar__json_put(&b, "]");
        }
        ar__json_put(&b, "}");
    }
    return emit(w, &b);
}

enum ar_status ar_metrics_write_eval(struct ar_metrics_writer *w, const struct ar_metrics_eval *e)
{
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    put_str(&b, "event", "eval");
    put_int(&b, "step", e->step);
    put_str(&b, "split", e->split ? e->split : "validation");
    put_num(&b, "loss", e->loss);
    put_num(&b, "accuracy", e->accuracy);
    put_num(&b, "f1", e->f1);
    put_num(&b, "mcc", e->mcc);
    if (e->perplexity >= 1) /* causal-LM runs only: classification records keep their keys */
        put_num(&b, "perplexity", e->perplexity);
    return emit(w, &b);
}

enum ar_status ar_metrics_write_end(struct ar_metrics_writer *w, int64_t step, const char *status,
                                    double elapsed, const int *final_ranks, const char *message)
{
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    put_str(&b, "event", "run_end");
    put_int(&b, "step", step);
    put_str(&b, "status", status ? status : "completed");
    put_num(&b, "elapsed", elapsed);
    if (final_ranks) put_int_array(&b, "final_ranks", final_ranks, w->n_modules);
    if (message) put_str(&b, "message", message);
    return emit(w, &b);
}

const char *ar_metrics_writer_errmsg(const struct ar_metrics_writer *w)
{
    return w ? w->errmsg : "no writer";
}

enum ar_status ar_metrics_writer_close(struct ar_metrics_writer *w)
{
    if (!w) return AR_STATUS_OK;
    enum ar_status st = w->first_error;
    if (w->file && fclose(w->file) != 0 && st == AR_STATUS_OK)
        st = writer_fail(w, AR_STATUS_IO, "close failed");
    free(w->path);
    free(w);
    return st;
}
