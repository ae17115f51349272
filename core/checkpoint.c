/* Checkpoints: writing and reading one file (the format is in checkpoint.h). Listing, falling back
 * to an older file and trimming metrics.jsonl are in checkpoint_files.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adarank/tensorboard.h"
#include "atomic_file.h"
#include "checkpoint_internal.h"
#include "method_internal.h"

#define BYTE_ORDER_MARK 0x01020304u
#define HEAD_BYTES 24 /* magic, version, file size, step, byte order */

/* ---- the non-arena part: header, progress, layout, method ----------------------------------- */

static bool put(struct ar__bytes *b, const void *p, size_t n)
{
    return ar__bytes_put(b, p, n);
}

static bool put_eval(struct ar__bytes *b, const struct ar_eval_result *r)
{
    int32_t count = r->count;
    double v[4] = {r->loss, r->accuracy, r->macro_f1, r->mcc};
    return put(b, &count, sizeof count) && put(b, v, sizeof v);
}

static bool get_eval(struct ar__bytes_reader *r, struct ar_eval_result *e)
{
    int32_t count;
    double v[4];
    if (!ar__bytes_get(r, &count, sizeof count) || !ar__bytes_get(r, v, sizeof v))
        return false;
    *e = (struct ar_eval_result){count, v[0], v[1], v[2], v[3]};
    return true;
}

static bool put_progress(struct ar__bytes *b, const struct ar_train_progress *p)
{
    int32_t ints[10] = {p->step,           p->total_steps,  p->epoch,     p->batch_in_epoch,
                        p->micro_step,     p->loss_count,   p->best_step, p->evals_without_gain,
                        p->last_eval_step, p->early_stopped};
    double d[4] = {p->lr, p->loss_sum, p->grad_norm, p->elapsed_s};
    return put(b, ints, sizeof ints) && put(b, d, sizeof d) && put(b, &p->tokens, 8) &&
           put_eval(b, &p->last) && put_eval(b, &p->best);
}

static bool get_progress(struct ar__bytes_reader *r, struct ar_train_progress *p)
{
    int32_t i[10];
    double d[4];
    if (!ar__bytes_get(r, i, sizeof i) || !ar__bytes_get(r, d, sizeof d) ||
        !ar__bytes_get(r, &p->tokens, 8) || !get_eval(r, &p->last) || !get_eval(r, &p->best))
        return false;
    p->step = i[0], p->total_steps = i[1], p->epoch = i[2], p->batch_in_epoch = i[3];
    p->micro_step = i[4], p->loss_count = i[5], p->best_step = i[6];
    p->evals_without_gain = i[7], p->last_eval_step = i[8], p->early_stopped = i[9] != 0;
    p->lr = d[0], p->loss_sum = d[1], p->grad_norm = d[2], p->elapsed_s = d[3];
    return true;
}

static bool put_section(struct ar__bytes *b, const struct ar__bytes *s)
{
    uint64_t n = s->size;
    return put(b, &n, sizeof n) && put(b, s->data, s->size);
}

static bool put_layout(struct ar__bytes *b, const struct ar_arena *arena)
{
    uint64_t total = arena->total;
    uint32_t n = (uint32_t)ar_arena_layout_count(arena->layout);
    bool ok = put(b, &total, sizeof total) && put(b, &n, sizeof n);
    for (uint32_t i = 0; ok && i < n; i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(arena->layout, i);
        uint32_t len = (uint32_t)strlen(s->name);
        uint64_t at[2] = {s->offset, s->count};
        ok = put(b, &len, sizeof len) && put(b, s->name, len) && put(b, at, sizeof at);
    }
    return ok;
}

/* Everything before the float regions. */
static enum ar_status build_head(struct ar_trainer *t, struct ar_method *method,
                                 struct ar__bytes *b, uint64_t *file_size)
{
    struct ar_ctx *ctx = ar_trainer_ctx(t);
    struct ar_arena *arena = ar_model_arena(ar_trainer_model(t));
    struct ar_train_progress p;
    ar_trainer_get_progress(t, &p);
    struct ar__bytes prog = {0}, meth = {0};
    enum ar_status st = method ? ar__method_save_state(method, &meth) : AR_STATUS_OK;
    uint32_t has_best = ar_mem_present(ar_trainer_best_params(t));
    uint32_t head[2] = {(uint32_t)p.step, BYTE_ORDER_MARK}, version = AR_CHECKPOINT_VERSION;
    uint64_t size = 0;
    bool ok = st == AR_STATUS_OK && put_progress(&prog, &p) && put(b, AR_CHECKPOINT_MAGIC, 4) &&
              put(b, &version, 4) && put(b, &size, 8) && put(b, head, sizeof head) &&
              put_section(b, &prog) && put_layout(b, arena) && put_section(b, &meth) &&
              put(b, &has_best, 4);
    free(prog.data), free(meth.data);
    if (st != AR_STATUS_OK)
        return st;
    if (!ok)
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "checkpoint: out of memory");
    *file_size = b->size + (3 + has_best) * arena->total * sizeof(float) + 4;
    memcpy(b->data + 8, file_size, 8);
    return AR_STATUS_OK;
}

/* ---- saving ---------------------------------------------------------------------------------- */

static bool write_all(int fd, const void *p, size_t n, uint32_t *crc)
{
    *crc = ar_crc32c(*crc, p, n);
    for (const char *c = p; n > 0;) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w, n -= (size_t)w;
    }
    return true;
}

/* The float regions, one at a time through a host buffer. */
static enum ar_status write_regions(struct ar_trainer *t, int fd, uint32_t *crc, const char *tmp)
{
    struct ar_ctx *ctx = ar_trainer_ctx(t);
    struct ar_arena *arena = ar_model_arena(ar_trainer_model(t));
    struct ar_mem regions[4] = {arena->param, arena->m, arena->v, ar_trainer_best_params(t)};
    float *host = malloc((arena->total ? arena->total : 1) * sizeof *host);
    if (!host)
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "checkpoint: out of memory");
    enum ar_status st = AR_STATUS_OK;
    for (int r = 0; st == AR_STATUS_OK && r < 4 && ar_mem_present(regions[r]); r++) {
        st = ar_mem_read(ctx, regions[r], host, arena->total);
        if (st == AR_STATUS_OK && !write_all(fd, host, arena->total * sizeof *host, crc))
            st = ar__fail(ctx, AR_STATUS_IO, "checkpoint: %s: cannot write: %s", tmp,
                          strerror(errno));
    }
    free(host);
    return st;
}

enum ar_status ar_checkpoint_save(struct ar_trainer *t, struct ar_method *method, const char *dir,
                                  char *path, size_t path_size)
{
    struct ar_ctx *ctx = ar_trainer_ctx(t);
    struct ar__bytes head = {0};
    uint64_t file_size = 0;
    enum ar_status st = build_head(t, method, &head, &file_size);
    if (st != AR_STATUS_OK) {
        free(head.data);
        return st;
    }
    struct ar_train_progress progress;
    ar_trainer_get_progress(t, &progress);
    int step = progress.step;
    char final[4096];
    snprintf(final, sizeof final, "%s/checkpoint-%d.arck", dir, step);
    /* durably (atomic_file.h): a kill or a full disk leaves the older checkpoints as they were */
    struct ar__atomic_file af;
    char why[4400];
    if (ar__atomic_open(&af, final, why, sizeof why) != AR_STATUS_OK) {
        free(head.data);
        return ar__fail(ctx, AR_STATUS_IO, "checkpoint: %s", why);
    }
    /* written through the descriptor, so nothing waits in af.f's buffer */
    int fd = fileno(af.f);
    uint32_t crc = 0;
    if (!write_all(fd, head.data, head.size, &crc))
        st = ar__fail(ctx, AR_STATUS_IO, "checkpoint: %s: cannot write: %s", af.tmp,
                      strerror(errno));
    free(head.data);
    if (st == AR_STATUS_OK)
        st = write_regions(t, fd, &crc, af.tmp);
    uint32_t unused = 0;
    if (st == AR_STATUS_OK && !write_all(fd, &crc, 4, &unused))
        st = ar__fail(ctx, AR_STATUS_IO, "checkpoint: %s: cannot write: %s", af.tmp,
                      strerror(errno));
    if (st != AR_STATUS_OK) {
        ar__atomic_abort(&af);
        return st;
    }
    if (ar__atomic_commit(&af, why, sizeof why) != AR_STATUS_OK)
        return ar__fail(ctx, AR_STATUS_IO, "checkpoint: %s", why);
    ar__checkpoint_prune(dir, AR_CHECKPOINT_KEEP); /* only now, with the new file durable */
    if (path)
        snprintf(path, path_size, "%s", final);
    return AR_STATUS_OK;
}

/* ---- loading --------------------------------------------------------------------------------- */

static enum ar_status bad(struct ar_ctx *ctx, const char *path, const char *what)
{
    return ar__fail(ctx, AR_STATUS_BAD_FORMAT, "%s: %s", path, what);
}

/* Prefixes the context's message with the file (copied: it is the buffer being written). */
static enum ar_status prefix(struct ar_ctx *ctx, enum ar_status st, const char *path)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ar_ctx_errmsg(ctx));
    return ar__fail(ctx, st, "%s: %s", path, msg);
}

unsigned char *ar__checkpoint_read(const char *path, size_t *size, char *err, size_t err_size,
                                   enum ar_status *st)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    unsigned char *data = NULL;
    *st = AR_STATUS_OK;
    if (!f || fstat(fileno(f), &sb) != 0) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        *st = AR_STATUS_IO;
    } else if (!(data = malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1))) {
        snprintf(err, err_size, "%s: out of memory", path);
        *st = AR_STATUS_OUT_OF_MEMORY;
    } else if (fread(data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        snprintf(err, err_size, "%s: cannot read", path);
        *st = AR_STATUS_IO;
        free(data);
        data = NULL;
    } else {
        *size = (size_t)sb.st_size;
    }
    if (f)
        fclose(f);
    return data;
}

bool ar__checkpoint_check_whole(const unsigned char *d, size_t size, char *why, size_t why_size)
{
    if (size < HEAD_BYTES + 4) {
        snprintf(why, why_size, "truncated (%zu bytes; not even a header)", size);
        return false;
    }
    if (memcmp(d, AR_CHECKPOINT_MAGIC, 4)) {
        snprintf(why, why_size, "not a checkpoint (bad magic; expected \"ARCK\")");
        return false;
    }
    uint32_t version, mark;
    uint64_t want;
    memcpy(&version, d + 4, 4), memcpy(&want, d + 8, 8), memcpy(&mark, d + 20, 4);
    if (version != AR_CHECKPOINT_VERSION) {
        snprintf(why, why_size, "version %u, this build reads version %d", version,
                 AR_CHECKPOINT_VERSION);
        return false;
    }
    if (mark != BYTE_ORDER_MARK) {
        snprintf(why, why_size, "written on a machine of another byte order");
        return false;
    }
    if (want != size) {
        snprintf(why, why_size, "truncated or padded: %zu bytes, the header says %llu", size,
                 (unsigned long long)want);
        return false;
    }
    uint32_t stored, crc = ar_crc32c(0, d, size - 4);
    memcpy(&stored, d + size - 4, 4);
    if (stored != crc) {
        snprintf(why, why_size, "checksum mismatch (stored %08x, computed %08x): corrupt", stored,
                 crc);
        return false;
    }
    return true;
}

/* The saved arena layout must be the model's, slice by slice. */
static enum ar_status check_layout(struct ar_ctx *ctx, const char *path,
                                   struct ar__bytes_reader *r, const struct ar_arena *arena)
{
    uint64_t total;
    uint32_t n;
    char why[512];
    if (!ar__bytes_get(r, &total, 8) || !ar__bytes_get(r, &n, 4))
        return bad(ctx, path, "truncated layout");
    size_t want_n = ar_arena_layout_count(arena->layout);
    if (total != arena->total || n != want_n) {
        snprintf(why, sizeof why,
                 "the arena layout differs from the model's: %u slices, %llu floats saved; the "
                 "model has %zu slices, %zu floats (another model, method, rank or targets?)",
                 n, (unsigned long long)total, want_n, arena->total);
        return bad(ctx, path, why);
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(arena->layout, i);
        uint32_t len;
        uint64_t at[2];
        char name[256];
        if (!ar__bytes_get(r, &len, 4) || len >= sizeof name || !ar__bytes_get(r, name, len) ||
            !ar__bytes_get(r, at, sizeof at))
            return bad(ctx, path, "truncated layout");
        name[len] = '\0';
        if (strcmp(name, s->name) || at[0] != s->offset || at[1] != s->count) {
            snprintf(why, sizeof why,
                     "the arena layout differs from the model's at slice %u: saved %.100s "
                     "(%llu floats), the model has %.100s (%zu floats)",
                     i, name, (unsigned long long)at[1], s->name, s->count);
            return bad(ctx, path, why);
        }
    }
    return AR_STATUS_OK;
}

static enum ar_status get_section(struct ar_ctx *ctx, const char *path, struct ar__bytes_reader *r,
                                  struct ar__bytes_reader *section)
{
    uint64_t n;
    if (!ar__bytes_get(r, &n, 8) || n > r->size - r->pos)
        return bad(ctx, path, "truncated section");
    *section = (struct ar__bytes_reader){r->data + r->pos, (size_t)n, 0};
    r->pos += (size_t)n;
    return AR_STATUS_OK;
}

/* Everything checked before anything is changed, so a failed load leaves the run as it was
 * (but for the method state, whose own checks come last). */
static enum ar_status apply(struct ar_trainer *t, struct ar_method *method, const char *path,
                            const unsigned char *d, size_t size)
{
    struct ar_ctx *ctx = ar_trainer_ctx(t);
    struct ar_arena *arena = ar_model_arena(ar_trainer_model(t));
    struct ar__bytes_reader r = {d, size - 4, HEAD_BYTES}, prog_r, meth_r;
    struct ar_train_progress p;
    uint32_t has_best;
    enum ar_status st = get_section(ctx, path, &r, &prog_r);
    if (st == AR_STATUS_OK && !get_progress(&prog_r, &p))
        st = bad(ctx, path, "truncated progress");
    if (st == AR_STATUS_OK)
        st = check_layout(ctx, path, &r, arena);
    if (st == AR_STATUS_OK)
        st = get_section(ctx, path, &r, &meth_r);
    if (st == AR_STATUS_OK && (!ar__bytes_get(&r, &has_best, 4) || has_best > 1))
        st = bad(ctx, path, "truncated");
    bool keeps_best = ar_mem_present(ar_trainer_best_params(t));
    size_t bytes = arena->total * sizeof(float);
    if (st == AR_STATUS_OK && r.size - r.pos != (3 + has_best) * bytes)
        st = bad(ctx, path, "the parameter regions do not fit the file size");
    if (st == AR_STATUS_OK && (has_best != 0) != keeps_best)
        st = bad(ctx, path, "saved with another restore_best setting");
    if (st == AR_STATUS_OK && (method != NULL) != (meth_r.size > 0))
        st = bad(ctx, path, method ? "saved without a rank method" : "saved with a rank method");
    if (st != AR_STATUS_OK)
        return st;
    if ((st = ar_trainer_set_progress(t, &p)) != AR_STATUS_OK)
        return prefix(ctx, st, path);
    struct ar_mem regions[4] = {arena->param, arena->m, arena->v, ar_trainer_best_params(t)};
    float *host = malloc(bytes ? bytes : 1);
    if (!host)
        return ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    for (uint32_t i = 0; st == AR_STATUS_OK && i < 3 + has_best; i++) {
        memcpy(host, d + r.pos + i * bytes, bytes); /* the file's floats may be unaligned */
        st = ar_mem_write(ctx, regions[i], host, arena->total);
    }
    free(host);
    if (st == AR_STATUS_OK)
        st = ar_arena_zero_grad(ctx, arena);
    if (st == AR_STATUS_OK && method && (st = ar__method_load_state(method, &meth_r)))
        return prefix(ctx, st, path);
    return st;
}

enum ar_status ar_checkpoint_load(struct ar_trainer *t, struct ar_method *method,
                                  const char *path)
{
    struct ar_ctx *ctx = ar_trainer_ctx(t);
    size_t size = 0;
    char why[1024];
    enum ar_status st;
    unsigned char *d = ar__checkpoint_read(path, &size, why, sizeof why, &st);
    if (!d)
        st = ar__fail(ctx, st, "%s", why);
    else if (!ar__checkpoint_check_whole(d, size, why, sizeof why))
        st = bad(ctx, path, why);
    else
        st = apply(t, method, path, d, size);
    free(d);
    return st;
}
