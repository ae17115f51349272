/* The temporary files of the path-only loaders (fuzz.h). One folder per process, so that
 * several fuzzers (or a fuzzer and the test suite) can run side by side. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir_path[512];

static void remove_dir(void)
{
    DIR *d = opendir(dir_path);
    if (!d) return;
    char file[1024];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(file, sizeof file, "%s/%s", dir_path, e->d_name);
        unlink(file);
    }
    closedir(d);
    rmdir(dir_path);
}

const char *ar_fuzz_dir(void)
{
    if (dir_path[0]) return dir_path;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir_path, sizeof dir_path, "%s/adarank-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir_path)) {
        dir_path[0] = '\0';
        return NULL;
    }
    atexit(remove_dir);
    return dir_path;
}

const char *ar_fuzz_write(const char *name, const void *data, size_t size)
{
    static char path[1024];
    const char *dir = ar_fuzz_dir();
    if (!dir) return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    /* A new file each time, not a truncated one: ext4 flushes a file truncated and rewritten
     * when it is closed (auto_da_alloc), which made each call cost milliseconds. */
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    size_t wrote = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || wrote != size) return NULL;
    return path;
}
