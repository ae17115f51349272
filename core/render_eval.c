/* The evaluation panel under the loss chart (render.h's loss view): what a run's eval records
 * measured, per split, at the steps they were taken.
 *
 *   classification  accuracy, F1 and MCC on a linear [0, 1] axis (MCC may go below 0).
 *   causal LM       perplexity (exp of the mean per-token loss) on a log axis: it falls by orders
 *                   of magnitude early on (from about the vocabulary size at initialisation),
 *                   then by a few percent, and a log axis shows both; the training curve as
 *                   exp of the smoothed training loss, for comparison with the splits.
 *
 * Evaluations are sparse, so their points carry markers; split i > 0 is dashed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"

bool ar_render_run_is_lm(const struct ar_metrics_run *run)
{
    for (size_t i = 0; i < run->n_splits; i++)
        if (run->splits[i].perplexity.count > 0) return true;
    for (size_t i = 0; i < run->n_config; i++) /* values are JSON text: the string is quoted */
        if (!strcmp(run->config[i].key, "task") && !strcmp(run->config[i].value, "\"causal-lm\""))
            return true;
    return false;
}

/* A filled dot per point (x, y already in c's units), over the line. */
static void markers(cairo_t *cr, const struct ar__chart *c, const double *x, const double *y,
                    size_t n, struct ar_rgb colour)
{
    ar__render_rgb(cr, colour, 1);
    for (size_t p = 0; p < n; p++) {
        if (!isfinite(y[p])) continue;
        cairo_arc(cr, ar__chart_x(c, x[p]), ar__chart_y(c, y[p]), 3.2, 0, 2 * M_PI);
        cairo_fill(cr);
    }
}

/* The legend row sits in the gap above the panel (the loss panel above has no x title). */
static double legend_y(const struct ar_render_opts *o, const struct ar__chart *c)
{
    return c->py - o->font_size * 1.45;
}

static size_t classification_points(const struct ar_metrics_run *run)
{
    size_t points = 0;
    for (size_t i = 0; i < run->n_splits; i++) {
        const struct ar_metrics_eval_split *s = &run->splits[i];
        points += s->accuracy.count + s->f1.count + s->mcc.count;
    }
    return points;
}

static enum ar_status classification_panel(cairo_t *cr, const struct ar_render_opts *o,
                                           const struct ar_metrics_run *run, struct ar__chart c)
{
    double lo = 0, hi = 1;
    for (size_t i = 0; i < run->n_splits; i++) {
        const struct ar_metrics_eval_split *s = &run->splits[i];
        ar__render_extend(s->accuracy.y, s->accuracy.count, &lo, &hi);
        ar__render_extend(s->f1.y, s->f1.count, &lo, &hi);
        ar__render_extend(s->mcc.y, s->mcc.count, &lo, &hi);
    }
    c.y0 = lo, c.y1 = hi;
    ar__render_axes(cr, o, &c, "training step", "eval metric");
    if (classification_points(run) == 0) {
        ar__render_note(cr, o, &c, "no evaluations yet");
        return AR_STATUS_OK;
    }
    enum ar_status st = AR_STATUS_OK;
    double x = c.px, y = legend_y(o, &c);
    ar__render_font(cr, o, 0.85, false);
    for (size_t i = 0; i < run->n_splits && st == AR_STATUS_OK; i++) {
        const struct ar_metrics_eval_split *s = &run->splits[i];
        const struct ar_metrics_series *m[3] = {&s->accuracy, &s->f1, &s->mcc};
        const char *names[3] = {"accuracy", "F1", "MCC"};
        for (int k = 0; k < 3 && st == AR_STATUS_OK; k++) {
            if (m[k]->count == 0) continue;
            struct ar_rgb col = ar_render_palette(4 * (int)i + k + 1);
            st = ar__render_series(cr, &c, m[k]->x, m[k]->y, m[k]->count, 2.0, col, 1,
                                   i > 0 ? 4 : 0);
            markers(cr, &c, m[k]->x, m[k]->y, m[k]->count, col);
            char text[128];
            snprintf(text, sizeof text, "%s %s", s->name, names[k]);
            x = ar__render_legend_item(cr, x, y, col, 2.0, i > 0 ? 4 : 0, text);
        }
    }
    return st;
}

/* ---- perplexity --------------------------------------------------------------------------- */

/* log10 of v[0..n) into out; non-positive or non-finite values become NaN (a gap in the line). */
static void log10_of(const double *v, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = isfinite(v[i]) && v[i] > 0 ? log10(v[i]) : NAN;
}

/* The y range of c from the log10 range [lo, hi] of the values, padded. */
static void log_fit(struct ar__chart *c, double lo, double hi)
{
    if (!(hi >= lo)) lo = 0, hi = 1; /* nothing yet: perplexity 1 to 10 */
    double pad = (hi - lo) * 0.06;
    if (pad <= 0) pad = 0.05; /* a single value: ±12 % around it */
    c->y0 = lo - pad, c->y1 = hi + pad;
}

static enum ar_status perplexity_panel(cairo_t *cr, const struct ar_render_opts *o,
                                       const struct ar_metrics_run *run, struct ar__chart c)
{
    /* One buffer for the logs of every series: the training curve, then each split. */
    size_t n_train = run->loss.count, total = n_train;
    for (size_t i = 0; i < run->n_splits; i++)
        total += run->splits[i].perplexity.count;
    double *logs = malloc((total ? total : 1) * sizeof *logs);
    if (!logs) return AR_STATUS_OUT_OF_MEMORY;
    /* Step records carry no perplexity: their loss is the mean per-token cross-entropy of the
     * logged batches, whose exp is the usual training perplexity. The smoothed loss, the main
     * line of the loss panel above, keeps the noise of single batches off the log axis
     * (log10 e^L = L / ln 10, which cannot overflow as exp would for a diverged run). */
    double *ema = NULL;
    if (ar__render_smooth(&run->loss, o->smoothing, &ema) != AR_STATUS_OK) {
        free(logs);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < n_train; i++)
        logs[i] = isfinite(ema[i]) ? ema[i] / log(10.0) : NAN;
    free(ema);
    size_t off = n_train;
    for (size_t i = 0; i < run->n_splits; i++) {
        const struct ar_metrics_series *p = &run->splits[i].perplexity;
        log10_of(p->y, p->count, logs + off);
        off += p->count;
    }
    double lo = INFINITY, hi = -INFINITY;
    ar__render_extend(logs, total, &lo, &hi);
    c.log_y = true;
    log_fit(&c, lo, hi);
    ar__render_axes(cr, o, &c, "training step", "perplexity (log scale)");
    if (total == n_train) ar__render_note(cr, o, &c, "no evaluations yet");
    double x = c.px, y = legend_y(o, &c);
    struct ar_rgb blue = ar_render_palette(0); /* the training loss's colour above */
    enum ar_status st = ar__render_series(cr, &c, run->loss.x, logs, n_train, 1.6, blue, 1, 0);
    ar__render_font(cr, o, 0.85, false);
    if (n_train)
        x = ar__render_legend_item(cr, x, y, blue, 1.6, 0, "train (exp of smoothed training loss)");
    off = n_train;
    for (size_t i = 0; i < run->n_splits && st == AR_STATUS_OK; i++) {
        const struct ar_metrics_eval_split *s = &run->splits[i];
        size_t n = s->perplexity.count;
        if (n == 0) continue;
        struct ar_rgb col = ar_render_palette(2 + (int)i); /* as this split's loss above */
        double dash = i > 0 ? 4 : 0;
        st = ar__render_series(cr, &c, s->perplexity.x, logs + off, n, 2.0, col, 1, dash);
        markers(cr, &c, s->perplexity.x, logs + off, n, col);
        char text[128];
        snprintf(text, sizeof text, "%s perplexity", s->name);
        x = ar__render_legend_item(cr, x, y, col, 2.0, dash, text);
        off += n;
    }
    free(logs);
    return st;
}

enum ar_status ar__render_eval_panel(cairo_t *cr, const struct ar_render_opts *o,
                                     const struct ar_metrics_run *run, struct ar__chart c)
{
    if (ar_render_run_is_lm(run) && classification_points(run) == 0)
        return perplexity_panel(cr, o, run, c);
    return classification_panel(cr, o, run, c);
}
