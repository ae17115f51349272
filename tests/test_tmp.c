/* The tests' scratch folders (test.h, test_tmpdir): made under $TMPDIR and removed on every exit
 * the process can catch. Linked into every C test program (tests/meson.build). */
#define _XOPEN_SOURCE 700 /* nftw, sigaction */
#include "test.h"

#include <ftw.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIRS 16
#define MAX_HOOKS 4

static char dirs[MAX_DIRS][256];
static int n_dirs;
static void (*hooks[MAX_HOOKS])(void);
static int n_hooks;
static pid_t owner; /* a forked child that calls exit() must not remove the parent's folders */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static bool keep_tmp(void)
{
    const char *keep = getenv("ADARANK_KEEP_TMP");
    return keep && keep[0] && strcmp(keep, "0") != 0;
}

void test_tmp_cleanup(void)
{
    if (owner != getpid()) return;
    for (int i = 0; i < n_hooks; i++)
        hooks[i]();
    for (int i = 0; i < n_dirs; i++) {
        if (!dirs[i][0]) continue;
        if (keep_tmp())
            fprintf(stderr, "ADARANK_KEEP_TMP: kept %s\n", dirs[i]);
        else
            nftw(dirs[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        dirs[i][0] = '\0';
    }
}

/* A timeout, Ctrl-C or a crash: clean up, then die of the signal as before (SA_RESETHAND put the
 * default action back, SA_NODEFER lets the raise through at once). The clean-up is not
 * async-signal-safe (nftw allocates): a signal that lands inside malloc may leave a folder. */
static void on_signal(int sig)
{
    test_tmp_cleanup();
    raise(sig);
}

static void install(void)
{
    owner = getpid();
    atexit(test_tmp_cleanup);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

const char *test_tmpdir(const char *name)
{
    if (n_dirs == MAX_DIRS) {
        fprintf(stderr, "test_tmpdir: more than %d folders\n", MAX_DIRS);
        return NULL;
    }
    if (!owner) install();
    const char *base = getenv("TMPDIR");
    char *dir = dirs[n_dirs];
    int len = snprintf(dir, sizeof dirs[0], "%s/adarank-test-%s-XXXXXX",
                       base && base[0] ? base : "/tmp", name);
    if (len < 0 || (size_t)len >= sizeof dirs[0] || !mkdtemp(dir)) {
        perror(dir);
        dir[0] = '\0';
        return NULL;
    }
    n_dirs++;
    return dir;
}

void test_tmp_on_cleanup(void (*fn)(void))
{
    if (n_hooks < MAX_HOOKS) hooks[n_hooks++] = fn;
}
