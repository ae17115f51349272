/* The line charts of a run: gate sparsity, Flexora layer scores, loss / learning rate above the
 * eval panel of render_eval.c (render.h). Long series are decimated to the plot width (min/max
 * per pixel column) by ar__render_series, so a 100k-step run draws as fast as a short one and
 * keeps its spikes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"

static const struct ar_rgb ink = {0.13, 0.13, 0.16};
static const struct ar_rgb accent = {0.85, 0.37, 0.01};
static const struct ar_rgb muted = {0.74, 0.74, 0.77};

/* A plot box inside (x, y, w, h), leaving room for the axes around it. */
static struct ar__chart box(const struct ar_render_opts *o, double x, double y, double w, double h,
                            bool right_axis)
{
    double fs = o->font_size;
    struct ar__chart c = {0};
    c.px = x + fs * 5.8;
    c.py = y + fs * 0.6;
    c.pw = fmax(1, w - fs * 5.8 - (right_axis ? fs * 6.4 : fs * 1.5));
    c.ph = fmax(1, h - fs * 0.6 - fs * 3.6);
    return c;
}

static void x_steps(const struct ar_metrics_run *run, struct ar__chart *c)
{
    c->x0 = 0;
    c->x1 = run->last_step > 0 ? (double)run->last_step : 1;
}

static void y_fit(struct ar__chart *c, double lo, double hi, bool from_zero)
{
    if (!(hi >= lo)) lo = 0, hi = 1;
    if (from_zero && lo > 0) lo = 0;
    double pad = (hi - lo) * 0.06;
    if (pad <= 0) pad = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1;
    c->y0 = from_zero && lo >= 0 ? lo : lo - pad;
    c->y1 = hi + pad;
}

/* The legend row starts under the header; returns the y below it. */
static double legend_start(cairo_t *cr, const struct ar_render_opts *o, double top)
{
    ar__render_font(cr, o, 0.85, false);
    return top + o->font_size * 1.5;
}

static double lx(const struct ar_render_opts *o)
{
    return o->font_size * 5.8;
}

/* ---- sparsity ----------------------------------------------------------------------------- */

static int layer_count(const struct ar_metrics_run *run)
{
    int n = 0;
    for (int i = 0; i < run->n_modules; i++)
        n = run->modules[i].layer + 1 > n ? run->modules[i].layer + 1 : n;
    return n;
}

/* Mean sparsity of layer `layer`'s modules at every snapshot (layer < 0: all modules, weighted
 * by allocated rank, i.e. the fraction of all rank components that are pruned). */
static void layer_sparsity(const struct ar_metrics_run *run, int layer, double *x, double *y)
{
    int n = run->n_modules;
    for (size_t s = 0; s < run->n_snapshots; s++) {
        double sum = 0, weight = 0;
        for (int i = 0; i < n; i++) {
            if (layer >= 0 && run->modules[i].layer != layer) continue;
            double w = layer >= 0 ? 1.0 : run->allocated[s * n + i];
            sum += w * run->sparsity[s * n + i], weight += w;
        }
        x[s] = (double)run->snapshot_step[s];
        y[s] = weight > 0 ? sum / weight : NAN;
    }
}

enum ar_status ar_render_sparsity(cairo_t *cr, double width, double height,
                                  const struct ar_metrics_run *run,
                                  const struct ar_render_opts *opts)
{
    struct ar_render_opts o = opts ? *opts : ar_render_default_opts();
    char name[256], title[512];
    ar__render_run_name(run, name, sizeof name);
    snprintf(title, sizeof title, "Gate sparsity \xE2\x80\x94 %s", name);
    cairo_save(cr);
    double top = ar__render_header(cr, &o, width, title,
                                   "fraction of each module's rank that is pruned (gate = 0)");
    bool thr = run->threshold.count > 0;
    double ly = top;
    top = legend_start(cr, &o, top);
    struct ar__chart c = box(&o, 0, top, width, height - top, thr);
    x_steps(run, &c);
    c.y0 = 0, c.y1 = 1.0;
    ar__render_axes(cr, &o, &c, "training step", "sparsity");
    enum ar_status st = AR_STATUS_OK;
    size_t n = run->n_snapshots;
    int layers = layer_count(run);
    double *x = n ? malloc(2 * n * sizeof *x) : NULL;
    if (n == 0) {
        ar__render_note(cr, &o, &c, "no rank snapshots yet");
    } else if (!x) {
        st = AR_STATUS_OUT_OF_MEMORY;
    } else {
        double *y = x + n;
        for (int l = 0; l < layers && st == AR_STATUS_OK; l++) {
            layer_sparsity(run, l, x, y);
            struct ar_rgb col =
                ar_colormap_eval(o.colormap, layers > 1 ? 0.85 * l / (layers - 1) : 0.4);
            st = ar__render_series(cr, &c, x, y, n, 1.3, col, 0.9, 0);
        }
        layer_sparsity(run, -1, x, y);
        if (st == AR_STATUS_OK) st = ar__render_series(cr, &c, x, y, n, 3.2, ink, 1, 0);
    }
    free(x);
    if (thr && st == AR_STATUS_OK) {
        double lo = 0, hi = 0;
        ar__render_extend(run->threshold.y, run->threshold.count, &lo, &hi);
        struct ar__chart r = c;
        y_fit(&r, lo, hi, true);
        ar__render_right_axis(cr, &o, &c, r.y0, r.y1, "threshold", accent);
        st = ar__render_series(cr, &r, run->threshold.x, run->threshold.y, run->threshold.count,
                               1.8, accent, 1, 6);
    }
    ar__render_font(cr, &o, 0.85, false);
    double x0 = lx(&o);
    if (layers > 0) {
        char text[64];
        snprintf(text, sizeof text, "per layer (L0 dark \xE2\x86\x92 L%d light)", layers - 1);
        x0 = ar__render_legend_item(cr, x0, ly, ar_colormap_eval(o.colormap, 0.4), 1.3, 0, text);
    }
    x0 = ar__render_legend_item(cr, x0, ly, ink, 3.2, 0, "whole model");
    if (thr) ar__render_legend_item(cr, x0, ly, accent, 1.8, 6, "threshold (right axis)");
    cairo_restore(cr);
    return st;
}

/* ---- Flexora ------------------------------------------------------------------------------ */

static void draw_bars(cairo_t *cr, const struct ar_render_opts *o, const struct ar__chart *c,
                      const struct ar_metrics_run *run)
{
    int nl = run->n_layers;
    const float *last = run->flexora_score + (run->n_flexora - 1) * (size_t)nl;
    double slot = c->pw / nl, bw = fmax(1, slot * 0.7);
    char text[32];
    int stride = ar_render_label_stride(nl, slot, o->font_size * 2.6);
    ar__render_font(cr, o, 0.85, false);
    for (int l = 0; l < nl; l++) {
        bool sel = run->flexora_selected ? run->flexora_selected[l] : last[l] > 0;
        double xc = c->px + (l + 0.5) * slot;
        double y0 = ar__chart_y(c, 0), y1 = ar__chart_y(c, last[l]);
        ar__render_rgb(cr, sel ? ar_render_palette(0) : muted, 1);
        cairo_rectangle(cr, xc - bw / 2, fmin(y0, y1), bw, fabs(y1 - y0));
        cairo_fill(cr);
        if (l % stride == 0) {
            snprintf(text, sizeof text, "L%d", l);
            cairo_set_source_rgb(cr, 0.25, 0.25, 0.28);
            ar__render_text(cr, xc, c->py + c->ph + o->font_size * 0.5, 0.5, 0, text);
        }
    }
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.38);
    cairo_set_line_width(cr, 1);
    double yz = round(ar__chart_y(c, 0)) + 0.5;
    cairo_move_to(cr, c->px, yz);
    cairo_line_to(cr, c->px + c->pw, yz);
    cairo_stroke(cr);
}

static enum ar_status draw_score_lines(cairo_t *cr, const struct ar_render_opts *o,
                                       const struct ar__chart *c, const struct ar_metrics_run *run)
{
    size_t n = run->n_flexora;
    int nl = run->n_layers;
    double *x = malloc(2 * n * sizeof *x);
    if (!x) return AR_STATUS_OUT_OF_MEMORY;
    double *y = x + n;
    enum ar_status st = AR_STATUS_OK;
    for (int l = 0; l < nl && st == AR_STATUS_OK; l++) {
        for (size_t s = 0; s < n; s++)
            x[s] = (double)run->flexora_step[s], y[s] = run->flexora_score[s * nl + l];
        struct ar_rgb col = ar_colormap_eval(o->colormap, nl > 1 ? 0.85 * l / (nl - 1) : 0.4);
        st = ar__render_series(cr, c, x, y, n, 1.5, col, 0.95, 0);
    }
    free(x);
    return st;
}

enum ar_status ar_render_flexora(cairo_t *cr, double width, double height,
                                 const struct ar_metrics_run *run,
                                 const struct ar_render_opts *opts)
{
    struct ar_render_opts o = opts ? *opts : ar_render_default_opts();
    char name[256], title[512], sub[128];
    ar__render_run_name(run, name, sizeof name);
    snprintf(title, sizeof title, "Flexora layer scores \xE2\x80\x94 %s", name);
    int selected = 0;
    for (int l = 0; run->flexora_selected && l < run->n_layers; l++)
        selected += run->flexora_selected[l];
    snprintf(sub, sizeof sub, "%d of %d layers selected (latest scores; over steps below)",
             selected, run->n_layers);
    cairo_save(cr);
    double top = ar__render_header(cr, &o, width, title, run->n_flexora ? sub : NULL);
    enum ar_status st = AR_STATUS_OK;
    double ly = top;
    top = legend_start(cr, &o, top);
    double h1 = (height - top) * 0.5;
    struct ar__chart bars = box(&o, 0, top, width, h1, false);
    struct ar__chart lines = box(&o, 0, top + h1, width, height - top - h1, false);
    x_steps(run, &lines);
    if (run->n_flexora == 0 || run->n_layers <= 0) {
        bars.x0 = lines.x0, bars.x1 = lines.x1, bars.y0 = lines.y0 = 0, bars.y1 = lines.y1 = 1;
        ar__render_axes(cr, &o, &lines, "training step", "score");
        ar__render_note(cr, &o, &lines, "no Flexora layer scores in this run");
    } else {
        double lo = 0, hi = 0;
        for (size_t i = 0; i < run->n_flexora * (size_t)run->n_layers; i++)
            lo = fmin(lo, run->flexora_score[i]), hi = fmax(hi, run->flexora_score[i]);
        bars.x0 = 0, bars.x1 = run->n_layers;
        y_fit(&bars, lo, hi, false);
        struct ar__chart frame = bars;
        frame.x1 = frame.x0; /* y grid only: the x labels are the layers' */
        ar__render_axes(cr, &o, &frame, NULL, "latest score");
        draw_bars(cr, &o, &bars, run);
        lines.y0 = bars.y0, lines.y1 = bars.y1;
        ar__render_axes(cr, &o, &lines, "training step", "score");
        st = draw_score_lines(cr, &o, &lines, run);
        ar__render_font(cr, &o, 0.85, false);
        double x = ar__render_legend_item(cr, lx(&o), ly, ar_render_palette(0), 8, 0, "selected");
        ar__render_legend_item(cr, x, ly, muted, 8, 0, "not selected");
    }
    cairo_restore(cr);
    return st;
}

/* ---- loss, learning rate, eval metrics ---------------------------------------------------- */

static enum ar_status loss_panel(cairo_t *cr, const struct ar_render_opts *o,
                                 const struct ar_metrics_run *run, struct ar__chart c, double ly)
{
    double lo = INFINITY, hi = -INFINITY;
    ar__render_extend(run->loss.y, run->loss.count, &lo, &hi);
    for (size_t i = 0; i < run->n_splits; i++)
        ar__render_extend(run->splits[i].loss.y, run->splits[i].loss.count, &lo, &hi);
    y_fit(&c, lo, hi, true);
    ar__render_axes(cr, o, &c, NULL, "loss");
    if (run->loss.count == 0) ar__render_note(cr, o, &c, "no training steps yet");
    double *ema = NULL;
    enum ar_status st = ar__render_smooth(&run->loss, o->smoothing, &ema);
    if (st != AR_STATUS_OK) return st;
    struct ar_rgb blue = ar_render_palette(0);
    st = ar__render_series(cr, &c, run->loss.x, run->loss.y, run->loss.count, 1.0, blue, 0.35, 0);
    if (st == AR_STATUS_OK)
        st = ar__render_series(cr, &c, run->loss.x, ema, run->loss.count, 2.4, blue, 1, 0);
    free(ema);
    ar__render_font(cr, o, 0.85, false);
    double x = ar__render_legend_item(cr, lx(o), ly, blue, 2.4, 0, "training loss (smoothed)");
    for (size_t i = 0; i < run->n_splits && st == AR_STATUS_OK; i++) {
        const struct ar_metrics_series *s = &run->splits[i].loss;
        struct ar_rgb col = ar_render_palette(2 + (int)i);
        st = ar__render_series(cr, &c, s->x, s->y, s->count, 2.0, col, 1, 0);
        char text[128];
        snprintf(text, sizeof text, "%s loss", run->splits[i].name);
        if (s->count) x = ar__render_legend_item(cr, x, ly, col, 2.0, 0, text);
    }
    if (run->lr.count > 0 && st == AR_STATUS_OK) {
        lo = 0, hi = 0;
        ar__render_extend(run->lr.y, run->lr.count, &lo, &hi);
        struct ar__chart r = c;
        y_fit(&r, lo, hi, true);
        ar__render_right_axis(cr, o, &c, r.y0, r.y1, "learning rate", accent);
        st = ar__render_series(cr, &r, run->lr.x, run->lr.y, run->lr.count, 1.5, accent, 0.9, 5);
        ar__render_font(cr, o, 0.85, false);
        ar__render_legend_item(cr, x, ly, accent, 1.5, 5, "learning rate (right axis)");
    }
    return st;
}

enum ar_status ar_render_loss(cairo_t *cr, double width, double height,
                              const struct ar_metrics_run *run, const struct ar_render_opts *opts)
{
    struct ar_render_opts o = opts ? *opts : ar_render_default_opts();
    char name[256], title[512];
    ar__render_run_name(run, name, sizeof name);
    snprintf(title, sizeof title, "Loss and evaluation \xE2\x80\x94 %s", name);
    cairo_save(cr);
    double top = ar__render_header(cr, &o, width, title, NULL);
    double ly = top;
    top = legend_start(cr, &o, top);
    double h1 = (height - top) * 0.58;
    bool right = run->lr.count > 0;
    struct ar__chart c1 = box(&o, 0, top, width, h1, right);
    struct ar__chart c2 = box(&o, 0, top + h1, width, height - top - h1, right);
    x_steps(run, &c1);
    x_steps(run, &c2);
    enum ar_status st = loss_panel(cr, &o, run, c1, ly);
    if (st == AR_STATUS_OK) st = ar__render_eval_panel(cr, &o, run, c2);
    cairo_restore(cr);
    return st;
}
