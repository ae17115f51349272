/* Shared drawing helpers of the chart files (render_chart.c, render_heatmap.c,
 * render_curves.c, render_png.c). Every chart is drawn at the origin in a width × height box. */
#ifndef ADARANK_CORE_RENDER_INTERNAL_H
#define ADARANK_CORE_RENDER_INTERNAL_H

#include "adarank/render.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* A plot area in device units and the data ranges it maps. With log_y the y axis is
 * logarithmic: y0, y1 and every y handed to the drawing functions are log10 of the values, and
 * the axis labels show the values (ar__render_axes). */
struct ar__chart {
    double px, py, pw, ph;
    double x0, x1, y0, y1;
    bool log_y;
};

static inline double ar__chart_x(const struct ar__chart *c, double x)
{
    return c->px + (x - c->x0) / (c->x1 - c->x0) * c->pw;
}

static inline double ar__chart_y(const struct ar__chart *c, double y)
{
    return c->py + c->ph - (y - c->y0) / (c->y1 - c->y0) * c->ph;
}

/* Text. (ax, ay) anchor the box: (0, 0) top-left, (0.5, 0.5) centre, (1, 1) bottom-right. */
void ar__render_font(cairo_t *cr, const struct ar_render_opts *o, double scale, bool bold);
void ar__render_text(cairo_t *cr, double x, double y, double ax, double ay, const char *s);
double ar__render_text_width(cairo_t *cr, const char *s);
/* Cuts the middle of s (with "…") until it fits max_width; out must hold size bytes. */
void ar__render_fit_text(cairo_t *cr, const char *s, double max_width, char *out, size_t size);

void ar__render_rgb(cairo_t *cr, struct ar_rgb c, double alpha);

/* White background, the title in bold and a grey subtitle; returns the height they take. */
double ar__render_header(cairo_t *cr, const struct ar_render_opts *o, double width,
                         const char *title, const char *subtitle);
/* "sora · all-MiniLM-L6-v2" (or "run" when the run has neither). */
void ar__render_run_name(const struct ar_metrics_run *run, char *out, size_t size);

/* Grid, ticks, tick labels and axis titles around c. ylabel may be NULL. */
void ar__render_axes(cairo_t *cr, const struct ar_render_opts *o, const struct ar__chart *c,
                     const char *xlabel, const char *ylabel);
/* A second y axis on the right for [r0, r1]. */
void ar__render_right_axis(cairo_t *cr, const struct ar_render_opts *o, const struct ar__chart *c,
                           double r0, double r1, const char *label, struct ar_rgb colour);
/* A centred grey note inside the plot area ("no rank snapshots yet"). */
void ar__render_note(cairo_t *cr, const struct ar_render_opts *o, const struct ar__chart *c,
                     const char *text);
/* A series as a polyline, decimated to the plot width; dash > 0 draws it dashed. */
enum ar_status ar__render_series(cairo_t *cr, const struct ar__chart *c, const double *x,
                                 const double *y, size_t n, double line_width, struct ar_rgb colour,
                                 double alpha, double dash);
/* A legend row at (x, y): colour swatch + text; returns the x after it. */
double ar__render_legend_item(cairo_t *cr, double x, double y, struct ar_rgb colour,
                              double line_width, double dash, const char *text);

/* The lower panel of the loss view in plot box c (render_eval.c): accuracy / F1 / MCC per
 * split, or perplexity for a causal-LM run. Its legend goes in the gap above c. */
enum ar_status ar__render_eval_panel(cairo_t *cr, const struct ar_render_opts *o,
                                     const struct ar_metrics_run *run, struct ar__chart c);

/* The smoothed training loss: a bias-corrected EMA of s->y with factor beta (opts->smoothing).
 * *out (s->count values) is malloc'd; free it. */
enum ar_status ar__render_smooth(const struct ar_metrics_series *s, double beta, double **out);

/* min/max of the finite values of y[0..n) into *lo and *hi (unchanged when there are none). */
void ar__render_extend(const double *y, size_t n, double *lo, double *hi);

#endif
