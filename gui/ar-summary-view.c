/* ArSummaryView: run facts and per-module ranks (ar-summary-view.h). */
#include <math.h>

#include "adarank/render.h"
#include "ar-summary-view.h"
#include "gui_model.h"

enum {
    F_STATUS,
    F_METHOD,
    F_MODEL,
    F_DEVICE,
    F_STEP,
    F_LOSS,
    F_EVAL,
    F_SPEED,
    F_ELAPSED,
    F_PARAMS,
    F_RANKS,
    F_DIR,
    N_FIELDS
};
static const char *const field_names[N_FIELDS] = {
    "Status",     "Method",     "Model",      "Device",  "Step",
    "Loss",       "Validation", "Throughput", "Elapsed", "Trainable parameters",
    "Ranks kept", "Run folder"};

struct _ArSummaryView {
    GtkWidget parent_instance;
    GtkWidget *scroll, *modules_grid;
    GtkWidget *values[N_FIELDS];
    GtkWidget **rank_labels, **rank_bars;
    int n_rows;
    ArRunSource *source;
    gulong changed_id;
};

G_DEFINE_FINAL_TYPE(ArSummaryView, ar_summary_view, GTK_TYPE_WIDGET)

static void set_value(ArSummaryView *self, int field, const char *text)
{
    gtk_label_set_text(GTK_LABEL(self->values[field]), text && *text ? text : "\xE2\x80\x93");
}

/* One row per module, made when the module list is first known. */
static void build_module_rows(ArSummaryView *self, const struct ar_metrics_run *run)
{
    GtkGrid *g = GTK_GRID(self->modules_grid);
    const char **names = g_new(const char *, run->n_modules);
    for (int i = 0; i < run->n_modules; i++)
        names[i] = run->modules[i].name;
    size_t prefix = ar_render_common_prefix(names, run->n_modules);
    g_free(names);
    self->rank_labels = g_new0(GtkWidget *, run->n_modules);
    self->rank_bars = g_new0(GtkWidget *, run->n_modules);
    for (int i = 0; i < run->n_modules; i++) {
        char label[256];
        ar_render_module_label(run->modules[i].name, prefix, label, sizeof label);
        GtkWidget *name = gtk_label_new(label);
        gtk_widget_set_halign(name, GTK_ALIGN_START);
        gtk_widget_set_tooltip_text(name, run->modules[i].name);
        self->rank_labels[i] = gtk_label_new(NULL);
        gtk_widget_add_css_class(self->rank_labels[i], "numeric");
        gtk_widget_set_halign(self->rank_labels[i], GTK_ALIGN_END);
        self->rank_bars[i] = gtk_level_bar_new();
        /* One colour for every bar: the default low/high offsets would paint small ranks as
         * warnings, but a pruned rank is the method working, not a problem. */
        gtk_level_bar_remove_offset_value(GTK_LEVEL_BAR(self->rank_bars[i]),
                                          GTK_LEVEL_BAR_OFFSET_LOW);
        gtk_level_bar_remove_offset_value(GTK_LEVEL_BAR(self->rank_bars[i]),
                                          GTK_LEVEL_BAR_OFFSET_HIGH);
        gtk_level_bar_remove_offset_value(GTK_LEVEL_BAR(self->rank_bars[i]),
                                          GTK_LEVEL_BAR_OFFSET_FULL);
        gtk_widget_set_hexpand(self->rank_bars[i], TRUE);
        gtk_widget_set_valign(self->rank_bars[i], GTK_ALIGN_CENTER);
        gtk_grid_attach(g, name, 0, i, 1, 1);
        gtk_grid_attach(g, self->rank_labels[i], 1, i, 1, 1);
        gtk_grid_attach(g, self->rank_bars[i], 2, i, 1, 1);
    }
    self->n_rows = run->n_modules;
}

static void update_modules(ArSummaryView *self, const struct ar_metrics_run *run)
{
    if (self->n_rows == 0 && run->n_modules > 0) build_module_rows(self, run);
    for (int i = 0; i < self->n_rows && i < run->n_modules; i++) {
        int alloc = 0, eff = ar_gui_module_rank(run, i, &alloc);
        char text[64];
        if (eff < 0)
            g_snprintf(text, sizeof text, "r %d", alloc);
        else
            g_snprintf(text, sizeof text, "%d / %d", eff, alloc);
        gtk_label_set_text(GTK_LABEL(self->rank_labels[i]), text);
        GtkLevelBar *bar = GTK_LEVEL_BAR(self->rank_bars[i]);
        /* Discrete blocks (one per rank, each a widget) while they stay few and readable. */
        gtk_level_bar_set_mode(bar, alloc * self->n_rows <= 512 ? GTK_LEVEL_BAR_MODE_DISCRETE
                                                                : GTK_LEVEL_BAR_MODE_CONTINUOUS);
        gtk_level_bar_set_max_value(bar, alloc > 0 ? alloc : 1);
        gtk_level_bar_set_value(bar, eff < 0 ? alloc : eff);
    }
}

static void update(ArSummaryView *self)
{
    /* Hidden pages wait: a run with hundreds of modules makes hundreds of widgets, and there
     * is no point laying them out on every poll while another page is shown. */
    if (!self->source || !gtk_widget_get_mapped(GTK_WIDGET(self))) return;
    const struct ar_metrics_run *run = ar_run_source_get_run(self->source);
    struct ar_gui_summary s;
    ar_gui_summary_compute(run, &s);
    char a[128], b[128], text[512];
    set_value(self, F_STATUS, run->schema ? s.status : "waiting for metrics.jsonl");
    set_value(self, F_METHOD, ar_gui_method_label(run->method));
    set_value(self, F_MODEL, run->model);
    set_value(self, F_DEVICE, run->device);
    g_snprintf(text, sizeof text, "%lld  (epoch %.2f)", (long long)s.step,
               isnan(s.epoch) ? 0 : s.epoch);
    set_value(self, F_STEP, text);
    g_snprintf(text, sizeof text, "%.4f  (lr %.3g)", s.loss, s.lr);
    set_value(self, F_LOSS, isnan(s.loss) ? NULL : text);
    g_snprintf(text, sizeof text, "%s %.4f", s.eval_name ? s.eval_name : "", s.eval_metric);
    set_value(self, F_EVAL, s.eval_name ? text : NULL);
    ar_gui_format_count(s.tokens_per_s, a, sizeof a);
    g_snprintf(text, sizeof text, "%s tokens/s", a);
    set_value(self, F_SPEED, isnan(s.tokens_per_s) ? NULL : text);
    ar_gui_format_duration(s.elapsed, a, sizeof a);
    set_value(self, F_ELAPSED, a);
    ar_gui_format_count((double)s.trainable, a, sizeof a);
    ar_gui_format_count((double)s.trainable_allocated, b, sizeof b);
    g_snprintf(text, sizeof text, "%s of %s allocated", a, b);
    set_value(self, F_PARAMS, run->n_modules ? text : NULL);
    g_snprintf(text, sizeof text, "%ld of %ld (%.0f%%) in %d modules", s.ranks_kept,
               s.ranks_allocated,
               s.ranks_allocated ? 100.0 * s.ranks_kept / s.ranks_allocated : 0.0, run->n_modules);
    set_value(self, F_RANKS, run->n_modules ? text : NULL);
    set_value(self, F_DIR, ar_run_source_get_dir(self->source));
    update_modules(self, run);
}

static void on_changed(ArRunSource *source, gpointer data)
{
    (void)source;
    update(AR_SUMMARY_VIEW(data));
}

void ar_summary_view_set_source(ArSummaryView *self, ArRunSource *source)
{
    if (self->source == source) return;
    if (self->source) g_clear_signal_handler(&self->changed_id, self->source);
    g_set_object(&self->source, source);
    GtkWidget *child;
    while ((child = gtk_widget_get_first_child(self->modules_grid)))
        gtk_grid_remove(GTK_GRID(self->modules_grid), child);
    g_clear_pointer(&self->rank_labels, g_free);
    g_clear_pointer(&self->rank_bars, g_free);
    self->n_rows = 0;
    if (source)
        self->changed_id = g_signal_connect(source, "changed", G_CALLBACK(on_changed), self);
    update(self);
}

GtkWidget *ar_summary_view_new(void)
{
    return g_object_new(AR_TYPE_SUMMARY_VIEW, NULL);
}

static void ar_summary_view_dispose(GObject *object)
{
    ArSummaryView *self = AR_SUMMARY_VIEW(object);
    if (self->source) g_clear_signal_handler(&self->changed_id, self->source);
    g_clear_object(&self->source);
    g_clear_pointer(&self->scroll, gtk_widget_unparent);
    g_clear_pointer(&self->rank_labels, g_free);
    g_clear_pointer(&self->rank_bars, g_free);
    G_OBJECT_CLASS(ar_summary_view_parent_class)->dispose(object);
}

static void ar_summary_view_map(GtkWidget *widget)
{
    GTK_WIDGET_CLASS(ar_summary_view_parent_class)->map(widget);
    update(AR_SUMMARY_VIEW(widget));
}

static void ar_summary_view_class_init(ArSummaryViewClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = ar_summary_view_dispose;
    GTK_WIDGET_CLASS(klass)->map = ar_summary_view_map;
    gtk_widget_class_set_layout_manager_type(GTK_WIDGET_CLASS(klass), GTK_TYPE_BIN_LAYOUT);
}

static GtkWidget *heading(const char *text)
{
    GtkWidget *l = gtk_label_new(text);
    gtk_widget_add_css_class(l, "heading");
    gtk_widget_set_halign(l, GTK_ALIGN_START);
    return l;
}

static void ar_summary_view_init(ArSummaryView *self)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
    /* A centred column of readable width, as GNOME apps clamp their content. */
    gtk_widget_set_size_request(box, 760, -1);
    gtk_widget_set_halign(box, GTK_ALIGN_CENTER);
    gtk_widget_set_margin_top(box, 24), gtk_widget_set_margin_bottom(box, 24);
    gtk_widget_set_margin_start(box, 32), gtk_widget_set_margin_end(box, 32);
    GtkWidget *facts = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(facts), 6);
    gtk_grid_set_column_spacing(GTK_GRID(facts), 18);
    for (int i = 0; i < N_FIELDS; i++) {
        GtkWidget *k = gtk_label_new(field_names[i]);
        gtk_widget_add_css_class(k, "dim-label");
        gtk_widget_set_halign(k, GTK_ALIGN_END);
        self->values[i] = gtk_label_new("\xE2\x80\x93");
        gtk_label_set_ellipsize(GTK_LABEL(self->values[i]), PANGO_ELLIPSIZE_MIDDLE);
        gtk_widget_set_halign(self->values[i], GTK_ALIGN_START);
        gtk_grid_attach(GTK_GRID(facts), k, 0, i, 1, 1);
        gtk_grid_attach(GTK_GRID(facts), self->values[i], 1, i, 1, 1);
    }
    self->modules_grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(self->modules_grid), 4);
    gtk_grid_set_column_spacing(GTK_GRID(self->modules_grid), 12);
    gtk_box_append(GTK_BOX(box), heading("Run"));
    gtk_box_append(GTK_BOX(box), facts);
    gtk_box_append(GTK_BOX(box), heading("Ranks per module"));
    gtk_box_append(GTK_BOX(box), self->modules_grid);
    self->scroll = gtk_scrolled_window_new();
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(self->scroll), box);
    gtk_widget_set_parent(self->scroll, GTK_WIDGET(self));
}
