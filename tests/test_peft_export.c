/* PEFT adapter export: write a SoRA-like adapter (mixed ranks, one module pruned, a classifier
 * head), read it back with our safetensors reader and JSON parser, and check keys, shapes, data,
 * rank_pattern, alpha_pattern (the per-module scale PEFT will compute) and target_modules.
 * No device needed. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "test.h"

#define IN 6
#define OUT 5

static float a0[8 * IN], b0[OUT * 8], a1[3 * IN], b1[OUT * 3], a3[8 * IN], b3[OUT * 8];
static float head_w[2 * OUT], head_b[2];

static void fill(float *x, size_t n, float base)
{
    for (size_t i = 0; i < n; i++)
        x[i] = base + 0.001f * (float)i;
}

/* SoRA keeps s = alpha / r_max = 16 / 8 = 2 for every module, whatever rank it keeps
 * (METHODS.md §1.4), so modules whose kept rank is not 8 need alpha_pattern = 2 · r_m. */
static const struct ar_peft_module modules[4] = {
    {"bert.encoder.layer.0.attention.self.query", 8, IN, OUT, 2.0, a0, b0},
    {"bert.encoder.layer.0.attention.self.value", 3, IN, OUT, 2.0, a1, b1},
    {"bert.encoder.layer.1.attention.self.query", 0, IN, OUT, 2.0, NULL, NULL},
    {"bert.encoder.layer.1.attention.self.value", 8, IN, OUT, 2.0, a3, b3},
};

static struct ar_peft_adapter make_adapter(void)
{
    static const struct ar_peft_tensor head[2] = {
        {"classifier.weight", 2, {2, OUT}, head_w},
        {"classifier.bias", 1, {2, 0}, head_b},
    };
    return (struct ar_peft_adapter){
        .base_model = "sentence-transformers/all-MiniLM-L6-v2",
        .task_type = "SEQ_CLS",
        .modules = modules,
        .n_modules = 4,
        .tensors = head,
        .n_tensors = 2,
        .method = "sora",
        .state_json = "{\"xi\":0.0003,\"gates\":[[1,0.5]]}",
    };
}

static void tmp_dir(char *out, size_t size)
{
    static const char *dir; /* test_tmpdir: removed however the test ends */
    if (!dir && !(dir = test_tmpdir("peft-export")))
        exit(1);
    snprintf(out, size, "%s/adapter", dir);
}

static void check_tensor(const struct ar_safetensors *st, const char *name, int64_t d0, int64_t d1,
                         const float *want)
{
    const struct ar_st_tensor *t = ar_safetensors_find(st, name);
    CHECK(t != NULL, "tensor %s missing", name);
    if (!t) return;
    CHECK(t->dtype == AR_DTYPE_F32 && t->shape[0] == d0 &&
              (d1 == 0 ? t->ndim == 1 : t->shape[1] == d1),
          "%s shape", name);
    float got[64];
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    char err[256];
    CHECK(n <= 64 && ar_safetensors_read_f32(t, got, n, err, sizeof err) == AR_STATUS_OK &&
              !memcmp(got, want, n * sizeof(float)),
          "%s data", name);
}

static const struct ar__json_node *config_get(const struct ar__json_doc *doc, const char *key)
{
    return ar__json_get(ar__json_root(doc), key);
}

static void check_config(const char *dir)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    struct ar__json_doc *doc = ar__json_parse_file(path, err, sizeof err);
    CHECK(doc != NULL, "config: %s", err);
    if (!doc) return;
    const char *s;
    int64_t r;
    double alpha;
    bool b;
    CHECK(ar__json_as_string(config_get(doc, "peft_type"), &s) && !strcmp(s, "LORA"), "peft_type");
    CHECK(ar__json_as_string(config_get(doc, "task_type"), &s) && !strcmp(s, "SEQ_CLS"), "task");
    CHECK(ar__json_as_int(config_get(doc, "r"), &r) && r == 8, "r = the most common rank");
    CHECK(ar__json_as_double(config_get(doc, "lora_alpha"), &alpha) && alpha == 16, "alpha");
    CHECK(ar__json_as_bool(config_get(doc, "inference_mode"), &b) && b, "inference_mode");
    CHECK(ar__json_as_string(config_get(doc, "bias"), &s) && !strcmp(s, "none"), "bias");
    /* rank_pattern: only the module whose rank differs from r. */
    const struct ar__json_node *rp = config_get(doc, "rank_pattern");
    CHECK(rp && rp->count == 1 && ar__json_as_int(ar__json_get(rp, modules[1].name), &r) && r == 3,
          "rank_pattern");
    /* alpha_pattern: PEFT's alpha_m / r_m must give back s_m = 2 exactly. */
    const struct ar__json_node *ap = config_get(doc, "alpha_pattern");
    CHECK(ap && ap->count == 1 && ar__json_as_double(ar__json_get(ap, modules[1].name), &alpha) &&
              alpha / 3 == 2.0,
          "alpha_pattern");
    /* target_modules: the value suffix is exact (both kept); layer 1's query was pruned, so
     * layer 0's query is named in full and layer 1's is absent. */
    const struct ar__json_node *tm = config_get(doc, "target_modules");
    CHECK(tm && tm->count == 2, "target_modules count");
    bool value = false, query0 = false, query1 = false;
    for (size_t i = 0; tm && i < tm->count; i++) {
        ar__json_as_string(tm->items[i], &s);
        value = value || !strcmp(s, "attention.self.value");
        query0 = query0 || !strcmp(s, modules[0].name);
        query1 = query1 || strstr(s, "layer.1.attention.self.query") ||
                 !strcmp(s, "attention.self.query");
    }
    CHECK(value && query0 && !query1, "target_modules entries");
    const struct ar__json_node *ms = config_get(doc, "modules_to_save");
    CHECK(ms && ms->count == 1 && ar__json_as_string(ms->items[0], &s) && !strcmp(s, "classifier"),
          "modules_to_save");
    ar__json_free(doc);

    snprintf(path, sizeof path, "%s/adarank_state.json", dir);
    doc = ar__json_parse_file(path, err, sizeof err);
    CHECK(doc && ar__json_as_string(config_get(doc, "method"), &s) && !strcmp(s, "sora") &&
              config_get(doc, "modules")->count == 4 &&
              ar__json_get(config_get(doc, "state"), "xi"),
          "sidecar: %s", doc ? "" : err);
    ar__json_free(doc);
}

static void test_export(void)
{
    fill(a0, sizeof a0 / 4, 0.1f), fill(b0, sizeof b0 / 4, 0.2f), fill(a1, sizeof a1 / 4, 0.3f);
    fill(b1, sizeof b1 / 4, 0.4f), fill(a3, sizeof a3 / 4, 0.5f), fill(b3, sizeof b3 / 4, 0.6f);
    fill(head_w, 2 * OUT, 0.7f), fill(head_b, 2, 0.8f);
    char dir[512], path[1024], err[512];
    tmp_dir(dir, sizeof dir);
    struct ar_peft_adapter a = make_adapter();
    enum ar_status st = ar_peft_export(dir, &a, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "export: %s", err);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    struct ar_safetensors *sf = NULL;
    st = ar_safetensors_open(path, &sf, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "open: %s", err);
    if (st == AR_STATUS_OK) {
        CHECK(ar_safetensors_count(sf) == 8, "8 tensors, got %zu", ar_safetensors_count(sf));
        const char *fmt = ar_safetensors_metadata(sf, "format");
        CHECK(fmt && !strcmp(fmt, "pt"), "metadata format pt");
        const char *p0 = "base_model.model.bert.encoder.layer.0.attention.self.";
        char name[256];
        snprintf(name, sizeof name, "%squery.lora_A.weight", p0);
        check_tensor(sf, name, 8, IN, a0);
        snprintf(name, sizeof name, "%squery.lora_B.weight", p0);
        check_tensor(sf, name, OUT, 8, b0);
        snprintf(name, sizeof name, "%svalue.lora_A.weight", p0);
        check_tensor(sf, name, 3, IN, a1);
        snprintf(name, sizeof name, "%svalue.lora_B.weight", p0);
        check_tensor(sf, name, OUT, 3, b1);
        CHECK(!ar_safetensors_find(
                  sf, "base_model.model.bert.encoder.layer.1.attention.self.query.lora_A.weight"),
              "pruned module absent");
        check_tensor(sf, "base_model.model.classifier.weight", 2, OUT, head_w);
        check_tensor(sf, "base_model.model.classifier.bias", 2, 0, head_b);
        ar_safetensors_free(sf);
    }
    check_config(dir);
    /* rsLoRA: divisor sqrt(r); the chosen alpha is s·sqrt(8) and rank 3 needs a pattern. */
    a.use_rslora = true;
    CHECK(ar_peft_export(dir, &a, err, sizeof err) == AR_STATUS_OK, "rslora: %s", err);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    struct ar__json_doc *doc = ar__json_parse_file(path, err, sizeof err);
    double alpha = 0, alpha3 = 0;
    CHECK(doc && ar__json_as_double(config_get(doc, "lora_alpha"), &alpha) &&
              fabs(alpha / sqrt(8.0) - 2.0) < 1e-15 &&
              ar__json_as_double(ar__json_get(config_get(doc, "alpha_pattern"), modules[1].name),
                                 &alpha3) &&
              (float)(alpha3 / sqrt(3.0)) == 2.0f,
          "rslora alpha %.17g, pattern %.17g", alpha, alpha3);
    ar__json_free(doc);
    const char *files[] = {"adapter_config.json", "adapter_model.safetensors",
                           "adarank_state.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        remove(path);
    }
    rmdir(dir);
}

static void expect_invalid(struct ar_peft_adapter a, const char *what)
{
    char dir[512], err[512] = "";
    tmp_dir(dir, sizeof dir);
    enum ar_status st = ar_peft_export(dir, &a, err, sizeof err);
    CHECK(st == AR_STATUS_INVALID_ARGUMENT && strstr(err, what), "want \"%s\", got %s: %s", what,
          ar_status_name(st), err);
    rmdir(dir);
}

static void test_bad_input(void)
{
    struct ar_peft_module twice[2] = {modules[0], modules[0]};
    struct ar_peft_adapter a = make_adapter();
    a.modules = twice, a.n_modules = 2;
    expect_invalid(a, "listed twice");
    struct ar_peft_module pruned[1] = {modules[2]};
    a.modules = pruned, a.n_modules = 1;
    expect_invalid(a, "rank 0");
    struct ar_peft_module no_data[1] = {modules[0]};
    no_data[0].b = NULL;
    a.modules = no_data;
    expect_invalid(a, "missing A/B");
    a = make_adapter();
    a.state_json = "[1]";
    expect_invalid(a, "state_json must be a JSON object");
    a = make_adapter();
    char err[512];
    CHECK(ar_peft_export("/nonexistent-dir/sub/adapter", &a, err, sizeof err) == AR_STATUS_IO &&
              strstr(err, "/nonexistent-dir/sub/adapter"),
          "unwritable dir: %s", err);
}

int main(void)
{
    test_export();
    test_bad_input();
    return test_finish("peft_export");
}
