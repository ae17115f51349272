/* The key table of a training config (train.h): what train_config.c (the table, defaults,
 * checks), train_config_set.c (setting one key) and train_config_file.c (the JSON file) share.
 * Library-internal. */
#ifndef ADARANK_CORE_TRAIN_CONFIG_INTERNAL_H
#define ADARANK_CORE_TRAIN_CONFIG_INTERNAL_H

#include <stddef.h>

#include "adarank/train.h"
#include "json.h"

enum ar__train_key_kind {
    AR__TRAIN_KEY_STRING,
    AR__TRAIN_KEY_PATH, /* a string; relative to the config file's folder when read from one */
    AR__TRAIN_KEY_INT,
    AR__TRAIN_KEY_DOUBLE,
    AR__TRAIN_KEY_FLOAT, /* a float member (the method parameters) */
    AR__TRAIN_KEY_BOOL,
    AR__TRAIN_KEY_SCHEDULE,
    AR__TRAIN_KEY_METRIC,
    AR__TRAIN_KEY_SEED,
    AR__TRAIN_KEY_LIST, /* a comma-separated string or an array of strings */
};

struct ar__train_key {
    const char *name;
    enum ar__train_key_kind kind;
    size_t off;      /* of the member in struct ar_train_config */
    double min, max; /* numbers: the allowed closed range */
    const char *help;
};

/* The table, in the order of `--help`, of config.json and of the bits of ar_train_config.given
 * (train_config.c). */
extern const struct ar__train_key ar__train_keys[];
extern const size_t ar__train_key_count;

/* The key of that name, or NULL. */
const struct ar__train_key *ar__train_config_find_key(const char *name);
/* Sets k's bit in c->given. */
void ar__train_config_mark_given(struct ar_train_config *c, const struct ar__train_key *k);

/* Sets key k from a config file's JSON value (train_config_set.c); a relative path is taken
 * from `dir`. Errors as "key: what" in err, without the file name. */
enum ar_status ar__train_config_set_json(struct ar_train_config *c, const struct ar__train_key *k,
                                         const struct ar__json_node *v, const char *dir,
                                         char *err, size_t err_size);
/* "a number", "an object", ...: the type of a JSON value in messages. */
const char *ar__train_config_json_type(const struct ar__json_node *n);

#endif
