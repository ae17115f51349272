/* TensorBoard event files, written without TensorFlow or protobuf libraries.
 *
 * A file RUN_DIR/events.out.tfevents.<unix time>.<host> is a sequence of TFRecord frames:
 *
 *     uint64 length (little-endian) | uint32 masked_crc32c(length bytes) |
 *     length bytes: one serialized tensorboard.Event | uint32 masked_crc32c(those bytes)
 *
 * masked_crc(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 with the CRC-32C (Castagnoli)
 * polynomial. The first Event carries file_version "brain.Event:2"; every other Event carries
 * wall_time, step and a Summary with one Value: a scalar (simple_value), a histogram
 * (HistogramProto) or an image (Summary.Image with PNG bytes: the rank heatmap, since TensorBoard
 * has no layer × step heatmap view). Field numbers, from tensorboard/compat/proto/event.proto and
 * summary.proto:
 *
 *     Event          wall_time 1 (double), step 2 (int64), file_version 3 (string), summary 5
 *     Summary        value 1 (repeated Value)
 *     Value          tag 1 (string), simple_value 2 (float), image 4 (Image), histo 5
 *     Image          height 1, width 2, colorspace 3 (int32), encoded_image_string 4 (bytes)
 *     HistogramProto min 1, max 2, num 3, sum 4, sum_squares 5 (double),
 *                    bucket_limit 6, bucket 7 (packed repeated double)
 *
 * Records are flushed by ar_tb_flush (call it after each logging step) and on close. docs/
 * tensorboard.md shows how to check a file with TensorBoard's own loader.
 */
#ifndef ADARANK_TENSORBOARD_H
#define ADARANK_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of data, continuing from `crc` (0 to
 * start), and TFRecord's masked form of a finished CRC. */
uint32_t ar_crc32c(uint32_t crc, const void *data, size_t n);
uint32_t ar_crc32c_mask(uint32_t crc);

struct ar_tb_writer;

/* Creates RUN_DIR/events.out.tfevents.<time>.<host> (with .<pid> appended if that name is taken)
 * and writes the file_version event. */
enum ar_status ar_tb_writer_open(const char *dir, struct ar_tb_writer **out, char *err,
                                 size_t err_size);
const char *ar_tb_writer_path(const struct ar_tb_writer *w);
const char *ar_tb_writer_errmsg(const struct ar_tb_writer *w); /* "PATH: what" */

enum ar_status ar_tb_add_scalar(struct ar_tb_writer *w, const char *tag, int64_t step, float value);
/* A histogram of n values in `buckets` equal-width buckets between their min and max (0: 30).
 * Non-finite values are left out. */
enum ar_status ar_tb_add_histogram(struct ar_tb_writer *w, const char *tag, int64_t step,
                                   const float *values, size_t n, int buckets);
/* An encoded PNG of width × height; channels 3 (RGB) or 4 (RGBA). */
enum ar_status ar_tb_add_image(struct ar_tb_writer *w, const char *tag, int64_t step,
                               const void *png, size_t png_size, int width, int height,
                               int channels);

enum ar_status ar_tb_flush(struct ar_tb_writer *w);
/* Flushes and closes; returns the first error seen (NULL is fine). */
enum ar_status ar_tb_writer_close(struct ar_tb_writer *w);

#ifdef __cplusplus
}
#endif

#endif
