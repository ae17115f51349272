/* ArProbe: the test hooks of adarank-gui (--screenshot, --quit-after-draw, --quit-at-step,
 * --quit-when-ended, --stop-at-step, --pause-at-step, --trace, --timeout), kept out of the
 * window so the app itself has no test-only paths. The stop and pause hooks act through the
 * same ArTrainer calls as the header-bar buttons and print "stopped step=N", "paused step=N"
 * and "resumed step=N" (the last step read at that moment).
 *
 * It watches a window frame by frame. --trace prints one line per chart draw that showed run
 * data ("drawn page=ranks step=120 draws=3"), plus the heatmap's plot rectangle in window
 * coordinates ("heat x=.. y=.. w=.. h=.. rows=24") so a test can find the rows in a
 * screenshot, and on quitting the message banner, if one is shown ("banner text=..."). The screenshot is the real mapped window: its widget tree rendered by the
 * window's own GskRenderer into a texture and saved as PNG. */
#ifndef AR_PROBE_H
#define AR_PROBE_H

#include "ar-window.h"

G_BEGIN_DECLS

#define AR_TYPE_PROBE (ar_probe_get_type())
G_DECLARE_FINAL_TYPE(ArProbe, ar_probe, AR, PROBE, GObject)

struct ar_probe_options {
    const char *screenshot; /* PNG path, or NULL */
    gboolean quit_after_draw, trace;
    gint64 quit_at_step;      /* < 0: off */
    int timeout_s;            /* > 0: give up (exit 1) after this long */
    gboolean quit_when_ended; /* run_end read, the training child gone, the page drawn; or
                               * the child failed to start (no run folder, a banner) */
    gint64 stop_at_step;      /* < 0: off; else ar_trainer_stop once this step is read */
    gint64 pause_at_step;     /* < 0: off; else pause the child 2 s, then resume */
};

/* Starts watching; the probe lives as long as the window. */
ArProbe *ar_probe_attach(ArWindow *window, const struct ar_probe_options *options);
/* Renders the window's last paint into a PNG at path; G_IO_ERROR_PENDING when the window has
 * changed since that paint (call it from the frame clock's after-paint). */
gboolean ar_probe_screenshot(GtkWidget *window, const char *path, GError **error);
/* 0, or 1 after a timeout. */
int ar_probe_get_exit_code(ArProbe *self);

G_END_DECLS

#endif
