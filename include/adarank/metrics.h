/* The metrics event stream of a run: RUN_DIR/metrics.jsonl.
 *
 * One JSON object per line, appended and flushed (fflush, no fsync) after every event, so a GUI or
 * `adarank-cl heatmap` can tail a run that is still training, and a crash loses at most the line
 * being written. The full schema, with an example of every event, is docs/metrics-schema.md.
 *
 * Schema 1. Every line has "event" (a string) and every event but run_start has "step" (an
 * integer ≥ 0). Optional numbers may be null or absent (read back as NaN).
 *
 *   run_start  {"event":"run_start","schema":1,"time":<unix s>,"method":"sora","model":"...",
 *               "device":"...","config":{...any JSON object...},
 *               "modules":[{"name":"bert.encoder.layer.0.attention.self.query","layer":0,
 *                           "in":384,"out":384,"rank":8}, ...],
 *               "layers":<number of transformer layers>}
 *              The first line of the file. A resumed run appends another run_start with the same
 *              schema and the same module list and "resumed":true.
 *   step       {"event":"step","step":10,"epoch":0.25,"loss":0.69,"lr":1e-4,"grad_norm":1.3,
 *               "tokens_per_s":5120,"elapsed":12.5}
 *   ranks      {"event":"ranks","step":10,"effective":[8,7,...],"allocated":[8,8,...],
 *               "sparsity":[0,0.125,...],"total_sparsity":0.06,"threshold":3e-4,
 *               "gate":[[...],...],"selection":[[...],...],"importance":[[...],...],
 *               "flexora":{"score":[...],"selected":[true,false,...]}}
 *              Arrays are indexed like run_start's "modules" (flexora: like the layers) and
 *              must have exactly that length. gate/selection/importance/threshold/flexora are
 *              optional; each inner array holds one module's values (any length, usually its
 *              allocated rank).
 *   eval       {"event":"eval","step":100,"split":"validation","loss":0.4,"accuracy":0.81,
 *               "f1":0.8,"mcc":0.62}
 *              Causal-LM runs add "perplexity" (exp of loss; accuracy/f1/mcc null there);
 *              classification records have no such member.
 *   run_end    {"event":"run_end","step":200,"status":"completed"|"interrupted"|"failed",
 *               "elapsed":300.2,"final_ranks":[5,3,...],"message":"..."}
 *
 * Unknown members are ignored (a newer writer may add members without bumping the schema);
 * unknown event kinds are skipped. A wrong type or a missing required member is an error
 * "FILE:LINE: what".
 */
#ifndef ADARANK_METRICS_H
#define ADARANK_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AR_METRICS_SCHEMA 1
#define AR_METRICS_FILE "metrics.jsonl"

/* ---- writing ------------------------------------------------------------------------------ */

struct ar_metrics_module {
    const char *name; /* full module path inside the model class */
    int layer;        /* transformer layer index, -1 when not in a layer */
    int in, out;      /* features */
    int rank;         /* allocated rank R */
};

struct ar_metrics_run_info {
    const char *method, *model, *device; /* NULL is written as "" */
    const char *config_json;             /* a JSON object, embedded verbatim; NULL: {} */
    const struct ar_metrics_module *modules;
    int n_modules;
    int n_layers;
    bool resumed; /* appending to an existing file after a restart */
};

/* Step statistics; NaN members are written as null. */
struct ar_metrics_step {
    int64_t step;
    double epoch, loss, lr, grad_norm, tokens_per_s, elapsed;
};

/* Rank snapshot; arrays of n_modules entries (the run_start module count). NULL optional arrays
 * are not written. values_count[i] is the length of gate[i] / selection[i] / importance[i]. */
struct ar_metrics_ranks {
    int64_t step;
    const int *effective, *allocated; /* required */
    const float *sparsity;            /* per module, in [0,1]; NULL: 1 - effective/allocated */
    double threshold;                 /* e.g. SoRA's ξ or AdaLoRA's budget; NaN: absent */
    const int *values_count;          /* required when any of the next three is given */
    const float *const *gate, *const *selection, *const *importance;
    int n_layers;               /* Flexora: > 0 when scores is given */
    const float *layer_score;   /* (n_layers) */
    const bool *layer_selected; /* (n_layers), optional */
};

struct ar_metrics_eval {
    int64_t step;
    const char *split;              /* "validation", "test", ... */
    double loss, accuracy, f1, mcc; /* NaN: absent */
    double perplexity; /* causal LM; written only when ≥ 1 (0, an initializer's zero, or NaN:
                        * absent) */
};

struct ar_metrics_writer;

/* Creates (truncates) or, with info->resumed, appends to `path`, and writes run_start. */
enum ar_status ar_metrics_writer_open(const char *path, const struct ar_metrics_run_info *info,
                                      struct ar_metrics_writer **out, char *err, size_t err_size);
enum ar_status ar_metrics_write_step(struct ar_metrics_writer *w, const struct ar_metrics_step *s);
enum ar_status ar_metrics_write_ranks(struct ar_metrics_writer *w,
                                      const struct ar_metrics_ranks *r);
enum ar_status ar_metrics_write_eval(struct ar_metrics_writer *w, const struct ar_metrics_eval *e);
/* status: "completed", "interrupted" or "failed"; final_ranks (n_modules) and message optional. */
enum ar_status ar_metrics_write_end(struct ar_metrics_writer *w, int64_t step, const char *status,
                                    double elapsed, const int *final_ranks, const char *message);
/* The last error of this writer ("PATH: what"). */
const char *ar_metrics_writer_errmsg(const struct ar_metrics_writer *w);
/* Closes the file; returns the first error seen while writing (IO) or OK. NULL is fine. */
enum ar_status ar_metrics_writer_close(struct ar_metrics_writer *w);

/* ---- reading ------------------------------------------------------------------------------ */

/* A growable (x, y) series; x is the step. */
struct ar_metrics_series {
    size_t count, cap;
    double *x, *y;
};

struct ar_metrics_eval_split {
    char *name;
    struct ar_metrics_series loss, accuracy, f1, mcc; /* points only where the value was given */
    /* Causal-LM runs only: empty for classification records, which have no "perplexity" (an
     * empty series in every split is how a reader tells a run is not a language model). */
    struct ar_metrics_series perplexity;
};

struct ar_metrics_config_item {
    char *key;   /* "a.b" for nested objects */
    char *value; /* the value as JSON text */
};

/* Everything read so far. Per-snapshot matrices are row-major (snapshot, module). */
struct ar_metrics_run {
    int schema;
    char *method, *model, *device;
    double start_time;
    int n_modules, n_layers, n_resumes;
    struct ar_metrics_module *modules; /* names owned by the run */
    struct ar_metrics_config_item *config;
    size_t n_config;

    struct ar_metrics_series loss, lr, grad_norm, tokens_per_s, epoch, elapsed;

    size_t n_snapshots, snapshots_cap;
    int64_t *snapshot_step; /* (n_snapshots) */
    int *effective;         /* (n_snapshots, n_modules) */
    int *allocated;         /* (n_snapshots, n_modules) */
    float *sparsity;        /* (n_snapshots, n_modules) */
    struct ar_metrics_series total_sparsity, threshold;

    /* The latest gate / selection / importance vectors per module (NULL until seen). */
    float **gate, **selection, **importance;
    int *gate_count, *selection_count, *importance_count; /* (n_modules) */

    /* Flexora layer scores: one row per ranks event that had them. */
    size_t n_flexora, flexora_cap;
    int64_t *flexora_step;  /* (n_flexora) */
    float *flexora_score;   /* (n_flexora, n_layers) */
    bool *flexora_selected; /* (n_layers): the latest selection */

    struct ar_metrics_eval_split *splits;
    size_t n_splits;

    bool ended;       /* a run_end was read */
    char *end_status; /* its status, NULL while running */
    char *end_message;
    int *final_ranks;  /* (n_modules) or NULL */
    int64_t last_step; /* the largest step seen */
};

struct ar_metrics_reader;

/* Opens a reader on a file that may not exist yet or still be growing. Nothing is read yet. */
enum ar_status ar_metrics_reader_new(const char *path, struct ar_metrics_reader **out);
void ar_metrics_reader_free(struct ar_metrics_reader *r); /* NULL is fine */

/* Reads every complete line appended since the last call. A last line without its newline is
 * kept for the next call (the writer may be in the middle of it). *events (may be NULL) gets the
 * number of events read. A missing file is AR_STATUS_NOT_FOUND. A bad line stops the call with
 * AR_STATUS_BAD_FORMAT and "FILE:LINE: what" in the message; that line is consumed, so the next
 * call continues after it. A file that shrank (replaced by a new run) is AR_STATUS_IO. */
enum ar_status ar_metrics_reader_poll(struct ar_metrics_reader *r, size_t *events);
const char *ar_metrics_reader_errmsg(const struct ar_metrics_reader *r);
/* Bytes of an incomplete last line waiting for its newline (a truncated file when the run is
 * over). */
size_t ar_metrics_reader_pending(const struct ar_metrics_reader *r);
/* The series read so far. Its arrays may move on the next poll: do not keep pointers into it
 * across polls (re-fetch after each one). */
const struct ar_metrics_run *ar_metrics_reader_run(const struct ar_metrics_reader *r);

/* Parses one line into the run (no newline; used by the reader and by tests). `where` prefixes
 * error messages ("FILE:LINE"). */
enum ar_status ar_metrics_run_parse_line(struct ar_metrics_run *run, const char *line, size_t len,
                                         const char *where, char *err, size_t err_size);
void ar_metrics_run_clear(struct ar_metrics_run *run); /* frees everything, leaves it zeroed */

/* Convenience: reads a whole file once; a truncated last line is ignored. */
enum ar_status ar_metrics_read_file(const char *path, struct ar_metrics_run *run, char *err,
                                    size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
