/* Durable whole-file writes: temporary file, fsync, rename, folder fsync (atomic_file.h).
 *
 * Why each step: rename(2) replaces the target in one step, so readers never see a partial
 * file; the fsync before it makes sure the renamed file has its bytes (otherwise a power cut
 * after the rename can leave an empty file under the target's name on ext4/xfs with delayed
 * allocation); the folder's fsync makes the rename itself survive a power cut. The temporary
 * file lives in the target's folder because rename cannot cross file systems. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "internal.h"

#define MAX_TRIES 100 /* names tried when "<path>.tmp.<pid>" is taken (a leftover, a thread) */

static void free_names(struct ar__atomic_file *af)
{
    free(af->path);
    free(af->tmp);
    *af = (struct ar__atomic_file){0};
}

/* Creates a temporary file that did not exist (O_EXCL): never one another writer is using. */
static int create_tmp(const char *path, char *tmp, size_t size)
{
    long pid = (long)getpid();
    for (int n = 0; n < MAX_TRIES; n++) {
        if (n == 0)
            snprintf(tmp, size, "%s.tmp.%ld", path, pid);
        else
            snprintf(tmp, size, "%s.tmp.%ld.%d", path, pid, n);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1; /* errno is EEXIST */
}

enum ar_status ar__atomic_open(struct ar__atomic_file *af, const char *path, char *err,
                               size_t err_size)
{
    *af = (struct ar__atomic_file){0};
    size_t n = strlen(path) + 48;
    af->path = malloc(n);
    af->tmp = malloc(n);
    if (!af->path || !af->tmp) {
        free_names(af);
        return ar__fail_buf(err, err_size, AR_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    snprintf(af->path, n, "%s", path);
    int fd = create_tmp(path, af->tmp, n);
    if (fd >= 0 && !(af->f = fdopen(fd, "wb"))) close(fd), unlink(af->tmp), fd = -1;
    if (fd < 0) {
        int why = errno;
        free_names(af);
        ar__fail_buf(err, err_size, AR_STATUS_IO, "%s: cannot create: %s", path, strerror(why));
        errno = why;
        return AR_STATUS_IO;
    }
    return AR_STATUS_OK;
}

bool ar__atomic_put(struct ar__atomic_file *af, const void *data, size_t n)
{
    assert(af->f && "ar__atomic_put: the file is not open");
    if (af->error) return false;
    if (n && fwrite(data, 1, n, af->f) != n) {
        af->error = errno ? errno : EIO;
        return false;
    }
    return true;
}

void ar__atomic_abort(struct ar__atomic_file *af)
{
    int saved = errno;
    if (af->f) {
        fclose(af->f);
        unlink(af->tmp);
    }
    free_names(af);
    errno = saved;
}

/* The folder of path, fsync'd: the rename is durable only once the folder is. Best effort: some
 * file systems refuse to sync a folder, and the new file is in place either way. */
static void sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) + 1 : 1; /* "dir/" keeps "/x" working */
    char *dir = malloc(len + 1);
    if (!dir) return;
    snprintf(dir, len + 1, "%.*s", (int)len, slash ? path : ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

enum ar_status ar__atomic_commit(struct ar__atomic_file *af, char *err, size_t err_size)
{
    assert(af->f && "ar__atomic_commit: the file is not open");
    int why = af->error;
    if (!why && ferror(af->f))
        why = EIO; /* a failed fwrite to af->f whose result the caller did not keep */
    /* buffered bytes reach the file at fflush, and the disk at fsync: a full disk shows here at
     * the latest */
    if (!why && fflush(af->f) != 0) why = errno;
    if (!why && fsync(fileno(af->f)) != 0) why = errno;
    if (fclose(af->f) != 0 && !why) why = errno;
    af->f = NULL;
    if (!why && rename(af->tmp, af->path) != 0) why = errno;
    if (why) {
        unlink(af->tmp);
        ar__fail_buf(err, err_size, AR_STATUS_IO, "%s: cannot write: %s", af->path, strerror(why));
        free_names(af);
        errno = why;
        return AR_STATUS_IO;
    }
    sync_folder(af->path);
    free_names(af);
    return AR_STATUS_OK;
}

enum ar_status ar__atomic_write(const char *path, const void *data, size_t len, char *err,
                                size_t err_size)
{
    struct ar__atomic_file af;
    enum ar_status st = ar__atomic_open(&af, path, err, err_size);
    if (st != AR_STATUS_OK) return st;
    ar__atomic_put(&af, data, len); /* a failure is kept in af.error and reported by commit */
    return ar__atomic_commit(&af, err, err_size);
}
