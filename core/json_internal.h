/* The JSON reader's parser state: what json.c (the arena, containers, the entry points) and
 * json_scalar.c (strings and numbers) share. Library-internal; users include json.h. */
#ifndef ADARANK_CORE_JSON_INTERNAL_H
#define ADARANK_CORE_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

struct ar__json_parser {
    const unsigned char *s;
    size_t len, pos;
    int depth;
    struct ar__json_doc *doc;
    /* Scratch stack of children (and their keys) of the containers being parsed. */
    struct ar__json_node **stack;
    const char **stack_keys;
    size_t *stack_lens;
    size_t top, cap;
    char *buf; /* string decoding scratch */
    size_t buf_len, buf_cap;
    char *err;
    size_t err_size;
    bool failed;
};

/* `size` bytes (16-aligned) of the document's arena, freed with it; NULL when out of memory. */
void *ar__json_arena_alloc(struct ar__json_doc *doc, size_t size);

/* Records the first error with its 1-based line and column at byte `pos`; returns false. */
bool ar__json_fail_at(struct ar__json_parser *p, size_t pos, const char *what);
/* The same at the current position. */
bool ar__json_fail(struct ar__json_parser *p, const char *what);

/* The string whose opening quote is at p->pos, decoded into the arena (json_scalar.c). */
bool ar__json_parse_string(struct ar__json_parser *p, const char **out, size_t *out_len);
/* The number at p->pos (a '-' or a digit) into n (json_scalar.c). */
bool ar__json_parse_number(struct ar__json_parser *p, struct ar__json_node *n);

#endif
