/* ArRunSource: one run directory's metrics.jsonl, followed live.
 *
 * Wraps the incremental reader of metrics.h (ar_metrics_reader_*), which reads only the lines
 * appended since the last poll and keeps a half-written last line for later. A timer polls the
 * file (polling, not inotify, so a run written on a shared disk by another machine is followed
 * too) and emits ::changed once per poll that read events, so the views redraw at most at the
 * poll rate however fast events arrive. */
#ifndef AR_RUN_SOURCE_H
#define AR_RUN_SOURCE_H

#include <gio/gio.h>

#include "adarank/metrics.h"

G_BEGIN_DECLS

#define AR_TYPE_RUN_SOURCE (ar_run_source_get_type())
G_DECLARE_FINAL_TYPE(ArRunSource, ar_run_source, AR, RUN_SOURCE, GObject)

/* Starts following RUN_DIR/metrics.jsonl (the file may not exist yet). poll_ms: the interval.
 * What the file holds already is read in a worker thread (ar_run_source_is_loading). */
ArRunSource *ar_run_source_new(const char *run_dir, guint poll_ms);

const char *ar_run_source_get_dir(ArRunSource *self);
/* The run as read so far (never NULL; empty until run_start is read). */
const struct ar_metrics_run *ar_run_source_get_run(ArRunSource *self);
/* The largest step read, -1 before any. */
gint64 ar_run_source_get_last_step(ArRunSource *self);
/* The last read error ("FILE:LINE: what"), NULL when the last poll went fine. */
const char *ar_run_source_get_error(ArRunSource *self);
/* True while the first read (of what the file already holds) runs in a worker thread; the run
 * reads as empty until it is done and ::changed is emitted. */
gboolean ar_run_source_is_loading(ArRunSource *self);
/* Polls now (also what the timer calls; nothing while loading); returns the events read. */
gsize ar_run_source_poll(ArRunSource *self);

G_END_DECLS

#endif
