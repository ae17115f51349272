/* Writing a file durably, the one way the library does it (atomic_file.c): the bytes go to a new
 * temporary file next to the target ("<path>.tmp.<pid>", ".<n>" appended when that name is
 * taken), which is flushed, fsync'd, renamed over the target, and then the folder is fsync'd.
 * A reader therefore sees the whole old file or the whole new one, never a part: a full disk, a
 * missing folder or a kill leaves any older file as it was. Failures remove the temporary file;
 * only a kill can leave one behind, and its name says what it is.
 *
 * Two ways to use it:
 *   - a buffer already in memory: ar__atomic_write(path, data, len, err, err_size);
 *   - streamed: ar__atomic_open, then write the pieces with ar__atomic_put (or fwrite to af.f,
 *     or write(2) to fileno(af.f), as long as one file uses only one of stdio and the
 *     descriptor), then ar__atomic_commit, or ar__atomic_abort when the caller gives up.
 *
 * Messages (err, when not NULL) name the target and the reason:
 *   "PATH: cannot create: <strerror>"  when the temporary file cannot be made (missing folder,
 *                                      no permission, ...),
 *   "PATH: cannot write: <strerror>"   when a write, flush, fsync, close or the rename fails.
 * On failure errno also holds the reason, for callers that word their own message.
 * Library-internal; not thread-safe per handle (one handle, one thread), safe across handles. */
#ifndef ADARANK_CORE_ATOMIC_FILE_H
#define ADARANK_CORE_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "adarank/status.h"

/* A temporary file that becomes `path` on commit. Zero-initialised it is "not open". */
struct ar__atomic_file {
    FILE *f;    /* the temporary file, open for writing; NULL once committed or aborted */
    char *path; /* the target (owned) */
    char *tmp;  /* the temporary file's name (owned), for callers' own messages */
    int error;  /* errno of the first failed write, 0 while all went well: set by ar__atomic_put,
                 * or by a caller writing to fileno(f) itself, and reported by commit */
};

/* Creates the temporary file next to path. On failure nothing is created and af is zeroed. */
enum ar_status ar__atomic_open(struct ar__atomic_file *af, const char *path, char *err,
                               size_t err_size);

/* fwrite of n bytes to the temporary file; false (and af->error set) when it fails or an earlier
 * put failed, so a streaming writer may ignore the result and let commit report the first error. */
bool ar__atomic_put(struct ar__atomic_file *af, const void *data, size_t n);

/* Flushes, fsyncs and closes the temporary file, renames it over the target and fsyncs the
 * folder. On any failure (including an earlier put) the temporary file is removed and the target
 * is untouched. af is closed and freed either way. */
enum ar_status ar__atomic_commit(struct ar__atomic_file *af, char *err, size_t err_size);

/* Closes and removes the temporary file; the target is untouched. af is freed; a zeroed or
 * already finished af is fine. errno is kept, so a caller may abort before formatting why. */
void ar__atomic_abort(struct ar__atomic_file *af);

/* The whole of data[0..len) as path: open, put, commit. */
enum ar_status ar__atomic_write(const char *path, const void *data, size_t len, char *err,
                                size_t err_size);

#endif
