/* TensorBoard event files: TFRecord framing, CRC-32C and a hand-written protobuf encoder for the
 * few messages we write (see include/adarank/tensorboard.h for the layout and field numbers).
 *
 * Protobuf wire format (protobuf.dev "Encoding"): each field is a varint key (field << 3 | wire
 * type) followed by a varint (type 0), 8 little-endian bytes (type 1), a varint length and that
 * many bytes (type 2: strings, bytes, nested messages, packed repeated numbers) or 4 bytes
 * (type 5). Nested messages are built in their own buffer first, so their length is known. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "adarank/tensorboard.h"

/* ---- CRC-32C ------------------------------------------------------------------------------ */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t ar_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* TFRecord masks stored CRCs so that a CRC of data that itself contains CRCs stays strong. */
uint32_t ar_crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

/* ---- protobuf encoding -------------------------------------------------------------------- */

struct pb {
    unsigned char *data;
    size_t len, cap;
    bool oom;
};

static void pb_bytes(struct pb *b, const void *src, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->data = grown, b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
    unsigned char out[10];
    int n = 0;
    do {
        out[n++] = (unsigned char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_bytes(b, out, n);
}

static void pb_key(struct pb *b, int field, int wire)
{
    pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

static void pb_le(struct pb *b, uint64_t v, int size)
{
    unsigned char out[8];
    for (int i = 0; i < size; i++)
        out[i] = (unsigned char)(v >> (8 * i));
    pb_bytes(b, out, size);
}

static void pb_double(struct pb *b, int field, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    pb_key(b, field, 1);
    pb_le(b, bits, 8);
}

static void pb_float(struct pb *b, int field, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    pb_key(b, field, 5);
    pb_le(b, bits, 4);
}

/* int32/int64 fields: negative values are sign-extended to 64 bits, as protobuf does. */
static void pb_int(struct pb *b, int field, int64_t v)
{
    pb_key(b, field, 0);
    pb_varint(b, (uint64_t)v);
}

static void pb_len(struct pb *b, int field, const void *data, size_t n)
{
    pb_key(b, field, 2);
    pb_varint(b, n);
    pb_bytes(b, data, n);
}

static void pb_message(struct pb *b, int field, struct pb *inner)
{
    pb_len(b, field, inner->data, inner->len);
    b->oom = b->oom || inner->oom;
    free(inner->data);
    *inner = (struct pb){0};
}

static void pb_packed_doubles(struct pb *b, int field, const double *v, size_t n)
{
    pb_key(b, field, 2);
    pb_varint(b, 8 * n);
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], 8);
        pb_le(b, bits, 8);
    }
}

/* ---- the writer --------------------------------------------------------------------------- */

struct ar_tb_writer {
    FILE *file;
    char *path;
    enum ar_status first_error;
    char errmsg[600];
};

static enum ar_status tb_fail(struct ar_tb_writer *w, enum ar_status st, const char *what)
{
    snprintf(w->errmsg, sizeof w->errmsg, "%s: %s", w->path, what);
    if (w->first_error == AR_STATUS_OK) w->first_error = st;
    return st;
}

static double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Frames one serialized Event and appends it to the file. */
static enum ar_status write_record(struct ar_tb_writer *w, struct pb *event)
{
    if (event->oom) {
        free(event->data);
        return tb_fail(w, AR_STATUS_OUT_OF_MEMORY, "out of memory encoding an event");
    }
    unsigned char head[12], tail[4];
    uint64_t len = event->len;
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)(len >> (8 * i));
    uint32_t c = ar_crc32c_mask(ar_crc32c(0, head, 8));
    for (int i = 0; i < 4; i++)
        head[8 + i] = (unsigned char)(c >> (8 * i));
    c = ar_crc32c_mask(ar_crc32c(0, event->data, event->len));
    for (int i = 0; i < 4; i++)
        tail[i] = (unsigned char)(c >> (8 * i));
    bool ok = fwrite(head, 1, 12, w->file) == 12 &&
              fwrite(event->data, 1, event->len, w->file) == event->len &&
              fwrite(tail, 1, 4, w->file) == 4;
    free(event->data);
    *event = (struct pb){0};
    if (!ok) return tb_fail(w, AR_STATUS_IO, strerror(errno));
    return AR_STATUS_OK;
}

/* Event{wall_time, step, summary{value{tag, <value fields>}}}; `value` holds the value's fields
 * after the tag and is consumed. */
static enum ar_status write_summary(struct ar_tb_writer *w, const char *tag, int64_t step,
                                    struct pb *value_fields)
{
    if (!w || !tag) return AR_STATUS_INVALID_ARGUMENT;
    struct pb value = {0}, summary = {0}, event = {0};
    pb_len(&value, 1, tag, strlen(tag));
    pb_bytes(&value, value_fields->data, value_fields->len);
    value.oom = value.oom || value_fields->oom;
    free(value_fields->data);
    *value_fields = (struct pb){0};
    pb_message(&summary, 1, &value);
    pb_double(&event, 1, wall_time());
    pb_int(&event, 2, step);
    pb_message(&event, 5, &summary);
    return write_record(w, &event);
}

enum ar_status ar_tb_add_scalar(struct ar_tb_writer *w, const char *tag, int64_t step, float value)
{
    struct pb v = {0};
    pb_float(&v, 2, value);
    return write_summary(w, tag, step, &v);
}

enum ar_status ar_tb_add_histogram(struct ar_tb_writer *w, const char *tag, int64_t step,
                                   const float *values, size_t n, int buckets)
{
    if (buckets <= 0) buckets = 30;
    double lo = INFINITY, hi = -INFINITY, sum = 0, sum_sq = 0, num = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        double v = values[i];
        lo = fmin(lo, v), hi = fmax(hi, v);
        sum += v, sum_sq += v * v, num++;
    }
    if (num == 0) lo = hi = 0, buckets = 1;
    if (hi == lo) buckets = 1;
    double *limit = malloc(2 * (size_t)buckets * sizeof *limit);
    if (!limit) return tb_fail(w, AR_STATUS_OUT_OF_MEMORY, "out of memory");
    double *count = limit + buckets;
    /* Bucket i covers (limit[i-1], limit[i]]; the first starts at min. */
    for (int b = 0; b < buckets; b++) {
        limit[b] = b == buckets - 1 ? hi : lo + (hi - lo) * (b + 1) / buckets;
        count[b] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        int b = hi > lo ? (int)((values[i] - lo) / (hi - lo) * buckets) : 0;
        count[b >= buckets ? buckets - 1 : b < 0 ? 0 : b]++;
    }
    struct pb histo = {0}, v = {0};
    pb_double(&histo, 1, lo);
    pb_double(&histo, 2, hi);
    pb_double(&histo, 3, num);
    pb_double(&histo, 4, sum);
    pb_double(&histo, 5, sum_sq);
    pb_packed_doubles(&histo, 6, limit, (size_t)buckets);
    pb_packed_doubles(&histo, 7, count, (size_t)buckets);
    free(limit);
    pb_message(&v, 5, &histo);
    return write_summary(w, tag, step, &v);
}

enum ar_status ar_tb_add_image(struct ar_tb_writer *w, const char *tag, int64_t step,
                               const void *png, size_t png_size, int width, int height,
                               int channels)
{
    if (!png || width <= 0 || height <= 0 || (channels != 3 && channels != 4))
        return tb_fail(w, AR_STATUS_INVALID_ARGUMENT, "image: bad size or channel count");
    struct pb image = {0}, v = {0};
    pb_int(&image, 1, height);
    pb_int(&image, 2, width);
    pb_int(&image, 3, channels);
    pb_len(&image, 4, png, png_size);
    pb_message(&v, 4, &image);
    return write_summary(w, tag, step, &v);
}

static FILE *create_exclusive(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    return fd < 0 ? NULL : fdopen(fd, "wb");
}

enum ar_status ar_tb_writer_open(const char *dir, struct ar_tb_writer **out, char *err,
                                 size_t err_size)
{
    *out = NULL;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    size_t n = strlen(dir) + strlen(host) + 96;
    struct ar_tb_writer *w = calloc(1, sizeof *w);
    char *path = malloc(n);
    if (!w || !path) {
        free(w), free(path);
        snprintf(err, err_size, "%s: out of memory", dir);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    long long now = (long long)time(NULL);
    snprintf(path, n, "%s/events.out.tfevents.%010lld.%s", dir, now, host);
    FILE *f = create_exclusive(path);
    if (!f && errno == EEXIST) { /* a second writer in the same second */
        snprintf(path, n, "%s/events.out.tfevents.%010lld.%s.%ld", dir, now, host, (long)getpid());
        f = create_exclusive(path);
    }
    if (!f) {
        snprintf(err, err_size, "%s: cannot create: %s", path, strerror(errno));
        free(w), free(path);
        return AR_STATUS_IO;
    }
    w->file = f, w->path = path;
    struct pb event = {0};
    pb_double(&event, 1, wall_time());
    pb_int(&event, 2, 0);
    pb_len(&event, 3, "brain.Event:2", 13);
    enum ar_status st = write_record(w, &event);
    if (st == AR_STATUS_OK) st = ar_tb_flush(w);
    if (st != AR_STATUS_OK) {
        snprintf(err, err_size, "%s", w->errmsg);
        ar_tb_writer_close(w);
        return st;
    }
    *out = w;
    return AR_STATUS_OK;
}

const char *ar_tb_writer_path(const struct ar_tb_writer *w)
{
    return w ? w->path : "";
}

const char *ar_tb_writer_errmsg(const struct ar_tb_writer *w)
{
    return w ? w->errmsg : "no writer";
}

enum ar_status ar_tb_flush(struct ar_tb_writer *w)
{
    if (fflush(w->file) != 0) return tb_fail(w, AR_STATUS_IO, strerror(errno));
    return AR_STATUS_OK;
}

enum ar_status ar_tb_writer_close(struct ar_tb_writer *w)
{
    if (!w) return AR_STATUS_OK;
    if (fclose(w->file) != 0) tb_fail(w, AR_STATUS_IO, strerror(errno));
    enum ar_status st = w->first_error;
    free(w->path);
    free(w);
    return st;
}
