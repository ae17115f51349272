/* Charts of a run, drawn with cairo from the series of a metrics.jsonl (metrics.h).
 *
 * Every chart draws into a caller's cairo_t at the origin with a given size, so the GTK app
 * (inside a GtkDrawingArea draw function) and the PNG export (`adarank-cl heatmap`) run exactly
 * the same code. The views:
 *
 *   ranks     modules × steps heatmap of the effective rank, colour bar, module names thinned
 *             when rows are too thin to label, layer separators; the chart TensorBoard and W&B
 *             lack (one chart per layer does not scale to hundreds of modules).
 *   sparsity  gate sparsity over steps: one thin line per layer, a thick line for the whole
 *             model, the pruning threshold (SoRA's ξ, AdaLoRA's budget) on a second axis.
 *   flexora   Flexora layer scores: the latest score per layer (selected layers highlighted)
 *             and every layer's score over steps.
 *   loss      training loss (raw and smoothed) with the learning rate on a second axis, and the
 *             evaluation metrics per split: accuracy / F1 / MCC for classification runs, or
 *             validation and test perplexity on a log axis for causal-LM runs.
 *   all       the four in a 2 × 2 grid.
 *
 * The plain-C data logic (decimation, colour maps, ticks, labels, heatmap resampling) has its own
 * functions below so that it is unit-tested without drawing.
 */
#ifndef ADARANK_RENDER_H
#define ADARANK_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cairo.h>

#include "metrics.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ar_render_view {
    AR_RENDER_RANKS,
    AR_RENDER_SPARSITY,
    AR_RENDER_FLEXORA,
    AR_RENDER_LOSS,
    AR_RENDER_ALL,
};

const char *ar_render_view_name(enum ar_render_view view); /* "ranks", ... */
bool ar_render_view_parse(const char *name, enum ar_render_view *out);

/* ---- colour maps -------------------------------------------------------------------------- */

enum ar_colormap {
    AR_COLORMAP_VIRIDIS, /* perceptually uniform, colour-blind safe (matplotlib's default) */
    AR_COLORMAP_MAGMA,
};

struct ar_rgb {
    double r, g, b; /* [0, 1] */
};

/* Colour at t in [0, 1] (clamped), linearly interpolated between the map's table entries.
 * NaN gives a neutral light grey (no data). */
struct ar_rgb ar_colormap_eval(enum ar_colormap map, double t);

/* Categorical colours for series (matplotlib's "tab10" order: blue, orange, green, red, ...),
 * i taken modulo 8. The loss view draws the training loss in entry 0 and eval split i's loss
 * and perplexity in entry 2 + i; classification metric k (accuracy, F1, MCC) of split i in
 * entry 4·i + k + 1. */
struct ar_rgb ar_render_palette(int i);

/* ---- data logic --------------------------------------------------------------------------- */

/* Min/max decimation to a pixel budget: the x range [x0, x1] is cut into `buckets` equal
 * buckets and each non-empty bucket contributes its minimum and maximum point, in x order, so
 * every spike stays visible however long the series. x must be sorted ascending. Points outside
 * [x0, x1] are dropped. out_x/out_y need room for 2·buckets points; returns the count. Series
 * of at most 2·buckets points inside the range are copied unchanged. */
size_t ar_render_decimate(const double *x, const double *y, size_t n, double x0, double x1,
                          int buckets, double *out_x, double *out_y);

/* "Nice" axis ticks (1, 2, 5 × 10^k) covering [lo, hi] with at most max_ticks ticks; writes up
 * to cap values to ticks and returns their count; *step receives the spacing. */
int ar_render_ticks(double lo, double hi, int max_ticks, double *ticks, int cap, double *step);
/* Formats a tick value with as many decimals as the spacing needs ("0.25", "1.5k", "3e-04"). */
void ar_render_format_tick(double v, double step, char *out, size_t size);
/* Ticks of a log axis over values [lo, hi] (0 < lo ≤ hi): the densest of 1-1.5-2-3-5-7, 1-2-5,
 * 1-3 and 1 per decade, then every 2nd, 5th, 10th... power of ten, that gives at most max_ticks
 * ticks; linear ar_render_ticks when that leaves fewer than two (a range inside one step of the
 * mantissas, e.g. 30 to 31). Writes up to cap values and returns their count. */
int ar_render_log_ticks(double lo, double hi, int max_ticks, double *ticks, int cap);
/* A log-axis tick label: "1.5", "20", "700", "2k", "1.5k", "1e+06". */
void ar_render_format_log_tick(double v, char *out, size_t size);

/* A causal-LM run: one of its eval records carried "perplexity" (classification records never
 * do), or its config names task "causal-lm" (true before the first evaluation too). The loss
 * view draws perplexity in place of accuracy / F1 / MCC for such a run, as long as no eval
 * record has a classification metric. */
bool ar_render_run_is_lm(const struct ar_metrics_run *run);

/* Length of the longest prefix common to all names that ends just after a '.'. */
size_t ar_render_common_prefix(const char *const *names, int n);
/* A short row label: the name without `prefix_len` bytes and, when the rest starts with a layer
 * number, "L<n> rest" ("bert.encoder.layer." + "3.attention.self.query" -> "L3
 * attention.self.query"). */
void ar_render_module_label(const char *name, size_t prefix_len, char *out, size_t size);
/* Label every `stride`-th row so that labels are at least min_spacing apart (≥ 1). */
int ar_render_label_stride(int rows, double row_height, double min_spacing);

/* Resamples rank snapshots (n_snap, rows) taken at ascending steps onto `cols` pixel columns
 * spanning steps [x0, x1]: each column shows the latest snapshot at or before its centre
 * (sample and hold: a rank is what it was at the last snapshot). Columns before the first
 * snapshot get NaN. out is (rows, cols). */
void ar_render_heat_resample(const int64_t *steps, size_t n_snap, const int *values, int rows,
                             double x0, double x1, int cols, float *out);

/* ---- drawing ------------------------------------------------------------------------------ */

struct ar_render_opts {
    enum ar_colormap colormap;
    double font_size;      /* base size in device units (default 12) */
    const char *font;      /* family (default "DejaVu Sans", falls back through fontconfig) */
    bool layer_separators; /* thin lines between transformer layers in the heatmap */
    double smoothing;      /* EMA factor for the smoothed loss in [0, 1) (default 0.9) */
};

struct ar_render_opts ar_render_default_opts(void);

/* Where the heatmap put things (device units), for tests and for GUI hit-testing. */
struct ar_render_heat_layout {
    double plot_x, plot_y, plot_w, plot_h; /* the cells */
    double bar_x, bar_y, bar_w, bar_h;     /* the colour bar */
    double x0, x1;                         /* the step range across plot_w */
    int rows, cols, label_stride;
    int max_rank; /* the colour bar spans effective ranks [0, max_rank] */
};

/* Hit-testing the heatmap (the GUI's hover): the module row and the training step under device
 * point (x, y) of a layout filled by ar_render_heatmap. False outside the cells (row and step
 * untouched). The step is the centre of the pixel column under x, the step whose snapshot that
 * column shows, so a tooltip reports exactly the colour under the pointer. */
bool ar_render_heat_hit(const struct ar_render_heat_layout *layout, double x, double y, int *row,
                        double *step);
/* The snapshot shown at `step` (the latest one at or before it: the heatmap's sample and hold);
 * -1 before the first snapshot or when there is none. steps must be ascending. */
long ar_render_snapshot_at(const int64_t *steps, size_t n_snap, double step);

/* Each draws a complete chart (background, title, axes) in [0, width] × [0, height]. A run
 * without the data a view needs draws the frame and a "no data yet" note and still returns OK.
 * They return AR_STATUS_OUT_OF_MEMORY or AR_STATUS_IO (a cairo error) on failure. */
enum ar_status ar_render_heatmap(cairo_t *cr, double width, double height,
                                 const struct ar_metrics_run *run,
                                 const struct ar_render_opts *opts,
                                 struct ar_render_heat_layout *layout /* may be NULL */);
enum ar_status ar_render_sparsity(cairo_t *cr, double width, double height,
                                  const struct ar_metrics_run *run,
                                  const struct ar_render_opts *opts);
enum ar_status ar_render_flexora(cairo_t *cr, double width, double height,
                                 const struct ar_metrics_run *run,
                                 const struct ar_render_opts *opts);
enum ar_status ar_render_loss(cairo_t *cr, double width, double height,
                              const struct ar_metrics_run *run, const struct ar_render_opts *opts);
/* Any view, "all" included. opts may be NULL (defaults). */
enum ar_status ar_render_view(cairo_t *cr, double width, double height,
                              const struct ar_metrics_run *run, enum ar_render_view view,
                              const struct ar_render_opts *opts);

/* The default PNG size of a view (the CLI's, when no size is given). */
void ar_render_default_size(enum ar_render_view view, int *width, int *height);

/* Draws a view into an ARGB image of width × height and writes it as PNG to path atomically
 * (a temporary file in the same directory, then rename). Errors: "PATH: what" in err. */
enum ar_status ar_render_png(const char *path, int width, int height,
                             const struct ar_metrics_run *run, enum ar_render_view view,
                             const struct ar_render_opts *opts, char *err, size_t err_size);

/* The same image as PNG bytes in memory (for a TensorBoard image summary, tensorboard.h).
 * *png is malloc'd; free it. */
enum ar_status ar_render_png_bytes(int width, int height, const struct ar_metrics_run *run,
                                   enum ar_render_view view, const struct ar_render_opts *opts,
                                   unsigned char **png, size_t *png_size, char *err,
                                   size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
