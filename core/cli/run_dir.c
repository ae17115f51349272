/* `adarank-cl train` and `resume`: the run folder itself, apart from what the run writes in it.
 *
 *   Made late. `train` only checks --out before the data and the model load (nothing is created
 *   then) and makes the folder once they have: a start that fails on its config, data or model
 *   leaves no folder behind, and a failure right after the folder was made removes what this
 *   process made, never what was there before.
 *   The stage record. AutoLoRA and Flexora train twice (train_stages.c); RUN_DIR/stage.json
 *   records the search's result when the retraining starts, written durably, so that `resume`
 *   knows which stage to continue (resume.c). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../atomic_file.h"
#include "../json.h"
#include "cli.h"
#include "train_job.h"

#define STAGE_VERSION 1

/* ---- made, checked, undone ------------------------------------------------------------------- */

/* Makes path and its missing parents; made gets the first (outermost) folder this call created,
 * "" when path existed. */
static bool mkdir_p(const char *path, char *made, size_t made_size, char *err, size_t err_size)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    made[0] = '\0';
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) == 0) {
                if (!made[0])
                    snprintf(made, made_size, "%s", buf);
            } else if (errno != EEXIST) {
                snprintf(err, err_size, "%.2048s: cannot create: %s", buf, strerror(errno));
                return false;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    return true;
}

/* For an --out that does not exist: the nearest existing ancestor must be a folder this process
 * may write in, as mkdir will need; err names the first folder that would be made. */
static bool creatable(const char *out, char *err, size_t err_size)
{
    char first[4096], parent[4096];
    struct stat sb;
    snprintf(first, sizeof first, "%s", out);
    for (;;) {
        snprintf(parent, sizeof parent, "%s", first);
        char *slash = strrchr(parent, '/');
        if (!slash)
            snprintf(parent, sizeof parent, ".");
        else if (slash == parent)
            parent[1] = '\0'; /* "/x": the root */
        else
            *slash = '\0';
        if (stat(parent, &sb) == 0 || !strcmp(parent, first))
            break;
        snprintf(first, sizeof first, "%s", parent); /* missing too: made before out */
    }
    int e = stat(parent, &sb) != 0            ? errno
            : !S_ISDIR(sb.st_mode)            ? ENOTDIR
            : access(parent, W_OK | X_OK) != 0 ? errno
                                              : 0;
    if (e)
        snprintf(err, err_size, "%.2048s: cannot create: %s", first, strerror(e));
    return !e;
}

/* A run folder may be reused only when it is empty or was written by `train` (its config.json
 * loads as a train config): a typo in --out must never overwrite someone's files. */
int cli_run_dir_check(const char *out, char *err, size_t err_size)
{
    struct stat sb;
    if (stat(out, &sb) != 0)
        return creatable(out, err, err_size) ? CLI_EXIT_OK : CLI_EXIT_BAD_INPUT;
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, err_size, "%s: exists and is not a folder", out);
        return CLI_EXIT_BAD_INPUT;
    }
    DIR *d = opendir(out);
    if (!d) {
        snprintf(err, err_size, "%s: %s", out, strerror(errno));
        return CLI_EXIT_BAD_INPUT;
    }
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    if (entries == 0)
        return CLI_EXIT_OK;
    char path[4096], why[512];
    snprintf(path, sizeof path, "%s/config.json", out);
    struct ar_train_config probe;
    ar_train_config_init(&probe);
    enum ar_status st = ar_train_config_load(&probe, path, why, sizeof why);
    ar_train_config_clear(&probe);
    if (st != AR_STATUS_OK) {
        snprintf(err, err_size,
                 "%s: the folder is not empty and is not a run folder of adarank-cl train "
                 "(no valid config.json); choose another --out",
                 out);
        return CLI_EXIT_BAD_INPUT;
    }
    return CLI_EXIT_OK;
}

int cli_run_dir_make(const char *out, char *made, size_t made_size, char *err, size_t err_size)
{
    return mkdir_p(out, made, made_size, err, err_size) ? CLI_EXIT_OK : CLI_EXIT_BAD_INPUT;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void cli_run_dir_undo(const char *made)
{
    if (made && made[0]) /* depth first, links themselves: nothing outside `made` is touched */
        nftw(made, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the stage record: RUN_DIR/stage.json ---------------------------------------------------- */

bool cli_stage_write(const char *dir, const char *method, const struct cli_stage_record *r,
                     char *err, size_t err_size)
{
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    ar__json_write_key(&b, "version");
    ar__json_write_int(&b, STAGE_VERSION);
    ar__json_write_key(&b, "method");
    ar__json_write_string(&b, method);
    ar__json_write_key(&b, "stage");
    ar__json_write_int(&b, 2);
    ar__json_write_key(&b, "search_steps");
    ar__json_write_int(&b, r->search_steps);
    ar__json_write_key(&b, "step_offset");
    ar__json_write_int(&b, r->step_offset);
    ar__json_write_key(&b, "elapsed_offset");
    ar__json_write_double(&b, r->elapsed_offset);
    ar__json_write_key(&b, "search_ranks");
    ar__json_put(&b, "[");
    for (int i = 0; i < r->n_ranks; i++) {
        ar__json_comma(&b);
        ar__json_write_int(&b, r->ranks[i]);
    }
    ar__json_put(&b, "]}\n");
    /* durably (atomic_file.h): a kill at any moment leaves the whole old record or the new one */
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, CLI_STAGE_FILE);
    bool ok = !b.oom && ar__atomic_write(path, b.data, b.len, err, err_size) == AR_STATUS_OK;
    if (b.oom)
        snprintf(err, err_size, "out of memory");
    ar__json_buf_free(&b);
    return ok;
}

static bool get_int(const struct ar__json_node *root, const char *key, int64_t lo, int64_t *v)
{
    return ar__json_as_int(ar__json_get(root, key), v) && *v >= lo && *v <= INT_MAX;
}

enum ar_status cli_stage_read(const char *dir, struct cli_stage_record *r, char *err,
                              size_t err_size)
{
    char path[4200], why[1024];
    snprintf(path, sizeof path, "%s/" CLI_STAGE_FILE, dir);
    *r = (struct cli_stage_record){0};
    if (access(path, F_OK) != 0)
        return AR_STATUS_NOT_FOUND;
    struct ar__json_doc *doc = ar__json_parse_file(path, why, sizeof why);
    const struct ar__json_node *root = doc ? ar__json_root(doc) : NULL;
    const struct ar__json_node *ranks = ar__json_get(root, "search_ranks");
    int64_t version = 0, stage = 0, steps = 0, offset = 0;
    bool ok = root && get_int(root, "version", 1, &version) && version == STAGE_VERSION &&
              get_int(root, "stage", 2, &stage) && stage == 2 &&
              get_int(root, "search_steps", 1, &steps) &&
              get_int(root, "step_offset", 0, &offset) && ranks &&
              ranks->type == AR__JSON_ARRAY && ranks->count > 0;
    if (ok && !ar__json_as_double(ar__json_get(root, "elapsed_offset"), &r->elapsed_offset))
        r->elapsed_offset = 0; /* a clock only */
    r->ranks = ok ? calloc(ranks->count, sizeof *r->ranks) : NULL;
    bool oom = ok && !r->ranks;
    for (size_t i = 0; r->ranks && i < ranks->count; i++) {
        int64_t v = -1;
        ok = ok && ar__json_as_int(ar__json_at(ranks, i), &v) && v >= 0 && v <= INT_MAX;
        r->ranks[i] = (int)v;
    }
    if (ok && !oom) {
        r->stage = 2, r->search_steps = (int)steps, r->step_offset = offset;
        r->n_ranks = (int)ranks->count;
    } else {
        free(r->ranks);
        r->ranks = NULL;
        snprintf(err, err_size, "%.4096s: %s", path,
                 oom   ? "out of memory"
                 : doc ? "not a stage record of adarank-cl train (version 1)"
                       : why);
    }
    ar__json_free(doc);
    return oom ? AR_STATUS_OUT_OF_MEMORY : ok ? AR_STATUS_OK : AR_STATUS_BAD_FORMAT;
}

void cli_stage_remove_search(const char *run_dir)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/" CLI_SEARCH_DIR, run_dir);
    ar_checkpoint_remove_all(dir);
    rmdir(dir); /* only when empty: nothing but checkpoints is ever put there */
}

void cli_run_dir_reset(const char *dir)
{
    char path[4200];
    ar_checkpoint_remove_all(dir);
    snprintf(path, sizeof path, "%s/" CLI_STAGE_FILE, dir);
    unlink(path);
    cli_stage_remove_search(dir);
}
