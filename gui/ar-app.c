/* ArApp: options, actions, accelerators and styles of adarank-gui (ar-app.h). */
#include <stdio.h>

#include "adarank/version.h"
#include "ar-app.h"
#include "ar-probe.h"
#include "ar-trainer.h"
#include "ar-window.h"

struct _ArApp {
    GtkApplication parent_instance;
    char *attach, *page, *size, *screenshot, *train_config, *out;
    gboolean dark, new_run, quit_after_draw, quit_when_ended, trace;
    gint64 quit_at_step, stop_at_step, pause_at_step;
    int timeout_s;
    char **remaining;
    ArProbe *probe;
};

G_DEFINE_FINAL_TYPE(ArApp, ar_app, GTK_TYPE_APPLICATION)

static void set_dark(gboolean dark)
{
    g_object_set(gtk_settings_get_default(), "gtk-application-prefer-dark-theme", dark, NULL);
}

static void act_dark(GSimpleAction *action, GVariant *state, gpointer data)
{
    (void)data;
    g_simple_action_set_state(action, state);
    set_dark(g_variant_get_boolean(state));
}

static void act_quit(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    g_application_quit(G_APPLICATION(data));
}

static void act_about(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    const char *authors[] = {"The adarank-cl authors", NULL};
    gtk_show_about_dialog(gtk_application_get_active_window(GTK_APPLICATION(data)), "program-name",
                          "AdaRank", "version", ar_version(), "comments",
                          "Watch where the rank goes while gated-LoRA fine-tunes train "
                          "on any OpenCL device.",
                          "license-type", GTK_LICENSE_APACHE_2_0, "authors", authors,
                          "logo-icon-name", "applications-science", NULL);
}

static const GActionEntry app_actions[] = {
    {"quit", act_quit, NULL, NULL, NULL, {0}},
    {"about", act_about, NULL, NULL, NULL, {0}},
    {"dark", NULL, NULL, "false", act_dark, {0}},
};

static void set_accels(GtkApplication *app)
{
    static const struct {
        const char *action, *accel, *accel2;
    } table[] = {
        {"win.new-run", "<Control>n", NULL},     {"win.open-run", "<Control>o", NULL},
        {"win.export-png", "<Control>e", NULL},  {"win.export-adapter", "<Control><Shift>e", NULL},
        {"win.pause", "<Control>p", NULL},       {"win.stop", "<Control>period", NULL},
        {"app.quit", "<Control>q", NULL},        {"window.close", "<Control>w", NULL},
        {"app.dark", "<Control><Shift>d", NULL}, {"win.page::ranks", "<Alt>1", NULL},
        {"win.page::sparsity", "<Alt>2", NULL},  {"win.page::flexora", "<Alt>3", NULL},
        {"win.page::loss", "<Alt>4", NULL},      {"win.page::summary", "<Alt>5", NULL},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
        const char *accels[] = {table[i].accel, table[i].accel2, NULL};
        gtk_application_set_accels_for_action(app, table[i].action, accels);
    }
}

static void ar_app_startup(GApplication *app)
{
    G_APPLICATION_CLASS(ar_app_parent_class)->startup(app);
    g_action_map_add_action_entries(G_ACTION_MAP(app), app_actions, G_N_ELEMENTS(app_actions), app);
    set_accels(GTK_APPLICATION(app));
    GtkCssProvider *css = gtk_css_provider_new();
    gtk_css_provider_load_from_resource(css, "/org/adarank/Gui/style.css");
    gtk_style_context_add_provider_for_display(gdk_display_get_default(), GTK_STYLE_PROVIDER(css),
                                               GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
    g_object_unref(css);
}

/* --train-config FILE --out RUN_DIR: `adarank-cl train --config FILE --out RUN_DIR`, followed
 * like a run started from the New Run form (for scripts and desktop launchers). */
static void start_from_config(ArApp *self, ArWindow *win)
{
    char *cli = ar_trainer_find_cli();
    if (!self->out || !cli) {
        g_printerr("adarank-gui: %s\n", !cli ? "adarank-cl was not found (set ADARANK_CLI)"
                                             : "--train-config needs --out RUN_DIR");
        g_free(cli);
        return;
    }
    const char *argv[] = {cli,     "train",   "--config", self->train_config,
                          "--out", self->out, "--quiet",  NULL};
    GError *error = NULL;
    if (!ar_window_start_training(win, argv, self->out, &error)) {
        g_printerr("adarank-gui: starting adarank-cl: %s\n", error->message);
        g_error_free(error);
    }
    g_free(cli);
}

static void ar_app_activate(GApplication *app)
{
    ArApp *self = AR_APP(app);
    GtkWindow *active = gtk_application_get_active_window(GTK_APPLICATION(app));
    if (active) {
        gtk_window_present(active);
        return;
    }
    ArWindow *win = ar_window_new(GTK_APPLICATION(app));
    int w = 0, h = 0;
    if (self->size && sscanf(self->size, "%dx%d", &w, &h) == 2 && w > 0 && h > 0)
        gtk_window_set_default_size(GTK_WINDOW(win), w, h);
    if (self->dark) {
        g_action_group_change_action_state(G_ACTION_GROUP(app), "dark",
                                           g_variant_new_boolean(TRUE));
    }
    const char *dir = self->attach ? self->attach : self->remaining ? self->remaining[0] : NULL;
    if (self->train_config)
        start_from_config(self, win);
    else if (dir)
        ar_window_attach(win, dir);
    if (self->page && !ar_window_show_page(win, self->page))
        g_printerr("adarank-gui: unknown page \"%s\"\n", self->page);
    if (self->screenshot || self->quit_after_draw || self->quit_when_ended || self->trace ||
        self->quit_at_step >= 0 || self->stop_at_step >= 0 || self->pause_at_step >= 0 ||
        self->timeout_s > 0) {
        struct ar_probe_options o = {
            self->screenshot, self->quit_after_draw, self->trace,        self->quit_at_step,
            self->timeout_s,  self->quit_when_ended, self->stop_at_step, self->pause_at_step};
        self->probe = g_object_ref(ar_probe_attach(win, &o));
    }
    gtk_window_present(GTK_WINDOW(win));
    if (self->new_run) g_action_group_activate_action(G_ACTION_GROUP(win), "new-run", NULL);
}

int ar_app_get_exit_code(ArApp *self)
{
    return self->probe ? ar_probe_get_exit_code(self->probe) : 0;
}

static const GOptionEntry options[] = {
    {"attach", 'a', 0, G_OPTION_ARG_FILENAME, NULL, "Follow the run in RUN_DIR", "RUN_DIR"},
    {"page", 0, 0, G_OPTION_ARG_STRING, NULL,
     "Page to show: ranks, sparsity, flexora, loss or summary", "PAGE"},
    {"dark", 0, 0, G_OPTION_ARG_NONE, NULL, "Use the dark style", NULL},
    {"size", 0, 0, G_OPTION_ARG_STRING, NULL, "Window size", "WxH"},
    {"new-run", 0, 0, G_OPTION_ARG_NONE, NULL, "Open the New Run form at start", NULL},
    {"train-config", 0, 0, G_OPTION_ARG_FILENAME, NULL,
     "Start `adarank-cl train --config FILE` and follow it (with --out)", "FILE"},
    {"out", 0, 0, G_OPTION_ARG_FILENAME, NULL, "The run folder of --train-config", "RUN_DIR"},
    {"screenshot", 0, 0, G_OPTION_ARG_FILENAME, NULL,
     "Test hook: save the window as PNG once the page has drawn", "PNG"},
    {"quit-after-draw", 0, 0, G_OPTION_ARG_NONE, NULL, "Test hook: quit once the page has drawn",
     NULL},
    {"quit-at-step", 0, 0, G_OPTION_ARG_INT64, NULL,
     "Test hook: quit once the page has drawn step N", "N"},
    {"quit-when-ended", 0, 0, G_OPTION_ARG_NONE, NULL,
     "Test hook: quit once the run has ended, its child exited and the page drawn", NULL},
    {"stop-at-step", 0, 0, G_OPTION_ARG_INT64, NULL,
     "Test hook: stop the training child (as the Stop button) at step N", "N"},
    {"pause-at-step", 0, 0, G_OPTION_ARG_INT64, NULL,
     "Test hook: pause the training child at step N for 2 s, then resume", "N"},
    {"trace", 0, 0, G_OPTION_ARG_NONE, NULL, "Test hook: print a line per chart draw", NULL},
    {"timeout", 0, 0, G_OPTION_ARG_INT, NULL, "Test hook: give up (exit 1) after S seconds", "S"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, NULL, NULL, "[RUN_DIR]"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

ArApp *ar_app_new(void)
{
    ArApp *self = g_object_new(AR_TYPE_APP, "application-id", "org.adarank.Gui", "flags",
                               G_APPLICATION_NON_UNIQUE, NULL);
    GOptionEntry entries[G_N_ELEMENTS(options)];
    memcpy(entries, options, sizeof options);
    /* In the order of `options`. */
    void *targets[] = {&self->attach,
                       &self->page,
                       &self->dark,
                       &self->size,
                       &self->new_run,
                       &self->train_config,
                       &self->out,
                       &self->screenshot,
                       &self->quit_after_draw,
                       &self->quit_at_step,
                       &self->quit_when_ended,
                       &self->stop_at_step,
                       &self->pause_at_step,
                       &self->trace,
                       &self->timeout_s,
                       &self->remaining};
    for (size_t i = 0; i < G_N_ELEMENTS(targets); i++)
        entries[i].arg_data = targets[i];
    g_application_add_main_option_entries(G_APPLICATION(self), entries);
    g_application_set_option_context_summary(G_APPLICATION(self),
                                             "Start fine-tunes and watch their ranks evolve.");
    return self;
}

static void ar_app_finalize(GObject *object)
{
    ArApp *self = AR_APP(object);
    g_free(self->attach), g_free(self->page), g_free(self->size), g_free(self->screenshot);
    g_free(self->train_config), g_free(self->out);
    g_strfreev(self->remaining);
    g_clear_object(&self->probe);
    G_OBJECT_CLASS(ar_app_parent_class)->finalize(object);
}

static void ar_app_class_init(ArAppClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = ar_app_finalize;
    G_APPLICATION_CLASS(klass)->startup = ar_app_startup;
    G_APPLICATION_CLASS(klass)->activate = ar_app_activate;
}

static void ar_app_init(ArApp *self)
{
    self->quit_at_step = self->stop_at_step = self->pause_at_step = -1;
}
