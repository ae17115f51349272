/* The rank heatmap: one row per adapted module, one column per pixel of training time, the
 * colour the module's effective rank at the last snapshot before that time (render.h).
 *
 * Cells are resampled to the pixel width first (ar_render_heat_resample) and equal neighbours
 * are merged into one rectangle, so drawing costs O(rows × changes) whatever the run length, and
 * rectangles are snapped to whole pixels so rows show as crisp bands. Ranks are integers, so the
 * colour bar is drawn as discrete blocks (one per rank) while there are few enough to read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"

static int max_rank_of(const struct ar_metrics_run *run)
{
    int m = 0;
    for (int i = 0; i < run->n_modules; i++)
        m = run->modules[i].rank > m ? run->modules[i].rank : m;
    size_t cells = run->n_snapshots * (size_t)run->n_modules;
    for (size_t i = 0; i < cells; i++)
        m = run->allocated[i] > m ? run->allocated[i] : m;
    return m > 0 ? m : 1;
}

/* "24 modules × 200 steps · 41 snapshots · 108 / 192 ranks kept (56%) · completed" */
static void subtitle(const struct ar_metrics_run *run, char *out, size_t size)
{
    char name[256];
    ar__render_run_name(run, name, sizeof name);
    long eff = 0, alloc = 0;
    if (run->n_snapshots > 0) {
        size_t last = (run->n_snapshots - 1) * (size_t)run->n_modules;
        for (int i = 0; i < run->n_modules; i++)
            eff += run->effective[last + i], alloc += run->allocated[last + i];
    }
    int n = snprintf(out, size, "%d modules \xC3\x97 %lld steps \xC2\xB7 %zu snapshots",
                     run->n_modules, (long long)run->last_step, run->n_snapshots);
    if (alloc > 0 && n > 0 && (size_t)n < size)
        n += snprintf(out + n, size - n, " \xC2\xB7 %ld / %ld ranks kept (%.0f%%)", eff, alloc,
                      100.0 * eff / alloc);
    if (n > 0 && (size_t)n < size)
        snprintf(out + n, size - n, " \xC2\xB7 %s", run->ended ? run->end_status : "running");
}

static double label_column_width(cairo_t *cr, const struct ar_metrics_run *run, size_t prefix,
                                 int stride)
{
    double w = 0;
    char label[256];
    for (int i = 0; i < run->n_modules; i += stride) {
        ar_render_module_label(run->modules[i].name, prefix, label, sizeof label);
        w = fmax(w, ar__render_text_width(cr, label));
    }
    return w;
}

static void layout_heat(cairo_t *cr, const struct ar_render_opts *o, double width, double height,
                        double top, const struct ar_metrics_run *run, size_t prefix,
                        struct ar_render_heat_layout *l)
{
    double fs = o->font_size;
    l->rows = run->n_modules;
    l->plot_y = top + fs * 0.3;
    l->plot_h = fmax(1, height - l->plot_y - fs * 3.8);
    double row_h = l->rows > 0 ? l->plot_h / l->rows : l->plot_h;
    l->label_stride = ar_render_label_stride(l->rows, row_h, fs * 0.85 * 1.25);
    ar__render_font(cr, o, 0.85, false);
    double labels = fmin(label_column_width(cr, run, prefix, l->label_stride), width * 0.35);
    l->plot_x = fs * 1.0 + labels + fs * 0.6;
    l->bar_w = fs * 1.1;
    l->bar_x = width - fs * 5.2 - l->bar_w;
    l->bar_y = l->plot_y;
    l->bar_h = l->plot_h;
    l->plot_w = fmax(1, l->bar_x - fs * 1.6 - l->plot_x);
    l->cols = (int)fmax(1, floor(l->plot_w));
}

static void draw_cells(cairo_t *cr, const struct ar_render_opts *o,
                       const struct ar_render_heat_layout *l, const float *cells)
{
    double row_h = l->plot_h / l->rows, col_w = l->plot_w / l->cols;
    bool snap = row_h >= 2;
    cairo_save(cr);
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
    for (int r = 0; r < l->rows; r++) {
        double y0 = l->plot_y + r * row_h, y1 = y0 + row_h;
        if (snap) y0 = round(y0), y1 = round(y1);
        const float *row = cells + (size_t)r * l->cols;
        for (int c = 0; c < l->cols;) {
            int e = c + 1;
            while (e < l->cols && (row[e] == row[c] || (isnan(row[e]) && isnan(row[c]))))
                e++;
            double t = isnan(row[c]) ? NAN : row[c] / l->max_rank;
            ar__render_rgb(cr, ar_colormap_eval(o->colormap, t), 1);
            double x0 = round(l->plot_x + c * col_w), x1 = round(l->plot_x + e * col_w);
            cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
            cairo_fill(cr);
            c = e;
        }
    }
    cairo_restore(cr);
}

static void draw_separators(cairo_t *cr, const struct ar_metrics_run *run,
                            const struct ar_render_heat_layout *l)
{
    double row_h = l->plot_h / l->rows;
    if (row_h < 3) return; /* too dense: lines would hide the data */
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_set_line_width(cr, 1.0);
    for (int r = 1; r < l->rows; r++) {
        if (run->modules[r].layer == run->modules[r - 1].layer) continue;
        double y = round(l->plot_y + r * row_h) - 0.5;
        cairo_move_to(cr, l->plot_x, y);
        cairo_line_to(cr, l->plot_x + l->plot_w, y);
        cairo_stroke(cr);
    }
}

static void draw_row_labels(cairo_t *cr, const struct ar_render_opts *o,
                            const struct ar_metrics_run *run, const struct ar_render_heat_layout *l,
                            size_t prefix)
{
    double row_h = l->plot_h / l->rows,
           max_w = l->plot_x - o->font_size * 1.6 + 1; /* + 1: rounding */
    char label[256], fitted[256];
    ar__render_font(cr, o, 0.85, false);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.28);
    for (int r = 0; r < l->rows; r += l->label_stride) {
        ar_render_module_label(run->modules[r].name, prefix, label, sizeof label);
        ar__render_fit_text(cr, label, max_w, fitted, sizeof fitted);
        ar__render_text(cr, l->plot_x - o->font_size * 0.5, l->plot_y + (r + 0.5) * row_h, 1, 0.5,
                        fitted);
    }
}

static void draw_x_axis(cairo_t *cr, const struct ar_render_opts *o,
                        const struct ar_render_heat_layout *l)
{
    double ticks[32], step, fs = o->font_size;
    char text[64];
    struct ar__chart c = {l->plot_x, l->plot_y, l->plot_w, l->plot_h, l->x0, l->x1, 0, 1};
    if (!(l->x1 > l->x0)) c.x1 = c.x0 + 1;
    int n = ar_render_ticks(c.x0, c.x1, (int)fmax(2, l->plot_w / (fs * 7)), ticks, 32, &step);
    ar__render_font(cr, o, 0.85, false);
    cairo_set_line_width(cr, 1.0);
    for (int i = 0; i < n; i++) {
        double x = round(ar__chart_x(&c, ticks[i])) + 0.5, y = l->plot_y + l->plot_h;
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.38);
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x, y + fs * 0.35);
        cairo_stroke(cr);
        ar_render_format_tick(ticks[i], step, text, sizeof text);
        ar__render_text(cr, x, y + fs * 0.5, 0.5, 0, text);
    }
    ar__render_font(cr, o, 0.95, false);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.28);
    ar__render_text(cr, l->plot_x + l->plot_w / 2, l->plot_y + l->plot_h + fs * 1.9, 0.5, 0,
                    "training step");
}

static void draw_colour_bar(cairo_t *cr, const struct ar_render_opts *o,
                            const struct ar_render_heat_layout *l)
{
    double fs = o->font_size;
    int blocks = l->max_rank + 1;
    bool discrete = blocks <= 33;
    cairo_save(cr);
    if (discrete) {
        cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
        double bh = l->bar_h / blocks;
        for (int v = 0; v < blocks; v++) {
            double y0 = round(l->bar_y + (l->max_rank - v) * bh), y1 = round(y0 + bh);
            ar__render_rgb(cr, ar_colormap_eval(o->colormap, (double)v / l->max_rank), 1);
            cairo_rectangle(cr, round(l->bar_x), y0, round(l->bar_w), y1 - y0);
            cairo_fill(cr);
        }
    } else {
        cairo_pattern_t *g = cairo_pattern_create_linear(0, l->bar_y + l->bar_h, 0, l->bar_y);
        for (int i = 0; i <= 10; i++) {
            struct ar_rgb c = ar_colormap_eval(o->colormap, i / 10.0);
            cairo_pattern_add_color_stop_rgb(g, i / 10.0, c.r, c.g, c.b);
        }
        cairo_set_source(cr, g);
        cairo_rectangle(cr, l->bar_x, l->bar_y, l->bar_w, l->bar_h);
        cairo_fill(cr);
        cairo_pattern_destroy(g);
    }
    cairo_restore(cr);
    /* Tick labels at block centres (discrete) or nice values (continuous). */
    double ticks[40], step = 1;
    int n = 0;
    if (discrete) {
        int stride = ar_render_label_stride(blocks, l->bar_h / blocks, fs * 1.1);
        for (int v = 0; v <= l->max_rank && n < 40; v += stride)
            ticks[n++] = v;
    } else {
        n = ar_render_ticks(0, l->max_rank, 8, ticks, 40, &step);
    }
    char text[32];
    ar__render_font(cr, o, 0.85, false);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.28);
    for (int i = 0; i < n; i++) {
        double y = discrete ? l->bar_y + (l->max_rank - ticks[i] + 0.5) * l->bar_h / blocks
                            : l->bar_y + l->bar_h * (1 - ticks[i] / l->max_rank);
        snprintf(text, sizeof text, "%d", (int)ticks[i]);
        ar__render_text(cr, l->bar_x + l->bar_w + fs * 0.4, y, 0, 0.5, text);
    }
    cairo_save(cr);
    cairo_translate(cr, l->bar_x + l->bar_w + fs * 3.4, l->bar_y + l->bar_h / 2);
    cairo_rotate(cr, M_PI / 2);
    ar__render_font(cr, o, 0.95, false);
    ar__render_text(cr, 0, 0, 0.5, 0.5, "effective rank");
    cairo_restore(cr);
}

enum ar_status ar_render_heatmap(cairo_t *cr, double width, double height,
                                 const struct ar_metrics_run *run,
                                 const struct ar_render_opts *opts,
                                 struct ar_render_heat_layout *layout)
{
    struct ar_render_opts o = opts ? *opts : ar_render_default_opts();
    char title[600], sub[512];
    ar__render_run_name(run, sub, sizeof sub);
    snprintf(title, sizeof title, "Effective rank per module \xE2\x80\x94 %s", sub);
    subtitle(run, sub, sizeof sub);
    cairo_save(cr);
    double top = ar__render_header(cr, &o, width, title, sub);
    const char **names = malloc((run->n_modules ? run->n_modules : 1) * sizeof *names);
    if (!names) {
        cairo_restore(cr);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    for (int i = 0; i < run->n_modules; i++)
        names[i] = run->modules[i].name;
    size_t prefix = ar_render_common_prefix(names, run->n_modules);
    free(names);
    struct ar_render_heat_layout l = {0};
    layout_heat(cr, &o, width, height, top, run, prefix, &l);
    l.max_rank = max_rank_of(run);
    l.x0 = run->n_snapshots ? (double)run->snapshot_step[0] : 0;
    l.x1 = run->n_snapshots ? fmax((double)run->last_step, l.x0) : 1;
    enum ar_status st = AR_STATUS_OK;
    if (run->n_snapshots == 0 || run->n_modules == 0) {
        struct ar__chart c = {l.plot_x, l.plot_y, l.plot_w, l.plot_h, 0, 1, 0, 1};
        cairo_set_source_rgb(cr, 0.96, 0.96, 0.97);
        cairo_rectangle(cr, c.px, c.py, c.pw, c.ph);
        cairo_fill(cr);
        ar__render_note(cr, &o, &c, "no rank snapshots yet");
    } else {
        float *cells = malloc((size_t)l.rows * l.cols * sizeof *cells);
        if (!cells) {
            st = AR_STATUS_OUT_OF_MEMORY;
        } else {
            ar_render_heat_resample(run->snapshot_step, run->n_snapshots, run->effective, l.rows,
                                    l.x0, l.x1, l.cols, cells);
            draw_cells(cr, &o, &l, cells);
            free(cells);
            if (o.layer_separators) draw_separators(cr, run, &l);
            draw_row_labels(cr, &o, run, &l, prefix);
            draw_x_axis(cr, &o, &l);
        }
    }
    draw_colour_bar(cr, &o, &l);
    cairo_restore(cr);
    if (layout) *layout = l;
    if (st == AR_STATUS_OK && cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        st = cairo_status(cr) == CAIRO_STATUS_NO_MEMORY ? AR_STATUS_OUT_OF_MEMORY : AR_STATUS_IO;
    return st;
}
