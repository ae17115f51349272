/* Chart furniture shared by every view: text, header, axes with nice ticks, series lines,
 * legends (render_internal.h). Sizes scale with opts->font_size so one code path serves a
 * 1200-pixel PNG and a small GTK widget. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"

static const struct ar_rgb axis_grey = {0.35, 0.35, 0.38};
static const struct ar_rgb grid_grey = {0.90, 0.90, 0.92};

void ar__render_font(cairo_t *cr, const struct ar_render_opts *o, double scale, bool bold)
{
    cairo_select_font_face(cr, o->font ? o->font : "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, o->font_size * scale);
}

double ar__render_text_width(cairo_t *cr, const char *s)
{
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

void ar__render_text(cairo_t *cr, double x, double y, double ax, double ay, const char *s)
{
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = ar__render_text_width(cr, s);
    double h = fe.ascent + fe.descent;
    cairo_move_to(cr, x - ax * w, y - ay * h + fe.ascent);
    cairo_show_text(cr, s);
}

/* Steps back to the start of a UTF-8 sequence so a cut never splits a character. */
static size_t utf8_floor(const char *s, size_t i)
{
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

void ar__render_fit_text(cairo_t *cr, const char *s, double max_width, char *out, size_t size)
{
    snprintf(out, size, "%s", s);
    size_t len = strlen(out);
    if (ar__render_text_width(cr, out) <= max_width || len < 4) return;
    char *copy = strdup(out);
    if (!copy) return;
    for (size_t keep = len - 1; keep >= 2; keep--) {
        size_t head = utf8_floor(copy, keep / 2);
        size_t tail = utf8_floor(copy, len - (keep - keep / 2));
        snprintf(out, size, "%.*s\xE2\x80\xA6%s", (int)head, copy, copy + tail);
        if (ar__render_text_width(cr, out) <= max_width) break;
    }
    free(copy);
}

void ar__render_rgb(cairo_t *cr, struct ar_rgb c, double alpha)
{
    cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

struct ar_rgb ar_render_palette(int i)
{
    static const unsigned char p[8][3] = {
        {31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
        {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
    };
    const unsigned char *c = p[(unsigned)i % 8];
    return (struct ar_rgb){c[0] / 255.0, c[1] / 255.0, c[2] / 255.0};
}

void ar__render_run_name(const struct ar_metrics_run *run, char *out, size_t size)
{
    const char *m = run->method && *run->method ? run->method : NULL;
    const char *d = run->model && *run->model ? run->model : NULL;
    /* A model is named by its folder ("…/all-MiniLM-L6-v2"): the title shows the last part. */
    const char *slash = d ? strrchr(d, '/') : NULL;
    if (slash && slash[1])
        d = slash + 1;
    if (m && d)
        snprintf(out, size, "%s \xC2\xB7 %s", m, d);
    else
        snprintf(out, size, "%s", m ? m : d ? d : "run");
}

double ar__render_header(cairo_t *cr, const struct ar_render_opts *o, double width,
                         const char *title, const char *subtitle)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    double pad = o->font_size * 0.9, y = pad;
    char fitted[512];
    ar__render_font(cr, o, 1.35, true);
    cairo_set_source_rgb(cr, 0.12, 0.12, 0.14);
    ar__render_fit_text(cr, title, width - 2 * pad, fitted, sizeof fitted);
    ar__render_text(cr, pad, y, 0, 0, fitted);
    y += o->font_size * 1.35 * 1.3;
    if (subtitle && *subtitle) {
        ar__render_font(cr, o, 0.95, false);
        cairo_set_source_rgb(cr, 0.42, 0.42, 0.46);
        ar__render_fit_text(cr, subtitle, width - 2 * pad, fitted, sizeof fitted);
        ar__render_text(cr, pad, y, 0, 0, fitted);
        y += o->font_size * 0.95 * 1.3;
    }
    return y + pad * 0.6;
}

enum ar_status ar__render_smooth(const struct ar_metrics_series *s, double beta, double **out)
{
    *out = malloc((s->count ? s->count : 1) * sizeof **out);
    if (!*out) return AR_STATUS_OUT_OF_MEMORY;
    double ema = 0, norm = 0; /* bias-corrected EMA, as TensorBoard's smoothing slider */
    for (size_t i = 0; i < s->count; i++) {
        ema = beta * ema + (1 - beta) * s->y[i];
        norm = beta * norm + (1 - beta);
        (*out)[i] = ema / norm;
    }
    return AR_STATUS_OK;
}

void ar__render_extend(const double *y, size_t n, double *lo, double *hi)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) continue;
        if (y[i] < *lo) *lo = y[i];
        if (y[i] > *hi) *hi = y[i];
    }
}

static void rotated_text(cairo_t *cr, double x, double y, double angle, const char *s)
{
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    ar__render_text(cr, 0, 0, 0.5, 0.5, s);
    cairo_restore(cr);
}

void ar__render_axes(cairo_t *cr, const struct ar_render_opts *o, const struct ar__chart *c,
                     const char *xlabel, const char *ylabel)
{
    double ticks[32], step;
    char label[64];
    double fs = o->font_size;
    cairo_set_line_width(cr, 1.0);
    ar__render_font(cr, o, 0.85, false);
    /* Horizontal grid and y tick labels. */
    int max_y = (int)fmax(2, c->ph / (fs * 3.2));
    int n = c->log_y ? ar_render_log_ticks(pow(10, c->y0), pow(10, c->y1), max_y, ticks, 32)
                     : ar_render_ticks(c->y0, c->y1, max_y, ticks, 32, &step);
    for (int i = 0; i < n; i++) {
        double y = round(ar__chart_y(c, c->log_y ? log10(ticks[i]) : ticks[i])) + 0.5;
        ar__render_rgb(cr, grid_grey, 1);
        cairo_move_to(cr, c->px, y);
        cairo_line_to(cr, c->px + c->pw, y);
        cairo_stroke(cr);
        if (c->log_y)
            ar_render_format_log_tick(ticks[i], label, sizeof label);
        else
            ar_render_format_tick(ticks[i], step, label, sizeof label);
        ar__render_rgb(cr, axis_grey, 1);
        ar__render_text(cr, c->px - fs * 0.45, y, 1, 0.5, label);
    }
    /* Vertical ticks and x tick labels (none when the x range is empty: a bar chart). */
    n = c->x1 > c->x0
            ? ar_render_ticks(c->x0, c->x1, (int)fmax(2, c->pw / (fs * 7)), ticks, 32, &step)
            : 0;
    for (int i = 0; i < n; i++) {
        double x = round(ar__chart_x(c, ticks[i])) + 0.5;
        ar__render_rgb(cr, axis_grey, 1);
        cairo_move_to(cr, x, c->py + c->ph);
        cairo_line_to(cr, x, c->py + c->ph + fs * 0.35);
        cairo_stroke(cr);
        ar_render_format_tick(ticks[i], step, label, sizeof label);
        ar__render_text(cr, x, c->py + c->ph + fs * 0.5, 0.5, 0, label);
    }
    /* The frame: left and bottom axis lines. */
    ar__render_rgb(cr, axis_grey, 1);
    cairo_move_to(cr, round(c->px) + 0.5, c->py);
    cairo_line_to(cr, round(c->px) + 0.5, c->py + c->ph + 0.5);
    cairo_line_to(cr, c->px + c->pw, c->py + c->ph + 0.5);
    cairo_stroke(cr);
    ar__render_font(cr, o, 0.95, false);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.28);
    if (xlabel) ar__render_text(cr, c->px + c->pw / 2, c->py + c->ph + fs * 1.9, 0.5, 0, xlabel);
    if (ylabel) rotated_text(cr, c->px - fs * 4.4, c->py + c->ph / 2, -M_PI / 2, ylabel);
}

void ar__render_right_axis(cairo_t *cr, const struct ar_render_opts *o, const struct ar__chart *c,
                           double r0, double r1, const char *label, struct ar_rgb colour)
{
    double ticks[32], step;
    char text[64];
    double fs = o->font_size;
    struct ar__chart r = *c;
    r.y0 = r0, r.y1 = r1;
    ar__render_font(cr, o, 0.85, false);
    ar__render_rgb(cr, colour, 1);
    cairo_set_line_width(cr, 1.0);
    int n = ar_render_ticks(r0, r1, (int)fmax(2, c->ph / (fs * 3.2)), ticks, 32, &step);
    for (int i = 0; i < n; i++) {
        double y = round(ar__chart_y(&r, ticks[i])) + 0.5;
        cairo_move_to(cr, c->px + c->pw, y);
        cairo_line_to(cr, c->px + c->pw + fs * 0.35, y);
        cairo_stroke(cr);
        ar_render_format_tick(ticks[i], step, text, sizeof text);
        ar__render_text(cr, c->px + c->pw + fs * 0.5, y, 0, 0.5, text);
    }
    cairo_move_to(cr, round(c->px + c->pw) + 0.5, c->py);
    cairo_line_to(cr, round(c->px + c->pw) + 0.5, c->py + c->ph);
    cairo_stroke(cr);
    ar__render_font(cr, o, 0.95, false);
    rotated_text(cr, c->px + c->pw + fs * 4.6, c->py + c->ph / 2, M_PI / 2, label);
}

void ar__render_note(cairo_t *cr, const struct ar_render_opts *o, const struct ar__chart *c,
                     const char *text)
{
    ar__render_font(cr, o, 1.0, false);
    cairo_set_source_rgb(cr, 0.55, 0.55, 0.58);
    ar__render_text(cr, c->px + c->pw / 2, c->py + c->ph / 2, 0.5, 0.5, text);
}

enum ar_status ar__render_series(cairo_t *cr, const struct ar__chart *c, const double *x,
                                 const double *y, size_t n, double line_width, struct ar_rgb colour,
                                 double alpha, double dash)
{
    if (n == 0) return AR_STATUS_OK;
    int buckets = (int)fmax(1, c->pw);
    double *dx = malloc(4 * (size_t)buckets * sizeof *dx);
    if (!dx) return AR_STATUS_OUT_OF_MEMORY;
    double *dy = dx + 2 * (size_t)buckets;
    size_t m = ar_render_decimate(x, y, n, c->x0, c->x1, buckets, dx, dy);
    cairo_save(cr);
    cairo_rectangle(cr, c->px, c->py - line_width, c->pw, c->ph + 2 * line_width);
    cairo_clip(cr);
    cairo_set_line_width(cr, line_width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    if (dash > 0) cairo_set_dash(cr, (double[]){dash, dash * 0.7}, 2, 0);
    ar__render_rgb(cr, colour, alpha);
    bool pen = false;
    for (size_t i = 0; i < m; i++) {
        if (!isfinite(dy[i])) {
            pen = false;
            continue;
        }
        double px = ar__chart_x(c, dx[i]), py = ar__chart_y(c, dy[i]);
        if (pen)
            cairo_line_to(cr, px, py);
        else
            cairo_move_to(cr, px, py);
        pen = true;
    }
    if (m == 1) /* a single point: a short tick so it shows */
        cairo_rel_line_to(cr, 0.01, 0);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_stroke(cr);
    cairo_restore(cr);
    free(dx);
    return AR_STATUS_OK;
}

double ar__render_legend_item(cairo_t *cr, double x, double y, struct ar_rgb colour,
                              double line_width, double dash, const char *text)
{
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double h = fe.ascent + fe.descent, len = h * 1.6;
    cairo_save(cr);
    cairo_set_line_width(cr, line_width);
    if (dash > 0) cairo_set_dash(cr, (double[]){dash, dash * 0.7}, 2, 0);
    ar__render_rgb(cr, colour, 1);
    cairo_move_to(cr, x, y + h / 2);
    cairo_line_to(cr, x + len, y + h / 2);
    cairo_stroke(cr);
    cairo_restore(cr);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.28);
    ar__render_text(cr, x + len + h * 0.4, y, 0, 0, text);
    return x + len + h * 0.4 + ar__render_text_width(cr, text) + h * 1.2;
}
