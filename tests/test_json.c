/* The JSON reader and writer (core/json.h): valid documents, every error class with its line and
 * column, nesting limits, duplicate keys, numbers, escapes, invalid UTF-8 and truncated input. */
#include <fcntl.h>
#include <locale.h>
#include <stdint.h>
#include <unistd.h>

#include "json.h"
#include "test.h"

static struct ar__json_doc *parse(const char *text, char *err, size_t err_size)
{
    return ar__json_parse(text, strlen(text), err, err_size);
}

static void test_valid(void)
{
    char err[256] = "";
    const char *text = "\xEF\xBB\xBF {\"a\": [1, 2.5, \"x\", true, false, null, {}, []],\r\n"
                       " \"b\": {\"c\": \"d\"}, \"\": -0 }\t\n";
    struct ar__json_doc *doc = parse(text, err, sizeof err);
    CHECK(doc != NULL, "valid document: %s", err);
    const struct ar__json_node *root = ar__json_root(doc);
    CHECK(root && root->type == AR__JSON_OBJECT && root->count == 3, "root object of 3");
    const struct ar__json_node *a = ar__json_get(root, "a");
    CHECK(a && a->type == AR__JSON_ARRAY && a->count == 8, "array of 8");
    int64_t i = 0;
    double d = 0;
    bool b = false;
    const char *s = NULL;
    CHECK(ar__json_as_int(ar__json_at(a, 0), &i) && i == 1, "a[0] = 1");
    CHECK(!ar__json_as_int(ar__json_at(a, 1), &i), "2.5 is not an int");
    CHECK(ar__json_as_double(ar__json_at(a, 1), &d) && d == 2.5, "a[1] = 2.5");
    CHECK(ar__json_as_string(ar__json_at(a, 2), &s) && strcmp(s, "x") == 0, "a[2] = x");
    CHECK(ar__json_as_bool(ar__json_at(a, 3), &b) && b, "a[3] true");
    CHECK(ar__json_as_bool(ar__json_at(a, 4), &b) && !b, "a[4] false");
    CHECK(ar__json_at(a, 5)->type == AR__JSON_NULL, "a[5] null");
    CHECK(ar__json_at(a, 6)->type == AR__JSON_OBJECT && ar__json_at(a, 6)->count == 0, "{}");
    CHECK(ar__json_at(a, 7)->type == AR__JSON_ARRAY && ar__json_at(a, 7)->count == 0, "[]");
    CHECK(ar__json_at(a, 8) == NULL, "out of range");
    CHECK(ar__json_as_string(ar__json_get(ar__json_get(root, "b"), "c"), &s) && !strcmp(s, "d"),
          "b.c = d");
    CHECK(ar__json_as_int(ar__json_get(root, ""), &i) && i == 0, "empty key, -0");
    CHECK(ar__json_as_double(ar__json_get(root, ""), &d) && signbit(d), "-0 keeps its sign");
    CHECK(strcmp(root->keys[0], "a") == 0 && strcmp(root->keys[2], "") == 0, "file order");
    CHECK(ar__json_get(root, "zz") == NULL && ar__json_get(a, "a") == NULL, "missing lookups");
    CHECK(!ar__json_as_string(NULL, &s) && !ar__json_as_bool(a, &b), "wrong types");
    ar__json_free(doc);
    ar__json_free(NULL);

    const char *scalars[] = {"0", "\"s\"", "true", " null ", "-1.5e-3"};
    for (size_t k = 0; k < sizeof scalars / sizeof *scalars; k++) {
        doc = parse(scalars[k], err, sizeof err);
        CHECK(doc != NULL, "top-level scalar %s: %s", scalars[k], err);
        ar__json_free(doc);
    }
}

/* Each bad document must fail with this message at this line and column. */
static void test_errors(void)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "line 1, column 1: unexpected end of input, expected a value"},
        {"   \n  ", "line 2, column 3: unexpected end of input"},
        {"{\"a\": 1,}", "line 1, column 9: expected a string key"},
        {"[1, 2,]", "line 1, column 7: unexpected character"},
        {"{\"a\" 1}", "line 1, column 6: expected ':' after object key"},
        {"{\"a\": 1", "line 1, column 8: unexpected end of input in object"},
        {"[1 2]", "line 1, column 4: expected ',' or ']' in array"},
        {"{\"a\":1 \"b\":2}", "line 1, column 8: expected ',' or '}' in object"},
        {"{1: 2}", "line 1, column 2: expected a string key"},
        {"\"abc", "line 1, column 1: unterminated string"},
        {"\"a\\qb\"", "line 1, column 3: invalid escape sequence"},
        {"\"a\\u12G4\"", "line 1, column 7: invalid hex digit"},
        {"\"a\\u12\"", "line 1, column 7: invalid hex digit"},
        {"\"\\u00", "line 1, column 6: truncated \\u escape"},
        {"\"tab\there\"", "line 1, column 5: control character in string"},
        {"\"\\ud800\"", "line 1, column 2: unpaired high surrogate"},
        {"\"\\ud800\\u0041\"", "line 1, column 2: unpaired high surrogate"},
        {"\"\\udc00\"", "line 1, column 2: unpaired low surrogate"},
        {"012", "line 1, column 2: leading zero in number"},
        {"1.", "line 1, column 3: expected digits after the decimal point"},
        {"1e+", "line 1, column 4: expected digits in the exponent"},
        {"-", "line 1, column 2: invalid number"},
        {"+1", "line 1, column 1: unexpected character"},
        {"1e400", "line 1, column 1: number out of range"},
        {"tru", "line 1, column 1: invalid literal"},
        {"nul", "line 1, column 1: invalid literal"},
        {"True", "line 1, column 1: unexpected character"},
        {"{} x", "line 1, column 4: unexpected text after the JSON value"},
        {"[1]\n\n  ]", "line 3, column 3: unexpected text after the JSON value"},
        {"'a'", "line 1, column 1: unexpected character"},
        {"[\"\xC3\xA9\", 1 x]",
         "line 1, column 9: expected ',' or ']'"}, /* columns count é as one */
        /* Invalid UTF-8 (RFC 3629): overlong, surrogate, above U+10FFFF, bad and missing
         * continuation bytes, stray continuation byte; and a raw non-ASCII byte outside strings. */
        {"\"\xC0\x80\"", "line 1, column 2: invalid UTF-8 in string"},
        {"\"\xE0\x80\xAF\"", "line 1, column 2: invalid UTF-8 in string"},
        {"\"ab\xED\xA0\x80\"", "line 1, column 4: invalid UTF-8 in string"},
        {"\"\xF4\x90\x80\x80\"", "line 1, column 2: invalid UTF-8 in string"},
        {"\"\xF5\x80\x80\x80\"", "line 1, column 2: invalid UTF-8 in string"},
        {"\"\xC3\x28\"", "line 1, column 2: invalid UTF-8 in string"},
        {"\"\xE2\x82\"", "line 1, column 2: invalid UTF-8 in string"},
        {"\"\x80\"", "line 1, column 2: invalid UTF-8 in string"},
        {"\xFF", "line 1, column 1: unexpected byte"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char err[256] = "";
        struct ar__json_doc *doc = parse(cases[k].text, err, sizeof err);
        CHECK(doc == NULL, "case %zu must fail", k);
        CHECK(strncmp(err, cases[k].want, strlen(cases[k].want)) == 0,
              "case %zu: got \"%s\", want \"%s\"", k, err, cases[k].want);
        ar__json_free(doc);
    }
    /* An embedded NUL byte is not whitespace; a tiny err buffer is truncated, not overrun. */
    char err[8];
    CHECK(ar__json_parse("1\0", 2, err, sizeof err) == NULL && strlen(err) == 7, "NUL, short err");
    CHECK(ar__json_parse(NULL, 0, NULL, 0) == NULL, "NULL text and err");
}

static void test_depth(void)
{
    char text[2 * (AR__JSON_MAX_DEPTH + 1) + 1], err[256];
    for (int depth = AR__JSON_MAX_DEPTH; depth <= AR__JSON_MAX_DEPTH + 1; depth++) {
        for (int i = 0; i < depth; i++)
            text[i] = '[', text[depth + i] = ']';
        text[2 * depth] = '\0';
        struct ar__json_doc *doc = parse(text, err, sizeof err);
        if (depth == AR__JSON_MAX_DEPTH)
            CHECK(doc != NULL, "depth %d is allowed: %s", depth, err);
        else
            CHECK(doc == NULL && strstr(err, "nesting deeper than 512"), "depth %d: %s", depth,
                  err);
        ar__json_free(doc);
    }
    /* A hostile 100k-deep document fails cleanly instead of overflowing the stack. */
    size_t n = 100000;
    char *deep = malloc(n);
    memset(deep, '{', n);
    CHECK(ar__json_parse(deep, n, err, sizeof err) == NULL, "100k levels refused");
    free(deep);
}

static void test_duplicates(void)
{
    char err[256];
    struct ar__json_doc *doc =
        parse("{\"k\": 1, \"j\": 2, \"k\": 3, \"in\": {\"x\":1,\"x\":2}}", err, sizeof err);
    CHECK(doc != NULL, "duplicates parse: %s", err);
    const struct ar__json_node *root = ar__json_root(doc);
    int64_t v = 0;
    CHECK(root->count == 4 && ar__json_as_int(ar__json_get(root, "k"), &v) && v == 1,
          "both kept, lookup gives the first");
    const char *dup = NULL;
    CHECK(ar__json_has_duplicate_keys(root, &dup) && dup && strcmp(dup, "k") == 0, "finds k");
    CHECK(ar__json_has_duplicate_keys(ar__json_get(root, "in"), NULL), "nested object");
    ar__json_free(doc);

    /* Keys differing only after an embedded NUL are different keys. */
    doc = parse("{\"a\\u0000b\": 1, \"a\\u0000c\": 2, \"a\": 3}", err, sizeof err);
    CHECK(doc && !ar__json_has_duplicate_keys(ar__json_root(doc), NULL), "NUL-distinct keys");
    CHECK(doc && ar__json_as_int(ar__json_get(ar__json_root(doc), "a"), &v) && v == 3, "a = 3");
    ar__json_free(doc);

    /* 50,000 distinct keys (a tokenizer vocabulary) and then one duplicate at the end. */
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    for (int i = 0; i < 50000; i++) {
        char key[32];
        snprintf(key, sizeof key, "tok%d", i);
        ar__json_write_key(&b, key);
        ar__json_write_int(&b, i);
    }
    ar__json_put(&b, "}");
    doc = ar__json_parse(b.data, b.len, err, sizeof err);
    CHECK(doc && ar__json_root(doc)->count == 50000, "50k keys: %s", err);
    CHECK(doc && !ar__json_has_duplicate_keys(ar__json_root(doc), NULL), "50k distinct");
    ar__json_free(doc);
    b.len--; /* drop the '}' */
    ar__json_put(&b, ",\"tok123\":0}");
    doc = ar__json_parse(b.data, b.len, err, sizeof err);
    dup = NULL;
    CHECK(doc && ar__json_has_duplicate_keys(ar__json_root(doc), &dup) && !strcmp(dup, "tok123"),
          "late duplicate found");
    ar__json_free(doc);
    ar__json_buf_free(&b);
}

static void test_numbers(void)
{
    static const struct {
        const char *text;
        double num;
        bool is_int;
        int64_t i64;
    } cases[] = {
        {"0", 0, true, 0},
        {"-7", -7, true, -7},
        {"30522", 30522, true, 30522},
        {"9223372036854775807", 9223372036854775807.0, true, INT64_MAX},
        {"-9223372036854775808", -9223372036854775808.0, true, INT64_MIN},
        {"9223372036854775808", 9223372036854775808.0, false, 0},
        {"-9223372036854775809", -9223372036854775809.0, false, 0},
        {"1e-12", 1e-12, false, 0},
        {"1E3", 1000, false, 0},
        {"10000.0", 10000, false, 0},
        {"-0.5e+2", -50, false, 0},
        {"1e-400", 0, false, 0}, /* underflow to zero is fine */
        {"0.1", 0.1, false, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char err[256];
        struct ar__json_doc *doc = parse(cases[k].text, err, sizeof err);
        const struct ar__json_node *n = ar__json_root(doc);
        CHECK(n && n->type == AR__JSON_NUMBER, "%s parses: %s", cases[k].text, err);
        if (!n) continue;
        CHECK(n->num == cases[k].num, "%s: num %.17g", cases[k].text, n->num);
        CHECK(n->is_int == cases[k].is_int, "%s: is_int %d", cases[k].text, n->is_int);
        if (cases[k].is_int)
            CHECK(n->i64 == cases[k].i64, "%s: i64 %lld", cases[k].text, (long long)n->i64);
        ar__json_free(doc);
    }
}

static void test_strings(void)
{
    char err[256];
    struct ar__json_doc *doc = parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"caf\\u00e9 \\u20AC\","
                                     " \"\\ud83d\\ude00\", \"a\\u0000b\", \"\xE4\xB8\xAD\"]",
                                     err, sizeof err);
    const struct ar__json_node *r = ar__json_root(doc);
    CHECK(r && r->count == 5, "escapes parse: %s", err);
    if (!r) return;
    CHECK(r->items[0]->len == 8 && !memcmp(r->items[0]->str, "\"\\/\b\f\n\r\t", 8), "simple");
    CHECK(!strcmp(r->items[1]->str, "caf\xC3\xA9 \xE2\x82\xAC"), "BMP escapes: %s",
          r->items[1]->str);
    CHECK(!strcmp(r->items[2]->str, "\xF0\x9F\x98\x80"), "surrogate pair to U+1F600");
    CHECK(r->items[3]->len == 3 && !memcmp(r->items[3]->str, "a\0b", 4), "embedded NUL");
    CHECK(!strcmp(r->items[4]->str, "\xE4\xB8\xAD"), "raw UTF-8 kept");
    ar__json_free(doc);
}

/* Every strict prefix of an object document is incomplete and must fail, never crash. */
static void test_truncated(void)
{
    const char *text =
        "{\"name\": [1, -2.5e3, \"x\\u00e9\\ud83d\\ude00\", true, null, {\"k\": false}]}";
    size_t len = strlen(text), failures = 0;
    for (size_t cut = 0; cut < len; cut++) {
        char err[256] = "";
        char *copy = malloc(cut ? cut : 1); /* exact size: ASan/valgrind see any over-read */
        memcpy(copy, text, cut);
        struct ar__json_doc *doc = ar__json_parse(copy, cut, err, sizeof err);
        failures += doc == NULL && strncmp(err, "line 1, column ", 15) == 0;
        ar__json_free(doc);
        free(copy);
    }
    CHECK(failures == len, "%zu of %zu prefixes failed with a position", failures, len);
}

static void test_writer(void)
{
    struct ar__json_buf b = {0};
    const char raw[] = "q\"b\\n\n\x01\x1f\xC3\xA9";
    ar__json_put(&b, "{");
    ar__json_write_key(&b, "s");
    ar__json_write_string_n(&b, raw, sizeof raw - 1);
    ar__json_write_key(&b, "a");
    ar__json_put(&b, "[");
    ar__json_comma(&b);
    ar__json_write_double(&b, 0.1);
    ar__json_comma(&b);
    ar__json_write_float(&b, 1e-12f);
    ar__json_comma(&b);
    ar__json_write_double(&b, NAN);
    ar__json_comma(&b);
    ar__json_write_int(&b, INT64_MIN);
    ar__json_put(&b, "]}");
    CHECK(!b.oom && b.data[b.len] == '\0', "buffer terminated");
    CHECK(strstr(b.data, "\\u0001\\u001f") != NULL, "control escapes: %s", b.data);
    char err[256];
    struct ar__json_doc *doc = ar__json_parse(b.data, b.len, err, sizeof err);
    const struct ar__json_node *r = ar__json_root(doc);
    CHECK(doc != NULL, "writer output parses: %s (%s)", err, b.data);
    if (doc) {
        const struct ar__json_node *s = ar__json_get(r, "s"), *a = ar__json_get(r, "a");
        CHECK(s->len == sizeof raw - 1 && !memcmp(s->str, raw, s->len), "string round trip");
        CHECK(a->count == 4 && a->items[0]->num == 0.1, "double round trip: %s", b.data);
        CHECK((float)a->items[1]->num == 1e-12f, "float round trip");
        CHECK(a->items[2]->type == AR__JSON_NULL, "NaN as null");
        CHECK(a->items[3]->is_int && a->items[3]->i64 == INT64_MIN, "int64 min");
    }
    ar__json_free(doc);
    ar__json_buf_free(&b);

    /* Numbers use '.' whatever the locale (when a comma locale is installed to try). */
    const char *comma[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE.utf8"};
    for (size_t k = 0; k < 3; k++) {
        if (!setlocale(LC_NUMERIC, comma[k])) continue;
        char out[32];
        ar__json_format_double(out, sizeof out, "%.3g", 2.5);
        CHECK(!strcmp(out, "2.5"), "format in %s: %s", comma[k], out);
        CHECK(ar__json_strtod("2.5", NULL) == 2.5, "strtod in %s", comma[k]);
        setlocale(LC_NUMERIC, "C");
        break;
    }
}

static void test_file(void)
{
    char err[512];
    CHECK(ar__json_parse_file("/nonexistent/x.json", err, sizeof err) == NULL &&
              strstr(err, "/nonexistent/x.json: cannot open") == err,
          "missing file: %s", err);
    const char *dir = test_tmpdir("json");
    CHECK(dir != NULL, "test_tmpdir");
    if (!dir) return;
    char path[300];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0, "open %s", path);
    if (fd < 0) return;
    const char *bad = "{\n  \"a\": 1,\n  \"b\": [1,,2]\n}\n";
    CHECK(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad), "write");
    close(fd);
    CHECK(ar__json_parse_file(path, err, sizeof err) == NULL, "bad file fails");
    char want[600];
    snprintf(want, sizeof want, "%s: line 3, column 11: unexpected character", path);
    CHECK(strcmp(err, want) == 0, "file error: got \"%s\"", err);
    unlink(path);

    const char *model_dir = getenv("ADARANK_MODEL_DIR");
    if (model_dir) {
        char tok[1024];
        snprintf(tok, sizeof tok, "%s/tokenizer.json", model_dir);
        struct ar__json_doc *doc = ar__json_parse_file(tok, err, sizeof err);
        const struct ar__json_node *vocab =
            ar__json_get(ar__json_get(ar__json_root(doc), "model"), "vocab");
        CHECK(vocab && vocab->count == 30522, "MiniLM tokenizer.json vocab: %s", err);
        CHECK(!ar__json_has_duplicate_keys(vocab, NULL), "vocab keys distinct");
        ar__json_free(doc);
    }
}

int main(void)
{
    test_valid();
    test_errors();
    test_depth();
    test_duplicates();
    test_numbers();
    test_strings();
    test_truncated();
    test_writer();
    test_file();
    return test_finish("json");
}
