/* ArRunSource: polls a run's metrics.jsonl with the incremental reader (ar-run-source.h). */
#include <string.h>

#include "ar-run-source.h"

struct _ArRunSource {
    GObject parent_instance;
    char *dir;
    struct ar_metrics_reader *reader;
    guint timer;
    char *error;
    gboolean waiting; /* no metrics.jsonl yet */
    gboolean loading; /* the first read runs in a worker thread; the run is hidden meanwhile */
    guint poll_ms;
};

G_DEFINE_FINAL_TYPE(ArRunSource, ar_run_source, G_TYPE_OBJECT)

enum { PROP_0, PROP_LAST_STEP, PROP_ERROR, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static const struct ar_metrics_run empty_run = {.last_step = -1};

static void set_error(ArRunSource *self, const char *error)
{
    if (g_strcmp0(self->error, error) == 0) return;
    g_free(self->error);
    self->error = g_strdup(error);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ERROR]);
}

gsize ar_run_source_poll(ArRunSource *self)
{
    g_return_val_if_fail(AR_IS_RUN_SOURCE(self), 0);
    if (!self->reader || self->loading) return 0;
    gint64 before = ar_run_source_get_last_step(self);
    size_t events = 0;
    enum ar_status st = ar_metrics_reader_poll(self->reader, &events);
    if (st == AR_STATUS_NOT_FOUND) { /* a run that has not started writing yet */
        self->waiting = TRUE;
        set_error(self, NULL);
        return 0;
    }
    self->waiting = FALSE;
    if (st == AR_STATUS_IO && strstr(ar_metrics_reader_errmsg(self->reader), "shrank")) {
        /* A new run replaced the file (a run folder reused): start over on the new file. */
        char *path = g_build_filename(self->dir, AR_METRICS_FILE, NULL);
        ar_metrics_reader_free(self->reader);
        self->reader = NULL;
        st = ar_metrics_reader_new(path, &self->reader);
        g_free(path);
        if (st == AR_STATUS_OK) st = ar_metrics_reader_poll(self->reader, &events);
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_LAST_STEP]);
        g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
        if (!self->reader) return 0;
    }
    /* A bad line is consumed by the reader: report it and keep following the rest. */
    set_error(self, st == AR_STATUS_OK ? NULL : ar_metrics_reader_errmsg(self->reader));
    if (events > 0) {
        if (ar_run_source_get_last_step(self) != before)
            g_object_notify_by_pspec(G_OBJECT(self), props[PROP_LAST_STEP]);
        g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
    }
    return events;
}

static gboolean on_timer(gpointer data)
{
    ar_run_source_poll(AR_RUN_SOURCE(data));
    return G_SOURCE_CONTINUE;
}

/* The first read of a long run (100k steps: ~12 MB, ~0.6 s) happens off the main thread so
 * attaching never freezes the window; the reader is touched by that thread alone until it is
 * done, then only by the main loop's timer, whose polls read just the lines appended since. */
static void load_in_thread(GTask *task, gpointer object, gpointer data, GCancellable *cancel)
{
    (void)object, (void)cancel;
    size_t events = 0;
    enum ar_status st = ar_metrics_reader_poll(data, &events);
    g_task_return_int(task, st);
}

static void on_loaded(GObject *object, GAsyncResult *result, gpointer data)
{
    (void)data;
    ArRunSource *self = AR_RUN_SOURCE(object);
    enum ar_status st = (enum ar_status)g_task_propagate_int(G_TASK(result), NULL);
    self->loading = FALSE;
    if (st == AR_STATUS_BAD_FORMAT) set_error(self, ar_metrics_reader_errmsg(self->reader));
    self->waiting = st == AR_STATUS_NOT_FOUND;
    ar_run_source_poll(self); /* what was appended meanwhile */
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_LAST_STEP]);
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
    if (!self->timer) self->timer = g_timeout_add(self->poll_ms, on_timer, self);
}

ArRunSource *ar_run_source_new(const char *run_dir, guint poll_ms)
{
    ArRunSource *self = g_object_new(AR_TYPE_RUN_SOURCE, NULL);
    self->dir = g_strdup(run_dir);
    self->poll_ms = poll_ms > 0 ? poll_ms : 250;
    char *path = g_build_filename(run_dir, AR_METRICS_FILE, NULL);
    enum ar_status st = ar_metrics_reader_new(path, &self->reader);
    g_free(path);
    if (st != AR_STATUS_OK) {
        set_error(self, "out of memory");
        return self;
    }
    self->loading = TRUE;
    GTask *task = g_task_new(self, NULL, on_loaded, NULL);
    g_task_set_task_data(task, self->reader, NULL);
    g_task_run_in_thread(task, load_in_thread);
    g_object_unref(task);
    return self;
}

gboolean ar_run_source_is_loading(ArRunSource *self)
{
    return self->loading;
}

const char *ar_run_source_get_dir(ArRunSource *self)
{
    return self->dir;
}

const struct ar_metrics_run *ar_run_source_get_run(ArRunSource *self)
{
    const struct ar_metrics_run *run =
        self->reader && !self->loading ? ar_metrics_reader_run(self->reader) : NULL;
    return run ? run : &empty_run;
}

gint64 ar_run_source_get_last_step(ArRunSource *self)
{
    const struct ar_metrics_run *run = ar_run_source_get_run(self);
    return run->schema == 0 ? -1 : run->last_step;
}

const char *ar_run_source_get_error(ArRunSource *self)
{
    return self->error;
}

static void ar_run_source_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    ArRunSource *self = AR_RUN_SOURCE(object);
    switch (id) {
    case PROP_LAST_STEP:
        g_value_set_int64(value, ar_run_source_get_last_step(self));
        break;
    case PROP_ERROR:
        g_value_set_string(value, self->error);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void ar_run_source_dispose(GObject *object)
{
    ArRunSource *self = AR_RUN_SOURCE(object);
    g_clear_handle_id(&self->timer, g_source_remove);
    G_OBJECT_CLASS(ar_run_source_parent_class)->dispose(object);
}

static void ar_run_source_finalize(GObject *object)
{
    ArRunSource *self = AR_RUN_SOURCE(object);
    ar_metrics_reader_free(self->reader);
    g_free(self->dir);
    g_free(self->error);
    G_OBJECT_CLASS(ar_run_source_parent_class)->finalize(object);
}

static void ar_run_source_class_init(ArRunSourceClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->get_property = ar_run_source_get_property;
    object_class->dispose = ar_run_source_dispose;
    object_class->finalize = ar_run_source_finalize;
    props[PROP_LAST_STEP] =
        g_param_spec_int64("last-step", NULL, NULL, -1, G_MAXINT64, -1,
                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
    props[PROP_ERROR] =
        g_param_spec_string("error", NULL, NULL, NULL,
                            G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
    g_object_class_install_properties(object_class, N_PROPS, props);
    /* Emitted after a poll that read at least one event. */
    signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void ar_run_source_init(ArRunSource *self)
{
    (void)self;
}
