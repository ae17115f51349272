/* ArSummaryView: the numbers of a run at a glance — status, method, model, device, step,
 * loss, throughput, trainable parameters — and the rank of every module (a level bar per
 * module: effective of allocated, the final rank once the run has ended). Values come from
 * ar_gui_summary_compute; the widgets for the modules are made once and then only updated. */
#ifndef AR_SUMMARY_VIEW_H
#define AR_SUMMARY_VIEW_H

#include <gtk/gtk.h>

#include "ar-run-source.h"

G_BEGIN_DECLS

#define AR_TYPE_SUMMARY_VIEW (ar_summary_view_get_type())
G_DECLARE_FINAL_TYPE(ArSummaryView, ar_summary_view, AR, SUMMARY_VIEW, GtkWidget)

GtkWidget *ar_summary_view_new(void);
void ar_summary_view_set_source(ArSummaryView *self, ArRunSource *source);

G_END_DECLS

#endif
