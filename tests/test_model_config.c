/* config.json loading (ar_model_config_load): the real MiniLM config, BERT/RoBERTa/GPT-2/Llama
 * configs with and without the keys that have defaults, and every kind of bad key. */
#include <sys/stat.h>
#include <unistd.h>

#include "adarank/model.h"
#include "test.h"

static const char *dir; /* test_tmpdir: removed however the test ends */

static const char *write_config(const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0, "write %s", path);
    if (f) fclose(f);
    return path;
}

static enum ar_status load(const char *text, struct ar_model_config *c, char *err, size_t size)
{
    memset(c, 0xAB, sizeof *c);
    return ar_model_config_load(write_config(text), c, err, size);
}

static void test_minilm(void)
{
    const char *model_dir = getenv("ADARANK_MODEL_DIR");
    if (!model_dir) {
        test_model_missing("the MiniLM config check");
        return;
    }
    char path[1024], err[1024];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    struct ar_model_config c;
    for (int as_dir = 0; as_dir < 2; as_dir++) {
        CHECK(ar_model_config_load(as_dir ? model_dir : path, &c, err, sizeof err) == AR_STATUS_OK,
              "MiniLM: %s", err);
        CHECK(c.arch == AR_ARCH_BERT && !strcmp(c.model_type, "bert"), "bert");
        CHECK(c.vocab_size == 30522 && c.hidden_size == 384 && c.num_layers == 6 &&
                  c.num_heads == 12 && c.num_kv_heads == 12 && c.intermediate_size == 1536,
              "sizes");
        CHECK(c.max_positions == 512 && c.type_vocab_size == 2 && c.pad_token_id == 0,
              "embeddings");
        CHECK(c.norm_eps == 1e-12f && c.hidden_act == AR_HIDDEN_ACT_GELU, "eps and erf gelu");
    }
}

static void test_archs(void)
{
    char err[1024] = "";
    struct ar_model_config c;
    CHECK(load("{\"model_type\":\"bert\",\"vocab_size\":100,\"hidden_size\":64,"
               "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":128}",
               &c, err, sizeof err) == AR_STATUS_OK,
          "minimal bert: %s", err);
    CHECK(c.type_vocab_size == 2 && c.norm_eps == 1e-12f && c.max_positions == 512 &&
              c.pad_token_id == 0 && c.hidden_act == AR_HIDDEN_ACT_GELU && c.num_kv_heads == 4,
          "BertConfig defaults");

    CHECK(load("{\"model_type\":\"roberta\",\"vocab_size\":50265,\"hidden_size\":768,"
               "\"num_hidden_layers\":12,\"num_attention_heads\":12,\"intermediate_size\":3072,"
               "\"max_position_embeddings\":514,\"type_vocab_size\":1,\"layer_norm_eps\":1e-05,"
               "\"position_embedding_type\":\"absolute\"}",
               &c, err, sizeof err) == AR_STATUS_OK,
          "roberta: %s", err);
    CHECK(c.arch == AR_ARCH_BERT && !strcmp(c.model_type, "roberta") && c.pad_token_id == 1 &&
              c.max_positions == 514 && c.type_vocab_size == 1 && c.norm_eps == 1e-5f,
          "roberta values, pad_token_id defaults to 1");

    CHECK(load("{\"model_type\":\"gpt2\",\"vocab_size\":50257,\"n_embd\":768,\"n_layer\":12,"
               "\"n_head\":12,\"n_positions\":1024,\"n_inner\":null,\"layer_norm_epsilon\":1e-05,"
               "\"activation_function\":\"gelu_new\",\"bos_token_id\":50256}",
               &c, err, sizeof err) == AR_STATUS_OK,
          "gpt2: %s", err);
    CHECK(c.arch == AR_ARCH_GPT2 && c.hidden_size == 768 && c.intermediate_size == 3072 &&
              c.num_kv_heads == 12 && c.type_vocab_size == 0 && c.pad_token_id == -1 &&
              c.hidden_act == AR_HIDDEN_ACT_GELU_TANH && c.norm_eps == 1e-5f &&
              c.tie_word_embeddings,
          "gpt2 values: n_inner null = 4 n_embd, tanh gelu, no pad");

    CHECK(load("{\"model_type\":\"llama\",\"vocab_size\":128256,\"hidden_size\":2048,"
               "\"num_hidden_layers\":16,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
               "\"intermediate_size\":8192,\"rms_norm_eps\":1e-05,\"rope_theta\":500000.0,"
               "\"max_position_embeddings\":131072,\"tie_word_embeddings\":true,"
               "\"hidden_act\":\"silu\",\"rope_scaling\":null,\"head_dim\":64}",
               &c, err, sizeof err) == AR_STATUS_OK,
          "llama GQA: %s", err);
    CHECK(c.arch == AR_ARCH_LLAMA && c.num_heads == 32 && c.num_kv_heads == 8 &&
              c.rope_theta == 500000.0f && c.norm_eps == 1e-5f && c.tie_word_embeddings &&
              c.hidden_act == AR_HIDDEN_ACT_SILU && c.max_positions == 131072,
          "llama values");
    CHECK(load("{\"model_type\":\"llama\",\"vocab_size\":32000,\"hidden_size\":4096,"
               "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"intermediate_size\":11008}",
               &c, err, sizeof err) == AR_STATUS_OK,
          "minimal llama: %s", err);
    CHECK(c.num_kv_heads == 32 && c.rope_theta == 10000.0f && c.norm_eps == 1e-6f &&
              !c.tie_word_embeddings && c.max_positions == 2048 && c.pad_token_id == -1,
          "LlamaConfig defaults");
}

#define BERT_SIZES                                                                                 \
    "\"vocab_size\":100,\"num_hidden_layers\":2,\"num_attention_heads\":4,"                        \
    "\"intermediate_size\":128,"

static void test_errors(void)
{
    static const struct {
        const char *text;
        enum ar_status status;
        const char *want; /* after "PATH: " */
    } cases[] = {
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"x\":0}", AR_STATUS_BAD_FORMAT,
         "hidden_size: missing"},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":\"64\"}", AR_STATUS_BAD_FORMAT,
         "hidden_size: expected an integer"},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":64.5}", AR_STATUS_BAD_FORMAT,
         "hidden_size: expected an integer"},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":0}", AR_STATUS_BAD_FORMAT,
         "hidden_size: 0 is out of range"},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":4294967296}", AR_STATUS_BAD_FORMAT,
         "hidden_size: 4294967296 is out of range"},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":66}", AR_STATUS_BAD_FORMAT,
         "num_attention_heads: must divide the hidden size"},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":64,\"layer_norm_eps\":-1}",
         AR_STATUS_BAD_FORMAT, "layer_norm_eps: must be a positive finite number"},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":64,\"layer_norm_eps\":\"1e-12\"}",
         AR_STATUS_BAD_FORMAT, "layer_norm_eps: expected a number"},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":64,\"hidden_act\":\"relu\"}",
         AR_STATUS_UNSUPPORTED, "hidden_act: activation \"relu\" is not supported"},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":64,\"hidden_act\":1}",
         AR_STATUS_BAD_FORMAT, "hidden_act: expected a string"},
        {"{\"model_type\":\"bert\"," BERT_SIZES
         "\"hidden_size\":64,\"position_embedding_type\":\"relative_key\"}",
         AR_STATUS_UNSUPPORTED, "position_embedding_type: only \"absolute\""},
        {"{\"model_type\":\"bert\"," BERT_SIZES "\"hidden_size\":64,\"tie_word_embeddings\":1}",
         AR_STATUS_BAD_FORMAT, "tie_word_embeddings: expected true or false"},
        {"{" BERT_SIZES "\"hidden_size\":64}", AR_STATUS_BAD_FORMAT, "model_type: missing"},
        {"{\"model_type\":\"t5\"}", AR_STATUS_UNSUPPORTED, "model_type: not supported"},
        {"{\"model_type\":\"gpt2\",\"vocab_size\":10,\"n_embd\":64,\"n_layer\":1}",
         AR_STATUS_BAD_FORMAT, "n_head: missing"},
        {"{\"model_type\":\"gpt2\",\"vocab_size\":10,\"n_embd\":64,\"n_layer\":1,\"n_head\":5}",
         AR_STATUS_BAD_FORMAT, "n_head: must divide the hidden size"},
        {"{\"model_type\":\"llama\"," BERT_SIZES
         "\"hidden_size\":64,\"rope_scaling\":{\"rope_type\":\"llama3\"}}",
         AR_STATUS_UNSUPPORTED, "rope_scaling: scaled RoPE is not supported"},
        {"{\"model_type\":\"llama\"," BERT_SIZES "\"hidden_size\":64,\"num_key_value_heads\":3}",
         AR_STATUS_BAD_FORMAT, "num_key_value_heads: must divide num_attention_heads"},
        {"{\"model_type\":\"llama\"," BERT_SIZES "\"hidden_size\":64,\"attention_bias\":true}",
         AR_STATUS_UNSUPPORTED, "attention_bias: biased projections"},
        {"{\"model_type\":\"llama\"," BERT_SIZES "\"hidden_size\":64,\"head_dim\":32}",
         AR_STATUS_UNSUPPORTED, "head_dim: must equal"},
        {"{\"model_type\":\"llama\"," BERT_SIZES "\"hidden_size\":64,\"rope_theta\":0}",
         AR_STATUS_BAD_FORMAT, "rope_theta: must be a positive"},
        {"[1]", AR_STATUS_BAD_FORMAT, "(root): expected a JSON object"},
        {"{\"model_type\":\"bert\",}", AR_STATUS_BAD_FORMAT, "line 1, column 22: expected a"},
    };
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/config.json: ", dir);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char err[1024] = "";
        struct ar_model_config c, before;
        memset(&before, 0xAB, sizeof before);
        enum ar_status s = load(cases[k].text, &c, err, sizeof err);
        CHECK(s == cases[k].status, "case %zu: status %s, want %s (%s)", k, ar_status_name(s),
              ar_status_name(cases[k].status), err);
        CHECK(strncmp(err, prefix, strlen(prefix)) == 0 &&
                  strncmp(err + strlen(prefix), cases[k].want, strlen(cases[k].want)) == 0,
              "case %zu: got \"%s\", want \"%s\"", k, err, cases[k].want);
        CHECK(!memcmp(&c, &before, sizeof c), "case %zu: output untouched on failure", k);
    }
    char err[1024];
    struct ar_model_config c;
    CHECK(ar_model_config_load("/nonexistent/config.json", &c, err, sizeof err) == AR_STATUS_IO &&
              strstr(err, "/nonexistent/config.json: cannot open"),
          "missing file: %s", err);
}

int main(void)
{
    if (!(dir = test_tmpdir("config")))
        return 1;
    test_minilm();
    test_archs();
    test_errors();
    return test_finish("model_config");
}
