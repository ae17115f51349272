/* ArChartView: a render.h chart inside a GtkDrawingArea (ar-chart-view.h). */
#include <math.h>

#include "ar-chart-view.h"
#include "gui_model.h"

struct _ArChartView {
    GtkDrawingArea parent_instance;
    enum ar_render_view view;
    ArRunSource *source;
    gulong changed_id;
    struct ar_render_heat_layout heat; /* of the last draw */
    int hover_row;                     /* -1: none */
    guint draw_count;
    double draw_ms; /* how long the last draw took in the renderer */
};

G_DEFINE_FINAL_TYPE(ArChartView, ar_chart_view, GTK_TYPE_DRAWING_AREA)

enum { SIGNAL_DRAWN, N_SIGNALS };
static guint signals[N_SIGNALS];

/* The chart sits on a rounded "card", like a document page, in light and dark styles alike:
 * the figures are the ones exported, and white paper keeps their colours comparable. */
static void card_path(cairo_t *cr, double w, double h, double r)
{
    cairo_new_sub_path(cr);
    cairo_arc(cr, w - r, r, r, -G_PI / 2, 0);
    cairo_arc(cr, w - r, h - r, r, 0, G_PI / 2);
    cairo_arc(cr, r, h - r, r, G_PI / 2, G_PI);
    cairo_arc(cr, r, r, r, G_PI, 1.5 * G_PI);
    cairo_close_path(cr);
}

static void draw_hover(ArChartView *self, cairo_t *cr)
{
    const struct ar_render_heat_layout *l = &self->heat;
    if (self->hover_row < 0 || self->hover_row >= l->rows) return;
    double row_h = l->plot_h / l->rows;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.95);
    cairo_set_line_width(cr, 2);
    cairo_rectangle(cr, l->plot_x + 1, l->plot_y + self->hover_row * row_h + 1, l->plot_w - 2,
                    fmax(row_h - 2, 1));
    cairo_stroke(cr);
}

static void draw(GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
    (void)data;
    ArChartView *self = AR_CHART_VIEW(area);
    const struct ar_metrics_run *run = self->source ? ar_run_source_get_run(self->source) : NULL;
    card_path(cr, width, height, 8);
    cairo_clip(cr);
    struct ar_render_opts opts = ar_render_default_opts();
    static const struct ar_metrics_run empty = {0};
    const struct ar_metrics_run *r = run ? run : &empty;
    gint64 t0 = g_get_monotonic_time();
    /* The Curves page is render.h's loss view, perplexity panel included for LM runs: the app
     * shows exactly what `adarank-cl heatmap --view loss` exports. */
    enum ar_status st = self->view == AR_RENDER_RANKS
                            ? ar_render_heatmap(cr, width, height, r, &opts, &self->heat)
                            : ar_render_view(cr, width, height, r, self->view, &opts);
    if (st != AR_STATUS_OK)
        g_warning("drawing the %s view: %s", ar_render_view_name(self->view),
                  ar_status_message(st));
    self->draw_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    if (self->view == AR_RENDER_RANKS) draw_hover(self, cr);
    if (run && run->schema) {
        self->draw_count++;
        g_signal_emit(self, signals[SIGNAL_DRAWN], 0, (gint64)run->last_step);
    }
}

static gboolean on_query_tooltip(GtkWidget *widget, int x, int y, gboolean keyboard,
                                 GtkTooltip *tooltip, gpointer data)
{
    (void)keyboard, (void)data;
    ArChartView *self = AR_CHART_VIEW(widget);
    if (self->view != AR_RENDER_RANKS || !self->source) return FALSE;
    int row;
    double step;
    if (!ar_render_heat_hit(&self->heat, x, y, &row, &step)) return FALSE;
    char text[512];
    if (!ar_gui_heat_tooltip(ar_run_source_get_run(self->source), row, step, text, sizeof text))
        return FALSE;
    gtk_tooltip_set_text(tooltip, text);
    return TRUE;
}

static void set_hover(ArChartView *self, int row)
{
    if (row == self->hover_row) return;
    self->hover_row = row;
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

static void on_motion(GtkEventControllerMotion *c, double x, double y, gpointer data)
{
    (void)c;
    ArChartView *self = AR_CHART_VIEW(data);
    int row = -1;
    double step;
    if (self->view == AR_RENDER_RANKS && !ar_render_heat_hit(&self->heat, x, y, &row, &step))
        row = -1;
    set_hover(self, row);
}

static void on_leave(GtkEventControllerMotion *c, gpointer data)
{
    (void)c;
    set_hover(AR_CHART_VIEW(data), -1);
}

static void on_changed(ArRunSource *source, gpointer data)
{
    (void)source;
    gtk_widget_queue_draw(GTK_WIDGET(data)); /* GTK draws only mapped views, once per frame */
}

void ar_chart_view_set_source(ArChartView *self, ArRunSource *source)
{
    g_return_if_fail(AR_IS_CHART_VIEW(self));
    if (self->source == source) return;
    if (self->source) g_clear_signal_handler(&self->changed_id, self->source);
    g_set_object(&self->source, source);
    if (source)
        self->changed_id = g_signal_connect(source, "changed", G_CALLBACK(on_changed), self);
    self->heat = (struct ar_render_heat_layout){0};
    self->hover_row = -1;
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

enum ar_render_view ar_chart_view_get_view(ArChartView *self)
{
    return self->view;
}

const struct ar_render_heat_layout *ar_chart_view_get_heat_layout(ArChartView *self)
{
    return &self->heat;
}

guint ar_chart_view_get_draw_count(ArChartView *self)
{
    return self->draw_count;
}

double ar_chart_view_get_draw_ms(ArChartView *self)
{
    return self->draw_ms;
}

GtkWidget *ar_chart_view_new(enum ar_render_view view)
{
    ArChartView *self = g_object_new(AR_TYPE_CHART_VIEW, NULL);
    self->view = view;
    return GTK_WIDGET(self);
}

static void ar_chart_view_dispose(GObject *object)
{
    ArChartView *self = AR_CHART_VIEW(object);
    if (self->source) g_clear_signal_handler(&self->changed_id, self->source);
    g_clear_object(&self->source);
    G_OBJECT_CLASS(ar_chart_view_parent_class)->dispose(object);
}

static void ar_chart_view_class_init(ArChartViewClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = ar_chart_view_dispose;
    /* ::drawn (gint64 last_step): after a draw that showed run data. */
    signals[SIGNAL_DRAWN] = g_signal_new("drawn", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
}

static void ar_chart_view_init(ArChartView *self)
{
    self->hover_row = -1;
    gtk_drawing_area_set_draw_func(GTK_DRAWING_AREA(self), draw, NULL, NULL);
    gtk_widget_set_hexpand(GTK_WIDGET(self), TRUE);
    gtk_widget_set_vexpand(GTK_WIDGET(self), TRUE);
    gtk_widget_set_has_tooltip(GTK_WIDGET(self), TRUE);
    g_signal_connect(self, "query-tooltip", G_CALLBACK(on_query_tooltip), NULL);
    GtkEventController *motion = gtk_event_controller_motion_new();
    g_signal_connect(motion, "motion", G_CALLBACK(on_motion), self);
    g_signal_connect(motion, "leave", G_CALLBACK(on_leave), self);
    gtk_widget_add_controller(GTK_WIDGET(self), motion);
}
