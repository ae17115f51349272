/* View dispatch, the 2 × 2 "all" view and PNG export (render.h).
 *
 * The PNG is streamed into a temporary file next to the target, fsynced and renamed over it
 * (core/atomic_file.c), so a viewer (or the GUI's file monitor) never sees a half-written image
 * and a failed export leaves the previous file intact. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "render_internal.h"

struct ar_render_opts ar_render_default_opts(void)
{
    return (struct ar_render_opts){
        .colormap = AR_COLORMAP_VIRIDIS,
        .font_size = 12,
        .font = "DejaVu Sans",
        .layer_separators = true,
        .smoothing = 0.9,
    };
}

void ar_render_default_size(enum ar_render_view view, int *width, int *height)
{
    switch (view) {
    case AR_RENDER_ALL:
        *width = 2000, *height = 1300;
        break;
    case AR_RENDER_RANKS:
        *width = 1200, *height = 800;
        break;
    default:
        *width = 1100, *height = 650;
    }
}

/* Draws one chart into the cell (x, y, w, h) of a larger surface. */
static enum ar_status draw_cell(cairo_t *cr, double x, double y, double w, double h,
                                const struct ar_metrics_run *run, enum ar_render_view view,
                                const struct ar_render_opts *o)
{
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rectangle(cr, 0, 0, w, h);
    cairo_clip(cr);
    enum ar_status st = ar_render_view(cr, w, h, run, view, o);
    cairo_restore(cr);
    return st;
}

static enum ar_status draw_all(cairo_t *cr, double width, double height,
                               const struct ar_metrics_run *run, const struct ar_render_opts *o)
{
    double w = width / 2, h = height / 2;
    /* Flexora scores only exist in Flexora runs; other runs get the loss chart full width. */
    bool flexora = run->n_flexora > 0;
    enum ar_status st = draw_cell(cr, 0, 0, w, h, run, AR_RENDER_RANKS, o);
    if (st == AR_STATUS_OK) st = draw_cell(cr, w, 0, w, h, run, AR_RENDER_SPARSITY, o);
    if (st == AR_STATUS_OK)
        st = draw_cell(cr, 0, h, flexora ? w : width, h, run, AR_RENDER_LOSS, o);
    if (st == AR_STATUS_OK && flexora) st = draw_cell(cr, w, h, w, h, run, AR_RENDER_FLEXORA, o);
    /* Hairlines between the cells. */
    cairo_set_source_rgb(cr, 0.85, 0.85, 0.88);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, 0, h + 0.5);
    cairo_line_to(cr, width, h + 0.5);
    cairo_move_to(cr, w + 0.5, 0);
    cairo_line_to(cr, w + 0.5, flexora ? height : h);
    cairo_stroke(cr);
    return st;
}

enum ar_status ar_render_view(cairo_t *cr, double width, double height,
                              const struct ar_metrics_run *run, enum ar_render_view view,
                              const struct ar_render_opts *opts)
{
    struct ar_render_opts o = opts ? *opts : ar_render_default_opts();
    if (!cr || !run || !(width > 0) || !(height > 0)) return AR_STATUS_INVALID_ARGUMENT;
    switch (view) {
    case AR_RENDER_RANKS:
        return ar_render_heatmap(cr, width, height, run, &o, NULL);
    case AR_RENDER_SPARSITY:
        return ar_render_sparsity(cr, width, height, run, &o);
    case AR_RENDER_FLEXORA:
        return ar_render_flexora(cr, width, height, run, &o);
    case AR_RENDER_LOSS:
        return ar_render_loss(cr, width, height, run, &o);
    case AR_RENDER_ALL:
        return draw_all(cr, width, height, run, &o);
    }
    return AR_STATUS_INVALID_ARGUMENT;
}

/* Draws a view into a new ARGB surface; NULL (with err set) on failure. */
static cairo_surface_t *draw_surface(int width, int height, const struct ar_metrics_run *run,
                                     enum ar_render_view view, const struct ar_render_opts *opts,
                                     enum ar_status *st, char *err, size_t err_size);

static enum ar_status cairo_fail(cairo_status_t cs, const char *path, const char *what, char *err,
                                 size_t err_size)
{
    snprintf(err, err_size, "%s: %s: %s", path, what, cairo_status_to_string(cs));
    return cs == CAIRO_STATUS_NO_MEMORY ? AR_STATUS_OUT_OF_MEMORY : AR_STATUS_IO;
}

/* cairo's PNG writer streams into the durable temporary file (core/atomic_file.c). */
static cairo_status_t put_png(void *closure, const unsigned char *data, unsigned int length)
{
    return ar__atomic_put(closure, data, length) ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

enum ar_status ar_render_png(const char *path, int width, int height,
                             const struct ar_metrics_run *run, enum ar_render_view view,
                             const struct ar_render_opts *opts, char *err, size_t err_size)
{
    if (!path || !run || width < 16 || height < 16 || width > 32768 || height > 32768) {
        snprintf(err, err_size, "%s: image size %d x %d is outside 16..32768", path ? path : "?",
                 width, height);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    enum ar_status st;
    cairo_surface_t *surface = draw_surface(width, height, run, view, opts, &st, err, err_size);
    if (!surface) return st;
    struct ar__atomic_file af;
    st = ar__atomic_open(&af, path, err, err_size);
    if (st != AR_STATUS_OK) {
        cairo_surface_destroy(surface);
        return st;
    }
    cairo_status_t cs = cairo_surface_write_to_png_stream(surface, put_png, &af);
    cairo_surface_destroy(surface);
    if (cs != CAIRO_STATUS_SUCCESS && cs != CAIRO_STATUS_WRITE_ERROR) {
        ar__atomic_abort(&af);
        return cairo_fail(cs, path, "cannot write the PNG", err, err_size);
    }
    return ar__atomic_commit(&af, err, err_size); /* reports a failed write with its errno */
}

static cairo_surface_t *draw_surface(int width, int height, const struct ar_metrics_run *run,
                                     enum ar_render_view view, const struct ar_render_opts *opts,
                                     enum ar_status *st, char *err, size_t err_size)
{
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    cairo_status_t cs = cairo_surface_status(surface);
    if (cs != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surface);
        *st = cairo_fail(cs, "image", "cannot create the image", err, err_size);
        return NULL;
    }
    cairo_t *cr = cairo_create(surface);
    *st = ar_render_view(cr, width, height, run, view, opts);
    cs = cairo_status(cr);
    cairo_destroy(cr);
    if (*st == AR_STATUS_OK && cs == CAIRO_STATUS_SUCCESS) return surface;
    cairo_surface_destroy(surface);
    if (cs != CAIRO_STATUS_SUCCESS)
        *st = cairo_fail(cs, "image", "drawing failed", err, err_size);
    else
        snprintf(err, err_size, "image: drawing failed: %s", ar_status_message(*st));
    return NULL;
}

struct png_sink {
    unsigned char *data;
    size_t len, cap;
};

static cairo_status_t png_append(void *closure, const unsigned char *data, unsigned int length)
{
    struct png_sink *s = closure;
    if (s->len + length > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        while (cap < s->len + length)
            cap *= 2;
        unsigned char *grown = realloc(s->data, cap);
        if (!grown) return CAIRO_STATUS_NO_MEMORY;
        s->data = grown, s->cap = cap;
    }
    memcpy(s->data + s->len, data, length);
    s->len += length;
    return CAIRO_STATUS_SUCCESS;
}

enum ar_status ar_render_png_bytes(int width, int height, const struct ar_metrics_run *run,
                                   enum ar_render_view view, const struct ar_render_opts *opts,
                                   unsigned char **png, size_t *png_size, char *err,
                                   size_t err_size)
{
    *png = NULL, *png_size = 0;
    if (!run || width < 16 || height < 16 || width > 32768 || height > 32768) {
        snprintf(err, err_size, "image size %d x %d is outside 16..32768", width, height);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    enum ar_status st;
    cairo_surface_t *surface = draw_surface(width, height, run, view, opts, &st, err, err_size);
    if (!surface) return st;
    struct png_sink sink = {0};
    cairo_status_t cs = cairo_surface_write_to_png_stream(surface, png_append, &sink);
    cairo_surface_destroy(surface);
    if (cs != CAIRO_STATUS_SUCCESS) {
        free(sink.data);
        return cairo_fail(cs, "image", "PNG encoding failed", err, err_size);
    }
    *png = sink.data, *png_size = sink.len;
    return AR_STATUS_OK;
}
