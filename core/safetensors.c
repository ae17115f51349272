/* Reading safetensors checkpoints: one file, or the shards of a model.safetensors.index.json,
 * mapped read-only and validated as a whole before any tensor is handed out (safetensors.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adarank/safetensors.h"
#include "internal.h"
#include "json.h"

/* The reference implementation refuses headers above 100 MB (safetensors' MAX_HEADER_SIZE). */
#define HEADER_CAP 100000000ULL

struct st_file {
    char *path;
    unsigned char *map;
    size_t size;
    struct ar__json_doc *doc; /* the header: owns the tensor names */
};

struct ar_safetensors {
    struct st_file *files;
    size_t nfiles;
    struct ar_st_tensor *tensors; /* sorted by name once every file is read */
    size_t count, cap;
    struct ar__json_doc *index; /* the sharded index, when there is one */
};

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool parse_dtype(const char *name, enum ar_dtype *out)
{
    for (int d = 0; d < AR_DTYPE_COUNT; d++)
        if (strcmp(name, ar_dtype_name((enum ar_dtype)d)) == 0) {
            *out = (enum ar_dtype)d;
            return true;
        }
    return false;
}

static enum ar_status map_file(struct st_file *f, char *err, size_t err_size)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ar__fail_buf(err, err_size, AR_STATUS_IO, "%s: cannot open: %s", f->path,
                            strerror(errno));
    struct stat sb;
    enum ar_status st = AR_STATUS_OK;
    if (fstat(fd, &sb) != 0)
        st = ar__fail_buf(err, err_size, AR_STATUS_IO, "%s: %s", f->path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = ar__fail_buf(err, err_size, AR_STATUS_IO, "%s: not a regular file", f->path);
    else if (sb.st_size < 8)
        st = ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                          "%s: %lld bytes is too short for the 8-byte header length", f->path,
                          (long long)sb.st_size);
    if (st == AR_STATUS_OK) {
        f->size = (size_t)sb.st_size;
        void *map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
            st = ar__fail_buf(err, err_size, AR_STATUS_IO, "%s: cannot map: %s", f->path,
                              strerror(errno));
        else
            f->map = map;
    }
    close(fd);
    return st;
}

/* Fills t from one header entry {"dtype", "shape", "data_offsets"}; offsets are checked against
 * the data block here and for contiguity once the whole file is read. */
static enum ar_status parse_tensor(const struct st_file *f, const char *name,
                                   const struct ar__json_node *info, size_t data_size,
                                   struct ar_st_tensor *t, char *err, size_t err_size)
{
#define BAD(...) ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT, __VA_ARGS__)
    const char *dtype;
    if (!info || info->type != AR__JSON_OBJECT)
        return BAD("%s: tensor '%s': entry is not an object", f->path, name);
    if (!ar__json_as_string(ar__json_get(info, "dtype"), &dtype))
        return BAD("%s: tensor '%s': missing or non-string \"dtype\"", f->path, name);
    if (!parse_dtype(dtype, &t->dtype))
        return BAD("%s: tensor '%s': unknown dtype \"%s\"", f->path, name, dtype);
    const struct ar__json_node *shape = ar__json_get(info, "shape");
    if (!shape || shape->type != AR__JSON_ARRAY)
        return BAD("%s: tensor '%s': missing or non-array \"shape\"", f->path, name);
    if (shape->count > AR_ST_MAX_DIMS)
        return BAD("%s: tensor '%s': %zu dimensions, at most %d supported", f->path, name,
                   shape->count, AR_ST_MAX_DIMS);
    t->ndim = (int)shape->count;
    t->count = 1;
    bool overflow = false;
    for (int d = 0; d < t->ndim; d++) {
        if (!ar__json_as_int(shape->items[d], &t->shape[d]) || t->shape[d] < 0)
            return BAD("%s: tensor '%s': shape[%d] is not a non-negative integer", f->path, name,
                       d);
        if (t->shape[d] && t->count > SIZE_MAX / (uint64_t)t->shape[d])
            overflow = true;
        else
            t->count *= (size_t)t->shape[d];
    }
    size_t esize = ar_dtype_size(t->dtype);
    if (overflow || t->count > SIZE_MAX / esize)
        return BAD("%s: tensor '%s': shape is too large", f->path, name);
    t->nbytes = t->count * esize;
    const struct ar__json_node *offs = ar__json_get(info, "data_offsets");
    int64_t begin, end;
    if (!offs || offs->type != AR__JSON_ARRAY || offs->count != 2 ||
        !ar__json_as_int(offs->items[0], &begin) || !ar__json_as_int(offs->items[1], &end) ||
        begin < 0 || end < begin)
        return BAD("%s: tensor '%s': \"data_offsets\" must be [begin, end] with 0 <= begin <= end",
                   f->path, name);
    if ((uint64_t)end > data_size)
        return BAD("%s: tensor '%s': data_offsets [%lld, %lld] run past the %zu-byte data block",
                   f->path, name, (long long)begin, (long long)end, data_size);
    if ((uint64_t)(end - begin) != t->nbytes)
        return BAD("%s: tensor '%s': %lld bytes in data_offsets, but shape × %s size is %zu",
                   f->path, name, (long long)(end - begin), dtype, t->nbytes);
    t->data = f->map + (f->size - data_size) + begin;
    t->name = name;
    t->file = f->path;
    return AR_STATUS_OK;
#undef BAD
}

static int by_data(const void *a, const void *b)
{
    const struct ar_st_tensor *x = a, *y = b;
    if (x->data != y->data) return (const char *)x->data < (const char *)y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes; /* empty tensors first */
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct ar_st_tensor *)a)->name, ((const struct ar_st_tensor *)b)->name);
}

/* The reference implementation's rule: sorted by offset, each tensor starts where the previous
 * one ended, the first at 0 and the last at the end of the file; no gaps, no overlaps. */
static enum ar_status check_layout(const struct st_file *f, struct ar_st_tensor *t, size_t n,
                                   size_t data_size, char *err, size_t err_size)
{
    qsort(t, n, sizeof *t, by_data);
    const unsigned char *expect = f->map + (f->size - data_size);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *at = t[i].data;
        if (at != expect)
            return ar__fail_buf(
                err, err_size, AR_STATUS_BAD_FORMAT,
                "%s: tensor '%s': data starts at byte %td of the data block, expected "
                "%td (%s)",
                f->path, t[i].name, at - (f->map + f->size - data_size),
                expect - (f->map + f->size - data_size),
                at > expect ? "gap before it" : "overlaps the previous tensor");
        expect = at + t[i].nbytes;
    }
    if (expect != f->map + f->size)
        return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                            "%s: %td bytes at the end of the file belong to no tensor", f->path,
                            f->map + f->size - expect);
    return AR_STATUS_OK;
}

static enum ar_status reserve(struct ar_safetensors *st, size_t more)
{
    if (st->tensors && st->count + more <= st->cap) return AR_STATUS_OK;
    size_t cap = st->cap ? st->cap : 64;
    while (cap < st->count + more)
        cap *= 2;
    struct ar_st_tensor *grown = realloc(st->tensors, cap * sizeof *grown);
    if (!grown) return AR_STATUS_OUT_OF_MEMORY;
    st->tensors = grown, st->cap = cap;
    return AR_STATUS_OK;
}

/* Maps files[i] and appends its tensors after validating the whole file. */
static enum ar_status read_file(struct ar_safetensors *st, struct st_file *f, char *err,
                                size_t err_size)
{
    enum ar_status s = map_file(f, err, err_size);
    if (s != AR_STATUS_OK) return s;
    uint64_t n = le64(f->map);
    if (n > HEADER_CAP)
        return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                            "%s: header length %llu exceeds the 100 MB cap", f->path,
                            (unsigned long long)n);
    if (n > f->size - 8)
        return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                            "%s: header length %llu exceeds the file size %zu", f->path,
                            (unsigned long long)n, f->size);
    char detail[256];
    f->doc = ar__json_parse((const char *)f->map + 8, (size_t)n, detail, sizeof detail);
    if (!f->doc)
        return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT, "%s: header JSON: %s", f->path,
                            detail);
    const struct ar__json_node *root = ar__json_root(f->doc);
    const char *dup;
    if (root->type != AR__JSON_OBJECT)
        return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT, "%s: header is not a JSON object",
                            f->path);
    if (ar__json_has_duplicate_keys(root, &dup))
        return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT, "%s: tensor '%s': duplicate name",
                            f->path, dup);
    if (reserve(st, root->count) != AR_STATUS_OK)
        return ar__fail_buf(err, err_size, AR_STATUS_OUT_OF_MEMORY, "%s: out of memory", f->path);
    size_t data_size = f->size - 8 - (size_t)n, first = st->count;
    for (size_t i = 0; i < root->count; i++) {
        const char *name = root->keys[i];
        const struct ar__json_node *v = root->items[i];
        if (strlen(name) != root->key_lens[i])
            return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                                "%s: tensor '%s': name contains a NUL character", f->path, name);
        if (strcmp(name, "__metadata__") == 0) {
            bool strings = v->type == AR__JSON_OBJECT;
            for (size_t k = 0; strings && k < v->count; k++)
                strings = v->items[k]->type == AR__JSON_STRING;
            if (!strings)
                return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                                    "%s: \"__metadata__\" must map strings to strings", f->path);
            continue;
        }
        s = parse_tensor(f, name, v, data_size, &st->tensors[st->count], err, err_size);
        if (s != AR_STATUS_OK) return s;
        st->count++;
    }
    return check_layout(f, st->tensors + first, st->count - first, data_size, err, err_size);
}

static enum ar_status add_file(struct ar_safetensors *st, const char *path, char *err,
                               size_t err_size)
{
    struct st_file *grown = realloc(st->files, (st->nfiles + 1) * sizeof *grown);
    if (!grown)
        return ar__fail_buf(err, err_size, AR_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    st->files = grown;
    struct st_file *f = &st->files[st->nfiles];
    *f = (struct st_file){.path = strdup(path)};
    if (!f->path)
        return ar__fail_buf(err, err_size, AR_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    st->nfiles++;
    return read_file(st, f, err, err_size);
}

/* Sorts the collection for lookup; a name in two shards is an error. */
static enum ar_status sort_by_name(struct ar_safetensors *st, char *err, size_t err_size)
{
    if (st->count) /* qsort and bsearch want a non-NULL base even for 0 elements */
        qsort(st->tensors, st->count, sizeof *st->tensors, by_name);
    for (size_t i = 1; i < st->count; i++)
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0)
            return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                                "%s and %s: tensor '%s': in both", st->tensors[i - 1].file,
                                st->tensors[i].file, st->tensors[i].name);
    return AR_STATUS_OK;
}

/* Opens every shard named in an index's weight_map and checks that the map and the shards
 * agree: each mapped tensor is in the shard it names, and no shard holds an unmapped tensor. */
static enum ar_status read_index(struct ar_safetensors *st, const char *path, char *err,
                                 size_t err_size)
{
    char detail[1024];
    st->index = ar__json_parse_file(path, detail, sizeof detail);
    if (!st->index) return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT, "%s", detail);
    const struct ar__json_node *map = ar__json_get(ar__json_root(st->index), "weight_map");
    const char *dup, *slash = strrchr(path, '/');
    if (!map || map->type != AR__JSON_OBJECT)
        return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                            "%s: missing \"weight_map\" object", path);
    if (ar__json_has_duplicate_keys(map, &dup))
        return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT, "%s: tensor '%s': mapped twice",
                            path, dup);
    int dir_len = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    for (size_t i = 0; i < map->count; i++) {
        const char *shard;
        if (!ar__json_as_string(map->items[i], &shard) || !*shard || strchr(shard, '/') ||
            !strcmp(shard, ".") || !strcmp(shard, ".."))
            return ar__fail_buf(
                err, err_size, AR_STATUS_BAD_FORMAT,
                "%s: tensor '%s': shard must be a file name in the index's directory", path,
                map->keys[i]);
        char shard_path[4096];
        snprintf(shard_path, sizeof shard_path, "%.*s/%s", dir_len, dir, shard);
        bool seen = false;
        for (size_t k = 0; k < st->nfiles && !seen; k++)
            seen = strcmp(st->files[k].path, shard_path) == 0;
        if (!seen) {
            enum ar_status s = add_file(st, shard_path, err, err_size);
            if (s != AR_STATUS_OK) return s;
        }
    }
    enum ar_status s = sort_by_name(st, err, err_size);
    if (s != AR_STATUS_OK) return s;
    for (size_t i = 0; i < map->count; i++) {
        const struct ar_st_tensor *t = ar_safetensors_find(st, map->keys[i]);
        const char *shard = map->items[i]->str, *base = t ? strrchr(t->file, '/') + 1 : NULL;
        if (!t || strcmp(base, shard) != 0)
            return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                                "%s: tensor '%s': not in %s, the shard the weight_map names", path,
                                map->keys[i], shard);
    }
    for (size_t i = 0; i < st->count; i++)
        if (!ar__json_get(map, st->tensors[i].name))
            return ar__fail_buf(err, err_size, AR_STATUS_BAD_FORMAT,
                                "%s: tensor '%s': in the shard but not in the weight_map of %s",
                                st->tensors[i].file, st->tensors[i].name, path);
    return AR_STATUS_OK;
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

enum ar_status ar_safetensors_open(const char *path, struct ar_safetensors **out, char *err,
                                   size_t err_size)
{
    *out = NULL;
    if (!path)
        return ar__fail_buf(err, err_size, AR_STATUS_INVALID_ARGUMENT,
                            "safetensors: no path given");
    struct ar_safetensors *st = calloc(1, sizeof *st);
    if (!st) return ar__fail_buf(err, err_size, AR_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    struct stat sb;
    char file[4096];
    snprintf(file, sizeof file, "%s", path);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(file, sizeof file, "%s/model.safetensors", path);
        if (!is_file(file)) snprintf(file, sizeof file, "%s/model.safetensors.index.json", path);
        if (!is_file(file)) {
            free(st);
            return ar__fail_buf(err, err_size, AR_STATUS_NOT_FOUND,
                                "%s: no model.safetensors or model.safetensors.index.json", path);
        }
    }
    enum ar_status s;
    if (ends_with(file, ".index.json"))
        s = read_index(st, file, err, err_size);
    else if ((s = add_file(st, file, err, err_size)) == AR_STATUS_OK)
        s = sort_by_name(st, err, err_size);
    if (s != AR_STATUS_OK) {
        ar_safetensors_free(st);
        return s;
    }
    *out = st;
    return AR_STATUS_OK;
}

void ar_safetensors_free(struct ar_safetensors *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->nfiles; i++) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
        ar__json_free(st->files[i].doc);
        free(st->files[i].path);
    }
    ar__json_free(st->index);
    free(st->files);
    free(st->tensors);
    free(st);
}

size_t ar_safetensors_count(const struct ar_safetensors *st)
{
    return st ? st->count : 0;
}

const struct ar_st_tensor *ar_safetensors_at(const struct ar_safetensors *st, size_t i)
{
    return st && i < st->count ? &st->tensors[i] : NULL;
}

const struct ar_st_tensor *ar_safetensors_find(const struct ar_safetensors *st, const char *name)
{
    if (!st || !name || !st->count) return NULL;
    struct ar_st_tensor key = {.name = name};
    return bsearch(&key, st->tensors, st->count, sizeof key, by_name);
}

const char *ar_safetensors_metadata(const struct ar_safetensors *st, const char *key)
{
    if (!st || st->nfiles == 0) return NULL;
    const char *value = NULL;
    ar__json_as_string(
        ar__json_get(ar__json_get(ar__json_root(st->files[0].doc), "__metadata__"), key), &value);
    return value;
}
