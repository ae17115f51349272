/* Export of a view as PNG and of the adapter (ar-export.h). */
#include "ar-export.h"

struct job {
    ArRunSource *source;
    enum ar_render_view view;
    gboolean adapter;
    ArExportDone done;
    gpointer data;
};

int ar_export_copy_adapter(const char *run_dir, const char *dest, GError **error)
{
    char *src_path = g_build_filename(run_dir, "adapter", NULL);
    GFile *src = g_file_new_for_path(src_path), *dst = g_file_new_for_path(dest);
    g_free(src_path);
    int count = -1;
    GFileEnumerator *e = g_file_enumerate_children(
        src, G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_STANDARD_TYPE,
        G_FILE_QUERY_INFO_NONE, NULL, error);
    if (!e) goto out;
    if (!g_file_make_directory_with_parents(dst, NULL, error)) {
        if (!g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_EXISTS)) goto out;
        g_clear_error(error);
    }
    count = 0;
    GFileInfo *info;
    while ((info = g_file_enumerator_next_file(e, NULL, error))) {
        if (g_file_info_get_file_type(info) == G_FILE_TYPE_REGULAR) {
            GFile *from = g_file_get_child(src, g_file_info_get_name(info));
            GFile *to = g_file_get_child(dst, g_file_info_get_name(info));
            gboolean ok = g_file_copy(from, to, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, error);
            g_object_unref(from), g_object_unref(to);
            if (!ok) {
                g_object_unref(info);
                count = -1;
                goto out;
            }
            count++;
        }
        g_object_unref(info);
    }
    if (error && *error) count = -1;
out:
    g_clear_object(&e);
    g_object_unref(src), g_object_unref(dst);
    return count;
}

static void finish(struct job *job, char *message)
{
    job->done(message, job->data);
    g_free(message);
    g_object_unref(job->source);
    g_free(job);
}

static void on_response(GtkNativeDialog *native, int response, gpointer data)
{
    struct job *job = data;
    GFile *file = response == GTK_RESPONSE_ACCEPT
                      ? gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native))
                      : NULL;
    char *path = file ? g_file_get_path(file) : NULL;
    char *message = NULL;
    GError *error = NULL;
    if (path && job->adapter) {
        int n = ar_export_copy_adapter(ar_run_source_get_dir(job->source), path, &error);
        message = n < 0 ? g_strdup_printf("Exporting the adapter failed: %s", error->message)
                        : g_strdup_printf("Adapter exported to %s (%d files)", path, n);
    } else if (path) {
        char err[1024];
        struct ar_render_opts opts = ar_render_default_opts();
        int w, h;
        ar_render_default_size(job->view, &w, &h);
        enum ar_status st = ar_render_png(path, w, h, ar_run_source_get_run(job->source), job->view,
                                          &opts, err, sizeof err);
        message = st == AR_STATUS_OK ? g_strdup_printf("Saved %s", path)
                                     : g_strdup_printf("Saving the PNG failed: %s", err);
    }
    g_clear_error(&error);
    g_free(path);
    g_clear_object(&file);
    g_object_unref(native);
    finish(job, message);
}

static void ask(GtkWindow *parent, struct job *job, const char *title, GtkFileChooserAction action,
                const char *suggested)
{
    GtkFileChooserNative *native =
        gtk_file_chooser_native_new(title, parent, action, "_Save", "_Cancel");
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);
    if (suggested) gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(native), suggested);
    g_signal_connect(native, "response", G_CALLBACK(on_response), job);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

static struct job *new_job(ArRunSource *source, ArExportDone done, gpointer data)
{
    struct job *job = g_new0(struct job, 1);
    job->source = g_object_ref(source);
    job->done = done, job->data = data;
    return job;
}

void ar_export_png(GtkWindow *parent, ArRunSource *source, enum ar_render_view view,
                   ArExportDone done, gpointer data)
{
    if (!source || !ar_run_source_get_run(source)->schema) {
        done("Nothing to export: no run is open", data);
        return;
    }
    struct job *job = new_job(source, done, data);
    job->view = view;
    char *name = g_strdup_printf("%s.png", ar_render_view_name(view));
    ask(parent, job, "Export View as PNG", GTK_FILE_CHOOSER_ACTION_SAVE, name);
    g_free(name);
}

void ar_export_adapter(GtkWindow *parent, ArRunSource *source, ArExportDone done, gpointer data)
{
    char *adapter =
        source ? g_build_filename(ar_run_source_get_dir(source), "adapter", NULL) : NULL;
    gboolean exists = adapter && g_file_test(adapter, G_FILE_TEST_IS_DIR);
    g_free(adapter);
    if (!exists) {
        done("This run has no adapter yet (adarank-cl writes RUN_DIR/adapter/ at the end)", data);
        return;
    }
    struct job *job = new_job(source, done, data);
    job->adapter = TRUE;
    ask(parent, job, "Export Adapter to a Folder", GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, NULL);
}
