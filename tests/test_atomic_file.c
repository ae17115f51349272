/* The durable file write every file the library makes goes through (core/atomic_file.h), without
 * a device:
 *   commit     the target appears with exactly the bytes written (NULs included), whole or in
 *              pieces, over an older file, by a relative path, and when "<path>.tmp.<pid>" is
 *              taken by a leftover (which stays as it was);
 *   abort      no temporary file is left and an older file keeps its bytes;
 *   failures   a missing folder fails at open with the reason and makes nothing; a folder in
 *              the file's place fails at the rename; a write that fails part-way (a "full
 *              disk": RLIMIT_FSIZE with SIGXFSZ ignored makes writes past the limit fail with
 *              EFBIG, as ENOSPC would) fails with the reason. None leaves a temporary file, and
 *              an older file keeps its bytes. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "test.h"

static char err[8192];
static const char *dir;

static const char *in_dir(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* The names in dir that contain ".tmp." (the helper's temporary files). */
static int tmp_files(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "%s: cannot make", path);
}

/* Whether the file at path holds exactly data[0..len). */
static bool holds(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char *got = malloc(len + 1);
    size_t n = got ? fread(got, 1, len + 1, f) : 0;
    fclose(f);
    bool same = got && n == len && memcmp(got, data, len) == 0;
    free(got);
    return same;
}

static void commits(void)
{
    const char bytes[] = "line one\n\0binary\xff\x01 tail";
    const char *path = in_dir("whole.bin");
    CHECK(ar__atomic_write(path, bytes, sizeof bytes, err, sizeof err) == AR_STATUS_OK, "%s", err);
    CHECK(holds(path, bytes, sizeof bytes), "whole: exact bytes, NULs included");
    /* streamed in pieces, over the older file */
    struct ar__atomic_file af;
    CHECK(ar__atomic_open(&af, path, err, sizeof err) == AR_STATUS_OK, "%s", err);
    CHECK(af.f && tmp_files() == 1 && holds(path, bytes, sizeof bytes),
          "open: one temporary file, the target untouched");
    CHECK(ar__atomic_put(&af, "new ", 4) && ar__atomic_put(&af, "", 0) &&
              fwrite("bytes", 1, 5, af.f) == 5,
          "puts and a plain fwrite");
    CHECK(ar__atomic_commit(&af, err, sizeof err) == AR_STATUS_OK, "%s", err);
    CHECK(holds(path, "new bytes", 9) && tmp_files() == 0 && !af.f && !af.tmp,
          "commit: the new bytes replace the old, nothing else left");
    /* an empty file is a file */
    CHECK(ar__atomic_write(in_dir("empty"), "", 0, err, sizeof err) == AR_STATUS_OK &&
              holds(in_dir("empty"), "", 0),
          "empty file: %s", err);
    /* a leftover of a killed write with this process's name: not ours to use or remove */
    char leftover[4200];
    snprintf(leftover, sizeof leftover, "%s.tmp.%ld", in_dir("taken"), (long)getpid());
    spit(leftover, "leftover");
    CHECK(ar__atomic_write(in_dir("taken"), "mine", 4, err, sizeof err) == AR_STATUS_OK &&
              holds(in_dir("taken"), "mine", 4) && holds(leftover, "leftover", 8),
          "a taken temporary name: another is used: %s", err);
    unlink(leftover);
    /* a path without a folder: the temporary file and the folder sync use "." */
    char here[4096];
    CHECK(getcwd(here, sizeof here) && chdir(dir) == 0, "chdir");
    CHECK(ar__atomic_write("relative.txt", "rel", 3, err, sizeof err) == AR_STATUS_OK &&
              holds("relative.txt", "rel", 3),
          "relative path: %s", err);
    CHECK(chdir(here) == 0, "chdir back");
}

static void aborts(void)
{
    const char *path = in_dir("old.txt");
    spit(path, "old bytes\n");
    struct ar__atomic_file af;
    CHECK(ar__atomic_open(&af, path, err, sizeof err) == AR_STATUS_OK, "%s", err);
    ar__atomic_put(&af, "half of a new fi", 16);
    errno = ERANGE; /* the caller's reason, which abort must not clobber */
    ar__atomic_abort(&af);
    CHECK(errno == ERANGE, "abort keeps errno (got %d)", errno);
    CHECK(holds(path, "old bytes\n", 10) && tmp_files() == 0 && !af.f && !af.path,
          "abort: the older file as it was, no temporary file");
    struct ar__atomic_file zero = {0};
    ar__atomic_abort(&zero); /* an unopened handle is fine */
    ar__atomic_abort(&af);   /* and so is a finished one */
    CHECK(!zero.f, "abort of nothing");
}

static void failures(void)
{
    struct stat sb;
    /* a missing folder: fails at open, makes nothing */
    const char *path = in_dir("nowhere/f.json");
    struct ar__atomic_file af = {.error = 7};
    CHECK(ar__atomic_open(&af, path, err, sizeof err) == AR_STATUS_IO &&
              strstr(err, "nowhere/f.json: cannot create: No such file or directory") &&
              errno == ENOENT && !af.f && !af.path && !af.tmp && !af.error,
          "missing folder: %s", err);
    CHECK(ar__atomic_write(path, "x", 1, err, sizeof err) == AR_STATUS_IO &&
              strstr(err, "nowhere/f.json: cannot create: No such file or directory"),
          "missing folder, whole: %s", err);
    CHECK(stat(in_dir("nowhere"), &sb) != 0, "missing folder: nothing is made");
    /* a folder in the file's place: the rename fails, the folder stays, nothing is left */
    path = in_dir("adir");
    CHECK(mkdir(path, 0755) == 0, "mkdir");
    CHECK(ar__atomic_write(path, "x", 1, err, sizeof err) == AR_STATUS_IO &&
              strstr(err, "adir: cannot write: Is a directory") && errno == EISDIR,
          "folder in the way: %s", err);
    CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && tmp_files() == 0,
          "folder in the way: the folder stays, no temporary file");
}

/* Writes past 4 KiB fail with EFBIG while this runs (SIGXFSZ ignored, else it kills us). */
static void full_disk(void)
{
    const char *path = in_dir("keep.txt");
    spit(path, "old\n");
    static char big[64 * 1024];
    memset(big, 'x', sizeof big);
    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0, "getrlimit");
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    /* whole: the write fails part-way */
    enum ar_status whole = ar__atomic_write(path, big, sizeof big, err, sizeof err);
    char whole_err[sizeof err];
    snprintf(whole_err, sizeof whole_err, "%s", err);
    /* streamed: small puts that pass until the buffer reaches the disk, in a put or at commit */
    struct ar__atomic_file af;
    enum ar_status streamed = ar__atomic_open(&af, path, err, sizeof err);
    for (int i = 0; streamed == AR_STATUS_OK && i < 64; i++)
        ar__atomic_put(&af, big, 1024);
    if (streamed == AR_STATUS_OK) streamed = ar__atomic_commit(&af, err, sizeof err);
    char streamed_err[sizeof err];
    snprintf(streamed_err, sizeof streamed_err, "%s", err);
    /* a writer that ignores fwrite's result: commit still sees the stream's error */
    enum ar_status ignored = ar__atomic_open(&af, path, err, sizeof err);
    if (ignored == AR_STATUS_OK) {
        (void)!fwrite(big, 1, sizeof big, af.f);
        ignored = ar__atomic_commit(&af, err, sizeof err);
    }
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    CHECK(whole == AR_STATUS_IO && strstr(whole_err, "keep.txt: cannot write: File too large"),
          "full disk, whole: %s", whole_err);
    CHECK(streamed == AR_STATUS_IO &&
              strstr(streamed_err, "keep.txt: cannot write: File too large"),
          "full disk, streamed: %s", streamed_err);
    CHECK(ignored == AR_STATUS_IO && strstr(err, "keep.txt: cannot write: "),
          "full disk, fwrite unchecked: %s", err);
    CHECK(holds(path, "old\n", 4) && tmp_files() == 0,
          "full disk: the older file as it was, no temporary file");
}

int main(void)
{
    dir = test_tmpdir("atomic-file");
    if (!dir) return 1;
    commits();
    aborts();
    failures();
    full_disk();
    return test_finish("atomic_file");
}
