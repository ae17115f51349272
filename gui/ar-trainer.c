/* ArTrainer: the training child process (ar-trainer.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ar-trainer.h"
#include "gui_model.h"

struct _ArTrainer {
    GObject parent_instance;
    GSubprocess *process;
    ArTrainerState state;
    int exit_code;
    char *message;
    GCancellable *cancel;
};

G_DEFINE_FINAL_TYPE(ArTrainer, ar_trainer, G_TYPE_OBJECT)

enum { PROP_0, PROP_STATE, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIGNAL_EXITED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void set_state(ArTrainer *self, ArTrainerState state)
{
    if (self->state == state) return;
    self->state = state;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
}

char *ar_trainer_find_cli(void)
{
    char *exe = g_file_read_link("/proc/self/exe", NULL);
    char *exe_dir = exe ? g_path_get_dirname(exe) : NULL;
    char *cands[4];
    int n = ar_gui_cli_candidates(g_getenv("ADARANK_CLI"), exe_dir, cands, 4);
    char *found = NULL;
    for (int i = 0; i < n; i++) {
        if (!found && g_file_test(cands[i], G_FILE_TEST_IS_EXECUTABLE))
            found = g_canonicalize_filename(cands[i], NULL);
        free(cands[i]); /* malloc'd by the plain-C model */
    }
    g_free(exe), g_free(exe_dir);
    return found ? found : g_find_program_in_path("adarank-cl");
}

/* The last non-empty line of the child's stderr: the CLI's "adarank-cl: ...: why". */
static char *last_line(const char *text)
{
    char **lines = g_strsplit(text ? text : "", "\n", -1);
    char *out = NULL;
    for (int i = 0; lines[i]; i++) {
        char *l = g_strstrip(lines[i]);
        if (*l && !strchr(l, '\r')) g_free(out), out = g_strdup(l);
    }
    g_strfreev(lines);
    return out;
}

static void on_communicated(GObject *obj, GAsyncResult *res, gpointer data)
{
    ArTrainer *self = AR_TRAINER(data);
    char *err_text = NULL;
    GError *error = NULL;
    g_subprocess_communicate_utf8_finish(G_SUBPROCESS(obj), res, NULL, &err_text, &error);
    if (error && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_error_free(error);
        g_object_unref(self);
        return;
    }
    GSubprocess *p = G_SUBPROCESS(obj);
    self->exit_code = g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
    g_free(self->message);
    self->message = error ? g_strdup(error->message) : last_line(err_text);
    g_clear_error(&error);
    g_free(err_text);
    set_state(self, AR_TRAINER_EXITED);
    g_signal_emit(self, signals[SIGNAL_EXITED], 0, self->exit_code);
    g_object_unref(self);
}

gboolean ar_trainer_start(ArTrainer *self, const char *const *argv, GError **error)
{
    g_return_val_if_fail(self->state != AR_TRAINER_RUNNING && self->state != AR_TRAINER_PAUSED,
                         FALSE);
    g_clear_object(&self->process);
    self->process = g_subprocess_newv(
        argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
    if (!self->process) return FALSE;
    self->exit_code = 0;
    g_clear_pointer(&self->message, g_free);
    set_state(self, AR_TRAINER_RUNNING);
    g_subprocess_communicate_utf8_async(self->process, NULL, self->cancel, on_communicated,
                                        g_object_ref(self));
    return TRUE;
}

void ar_trainer_pause(ArTrainer *self)
{
    if (self->state != AR_TRAINER_RUNNING) return;
    g_subprocess_send_signal(self->process, SIGSTOP);
    set_state(self, AR_TRAINER_PAUSED);
}

void ar_trainer_resume(ArTrainer *self)
{
    if (self->state != AR_TRAINER_PAUSED) return;
    g_subprocess_send_signal(self->process, SIGCONT);
    set_state(self, AR_TRAINER_RUNNING);
}

void ar_trainer_stop(ArTrainer *self)
{
    if (self->state != AR_TRAINER_RUNNING && self->state != AR_TRAINER_PAUSED) return;
    g_subprocess_send_signal(self->process, SIGINT);
    if (self->state == AR_TRAINER_PAUSED) g_subprocess_send_signal(self->process, SIGCONT);
    set_state(self, AR_TRAINER_STOPPING);
}

ArTrainerState ar_trainer_get_state(ArTrainer *self)
{
    return self->state;
}

int ar_trainer_get_exit_code(ArTrainer *self)
{
    return self->exit_code;
}

const char *ar_trainer_get_message(ArTrainer *self)
{
    return self->message;
}

ArTrainer *ar_trainer_new(void)
{
    return g_object_new(AR_TYPE_TRAINER, NULL);
}

static void ar_trainer_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    if (id == PROP_STATE)
        g_value_set_int(value, AR_TRAINER(object)->state);
    else
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void ar_trainer_dispose(GObject *object)
{
    ArTrainer *self = AR_TRAINER(object);
    /* Closing the window stops a run cleanly rather than orphaning a paused process. */
    ar_trainer_stop(self);
    g_cancellable_cancel(self->cancel);
    g_clear_object(&self->process);
    g_clear_object(&self->cancel);
    G_OBJECT_CLASS(ar_trainer_parent_class)->dispose(object);
}

static void ar_trainer_finalize(GObject *object)
{
    g_free(AR_TRAINER(object)->message);
    G_OBJECT_CLASS(ar_trainer_parent_class)->finalize(object);
}

static void ar_trainer_class_init(ArTrainerClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->get_property = ar_trainer_get_property;
    object_class->dispose = ar_trainer_dispose;
    object_class->finalize = ar_trainer_finalize;
    props[PROP_STATE] =
        g_param_spec_int("state", NULL, NULL, AR_TRAINER_IDLE, AR_TRAINER_EXITED, AR_TRAINER_IDLE,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
    g_object_class_install_properties(object_class, N_PROPS, props);
    signals[SIGNAL_EXITED] = g_signal_new("exited", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                          NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void ar_trainer_init(ArTrainer *self)
{
    self->cancel = g_cancellable_new();
}
