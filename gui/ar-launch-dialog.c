/* ArLaunchDialog: the form that starts `adarank-cl train` (ar-launch-dialog.h). */
#include "ar-launch-dialog.h"

#include "adarank/device.h"
#include "adarank/train.h"
#include "gui_model.h"

struct _ArLaunchDialog {
    GtkWindow parent_instance;
    char *cli;
    GtkWidget *model, *train, *validation, *out; /* entries */
    GtkWidget *method, *device;                  /* drop-downs */
    GtkWidget *targets, *extra, *error;
    GtkWidget *rank, *alpha, *lr, *epochs, *batch, *max_length, *max_steps, *eval_every;
    struct ar_device_info *devices;
    int n_devices;
};

G_DEFINE_FINAL_TYPE(ArLaunchDialog, ar_launch_dialog, GTK_TYPE_WINDOW)

enum { SIGNAL_LAUNCH, N_SIGNALS };
static guint signals[N_SIGNALS];

static const char *text_of(GtkWidget *entry)
{
    return gtk_editable_get_text(GTK_EDITABLE(entry));
}

static void on_chosen(GtkNativeDialog *native, int response, gpointer data)
{
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native));
        char *path = g_file_get_path(file);
        gtk_editable_set_text(GTK_EDITABLE(data), path ? path : "");
        g_free(path);
        g_object_unref(file);
    }
    g_object_unref(native);
}

static void on_browse(GtkButton *button, gpointer data)
{
    GtkWidget *entry = GTK_WIDGET(data);
    gboolean folder = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(button), "folder"));
    GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(button));
    GtkFileChooserNative *native = gtk_file_chooser_native_new(
        folder ? "Choose a Folder" : "Choose a File", GTK_WINDOW(root),
        folder ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER : GTK_FILE_CHOOSER_ACTION_OPEN, "_Select",
        "_Cancel");
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);
    g_signal_connect(native, "response", G_CALLBACK(on_chosen), entry);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

/* A label in column 0 and a widget in column 1 of the form grid. */
static void add_row(GtkGrid *grid, int row, const char *label, GtkWidget *widget)
{
    GtkWidget *l = gtk_label_new_with_mnemonic(label);
    gtk_widget_set_halign(l, GTK_ALIGN_END);
    gtk_widget_add_css_class(l, "dim-label");
    gtk_label_set_mnemonic_widget(GTK_LABEL(l), widget);
    gtk_grid_attach(grid, l, 0, row, 1, 1);
    gtk_widget_set_hexpand(widget, TRUE);
    gtk_grid_attach(grid, widget, 1, row, 1, 1);
}

static GtkWidget *path_row(GtkGrid *grid, int row, const char *label, const char *placeholder,
                           gboolean folder)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0);
    gtk_widget_add_css_class(box, "linked");
    GtkWidget *entry = gtk_entry_new();
    gtk_entry_set_placeholder_text(GTK_ENTRY(entry), placeholder);
    gtk_widget_set_hexpand(entry, TRUE);
    GtkWidget *button =
        gtk_button_new_from_icon_name(folder ? "folder-open-symbolic" : "document-open-symbolic");
    gtk_widget_set_tooltip_text(button, "Browse…");
    g_object_set_data(G_OBJECT(button), "folder", GINT_TO_POINTER(folder));
    g_signal_connect(button, "clicked", G_CALLBACK(on_browse), entry);
    gtk_box_append(GTK_BOX(box), entry);
    gtk_box_append(GTK_BOX(box), button);
    add_row(grid, row, label, box);
    return entry;
}

static GtkWidget *spin(double lo, double hi, double step, int digits, double value)
{
    GtkWidget *s = gtk_spin_button_new_with_range(lo, hi, step);
    gtk_spin_button_set_digits(GTK_SPIN_BUTTON(s), (guint)digits);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(s), value);
    return s;
}

static double num(GtkWidget *s)
{
    return gtk_spin_button_get_value(GTK_SPIN_BUTTON(s));
}

static void on_start(GtkButton *button, gpointer data)
{
    (void)button;
    ArLaunchDialog *self = AR_LAUNCH_DIALOG(data);
    char device[16] = "";
    guint d = gtk_drop_down_get_selected(GTK_DROP_DOWN(self->device));
    if (d != GTK_INVALID_LIST_POSITION && (int)d < self->n_devices)
        g_snprintf(device, sizeof device, "%d", self->devices[d].index);
    guint m = gtk_drop_down_get_selected(GTK_DROP_DOWN(self->method));
    struct ar_gui_launch l = {.model_dir = text_of(self->model),
                              .train_file = text_of(self->train),
                              .validation_file = text_of(self->validation),
                              .out_dir = text_of(self->out),
                              .method = ar_gui_methods[m < (guint)ar_gui_n_methods ? m : 0],
                              .targets = text_of(self->targets),
                              .device = device,
                              .rank = (int)num(self->rank),
                              .alpha = num(self->alpha),
                              .lr = num(self->lr),
                              .epochs = (int)num(self->epochs),
                              .batch = (int)num(self->batch),
                              .max_length = (int)num(self->max_length),
                              .max_steps = (int)num(self->max_steps),
                              .eval_every = (int)num(self->eval_every),
                              .extra = text_of(self->extra)};
    char err[512];
    char **argv = ar_gui_launch_argv(&l, self->cli ? self->cli : "adarank-cl", err, sizeof err);
    if (!argv) {
        gtk_label_set_text(GTK_LABEL(self->error), err);
        gtk_widget_set_visible(self->error, TRUE);
        return;
    }
    g_signal_emit(self, signals[SIGNAL_LAUNCH], 0, argv, l.out_dir);
    ar_gui_argv_free(argv);
    gtk_window_destroy(GTK_WINDOW(self));
}

static GtkWidget *device_dropdown(ArLaunchDialog *self)
{
    char err[256];
    GtkStringList *list = gtk_string_list_new(NULL);
    if (ar_device_list(&self->devices, &self->n_devices, err, sizeof err) != AR_STATUS_OK)
        self->n_devices = 0;
    for (int i = 0; i < self->n_devices; i++) {
        const struct ar_device_info *dv = &self->devices[i];
        char *s = g_strdup_printf("%d · %s / %s (%s)", dv->index, dv->platform_name, dv->name,
                                  ar_device_type_name(dv->type));
        gtk_string_list_append(list, s);
        g_free(s);
    }
    if (self->n_devices == 0) gtk_string_list_append(list, "no OpenCL device found");
    GtkWidget *dd = gtk_drop_down_new(G_LIST_MODEL(list), NULL);
    char sel_err[256];
    int chosen = ar_device_select(self->devices, self->n_devices, NULL, sel_err, sizeof sel_err);
    if (chosen >= 0) gtk_drop_down_set_selected(GTK_DROP_DOWN(dd), (guint)chosen);
    return dd;
}

static GtkWidget *method_dropdown(void)
{
    GtkStringList *list = gtk_string_list_new(NULL);
    for (int i = 0; i < ar_gui_n_methods; i++)
        gtk_string_list_append(list, ar_gui_method_label(ar_gui_methods[i]));
    GtkWidget *dd = gtk_drop_down_new(G_LIST_MODEL(list), NULL);
    gtk_drop_down_set_selected(GTK_DROP_DOWN(dd), 1); /* SoRA: the gated method to watch */
    return dd;
}

static void build_form(ArLaunchDialog *self, GtkGrid *g)
{
    struct ar_train_config d;
    ar_train_config_init(&d);
    int r = 0;
    self->model =
        path_row(g, r++, "_Model", "checkpoint folder (config.json, model.safetensors)", TRUE);
    self->train = path_row(g, r++, "_Training data", ".tsv, .csv or .jsonl", FALSE);
    self->validation = path_row(g, r++, "_Validation data", "optional", FALSE);
    self->out = path_row(g, r++, "_Run folder", "where metrics.jsonl is written", TRUE);
    char *runs = g_build_filename(g_get_home_dir(), "adarank-runs", NULL);
    GDateTime *now = g_date_time_new_now_local();
    char *stamp = g_date_time_format(now, "run-%Y%m%d-%H%M%S");
    char *out = g_build_filename(runs, stamp, NULL);
    gtk_editable_set_text(GTK_EDITABLE(self->out), out);
    g_free(out), g_free(stamp), g_free(runs), g_date_time_unref(now);
    add_row(g, r++, "M_ethod", self->method = method_dropdown());
    self->targets = gtk_entry_new();
    gtk_editable_set_text(GTK_EDITABLE(self->targets), d.targets);
    gtk_widget_set_tooltip_text(self->targets, "PEFT names, comma-separated: query, key, value, "
                                               "attention.output.dense, intermediate.dense, "
                                               "output.dense");
    add_row(g, r++, "Tar_get modules", self->targets);
    add_row(g, r++, "R_ank", self->rank = spin(1, 512, 1, 0, d.rank));
    add_row(g, r++, "_Alpha", self->alpha = spin(0.5, 1024, 1, 1, d.alpha));
    add_row(g, r++, "_Learning rate", self->lr = spin(1e-6, 1, 1e-5, 6, d.params.lr));
    add_row(g, r++, "E_pochs", self->epochs = spin(1, 1000, 1, 0, d.params.epochs));
    add_row(g, r++, "_Batch size", self->batch = spin(1, 4096, 1, 0, d.params.batch_size));
    add_row(g, r++, "Max le_ngth", self->max_length = spin(8, 8192, 8, 0, d.max_length));
    add_row(g, r++, "Max _steps", self->max_steps = spin(0, 1e9, 10, 0, d.params.max_steps));
    gtk_widget_set_tooltip_text(self->max_steps, "0: run the epochs");
    add_row(g, r++, "Evaluate e_very", self->eval_every = spin(0, 1e9, 10, 0, d.params.eval_every));
    add_row(g, r++, "_Device", self->device = device_dropdown(self));
    self->extra = gtk_entry_new();
    gtk_entry_set_placeholder_text(GTK_ENTRY(self->extra), "--warmup-ratio 0.1 --seed 7");
    gtk_widget_set_tooltip_text(self->extra, "Any other `adarank-cl train` option");
    add_row(g, r++, "More _options", self->extra);
    ar_train_config_clear(&d);
}

GtkWidget *ar_launch_dialog_new(GtkWindow *parent, const char *cli)
{
    ArLaunchDialog *self = g_object_new(AR_TYPE_LAUNCH_DIALOG, "transient-for", parent, "modal",
                                        TRUE, "title", "New Run", NULL);
    self->cli = g_strdup(cli);
    return GTK_WIDGET(self);
}

static void ar_launch_dialog_finalize(GObject *object)
{
    ArLaunchDialog *self = AR_LAUNCH_DIALOG(object);
    g_free(self->cli);
    free(self->devices);
    G_OBJECT_CLASS(ar_launch_dialog_parent_class)->finalize(object);
}

static void ar_launch_dialog_class_init(ArLaunchDialogClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = ar_launch_dialog_finalize;
    /* ::launch (GStrv argv, const char *run_dir) */
    signals[SIGNAL_LAUNCH] =
        g_signal_new("launch", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 2, G_TYPE_STRV, G_TYPE_STRING);
    gtk_widget_class_add_binding_action(GTK_WIDGET_CLASS(klass), GDK_KEY_Escape, 0, "window.close",
                                        NULL);
}

static void ar_launch_dialog_init(ArLaunchDialog *self)
{
    GtkWidget *header = gtk_header_bar_new();
    gtk_header_bar_set_show_title_buttons(GTK_HEADER_BAR(header), FALSE);
    GtkWidget *cancel = gtk_button_new_with_mnemonic("_Cancel");
    g_signal_connect_swapped(cancel, "clicked", G_CALLBACK(gtk_window_destroy), self);
    GtkWidget *start = gtk_button_new_with_mnemonic("_Start");
    gtk_widget_add_css_class(start, "suggested-action");
    g_signal_connect(start, "clicked", G_CALLBACK(on_start), self);
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header), cancel);
    gtk_header_bar_pack_end(GTK_HEADER_BAR(header), start);
    gtk_window_set_titlebar(GTK_WINDOW(self), header);
    gtk_window_set_default_widget(GTK_WINDOW(self), start);

    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
    gtk_widget_set_margin_top(box, 18), gtk_widget_set_margin_bottom(box, 18);
    gtk_widget_set_margin_start(box, 24), gtk_widget_set_margin_end(box, 24);
    GtkWidget *grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(grid), 8);
    gtk_grid_set_column_spacing(GTK_GRID(grid), 12);
    build_form(self, GTK_GRID(grid));
    self->error = gtk_label_new(NULL);
    gtk_widget_add_css_class(self->error, "error");
    gtk_widget_set_visible(self->error, FALSE);
    gtk_box_append(GTK_BOX(box), grid);
    gtk_box_append(GTK_BOX(box), self->error);
    gtk_window_set_child(GTK_WINDOW(self), box);
    gtk_window_set_default_size(GTK_WINDOW(self), 560, -1);
}
