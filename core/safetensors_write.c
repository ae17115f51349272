/* Writing float32 safetensors files atomically (safetensors.h): the whole file goes to a
 * temporary file in the target's directory, is synced, then renamed over the target
 * (atomic_file.h), so a crash or a full disk never leaves a half-written checkpoint in place of
 * a good one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adarank/safetensors.h"
#include "atomic_file.h"
#include "internal.h"
#include "json.h"

static int by_name(const void *a, const void *b)
{
    const struct ar_st_write_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static size_t element_count(const struct ar_st_write_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* The header: {"__metadata__":{...},"name":{"dtype":"F32","shape":[...],"data_offsets":[b,e]}}
 * padded with spaces to a multiple of 8 bytes, as the reference implementation pads it. */
static void build_header(struct ar__json_buf *b, const struct ar_st_write_tensor *const *order,
                         size_t count, const char *const *metadata, size_t metadata_count)
{
    ar__json_put(b, "{\"__metadata__\":{\"format\":\"pt\"");
    for (size_t i = 0; i < metadata_count; i++) {
        if (strcmp(metadata[2 * i], "format") == 0) continue;
        ar__json_write_key(b, metadata[2 * i]);
        ar__json_write_string(b, metadata[2 * i + 1]);
    }
    ar__json_put(b, "}");
    size_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        const struct ar_st_write_tensor *t = order[i];
        size_t bytes = element_count(t) * sizeof(float);
        ar__json_write_key(b, t->name);
        ar__json_put(b, "{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            ar__json_comma(b);
            ar__json_write_int(b, t->shape[d]);
        }
        ar__json_put(b, "],\"data_offsets\":[");
        ar__json_write_int(b, (int64_t)offset);
        ar__json_put(b, ",");
        ar__json_write_int(b, (int64_t)(offset + bytes));
        ar__json_put(b, "]}");
        offset += bytes;
    }
    ar__json_put(b, "}");
    while (b->len % 8)
        ar__json_put(b, " ");
}

static bool write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return false;
        }
        p += w, n -= (size_t)w;
    }
    return true;
}

/* Little-endian float32s, staged through a buffer so big-endian hosts write the same bytes. */
static bool write_floats(int fd, const float *x, size_t n)
{
    unsigned char buf[1 << 16];
    while (n) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t bits;
            memcpy(&bits, &x[i], 4);
            for (int j = 0; j < 4; j++)
                buf[4 * i + j] = (unsigned char)(bits >> (8 * j));
        }
        if (!write_all(fd, buf, 4 * k)) return false;
        x += k, n -= k;
    }
    return true;
}

static enum ar_status check_args(const char *path, const struct ar_st_write_tensor *tensors,
                                 size_t count, const char *const *metadata, size_t metadata_count,
                                 char *err, size_t err_size)
{
    if (!path || (!tensors && count) || (!metadata && metadata_count))
        return ar__fail_buf(err, err_size, AR_STATUS_INVALID_ARGUMENT,
                            "safetensors write: NULL argument");
    for (size_t i = 0; i < metadata_count; i++)
        if (!metadata[2 * i] || !metadata[2 * i + 1])
            return ar__fail_buf(err, err_size, AR_STATUS_INVALID_ARGUMENT,
                                "%s: metadata pair %zu has a NULL string", path, i);
    for (size_t i = 0; i < count; i++) {
        const struct ar_st_write_tensor *t = &tensors[i];
        if (!t->name || !*t->name || strcmp(t->name, "__metadata__") == 0)
            return ar__fail_buf(err, err_size, AR_STATUS_INVALID_ARGUMENT,
                                "%s: tensor %zu: empty or reserved name", path, i);
        if (t->ndim < 0 || t->ndim > AR_ST_MAX_DIMS)
            return ar__fail_buf(err, err_size, AR_STATUS_INVALID_ARGUMENT,
                                "%s: tensor '%s': %d dimensions", path, t->name, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0)
                return ar__fail_buf(err, err_size, AR_STATUS_INVALID_ARGUMENT,
                                    "%s: tensor '%s': negative shape[%d]", path, t->name, d);
        if (!t->data && element_count(t))
            return ar__fail_buf(err, err_size, AR_STATUS_INVALID_ARGUMENT,
                                "%s: tensor '%s': no data", path, t->name);
    }
    return AR_STATUS_OK;
}

/* Writes the whole file to fd (the commit syncs it); errno tells why on failure. */
static bool write_file(int fd, const struct ar__json_buf *header,
                       const struct ar_st_write_tensor *const *order, size_t count)
{
    unsigned char len[8];
    for (int j = 0; j < 8; j++)
        len[j] = (unsigned char)((uint64_t)header->len >> (8 * j));
    if (!write_all(fd, len, 8) || !write_all(fd, header->data, header->len)) return false;
    for (size_t i = 0; i < count; i++)
        if (!write_floats(fd, order[i]->data, element_count(order[i]))) return false;
    return true;
}

enum ar_status ar_safetensors_write(const char *path, const struct ar_st_write_tensor *tensors,
                                    size_t count, const char *const *metadata,
                                    size_t metadata_count, char *err, size_t err_size)
{
    enum ar_status st = check_args(path, tensors, count, metadata, metadata_count, err, err_size);
    if (st != AR_STATUS_OK) return st;
    const struct ar_st_write_tensor **order = malloc((count ? count : 1) * sizeof *order);
    if (!order)
        return ar__fail_buf(err, err_size, AR_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    for (size_t i = 0; i < count; i++)
        order[i] = &tensors[i];
    qsort(order, count, sizeof *order, by_name);
    for (size_t i = 1; i < count; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            st = ar__fail_buf(err, err_size, AR_STATUS_INVALID_ARGUMENT,
                              "%s: tensor '%s': name given twice", path, order[i]->name);
            free(order);
            return st;
        }
    struct ar__json_buf header = {0};
    build_header(&header, order, count, metadata, metadata_count);
    /* Parse our own header back: this rejects names or metadata that are not valid UTF-8 (the
     * reader would refuse the file) before anything touches the disk. */
    char detail[256];
    struct ar__json_doc *check =
        header.oom ? NULL : ar__json_parse(header.data, header.len, detail, sizeof detail);
    if (!check) {
        st = header.oom
                 ? ar__fail_buf(err, err_size, AR_STATUS_OUT_OF_MEMORY, "%s: out of memory", path)
                 : ar__fail_buf(err, err_size, AR_STATUS_INVALID_ARGUMENT,
                                "%s: a tensor name or metadata string is not valid UTF-8 (%s)",
                                path, detail);
        ar__json_buf_free(&header);
        free(order);
        return st;
    }
    ar__json_free(check);

    /* durably (atomic_file.h); written through the descriptor, so nothing waits in af.f's
     * buffer */
    struct ar__atomic_file af;
    char why[4400];
    st = ar__atomic_open(&af, path, err, err_size);
    if (st == AR_STATUS_OK) {
        if (!write_file(fileno(af.f), &header, order, count))
            af.error = errno ? errno : EIO; /* commit removes the temporary file, reports it */
        st = ar__atomic_commit(&af, why, sizeof why);
        if (st != AR_STATUS_OK)
            ar__fail_buf(err, err_size, st, "%s (any existing file is left as it was)", why);
    }
    ar__json_buf_free(&header);
    free(order);
    return st;
}
