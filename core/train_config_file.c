/* The JSON config file of a training job (train.h): reading one (every key and type checked,
 * relative paths taken from the file's folder) and writing the effective config.json of a run,
 * every key of the table in its order. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/train.h"
#include "train_config_internal.h"

#define C(m) offsetof(struct ar_train_config, m)

enum ar_status ar_train_config_load(struct ar_train_config *c, const char *path, char *err,
                                    size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? AR_STATUS_NOT_FOUND : AR_STATUS_IO;
    }
    fclose(f);
    struct ar__json_doc *doc = ar__json_parse_file(path, err, err_size);
    if (!doc)
        return AR_STATUS_BAD_FORMAT;
    const struct ar__json_node *root = ar__json_root(doc);
    enum ar_status st = AR_STATUS_OK;
    const char *dup = NULL;
    if (root->type != AR__JSON_OBJECT) {
        snprintf(err, err_size, "%s: expected a JSON object at the top, got %s", path,
                 ar__train_config_json_type(root));
        st = AR_STATUS_BAD_FORMAT;
    } else if (ar__json_has_duplicate_keys(root, &dup)) {
        snprintf(err, err_size, "%s: key \"%s\" appears twice", path, dup);
        st = AR_STATUS_BAD_FORMAT;
    }
    char *dir = strdup(path);
    if (!dir)
        st = AR_STATUS_OUT_OF_MEMORY;
    else {
        char *slash = strrchr(dir, '/');
        if (slash)
            slash[slash == dir ? 1 : 0] = '\0';
        else
            dir[0] = '\0';
    }
    for (size_t i = 0; st == AR_STATUS_OK && i < root->count; i++) {
        const struct ar__train_key *k = ar__train_config_find_key(root->keys[i]);
        char why[512] = "";
        if (!k) {
            snprintf(err, err_size,
                     "%s: unknown key \"%s\" (the keys are listed by `adarank-cl train --help`)",
                     path, root->keys[i]);
            st = AR_STATUS_BAD_FORMAT;
            break;
        }
        ar__train_config_mark_given(c, k);
        if ((st = ar__train_config_set_json(c, k, root->items[i], dir, why, sizeof why)) !=
            AR_STATUS_OK) {
            snprintf(err, err_size, "%s: %s", path, why[0] ? why : "out of memory");
            if (st != AR_STATUS_OUT_OF_MEMORY)
                st = AR_STATUS_BAD_FORMAT;
        }
    }
    free(dir);
    ar__json_free(doc);
    return st;
}

char *ar_train_config_to_json(const struct ar_train_config *c, bool pretty)
{
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    for (size_t i = 0; i < ar__train_key_count; i++) {
        const struct ar__train_key *k = &ar__train_keys[i];
        const void *slot = (const char *)c + k->off;
        ar__json_put(&b, i ? (pretty ? ",\n  " : ", ") : (pretty ? "\n  " : ""));
        ar__json_write_string(&b, k->name);
        ar__json_put(&b, ": ");
        char num[64];
        switch (k->kind) {
        case AR__TRAIN_KEY_STRING:
        case AR__TRAIN_KEY_PATH:
            if (*(char *const *)slot)
                ar__json_write_string(&b, *(char *const *)slot);
            else
                ar__json_put(&b, "null");
            break;
        case AR__TRAIN_KEY_INT:
            ar__json_write_int(&b, *(const int *)slot);
            break;
        case AR__TRAIN_KEY_SEED:
            ar__json_write_int(&b, (int64_t) * (const uint64_t *)slot);
            break;
        case AR__TRAIN_KEY_DOUBLE:
            ar__json_format_double(num, sizeof num, "%.10g", *(const double *)slot);
            ar__json_put(&b, num);
            break;
        case AR__TRAIN_KEY_FLOAT: /* 9 digits: a float reads back exactly */
            ar__json_format_double(num, sizeof num, "%.9g", *(const float *)slot);
            ar__json_put(&b, num);
            break;
        case AR__TRAIN_KEY_BOOL:
            ar__json_put(&b, *(const bool *)slot ? "true" : "false");
            break;
        case AR__TRAIN_KEY_SCHEDULE:
            ar__json_write_string(&b, ar_lr_schedule_name(*(const enum ar_lr_schedule *)slot));
            break;
        case AR__TRAIN_KEY_METRIC:
            ar__json_write_string(&b, ar_eval_metric_name(*(const enum ar_eval_metric *)slot));
            break;
        case AR__TRAIN_KEY_LIST:
            if (k->off == C(targets)) {
                ar__json_write_string(&b, c->targets ? c->targets : "");
            } else if (!c->labels) {
                ar__json_put(&b, "null");
            } else {
                ar__json_put(&b, "[");
                for (int j = 0; j < c->label_count; j++) {
                    ar__json_put(&b, j ? ", " : "");
                    ar__json_write_string(&b, c->labels[j]);
                }
                ar__json_put(&b, "]");
            }
            break;
        }
    }
    ar__json_put(&b, pretty ? "\n}\n" : "}");
    if (b.oom) {
        ar__json_buf_free(&b);
        return NULL;
    }
    return b.data;
}
