/* ArWindow: header bar, view stack and run controls (ar-window.h). */
#include "ar-window.h"

#include "ar-export.h"
#include "ar-launch-dialog.h"
#include "ar-summary-view.h"

#define POLL_MS 250 /* how often metrics.jsonl is polled: at most 4 redraws per second */

struct _ArWindow {
    GtkApplicationWindow parent_instance;
    GtkWidget *stack, *status, *banner, *banner_label, *pause, *stop;
    ArChartView *charts[AR_RENDER_LOSS + 1];
    ArSummaryView *summary;
    ArRunSource *source;
    ArTrainer *trainer;
    char *cli;
};

G_DEFINE_FINAL_TYPE(ArWindow, ar_window, GTK_TYPE_APPLICATION_WINDOW)

static const struct {
    const char *name, *title;
    enum ar_render_view view; /* AR_RENDER_ALL: the summary page */
} pages[] = {
    {"ranks", "Ranks", AR_RENDER_RANKS},      {"sparsity", "Sparsity", AR_RENDER_SPARSITY},
    {"flexora", "Layers", AR_RENDER_FLEXORA}, {"loss", "Curves", AR_RENDER_LOSS},
    {"summary", "Summary", AR_RENDER_ALL},
};

static void show_banner(ArWindow *self, const char *text)
{
    gtk_label_set_text(GTK_LABEL(self->banner_label), text ? text : "");
    gtk_info_bar_set_revealed(GTK_INFO_BAR(self->banner), text != NULL);
}

static void on_banner_response(GtkInfoBar *bar, int response, gpointer data)
{
    (void)response, (void)data;
    gtk_info_bar_set_revealed(bar, FALSE);
}

/* "run-20260101  ·  step 120  ·  running  ·  24 modules" in the status line. */
static void update_status(ArWindow *self)
{
    if (!self->source) {
        gtk_label_set_text(GTK_LABEL(self->status), "No run open — start one or attach to a "
                                                    "run folder");
        return;
    }
    const struct ar_metrics_run *run = ar_run_source_get_run(self->source);
    char *base = g_path_get_basename(ar_run_source_get_dir(self->source));
    ArTrainerState ts = self->trainer ? ar_trainer_get_state(self->trainer) : AR_TRAINER_IDLE;
    const char *state = ar_run_source_is_loading(self->source)     ? "reading metrics.jsonl…"
                        : !run->schema && ts == AR_TRAINER_RUNNING ? "starting adarank-cl train…"
                        : !run->schema                             ? "waiting for metrics.jsonl"
                        : run->ended                               ? run->end_status
                                                                   : "running";
    if (ts == AR_TRAINER_PAUSED) state = "paused";
    char *text =
        g_strdup_printf("%s  ·  step %lld  ·  %s  ·  %d modules", base,
                        (long long)(run->schema ? run->last_step : 0), state, run->n_modules);
    gtk_label_set_text(GTK_LABEL(self->status), text);
    char *title = g_strdup_printf("%s — AdaRank", base);
    gtk_window_set_title(GTK_WINDOW(self), title);
    g_free(title), g_free(text), g_free(base);
    const char *error = ar_run_source_get_error(self->source);
    if (error) show_banner(self, error);
}

static void on_source_changed(ArRunSource *source, gpointer data)
{
    (void)source;
    update_status(AR_WINDOW(data));
}

static void on_source_error(GObject *obj, GParamSpec *pspec, gpointer data)
{
    (void)obj, (void)pspec;
    update_status(AR_WINDOW(data));
}

void ar_window_attach(ArWindow *self, const char *run_dir)
{
    if (self->source) g_signal_handlers_disconnect_by_data(self->source, self);
    g_clear_object(&self->source);
    show_banner(self, NULL);
    if (run_dir) {
        self->source = ar_run_source_new(run_dir, POLL_MS);
        g_signal_connect(self->source, "changed", G_CALLBACK(on_source_changed), self);
        g_signal_connect(self->source, "notify::error", G_CALLBACK(on_source_error), self);
    }
    for (int v = 0; v <= AR_RENDER_LOSS; v++)
        ar_chart_view_set_source(self->charts[v], self->source);
    ar_summary_view_set_source(self->summary, self->source);
    update_status(self);
}

ArRunSource *ar_window_get_source(ArWindow *self)
{
    return self->source;
}

const char *ar_window_get_banner(ArWindow *self)
{
    if (!gtk_info_bar_get_revealed(GTK_INFO_BAR(self->banner))) return NULL;
    return gtk_label_get_text(GTK_LABEL(self->banner_label));
}

ArChartView *ar_window_get_chart(ArWindow *self, enum ar_render_view view)
{
    return view <= AR_RENDER_LOSS ? self->charts[view] : NULL;
}

gboolean ar_window_show_page(ArWindow *self, const char *name)
{
    if (!gtk_stack_get_child_by_name(GTK_STACK(self->stack), name)) return FALSE;
    gtk_stack_set_visible_child_name(GTK_STACK(self->stack), name);
    return TRUE;
}

/* ---- training ----------------------------------------------------------------------------- */

static void sync_controls(ArWindow *self)
{
    ArTrainerState st = self->trainer ? ar_trainer_get_state(self->trainer) : AR_TRAINER_IDLE;
    gboolean live = st == AR_TRAINER_RUNNING || st == AR_TRAINER_PAUSED;
    gtk_widget_set_visible(self->pause, live);
    gtk_widget_set_visible(self->stop, live || st == AR_TRAINER_STOPPING);
    gtk_widget_set_sensitive(self->stop, live);
    gtk_button_set_icon_name(GTK_BUTTON(self->pause), st == AR_TRAINER_PAUSED
                                                          ? "media-playback-start-symbolic"
                                                          : "media-playback-pause-symbolic");
    gtk_widget_set_tooltip_text(self->pause,
                                st == AR_TRAINER_PAUSED ? "Resume (Ctrl+P)" : "Pause (Ctrl+P)");
    update_status(self);
}

static void on_trainer_state(GObject *obj, GParamSpec *pspec, gpointer data)
{
    (void)obj, (void)pspec;
    sync_controls(AR_WINDOW(data));
}

static void on_trainer_exited(ArTrainer *trainer, int code, gpointer data)
{
    ArWindow *self = AR_WINDOW(data);
    if (self->source) ar_run_source_poll(self->source); /* the run_end line */
    if (code == 0 || code == 5) return;                 /* 5: interrupted on request */
    /* The CLI makes the run folder only once its config, data and model have loaded, so a start
     * that failed before wrote nothing: there is no run to follow, only the CLI's message. */
    gboolean started = self->source && (ar_run_source_is_loading(self->source) ||
                                        ar_run_source_get_run(self->source)->schema);
    if (!started) ar_window_attach(self, NULL);
    const char *why = ar_trainer_get_message(trainer);
    char *text = g_strdup_printf("%s (exit %d): %s",
                                 started ? "Training failed" : "adarank-cl train did not start",
                                 code, why ? why : "no message");
    show_banner(self, text);
    g_free(text);
}

gboolean ar_window_start_training(ArWindow *self, const char *const *argv, const char *run_dir,
                                  GError **error)
{
    /* No folder is made here: `adarank-cl train` makes run_dir itself once it has loaded, and a
     * failed start leaves nothing behind. Until then the source waits for metrics.jsonl. */
    if (!ar_trainer_start(self->trainer, argv, error)) return FALSE;
    ar_window_attach(self, run_dir);
    ar_window_show_page(self, "ranks");
    return TRUE;
}

ArTrainer *ar_window_get_trainer(ArWindow *self)
{
    return self->trainer;
}

static void on_launch(ArLaunchDialog *dialog, char **argv, const char *run_dir, gpointer data)
{
    (void)dialog;
    ArWindow *self = AR_WINDOW(data);
    GError *error = NULL;
    if (!ar_window_start_training(self, (const char *const *)argv, run_dir, &error)) {
        char *text = g_strdup_printf("Could not start adarank-cl: %s", error->message);
        show_banner(self, text);
        g_free(text), g_error_free(error);
    }
}

static void act_new_run(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    ArWindow *self = AR_WINDOW(data);
    ArTrainerState st = ar_trainer_get_state(self->trainer);
    if (st == AR_TRAINER_RUNNING || st == AR_TRAINER_PAUSED || st == AR_TRAINER_STOPPING) {
        show_banner(self, "A run is in progress: stop it before starting another");
        return;
    }
    if (!self->cli) self->cli = ar_trainer_find_cli();
    if (!self->cli) {
        show_banner(self, "adarank-cl was not found (set ADARANK_CLI or put it on PATH)");
        return;
    }
    GtkWidget *dialog = ar_launch_dialog_new(GTK_WINDOW(self), self->cli);
    g_signal_connect(dialog, "launch", G_CALLBACK(on_launch), self);
    gtk_window_present(GTK_WINDOW(dialog));
}

static void act_pause(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    ArWindow *self = AR_WINDOW(data);
    if (ar_trainer_get_state(self->trainer) == AR_TRAINER_PAUSED)
        ar_trainer_resume(self->trainer);
    else
        ar_trainer_pause(self->trainer);
}

static void act_stop(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    ar_trainer_stop(AR_WINDOW(data)->trainer);
}

/* ---- attach, export, pages ---------------------------------------------------------------- */

static void on_folder(GtkNativeDialog *native, int response, gpointer data)
{
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native));
        char *path = g_file_get_path(file);
        if (path) ar_window_attach(AR_WINDOW(data), path);
        g_free(path);
        g_object_unref(file);
    }
    g_object_unref(native);
}

static void act_open_run(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    GtkFileChooserNative *native =
        gtk_file_chooser_native_new("Attach to a Run Folder", GTK_WINDOW(data),
                                    GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, "_Attach", "_Cancel");
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);
    g_signal_connect(native, "response", G_CALLBACK(on_folder), data);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

static void on_export_done(const char *message, gpointer data)
{
    show_banner(AR_WINDOW(data), message);
}

static void act_export_png(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    ArWindow *self = AR_WINDOW(data);
    const char *page = gtk_stack_get_visible_child_name(GTK_STACK(self->stack));
    enum ar_render_view view = AR_RENDER_ALL; /* the summary page exports the 2 × 2 grid */
    ar_render_view_parse(page, &view);
    ar_export_png(GTK_WINDOW(self), self->source, view, on_export_done, self);
}

static void act_export_adapter(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    ArWindow *self = AR_WINDOW(data);
    ar_export_adapter(GTK_WINDOW(self), self->source, on_export_done, self);
}

static void act_page(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a;
    ar_window_show_page(AR_WINDOW(data), g_variant_get_string(p, NULL));
}

static const GActionEntry win_actions[] = {
    {"new-run", act_new_run, NULL, NULL, NULL, {0}},
    {"open-run", act_open_run, NULL, NULL, NULL, {0}},
    {"pause", act_pause, NULL, NULL, NULL, {0}},
    {"stop", act_stop, NULL, NULL, NULL, {0}},
    {"export-png", act_export_png, NULL, NULL, NULL, {0}},
    {"export-adapter", act_export_adapter, NULL, NULL, NULL, {0}},
    {"page", act_page, "s", NULL, NULL, {0}},
};

/* ---- construction ------------------------------------------------------------------------- */

static GtkWidget *icon_button(const char *icon, const char *tooltip, const char *action)
{
    GtkWidget *b = gtk_button_new_from_icon_name(icon);
    gtk_widget_set_tooltip_text(b, tooltip);
    gtk_actionable_set_action_name(GTK_ACTIONABLE(b), action);
    return b;
}

static GtkWidget *primary_menu(void)
{
    GMenu *menu = g_menu_new(), *export = g_menu_new(), *app = g_menu_new();
    g_menu_append(export, "_Export View as PNG…", "win.export-png");
    g_menu_append(export, "Export _Adapter…", "win.export-adapter");
    g_menu_append(app, "_Dark Style", "app.dark");
    g_menu_append(app, "_Keyboard Shortcuts", "win.show-help-overlay");
    g_menu_append(app, "_About AdaRank", "app.about");
    g_menu_append_section(menu, NULL, G_MENU_MODEL(export));
    g_menu_append_section(menu, NULL, G_MENU_MODEL(app));
    GtkWidget *button = gtk_menu_button_new();
    gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(button), "open-menu-symbolic");
    gtk_widget_set_tooltip_text(button, "Main Menu");
    gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(button), G_MENU_MODEL(menu));
    g_object_unref(menu), g_object_unref(export), g_object_unref(app);
    return button;
}

static GtkWidget *header_bar(ArWindow *self)
{
    GtkWidget *header = gtk_header_bar_new();
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header),
                              icon_button("list-add-symbolic", "New Run (Ctrl+N)", "win.new-run"));
    gtk_header_bar_pack_start(
        GTK_HEADER_BAR(header),
        icon_button("folder-open-symbolic", "Attach to a Run (Ctrl+O)", "win.open-run"));
    self->pause = icon_button("media-playback-pause-symbolic", "Pause (Ctrl+P)", "win.pause");
    self->stop = icon_button("media-playback-stop-symbolic", "Stop (Ctrl+.)", "win.stop");
    gtk_widget_add_css_class(self->stop, "destructive-action");
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header), self->pause);
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header), self->stop);
    gtk_header_bar_pack_end(GTK_HEADER_BAR(header), primary_menu());
    gtk_header_bar_pack_end(
        GTK_HEADER_BAR(header),
        icon_button("document-save-symbolic", "Export View as PNG (Ctrl+E)", "win.export-png"));
    GtkWidget *switcher = gtk_stack_switcher_new();
    gtk_stack_switcher_set_stack(GTK_STACK_SWITCHER(switcher), GTK_STACK(self->stack));
    gtk_header_bar_set_title_widget(GTK_HEADER_BAR(header), switcher);
    return header;
}

static void build_pages(ArWindow *self)
{
    self->stack = gtk_stack_new();
    gtk_stack_set_transition_type(GTK_STACK(self->stack), GTK_STACK_TRANSITION_TYPE_CROSSFADE);
    for (size_t i = 0; i < G_N_ELEMENTS(pages); i++) {
        GtkWidget *child;
        if (pages[i].view == AR_RENDER_ALL) {
            child = ar_summary_view_new();
            self->summary = AR_SUMMARY_VIEW(child);
        } else {
            child = ar_chart_view_new(pages[i].view);
            self->charts[pages[i].view] = AR_CHART_VIEW(child);
            gtk_widget_add_css_class(child, "chart");
            gtk_widget_set_margin_top(child, 12), gtk_widget_set_margin_bottom(child, 6);
            gtk_widget_set_margin_start(child, 12), gtk_widget_set_margin_end(child, 12);
        }
        gtk_stack_add_titled(GTK_STACK(self->stack), child, pages[i].name, pages[i].title);
    }
}

ArWindow *ar_window_new(GtkApplication *app)
{
    return g_object_new(AR_TYPE_WINDOW, "application", app, NULL);
}

static void ar_window_dispose(GObject *object)
{
    ArWindow *self = AR_WINDOW(object);
    if (self->trainer) {
        g_signal_handlers_disconnect_by_data(self->trainer, self);
        ar_trainer_stop(self->trainer); /* the CLI saves and exits; never orphan a run */
    }
    if (self->source) g_signal_handlers_disconnect_by_data(self->source, self);
    g_clear_object(&self->trainer);
    g_clear_object(&self->source);
    g_clear_pointer(&self->cli, g_free);
    G_OBJECT_CLASS(ar_window_parent_class)->dispose(object);
}

static void ar_window_class_init(ArWindowClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = ar_window_dispose;
}

static void ar_window_init(ArWindow *self)
{
    g_action_map_add_action_entries(G_ACTION_MAP(self), win_actions, G_N_ELEMENTS(win_actions),
                                    self);
    build_pages(self);
    gtk_window_set_titlebar(GTK_WINDOW(self), header_bar(self));
    gtk_window_set_title(GTK_WINDOW(self), "AdaRank");
    gtk_window_set_default_size(GTK_WINDOW(self), 1200, 800);

    self->banner = gtk_info_bar_new();
    gtk_info_bar_set_show_close_button(GTK_INFO_BAR(self->banner), TRUE);
    gtk_info_bar_set_message_type(GTK_INFO_BAR(self->banner), GTK_MESSAGE_WARNING);
    self->banner_label = gtk_label_new(NULL);
    gtk_label_set_wrap(GTK_LABEL(self->banner_label), TRUE);
    gtk_info_bar_add_child(GTK_INFO_BAR(self->banner), self->banner_label);
    gtk_info_bar_set_revealed(GTK_INFO_BAR(self->banner), FALSE);
    g_signal_connect(self->banner, "response", G_CALLBACK(on_banner_response), NULL);

    self->status = gtk_label_new(NULL);
    gtk_widget_set_halign(self->status, GTK_ALIGN_START);
    gtk_widget_add_css_class(self->status, "dim-label");
    gtk_widget_add_css_class(self->status, "caption");
    gtk_widget_set_margin_start(self->status, 14), gtk_widget_set_margin_end(self->status, 14);
    gtk_widget_set_margin_top(self->status, 2), gtk_widget_set_margin_bottom(self->status, 8);

    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_box_append(GTK_BOX(box), self->banner);
    gtk_box_append(GTK_BOX(box), self->stack);
    gtk_box_append(GTK_BOX(box), self->status);
    gtk_window_set_child(GTK_WINDOW(self), box);

    self->trainer = ar_trainer_new();
    g_signal_connect(self->trainer, "notify::state", G_CALLBACK(on_trainer_state), self);
    g_signal_connect(self->trainer, "exited", G_CALLBACK(on_trainer_exited), self);
    sync_controls(self);
}
