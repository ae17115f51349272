/* ArChartView: one chart of a run (render.h's view) in a GtkDrawingArea.
 *
 * The draw function calls the same cairo renderer as `adarank-cl heatmap`, so what the window
 * shows and what Export writes are the same picture. Redraws are requested when the run source
 * reads events (at most once per poll); the renderers decimate to the pixel width, so a redraw
 * costs O(pixels), not O(steps). On the ranks view, hovering a cell outlines its row and the
 * tooltip gives module, step and rank (ar_render_heat_hit, ar_gui_heat_tooltip). */
#ifndef AR_CHART_VIEW_H
#define AR_CHART_VIEW_H

#include <gtk/gtk.h>

#include "adarank/render.h"
#include "ar-run-source.h"

G_BEGIN_DECLS

#define AR_TYPE_CHART_VIEW (ar_chart_view_get_type())
G_DECLARE_FINAL_TYPE(ArChartView, ar_chart_view, AR, CHART_VIEW, GtkDrawingArea)

GtkWidget *ar_chart_view_new(enum ar_render_view view);
enum ar_render_view ar_chart_view_get_view(ArChartView *self);
/* The run to draw; NULL draws an empty-state page. */
void ar_chart_view_set_source(ArChartView *self, ArRunSource *source);
/* The heatmap layout of the last draw (ranks view only; rows == 0 before). */
const struct ar_render_heat_layout *ar_chart_view_get_heat_layout(ArChartView *self);
/* Number of draws that had run data, and the last step they showed (for the test hooks). */
guint ar_chart_view_get_draw_count(ArChartView *self);
/* Milliseconds the renderer took for the last draw. */
double ar_chart_view_get_draw_ms(ArChartView *self);

G_END_DECLS

#endif
