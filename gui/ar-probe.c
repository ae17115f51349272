/* ArProbe: screenshots and draw tracing for the GUI tests (ar-probe.h). */
#include <stdio.h>

#include "ar-probe.h"

struct _ArProbe {
    GObject parent_instance;
    ArWindow *window; /* not owned (a weak pointer): the probe is the window's data */
    struct ar_probe_options opts;
    char *screenshot;
    guint tick, timeout;
    int settled; /* frames since everything wanted has drawn */
    gboolean done;
    int exit_code;
    gint64 last_frame_us, max_gap_us; /* the longest the main loop went without a frame */
    guint frames;
    gboolean stopped, paused;
    GtkWidget *shot_target; /* the window or dialog being saved, while waiting for a paint */
    int shot_tries;
};

G_DEFINE_FINAL_TYPE(ArProbe, ar_probe, G_TYPE_OBJECT)

gboolean ar_probe_screenshot(GtkWidget *window, const char *path, GError **error)
{
    int w = gtk_widget_get_width(window), h = gtk_widget_get_height(window);
    GskRenderer *renderer = gtk_native_get_renderer(GTK_NATIVE(window));
    if (w <= 0 || h <= 0 || !renderer) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the window is not mapped");
        return FALSE;
    }
    /* The widget paintable shows the window's last render node; any queue_draw since the last
     * paint drops that node, and the snapshot is then empty. */
    GdkPaintable *paintable = gtk_widget_paintable_new(window);
    GtkSnapshot *snapshot = gtk_snapshot_new();
    gdk_paintable_snapshot(paintable, GDK_SNAPSHOT(snapshot), w, h);
    GskRenderNode *node = gtk_snapshot_free_to_node(snapshot);
    g_object_unref(paintable);
    if (!node) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_PENDING,
                    "the window has changed since it was last painted");
        return FALSE;
    }
    graphene_rect_t viewport = GRAPHENE_RECT_INIT(0, 0, (float)w, (float)h);
    GdkTexture *texture = gsk_renderer_render_texture(renderer, node, &viewport);
    gboolean ok = gdk_texture_save_to_png(texture, path);
    g_object_unref(texture);
    gsk_render_node_unref(node);
    if (!ok) g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: could not write", path);
    return ok;
}

static void finish(ArProbe *self, int code)
{
    if (self->done) return;
    self->done = TRUE;
    self->exit_code = code;
    GtkApplication *app =
        self->window ? gtk_window_get_application(GTK_WINDOW(self->window)) : NULL;
    if (app) g_application_quit(G_APPLICATION(app));
}

static void on_drawn(ArChartView *chart, gint64 step, gpointer data)
{
    ArProbe *self = AR_PROBE(data);
    enum ar_render_view view = ar_chart_view_get_view(chart);
    if (self->opts.trace) {
        printf("drawn page=%s step=%lld draws=%u ms=%.2f\n", ar_render_view_name(view),
               (long long)step, ar_chart_view_get_draw_count(chart),
               ar_chart_view_get_draw_ms(chart));
        const struct ar_render_heat_layout *l = ar_chart_view_get_heat_layout(chart);
        graphene_point_t p;
        if (view == AR_RENDER_RANKS && l->rows > 0 &&
            gtk_widget_compute_point(GTK_WIDGET(chart), GTK_WIDGET(self->window),
                                     &GRAPHENE_POINT_INIT((float)l->plot_x, (float)l->plot_y), &p))
            printf("heat x=%.1f y=%.1f w=%.1f h=%.1f rows=%d\n", p.x, p.y, l->plot_w, l->plot_h,
                   l->rows);
        fflush(stdout);
    }
}

static void on_source_error(GObject *source, GParamSpec *pspec, gpointer data)
{
    (void)pspec, (void)data;
    const char *error = ar_run_source_get_error(AR_RUN_SOURCE(source));
    if (error) fprintf(stderr, "adarank-gui: reading the run: %s\n", error);
}

static gboolean on_resume(gpointer data)
{
    ArProbe *self = AR_PROBE(data);
    if (!self->window) {
        g_object_unref(self);
        return G_SOURCE_REMOVE;
    }
    ArRunSource *source = ar_window_get_source(self->window);
    if (source) ar_run_source_poll(source); /* what was written before the stop took effect */
    printf("resumed step=%lld\n", (long long)(source ? ar_run_source_get_last_step(source) : -1));
    fflush(stdout);
    ar_trainer_resume(ar_window_get_trainer(self->window));
    g_object_unref(self);
    return G_SOURCE_REMOVE;
}

/* The stop and pause hooks, checked every frame against the last step read. */
static void drive_trainer(ArProbe *self, gint64 step)
{
    ArTrainer *trainer = ar_window_get_trainer(self->window);
    if (ar_trainer_get_state(trainer) != AR_TRAINER_RUNNING) return;
    if (!self->stopped && self->opts.stop_at_step >= 0 && step >= self->opts.stop_at_step) {
        self->stopped = TRUE;
        printf("stopped step=%lld\n", (long long)step);
        ar_trainer_stop(trainer);
    } else if (!self->paused && self->opts.pause_at_step >= 0 && step >= self->opts.pause_at_step) {
        self->paused = TRUE;
        ar_trainer_pause(trainer);
        /* Read what the child wrote before the signal stopped it (it flushes every event),
         * so that any step read after this one was made while it should have been stopped. */
        ArRunSource *source = ar_window_get_source(self->window);
        ar_run_source_poll(source);
        printf("paused step=%lld\n", (long long)ar_run_source_get_last_step(source));
        g_timeout_add(2000, on_resume, g_object_ref(self));
    }
    fflush(stdout);
}

/* True when the visible page has drawn the run (the summary page: once the run is read). */
static gboolean page_ready(ArProbe *self, gint64 *step)
{
    ArRunSource *source = ar_window_get_source(self->window);
    if (!source || !ar_run_source_get_run(source)->schema) return FALSE;
    *step = ar_run_source_get_last_step(source);
    for (int v = 0; v <= AR_RENDER_LOSS; v++) {
        ArChartView *c = ar_window_get_chart(self->window, (enum ar_render_view)v);
        if (gtk_widget_get_mapped(GTK_WIDGET(c)) && ar_chart_view_get_draw_count(c) == 0)
            return FALSE;
    }
    return TRUE;
}

/* Saves the screenshot right after a paint of its window, the one moment the window's render
 * node is sure to be current; a window changed in between is painted again (up to 30 times). */
static void on_after_paint(GdkFrameClock *clock, gpointer data)
{
    ArProbe *self = AR_PROBE(data);
    if (self->done || !self->shot_target) return;
    GError *error = NULL;
    gboolean saved = ar_probe_screenshot(self->shot_target, self->screenshot, &error);
    if (!saved && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PENDING) &&
        ++self->shot_tries < 30) {
        g_error_free(error);
        gtk_widget_queue_draw(self->shot_target);
        return;
    }
    g_signal_handlers_disconnect_by_func(clock, on_after_paint, self);
    if (!saved) {
        fprintf(stderr, "adarank-gui: screenshot: %s\n", error->message);
        g_error_free(error);
    }
    g_clear_object(&self->shot_target);
    finish(self, saved ? 0 : 1);
}

static void save_after_next_paint(ArProbe *self, GtkWidget *target)
{
    GdkFrameClock *clock = gtk_widget_get_frame_clock(target);
    if (!clock) {
        fprintf(stderr, "adarank-gui: screenshot: the window is not mapped\n");
        finish(self, 1);
        return;
    }
    g_set_object(&self->shot_target, target);
    g_signal_connect_object(clock, "after-paint", G_CALLBACK(on_after_paint), self, 0);
    gtk_widget_queue_draw(target);
}

static gboolean on_tick(GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
    ArProbe *self = AR_PROBE(data);
    /* Frame gaps measure responsiveness: a main loop blocked by reading or drawing skips
     * frames. The tick callback keeps the frame clock running at the display's rate. */
    gint64 now = gdk_frame_clock_get_frame_time(clock);
    if (self->last_frame_us && now - self->last_frame_us > self->max_gap_us)
        self->max_gap_us = now - self->last_frame_us;
    self->last_frame_us = now;
    self->frames++;
    gint64 step = -1;
    gboolean want_step = self->opts.quit_at_step >= 0;
    gboolean ready = page_ready(self, &step) && (!want_step || step >= self->opts.quit_at_step);
    int frames_after = 3; /* the frame that drew it has been presented */
    if (step >= 0) drive_trainer(self, step);
    if (self->opts.quit_when_ended) {
        ArTrainerState st = ar_trainer_get_state(ar_window_get_trainer(self->window));
        ArRunSource *source = ar_window_get_source(self->window);
        gboolean over =
            st != AR_TRAINER_RUNNING && st != AR_TRAINER_PAUSED && st != AR_TRAINER_STOPPING;
        /* A start that failed before the CLI made its run folder: the window follows nothing
         * and its banner says why; that is the end of this run too. */
        gboolean failed_start = st == AR_TRAINER_EXITED && !source;
        ready = over && (failed_start || (ready && source && ar_run_source_get_run(source)->ended));
        if (failed_start) frames_after = 20; /* the banner slides in (a revealer, ~250 ms) */
    }
    self->settled = ready ? self->settled + 1 : 0;
    if (self->settled < frames_after ||
        !(self->opts.quit_after_draw || want_step || self->opts.quit_when_ended))
        return G_SOURCE_CONTINUE;
    self->tick = 0;
    if (self->opts.trace) {
        const char *banner = ar_window_get_banner(self->window);
        if (banner) printf("banner text=%s\n", banner);
        printf("frames n=%u max_gap_ms=%.1f\n", self->frames, self->max_gap_us / 1000.0);
        fflush(stdout);
    }
    if (!self->screenshot) {
        finish(self, 0);
        return G_SOURCE_REMOVE;
    }
    /* A dialog open on the window (the New Run form) is what the user sees: save that. */
    GListModel *tops = gtk_window_get_toplevels();
    for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
        GtkWindow *w = g_list_model_get_item(tops, i);
        if (gtk_window_get_transient_for(w) == GTK_WINDOW(self->window) &&
            gtk_widget_get_mapped(GTK_WIDGET(w)))
            widget = GTK_WIDGET(w);
        g_object_unref(w);
    }
    save_after_next_paint(self, widget);
    return G_SOURCE_REMOVE;
}

static gboolean on_timeout(gpointer data)
{
    ArProbe *self = AR_PROBE(data);
    fprintf(stderr, "adarank-gui: --timeout reached before the views drew\n");
    self->timeout = 0;
    finish(self, 1);
    return G_SOURCE_REMOVE;
}

ArProbe *ar_probe_attach(ArWindow *window, const struct ar_probe_options *options)
{
    ArProbe *self = g_object_new(AR_TYPE_PROBE, NULL);
    self->window = window;
    g_object_add_weak_pointer(G_OBJECT(window), (gpointer *)&self->window);
    self->opts = *options;
    self->screenshot = g_strdup(options->screenshot);
    self->opts.screenshot = self->screenshot;
    for (int v = 0; v <= AR_RENDER_LOSS; v++)
        g_signal_connect_object(ar_window_get_chart(window, (enum ar_render_view)v), "drawn",
                                G_CALLBACK(on_drawn), self, 0);
    ArRunSource *source = ar_window_get_source(window);
    if (source && options->trace)
        g_signal_connect_object(source, "notify::error", G_CALLBACK(on_source_error), self, 0);
    self->tick = gtk_widget_add_tick_callback(GTK_WIDGET(window), on_tick, self, NULL);
    if (options->timeout_s > 0)
        self->timeout = g_timeout_add_seconds((guint)options->timeout_s, on_timeout, self);
    g_object_set_data_full(G_OBJECT(window), "ar-probe", self, g_object_unref);
    return self;
}

int ar_probe_get_exit_code(ArProbe *self)
{
    return self->exit_code;
}

static void ar_probe_finalize(GObject *object)
{
    ArProbe *self = AR_PROBE(object);
    if (self->window)
        g_object_remove_weak_pointer(G_OBJECT(self->window), (gpointer *)&self->window);
    g_clear_handle_id(&self->timeout, g_source_remove);
    g_clear_object(&self->shot_target);
    g_free(self->screenshot);
    G_OBJECT_CLASS(ar_probe_parent_class)->finalize(object);
}

static void ar_probe_class_init(ArProbeClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = ar_probe_finalize;
}

static void ar_probe_init(ArProbe *self)
{
    self->opts.quit_at_step = -1;
}
