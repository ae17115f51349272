/* Shared by the metrics reader files (metrics_parse.c, metrics_ranks.c, metrics_read.c). */
#ifndef ADARANK_CORE_METRICS_INTERNAL_H
#define ADARANK_CORE_METRICS_INTERNAL_H

#include "adarank/metrics.h"
#include "json.h"

/* Grows *ptr (of *cap elements of `size` bytes) to hold `need`; false when out of memory. */
bool ar__metrics_grow(void **ptr, size_t *cap, size_t need, size_t size);
bool ar__metrics_series_push(struct ar_metrics_series *s, double x, double y);
/* Array elements as non-negative ints / floats (null -> NaN); false on a wrong type. */
bool ar__metrics_int_elems(const struct ar__json_node *a, int *out);
bool ar__metrics_float_elems(const struct ar__json_node *a, float *out);

/* The body of a "ranks" event (metrics_ranks.c). */
enum ar_status ar__metrics_parse_ranks(struct ar_metrics_run *run, const struct ar__json_node *obj,
                                       int64_t step, const char *where, char *err, size_t err_size);

#endif
