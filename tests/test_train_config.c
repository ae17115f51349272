/* The training-job configuration: defaults, command-line values, the JSON file (every key and
 * type checked, paths relative to the file) and the round trip through the effective config. */
#include <unistd.h>

#include "test.h"

#include "adarank/train.h"

static char err[2048];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Loading `text` must fail with BAD_FORMAT and a message containing `needle`. */
static void load_bad(const char *path, const char *text, const char *needle)
{
    struct ar_train_config c;
    ar_train_config_init(&c);
    write_text(path, text);
    enum ar_status st = ar_train_config_load(&c, path, err, sizeof err);
    CHECK(st == AR_STATUS_BAD_FORMAT && strstr(err, needle), "%s: %s: \"%s\" lacks \"%s\"",
          text, ar_status_name(st), err, needle);
    ar_train_config_clear(&c);
}

int main(void)
{
    struct ar_train_config c;
    ar_train_config_init(&c);
    CHECK(c.rank == 8 && c.alpha == 16 && !strcmp(c.targets, "query,value") &&
              c.max_length == 128 && c.params.batch_size == 16,
          "defaults");
    CHECK(ar_train_config_check(&c, err, sizeof err) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "model: required"),
          "model is required: %s", err);

    /* command-line values */
    CHECK(ar_train_config_set(&c, "lr", "2e-4", err, sizeof err) == AR_STATUS_OK &&
              c.params.lr == 2e-4,
          "lr");
    CHECK(ar_train_config_set(&c, "batch", "4", err, sizeof err) == AR_STATUS_OK &&
              c.params.batch_size == 4,
          "batch");
    CHECK(ar_train_config_set(&c, "schedule", "cosine", err, sizeof err) == AR_STATUS_OK &&
              c.params.schedule == AR_LR_SCHEDULE_COSINE,
          "schedule");
    CHECK(ar_train_config_set(&c, "labels", "neg, pos", err, sizeof err) == AR_STATUS_OK &&
              c.label_count == 2 && !strcmp(c.labels[1], "pos"),
          "labels list");
    CHECK(ar_train_config_set(&c, "rslora", "true", err, sizeof err) == AR_STATUS_OK && c.rslora,
          "bool");
    CHECK(ar_train_config_set(&c, "lr", "fast", err, sizeof err) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "lr: expected a number, got \"fast\""),
          "%s", err);
    CHECK(ar_train_config_set(&c, "rank", "2.5", err, sizeof err) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "rank: expected an integer"),
          "%s", err);
    CHECK(ar_train_config_set(&c, "rank", "0", err, sizeof err) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "rank: 0 is out of range"),
          "%s", err);
    CHECK(ar_train_config_set(&c, "metric", "auc", err, sizeof err) ==
                  AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "metric: unknown value \"auc\""),
          "%s", err);
    CHECK(ar_train_config_set(&c, "colour", "red", err, sizeof err) == AR_STATUS_NOT_FOUND,
          "unknown key");
    CHECK(ar_train_config_key_is_bool("skip_bad_rows") && !ar_train_config_key_is_bool("rank"),
          "flags");

    /* a config file: paths are relative to its folder */
    const char *dir = test_tmpdir("train-config"); /* removed however the test ends */
    CHECK(dir != NULL, "test_tmpdir");
    if (!dir) return test_finish("train_config");
    char path[256];
    snprintf(path, sizeof path, "%s/job.json", dir);
    write_text(path, "{\"model\": \"models/m\", \"train\": \"/abs/train.tsv\", \"rank\": 4,\n"
                     " \"targets\": [\"query\", \"key\", \"value\"], \"validation\": null,\n"
                     " \"labels\": [\"a\", \"b\", \"c\"], \"seed\": 7, \"restore_best\": true,\n"
                     " \"warmup_ratio\": 0.1, \"out\": \"runs/x\"}");
    CHECK(ar_train_config_load(&c, path, err, sizeof err) == AR_STATUS_OK, "load: %s", err);
    char want[300];
    snprintf(want, sizeof want, "%s/models/m", dir);
    CHECK(c.model && !strcmp(c.model, want), "relative path: %s", c.model);
    CHECK(c.train && !strcmp(c.train, "/abs/train.tsv"), "absolute path kept");
    CHECK(c.rank == 4 && !strcmp(c.targets, "query,key,value") && c.label_count == 3 &&
              c.params.seed == 7 && c.params.restore_best && c.params.lr == 2e-4,
          "values (lr kept from before)");
    CHECK(ar_train_config_check(&c, err, sizeof err) == AR_STATUS_OK, "complete: %s", err);

    /* the effective config loads back to the same values */
    char *json = ar_train_config_to_json(&c, true);
    CHECK(json != NULL, "to_json");
    char *line = ar_train_config_to_json(&c, false);
    CHECK(line && !strchr(line, '\n'), "one line for metrics.jsonl");
    free(line);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, json ? json : "");
    free(json);
    struct ar_train_config d;
    ar_train_config_init(&d);
    CHECK(ar_train_config_load(&d, path, err, sizeof err) == AR_STATUS_OK, "reload: %s", err);
    CHECK(d.model && c.model && !strcmp(d.model, c.model) && d.rank == 4 &&
              d.params.lr == c.params.lr && d.params.schedule == AR_LR_SCHEDULE_COSINE &&
              d.label_count == 3 && !strcmp(d.labels[2], "c") && d.rslora &&
              d.params.warmup_ratio == 0.1 && !strcmp(d.targets, "query,key,value"),
          "round trip");
    ar_train_config_clear(&d);

    /* every key and type is checked */
    snprintf(path, sizeof path, "%s/bad.json", dir);
    load_bad(path, "{\"rank\": 8, \"rnak\": 4}", "unknown key \"rnak\"");
    load_bad(path, "{\"rank\": \"8\"}", "rank: expected a number, got a string");
    load_bad(path, "{\"lr\": true}", "lr: expected a number, got true");
    load_bad(path, "{\"model\": 3}", "model: expected a string or null, got a number");
    load_bad(path, "{\"rslora\": 1}", "rslora: expected true or false, got a number");
    load_bad(path, "{\"labels\": [\"a\", 2]}", "labels: item 2: expected a string");
    load_bad(path, "{\"labels\": [\"a\", \"b\", \"\"]}", "labels: item 3 is empty");
    load_bad(path, "{\"epochs\": 0}", "epochs: 0 is out of range");
    load_bad(path, "[1, 2]", "expected a JSON object at the top");
    load_bad(path, "{\"rank\": 4, \"rank\": 8}", "key \"rank\" appears twice");
    load_bad(path, "{\"rank\": ", "bad.json");
    CHECK(ar_train_config_load(&c, "/nonexistent/job.json", err, sizeof err) ==
              AR_STATUS_NOT_FOUND,
          "missing file");
    unlink(path);
    snprintf(path, sizeof path, "%s/job.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);

    /* the embedded default job (./setup.sh run) stays loadable */
    const char *data = getenv("ADARANK_TEST_DATA");
    snprintf(path, sizeof path, "%s/../data/default.json", data ? data : "tests");
    struct ar_train_config def;
    ar_train_config_init(&def);
    CHECK(ar_train_config_load(&def, path, err, sizeof err) == AR_STATUS_OK, "default: %s", err);
    const char *tail = ".cache/models/all-MiniLM-L6-v2";
    CHECK(def.model && strlen(def.model) > strlen(tail) &&
              !strcmp(def.model + strlen(def.model) - strlen(tail), tail) && def.test &&
              !def.validation && def.max_length <= 128 && !strcmp(def.method, "lora"),
          "default job: %s", def.model ? def.model : "(no model)");
    ar_train_config_clear(&def);

    ar_train_config_set(&c, "method", "sora", err, sizeof err);
    CHECK(ar_train_config_check(&c, err, sizeof err) == AR_STATUS_OK, "sora: %s", err);
    ar_train_config_set(&c, "method", "magic", err, sizeof err);
    CHECK(ar_train_config_check(&c, err, sizeof err) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "method: \"magic\" is not a rank method"),
          "%s", err);
    ar_train_config_clear(&c);
    return test_finish("train_config");
}
