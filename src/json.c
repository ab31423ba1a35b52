/* Strict JSON reader and writer; see json.h. */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/idx.h"

#define MAX_DEPTH    64
#define MAX_MEMBERS  4096    /* per object: the duplicate check is quadratic */
#define MAX_ELEMENTS 1000000 /* per array */

typedef struct {
    const char *s;
    size_t len, at;
    char *err;
} parser;

static void *fail(parser *p, const char *what) {
    snprintf(p->err, DD_ERR_LEN, "invalid JSON at byte %zu: %s", p->at, what);
    return NULL;
}

static void skip_space(parser *p) {
    while (p->at < p->len && strchr(" \t\r\n", p->s[p->at]) && p->s[p->at]) p->at++;
}

static int peek(parser *p) {
    return p->at < p->len ? (unsigned char)p->s[p->at] : -1;
}

static int literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->at < n || memcmp(p->s + p->at, word, n) != 0) return 0;
    p->at += n;
    return 1;
}

size_t dd_utf8_length(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0x80                   ? 1
                 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
                 : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
                 : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
                                               : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    uint32_t c = len == 1   ? s[0]
                 : len == 2 ? (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f)
                 : len == 3
                     ? (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f)
                     : (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
                           (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
    if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c < 0xe000))) ||
        (len == 4 && (c < 0x10000 || c > 0x10ffff)))
        return 0;
    return len;
}

static char *encode_utf8(char *o, uint32_t c) {
    if (c < 0x80) {
        *o++ = (char)c;
    } else if (c < 0x800) {
        *o++ = (char)(0xc0 | c >> 6);
        *o++ = (char)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        *o++ = (char)(0xe0 | c >> 12);
        *o++ = (char)(0x80 | (c >> 6 & 0x3f));
        *o++ = (char)(0x80 | (c & 0x3f));
    } else {
        *o++ = (char)(0xf0 | c >> 18);
        *o++ = (char)(0x80 | (c >> 12 & 0x3f));
        *o++ = (char)(0x80 | (c >> 6 & 0x3f));
        *o++ = (char)(0x80 | (c & 0x3f));
    }
    return o;
}

static int hex4(parser *p, uint32_t *out) {
    if (p->len - p->at < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->at++];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* \uXXXX, with a surrogate pair for characters beyond the BMP. */
static char *unicode_escape(parser *p, char *o) {
    uint32_t c, lo;
    if (hex4(p, &c)) return fail(p, "bad \\u escape");
    if (c >= 0xdc00 && c < 0xe000) return fail(p, "lone low surrogate");
    if (c >= 0xd800 && c < 0xdc00) {
        if (!literal(p, "\\u") || hex4(p, &lo) || lo < 0xdc00 || lo >= 0xe000)
            return fail(p, "unpaired surrogate");
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (c == 0) return fail(p, "\\u0000 in a string");
    return encode_utf8(o, c);
}

/* Parses a string at p->at (the opening quote) into a malloc'ed, decoded copy. */
static char *parse_string(parser *p) {
    p->at++; /* the quote */
    size_t start = p->at, end = start;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len) return fail(p, "unterminated string");
    char *out = malloc(end - start + 1), *o = out;
    if (!out) return fail(p, "out of memory");
    while (p->at < end) {
        unsigned char c = (unsigned char)p->s[p->at];
        if (c < 0x20) return free(out), fail(p, "control character in a string");
        if (c != '\\') {
            size_t n = dd_utf8_length((const unsigned char *)p->s + p->at, end - p->at);
            if (!n) return free(out), fail(p, "invalid UTF-8");
            memcpy(o, p->s + p->at, n), o += n, p->at += n;
            continue;
        }
        p->at++;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *hit;
        char e = p->s[p->at++];
        if (e == 'u') {
            if (!(o = unicode_escape(p, o))) return free(out), (char *)NULL;
        } else if (e && (hit = strchr(from, e))) {
            *o++ = to[hit - from];
        } else {
            return free(out), fail(p, "bad escape");
        }
    }
    if (p->at != end) return free(out), fail(p, "bad escape at the end of a string");
    p->at++;
    *o = '\0';
    return out;
}

/* Numbers as RFC 8259 spells them: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(parser *p, dd_json *v) {
    size_t start = p->at, i = p->at;
    int integral = 1;
#define DIGITS() (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
    if (i < p->len && p->s[i] == '-') i++;
    if (!DIGITS()) return fail(p, "bad number"), -1;
    if (p->s[i] == '0')
        i++;
    else
        while (DIGITS()) i++;
    if (i < p->len && p->s[i] == '.') {
        integral = 0, i++;
        if (!DIGITS()) return fail(p, "bad number"), -1;
        while (DIGITS()) i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        integral = 0, i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (!DIGITS()) return fail(p, "bad number"), -1;
        while (DIGITS()) i++;
    }
#undef DIGITS
    char buf[64];
    if (i - start >= sizeof buf) return fail(p, "number too long"), -1;
    memcpy(buf, p->s + start, i - start);
    buf[i - start] = '\0';
    v->type = DD_JSON_NUMBER;
    v->number = strtod(buf, NULL);
    /* Beyond a double (1e400): strtod's infinity would pass for a number the text never held. A
     * value too small for one reads as 0 or a subnormal, which is the nearest double. */
    if (isinf(v->number)) return fail(p, "number out of range"), -1;
    if (integral) {
        errno = 0;
        v->integer = strtoll(buf, NULL, 10);
        v->is_integer = errno == 0;
    }
    p->at = i;
    return 0;
}

static dd_json *parse_value(parser *p, int depth);

/* Array or object at p->at; CLOSE is ']' or '}'. */
static dd_json *parse_container(parser *p, dd_json *v, int depth) {
    int object = v->type == DD_JSON_OBJECT;
    char close = object ? '}' : ']';
    dd_json **tail = &v->child;
    p->at++;
    skip_space(p);
    if (peek(p) == close) return p->at++, v;
    for (;;) {
        char *key = NULL;
        if (object) {
            skip_space(p);
            if (peek(p) != '"') return fail(p, "expected a member name");
            if (!(key = parse_string(p))) return NULL;
            for (const dd_json *m = v->child; m; m = m->next)
                if (strcmp(m->key, key) == 0) {
                    for (char *c = key; *c; c++) /* the message is one line */
                        if ((unsigned char)*c < 0x20) *c = '?';
                    snprintf(p->err, DD_ERR_LEN, "invalid JSON: duplicate key \"%.100s\"", key);
                    return free(key), (dd_json *)NULL;
                }
            skip_space(p);
            if (peek(p) != ':') return free(key), fail(p, "expected ':'");
            p->at++;
        }
        if (v->count == (object ? MAX_MEMBERS : MAX_ELEMENTS))
            return free(key), fail(p, object ? "too many members" : "too many elements");
        dd_json *item = parse_value(p, depth + 1);
        if (!item) return free(key), (dd_json *)NULL;
        item->key = key;
        *tail = item, tail = &item->next, v->count++;
        skip_space(p);
        int c = peek(p);
        p->at++;
        if (c == close) return v;
        if (c != ',')
            return p->at--, fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static dd_json *parse_value(parser *p, int depth) {
    if (depth > MAX_DEPTH) return fail(p, "nested too deeply");
    skip_space(p);
    dd_json *v = calloc(1, sizeof *v);
    if (!v) return fail(p, "out of memory");
    int c = peek(p), ok = 1;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? DD_JSON_OBJECT : DD_JSON_ARRAY;
        ok = parse_container(p, v, depth) != NULL;
    } else if (c == '"') {
        v->type = DD_JSON_STRING;
        ok = (v->string = parse_string(p)) != NULL;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        ok = parse_number(p, v) == 0;
    } else if (literal(p, "true") || literal(p, "false")) {
        v->type = DD_JSON_BOOL;
        v->number = p->s[p->at - 1] == 'e' && p->s[p->at - 2] == 'u';
    } else if (literal(p, "null")) {
        v->type = DD_JSON_NULL;
    } else {
        ok = 0;
        fail(p, c < 0 ? "unexpected end" : "unexpected character");
    }
    if (!ok) {
        dd_json_free(v);
        return NULL;
    }
    return v;
}

dd_json *dd_json_parse(const char *text, size_t len, char *err) {
    parser p = {text, len, 0, err};
    dd_json *v = parse_value(&p, 0);
    if (!v) return NULL;
    skip_space(&p);
    if (p.at != len) {
        dd_json_free(v);
        return fail(&p, "text after the value");
    }
    return v;
}

void dd_json_free(dd_json *v) {
    while (v) {
        dd_json *next = v->next;
        dd_json_free(v->child);
        free(v->string);
        free(v->key);
        free(v);
        v = next;
    }
}

const dd_json *dd_json_get(const dd_json *obj, const char *key) {
    if (!obj || obj->type != DD_JSON_OBJECT) return NULL;
    for (const dd_json *m = obj->child; m; m = m->next)
        if (strcmp(m->key, key) == 0) return m;
    return NULL;
}

static int bad_member(char *why, const char *key, const char *what) {
    snprintf(why, DD_ERR_LEN, "\"%.64s\" %s", key, what);
    return -1;
}

int dd_json_get_double(const dd_json *obj, const char *key, double *out, char *why) {
    const dd_json *v = dd_json_get(obj, key);
    if (v && v->type == DD_JSON_NULL) return *out = NAN, 0;
    if (!v || v->type != DD_JSON_NUMBER) return bad_member(why, key, "missing or not a number");
    *out = v->number;
    return 0;
}

int dd_json_get_int(const dd_json *obj, const char *key, long long min, long long max,
                    long long *out, char *why) {
    const dd_json *v = dd_json_get(obj, key);
    if (!v || v->type != DD_JSON_NUMBER || !v->is_integer)
        return bad_member(why, key, "missing or not an integer");
    if (v->integer < min || v->integer > max) return bad_member(why, key, "out of range");
    *out = v->integer;
    return 0;
}

const char *dd_json_get_string(const dd_json *obj, const char *key) {
    const dd_json *v = dd_json_get(obj, key);
    return v && v->type == DD_JSON_STRING ? v->string : NULL;
}

static int reserve(dd_strbuf *sb, size_t more) {
    if (sb->failed) return -1;
    if (sb->len + more + 1 <= sb->cap) return 0;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + more + 1) cap *= 2;
    char *grown = realloc(sb->data, cap);
    if (!grown) {
        sb->failed = 1;
        return -1;
    }
    sb->data = grown, sb->cap = cap;
    return 0;
}

void dd_sb_printf(dd_strbuf *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(sb, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void dd_sb_string(dd_strbuf *sb, const char *s) {
    dd_sb_printf(sb, "\"");
    while (*s) {
        const unsigned char *u = (const unsigned char *)s;
        size_t n = dd_utf8_length(u, strnlen(s, 4));
        if (n == 0) /* JSON is UTF-8, and the reader refuses the rest: U+FFFD for the byte */
            dd_sb_printf(sb, "\\ufffd"), n = 1;
        else if (*u == '"' || *u == '\\')
            dd_sb_printf(sb, "\\%c", *u);
        else if (*u < 0x20)
            dd_sb_printf(sb, "\\u%04x", *u);
        else
            dd_sb_printf(sb, "%.*s", (int)n, s);
        s += n;
    }
    dd_sb_printf(sb, "\"");
}

void dd_sb_double(dd_strbuf *sb, double x) {
    if (isfinite(x))
        dd_sb_printf(sb, "%.17g", x);
    else
        dd_sb_printf(sb, "null");
}

void dd_sb_float(dd_strbuf *sb, float x) {
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    dd_sb_printf(sb, "%s", isfinite(x) ? buf : "null");
}

void dd_sb_free(dd_strbuf *sb) {
    free(sb->data);
    memset(sb, 0, sizeof *sb);
}
