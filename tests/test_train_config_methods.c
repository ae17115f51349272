/* The rank methods' keys of the train configuration (train_config.c): defaults equal
 * ar_method_default_params, values set from text and from a JSON file, range and type errors
 * naming the key, the consistency checks against the rank, config.json written and read back
 * exactly, and every key listed for --help. No device needed. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adarank/method.h"
#include "test.h"

static void test_defaults(void)
{
    struct ar_train_config c;
    ar_train_config_init(&c);
    struct ar_method_params d = ar_method_default_params(AR_METHOD_SORA);
    CHECK(c.method_params.sora.xi == d.sora.xi && c.method_params.sora.stages == d.sora.stages,
          "SoRA defaults");
    CHECK(c.method_params.adalora.target_rank == d.adalora.target_rank, "AdaLoRA defaults");
    CHECK(c.method_params.flexora.power == d.flexora.power &&
              c.method_params.flexora.search_fraction == d.flexora.search_fraction,
          "Flexora defaults");
    CHECK(c.method_params.autolora.selection_lr == d.autolora.selection_lr, "AutoLoRA defaults");
    CHECK(c.autolora_search_fraction == 0.5 && c.flexora_val_fraction == 0.3,
          "search stage defaults");
    ar_train_config_clear(&c);
}

static void expect_error(const char *key, const char *value, const char *want)
{
    struct ar_train_config c;
    ar_train_config_init(&c);
    char err[512] = "";
    enum ar_status st = ar_train_config_set(&c, key, value, err, sizeof err);
    CHECK(st == AR_STATUS_INVALID_ARGUMENT && strstr(err, key) && strstr(err, want),
          "%s=%s: status %d, message \"%s\" (want \"%s\")", key, value, st, err, want);
    ar_train_config_clear(&c);
}

static void test_set_and_errors(void)
{
    struct ar_train_config c;
    ar_train_config_init(&c);
    char err[512];
    CHECK(ar_train_config_set(&c, "sora_xi", "0.002", err, sizeof err) == AR_STATUS_OK, "%s", err);
    CHECK(c.method_params.sora.xi == 0.002f, "sora_xi %g", c.method_params.sora.xi);
    CHECK(ar_train_config_set(&c, "dylora_frozen", "true", err, sizeof err) == AR_STATUS_OK, "%s",
          err);
    CHECK(c.method_params.dylora.frozen, "dylora_frozen");
    CHECK(ar_train_config_set(&c, "adalora_tinit", "-1", err, sizeof err) == AR_STATUS_OK, "%s",
          err);
    CHECK(ar_train_config_set(&c, "flexora_select_layers", "3", err, sizeof err) == AR_STATUS_OK,
          "%s", err);
    CHECK(c.method_params.flexora.select_layers == 3, "flexora_select_layers");
    CHECK(ar_train_config_key_is_bool("autolora_first_order"), "autolora_first_order is a flag");
    ar_train_config_clear(&c);
    expect_error("flexora_power", "4", "out of range");
    expect_error("adalora_target_rank", "2.5", "integer");
    expect_error("dylora_frozen", "maybe", "true or false");
    expect_error("sora_xi", "-1", "out of range");
    expect_error("autolora_val_fraction", "1", "out of range");
    expect_error("autolora_selection_lr", "fast", "number");
}

static void expect_check_error(const char *method, const char *key, const char *value,
                               const char *want)
{
    struct ar_train_config c;
    ar_train_config_init(&c);
    char err[512] = "";
    ar_train_config_set(&c, "model", "m", err, sizeof err);
    ar_train_config_set(&c, "train", "t.tsv", err, sizeof err);
    ar_train_config_set(&c, "out", "o", err, sizeof err);
    ar_train_config_set(&c, "method", method, err, sizeof err);
    CHECK(ar_train_config_set(&c, key, value, err, sizeof err) == AR_STATUS_OK, "%s", err);
    enum ar_status st = ar_train_config_check(&c, err, sizeof err);
    CHECK(st == AR_STATUS_INVALID_ARGUMENT && strstr(err, want), "%s %s=%s: \"%s\"", method, key,
          value, err);
    ar_train_config_set(&c, "method", "lora", err, sizeof err); /* only the method's own keys */
    CHECK(ar_train_config_check(&c, err, sizeof err) == AR_STATUS_OK, "lora ignores %s: %s", key,
          err);
    ar_train_config_clear(&c);
}

/* config.json written with the method keys reads back to the same values. */
static void test_json_round_trip(void)
{
    struct ar_train_config c, back;
    ar_train_config_init(&c);
    char err[512];
    ar_train_config_set(&c, "sora_xi_max", "0.0031", err, sizeof err);
    ar_train_config_set(&c, "autolora_first_order", "true", err, sizeof err);
    ar_train_config_set(&c, "flexora_hyper_lr", "0.007", err, sizeof err);
    ar_train_config_set(&c, "autolora_search_fraction", "0.25", err, sizeof err);
    char *json = ar_train_config_to_json(&c, true);
    CHECK(json && strstr(json, "\"sora_xi_max\": 0.0031") && strstr(json, "\"flexora_power\": 1"),
          "config.json has the method keys");
    const char *dir = test_tmpdir("config-methods"); /* removed however the test ends */
    char path[300];
    snprintf(path, sizeof path, "%s/config.json", dir ? dir : "/nonexistent");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0, "open %s", path);
    if (fd >= 0 && json) {
        CHECK(write(fd, json, strlen(json)) == (ssize_t)strlen(json), "write");
        close(fd);
        ar_train_config_init(&back);
        CHECK(ar_train_config_load(&back, path, err, sizeof err) == AR_STATUS_OK, "%s", err);
        CHECK(back.method_params.sora.xi_max == c.method_params.sora.xi_max &&
                  back.method_params.autolora.first_order &&
                  back.method_params.flexora.hyper_lr == c.method_params.flexora.hyper_lr &&
                  back.autolora_search_fraction == 0.25,
              "the method keys read back exactly");
        ar_train_config_clear(&back);
        unlink(path);
    }
    free(json);
    ar_train_config_clear(&c);
}

static void test_help_lists_keys(void)
{
    static const char *const want[] = {"sora_l1_weight", "dylora_min_rank", "adalora_orth_reg",
                                       "autolora_selection_lr", "flexora_select_layers",
                                       "flexora_val_fraction"};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        bool found = false;
        const char *help = NULL;
        for (int i = 0; ar_train_config_key(i, &help) && !found; i++)
            found = !strcmp(ar_train_config_key(i, NULL), want[w]) && help && help[0];
        CHECK(found, "key %s listed with help", want[w]);
    }
}

int main(void)
{
    test_defaults();
    test_set_and_errors();
    expect_check_error("dylora", "dylora_min_rank", "9", "above rank 8");
    expect_check_error("adalora", "adalora_target_rank", "12", "above rank 8");
    expect_check_error("sora", "sora_xi", "0.01", "below sora_xi");
    test_json_round_trip();
    test_help_lists_keys();
    return test_finish("train_config_methods");
}
