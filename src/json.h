/* A small, strict JSON reader and writer for checkpoint headers and metadata (RFC 8259: no
 * comments, no trailing commas, no duplicate keys, UTF-8 only, nesting at most 64 deep, at most
 * 4096 members per object and 1,000,000 elements per array).
 * Integers keep their exact value beside the double, so offsets and seeds survive.
 * Implementation: src/json.c. */
#ifndef DD_JSON_H
#define DD_JSON_H

#include <stddef.h>

typedef enum {
    DD_JSON_NULL,
    DD_JSON_BOOL,
    DD_JSON_NUMBER,
    DD_JSON_STRING,
    DD_JSON_ARRAY,
    DD_JSON_OBJECT
} dd_json_type;

typedef struct dd_json dd_json;
struct dd_json {
    dd_json_type type;
    double number;     /* NUMBER (and BOOL: 0 or 1) */
    long long integer; /* NUMBER written as an integer that fits: its exact value */
    int is_integer;    /* whether INTEGER holds the exact value */
    char *string;      /* STRING: decoded, NUL-terminated (no embedded NULs are accepted) */
    char *key;         /* member of an OBJECT: its name */
    dd_json *child;    /* ARRAY or OBJECT: first element or member */
    dd_json *next;     /* next element or member of the parent */
    size_t count;      /* ARRAY or OBJECT: number of children */
};

/* The length of the valid UTF-8 character at S (at most N bytes): 1 to 4, or 0 when S starts no
 * valid character (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF). */
size_t dd_utf8_length(const unsigned char *s, size_t n);

/* Parses TEXT[0..len) (whitespace may follow the value). Returns the tree, or NULL with one line
 * in ERR (DD_ERR_LEN bytes) saying what and at which byte. */
dd_json *dd_json_parse(const char *text, size_t len, char *err);
void dd_json_free(dd_json *v);

/* The member KEY of OBJ, or NULL (also when OBJ is not an object). */
const dd_json *dd_json_get(const dd_json *obj, const char *key);

/* Typed members, for readers that check every field: each returns 0, or -1 with one phrase
 * naming KEY in WHY (DD_ERR_LEN bytes). A number; null reads as NaN (dd_sb_double's spelling of
 * a value that is not finite). */
int dd_json_get_double(const dd_json *obj, const char *key, double *out, char *why);
/* An integer, written as one, within [MIN, MAX]. */
int dd_json_get_int(const dd_json *obj, const char *key, long long min, long long max,
                    long long *out, char *why);
/* The string KEY, or NULL when it is missing or not a string. */
const char *dd_json_get_string(const dd_json *obj, const char *key);

/* A growing string for writing JSON. A failed allocation sets FAILED and drops later writes. */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} dd_strbuf;

void dd_sb_printf(dd_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends S as a quoted JSON string, escaped; a byte that is not valid UTF-8 becomes U+FFFD. */
void dd_sb_string(dd_strbuf *sb, const char *s);
/* Appends X so that strtod reads back the same double (%.17g); null when not finite. */
void dd_sb_double(dd_strbuf *sb, double x);
/* Appends X in the fewest digits (6 to 9) that strtof reads back as X; null when not finite. */
void dd_sb_float(dd_strbuf *sb, float x);
void dd_sb_free(dd_strbuf *sb);

#endif
