/* The JSON reader and the safetensors/checkpoint parser on synthetic input: a valid checkpoint of
 * the lab's model, then one malformed variant per rule of the format (LAB.md), each of which must
 * fail with one line naming the problem. No MNIST needed. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/checkpoint.h"
#include "json.h"
#include "safetensors.h"
#include "testutil.h"

static void json_rules(void) {
    char err[DD_ERR_LEN];
    static const char *good[] = {"{}", "[1, -2.5e3, true, false, null, \"a\\u00e9\\n\"]",
                                 "{\"a\": {\"b\": [[]]}}  ", "\"\\ud83d\\ude00\"",
                                 "[4.9e-324, 1e-400]"};
    static const char *bad[] = {"",
                                "{",
                                "{\"a\":1,}",
                                "[1 2]",
                                "{\"a\":1, \"a\":2}",
                                "01",
                                "1.",
                                "\"\\x\"",
                                "\"\\ud800\"",
                                "nul",
                                "{\"a\" 1}",
                                "[1] x",
                                "\"\x01\"",
                                "\"\xc3\x28\"",
                                "-",
                                "\"\\u0000\"",
                                "1e400",
                                "[-1e400]"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        dd_json *v = dd_json_parse(good[i], strlen(good[i]), err);
        CHECK(v != NULL, "'%s' rejected: %s", good[i], err);
        dd_json_free(v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dd_json *v = dd_json_parse(bad[i], strlen(bad[i]), err);
        CHECK(v == NULL, "'%s' accepted", bad[i]);
        dd_json_free(v);
    }
    char deep[200];
    memset(deep, '[', sizeof deep);
    CHECK(dd_json_parse(deep, sizeof deep, err) == NULL && strstr(err, "deeply"), "%s", err);
    /* A number longer than the reader's 63-character buffer is refused, not copied into it. */
    char longnum[101];
    memset(longnum, '1', 100), longnum[100] = '\0';
    CHECK(dd_json_parse(longnum, 100, err) == NULL && strstr(err, "number too long"), "%s", err);
    /* A NUL byte is not white space: text holding one is refused (it is no JSON text). */
    CHECK(dd_json_parse("{}\0", 3, err) == NULL && strstr(err, "text after the value"), "%s", err);
    CHECK(dd_json_parse("[1,\0 2]", 7, err) == NULL, "[1,\\0 2] accepted");
    dd_json *v = dd_json_parse("{\"n\": 9007199254740993}", 23, err);
    CHECK(v && v->child->is_integer && v->child->integer == 9007199254740993LL, "exact integers");
    dd_json_free(v);
}

/* S written by dd_sb_string, parsed back: the string it decodes to ("" when refused). */
static char *round_trip(const char *s, char *err) {
    dd_strbuf sb = {0};
    dd_sb_string(&sb, s);
    dd_json *v = sb.failed ? NULL : dd_json_parse(sb.data, sb.len, err);
    char *back = strdup(v && v->type == DD_JSON_STRING ? v->string : "");
    CHECK(v != NULL, "'%s' written as %s, refused: %s", s, sb.data ? sb.data : "", err);
    dd_json_free(v), dd_sb_free(&sb);
    return back;
}

/* The writer's strings read back as written: quotes, backslashes, control characters and UTF-8
 * exactly; a byte that is not UTF-8 as U+FFFD (it was written raw, and the reader refused the
 * text: a JSON file the program could not read back). */
static void json_writer(void) {
    char err[DD_ERR_LEN] = "";
    const char *exact = "q\"b\\s/\x01\x1f\n\t\x7f \xc3\xa9 \xf0\x9f\x98\x80";
    char *back = round_trip(exact, err);
    CHECK(strcmp(back, exact) == 0, "'%s' read back as '%s'", exact, back);
    free(back);
    back = round_trip("a\xff\xc3(\xed\xa0\x80z\xc3", err); /* stray, cut, surrogate, end */
    const char *want =
        "a\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd";
    CHECK(strcmp(back, want) == 0, "invalid UTF-8 read back as '%s'", back);
    free(back);
}

/* What the reader decodes, byte for byte: every escape, hex digits of both cases, and the
 * characters at the edges of each UTF-8 length and around the surrogates, escaped and raw. */
static void json_decoding(void) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"},
        {"\"\\u0041\\u0039\\u00aA\\u00e9\\uFFfd\"", "A9\xc2\xaa\xc3\xa9\xef\xbf\xbd"},
        {"\"\\u0080\\u07ff\\u0800\\ud7ff\\ue000\"",
         "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"},
        {"\"\\ud800\\udc00\\ud83d\\ude00\\ud840\\udc00\\udbff\\udfff\"",
         "\xf0\x90\x80\x80\xf0\x9f\x98\x80\xf0\xa0\x80\x80\xf4\x8f\xbf\xbf"},
        {"\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"",
         "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"},
    };
    char err[DD_ERR_LEN] = "";
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dd_json *v = dd_json_parse(cases[i].text, strlen(cases[i].text), err);
        CHECK(v && v->type == DD_JSON_STRING && strcmp(v->string, cases[i].want) == 0,
              "case %zu: %s", i, v ? "decoded wrong" : err);
        dd_json_free(v);
    }
    /* Not UTF-8: overlong forms of each length, a surrogate, past U+10FFFF. */
    static const char *invalid[] = {"\"\xc0\xaf\"", "\"\xe0\x9f\xbf\"", "\"\xf0\x8f\xbf\xbf\"",
                                    "\"\xed\xbf\xbf\"", "\"\xf4\x90\x80\x80\""};
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        dd_json *v = dd_json_parse(invalid[i], strlen(invalid[i]), err);
        CHECK(!v && strstr(err, "invalid UTF-8"), "invalid case %zu: %s", i, v ? "accepted" : err);
        dd_json_free(v);
    }
}

/* Literals, numbers and where the text ends: each value is what its text says, and a text cut
 * short is refused even when the bytes after LEN would complete it. */
static void json_values(void) {
    char err[DD_ERR_LEN] = "";
    dd_json *v = dd_json_parse("[true, false, 1E3, -0.5e-1, 7]", 30, err);
    const dd_json *x = v ? v->child : NULL;
    CHECK(x && x->type == DD_JSON_BOOL && x->number == 1, "true");
    CHECK(x && (x = x->next) && x->type == DD_JSON_BOOL && x->number == 0, "false");
    CHECK(x && (x = x->next) && x->number == 1000 && !x->is_integer, "1E3");
    CHECK(x && (x = x->next) && x->number == -0.05 && !x->is_integer, "-0.5e-1");
    CHECK(x && (x = x->next) && x->is_integer && x->integer == 7, "7");
    dd_json_free(v);
    static const char *alone[] = {"true", "false", "null", "0"};
    for (size_t i = 0; i < sizeof alone / sizeof *alone; i++) {
        size_t n = strlen(alone[i]);
        CHECK((v = dd_json_parse(alone[i], n, err)) != NULL, "'%s' alone: %s", alone[i], err);
        dd_json_free(v);
        CHECK(n == 1 || !dd_json_parse(alone[i], n - 1, err), "'%s' cut short accepted", alone[i]);
    }
    static const struct {
        const char *text, *why;
    } refused[] = {
        {"", "unexpected end"},
        {"[1,", "unexpected end"},
        {"\"abc", "unterminated"},
        {"\"\x1f\"", "control character"},
        {"1e", "bad number"},
        {"1E+", "bad number"},
        {"\"\\udc00\"", "lone low"},
        {"\"\\ud800\\ue000\"", "unpaired"},
        {"\"\\ud800\\ud800\"", "unpaired"},
        {"\"\\ud800dc00\"", "unpaired"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        v = dd_json_parse(refused[i].text, strlen(refused[i].text), err);
        CHECK(!v && strstr(err, refused[i].why), "'%s': %s (expected '%s')", refused[i].text,
              v ? "accepted" : err, refused[i].why);
        dd_json_free(v);
    }
    /* A backslash before a NUL byte is no escape (it would put a NUL in the string). */
    CHECK(!dd_json_parse("\"\\\0\"", 4, err) && strstr(err, "bad escape"), "\\NUL: %s", err);
}

/* The limits json.h states, at their edges: 64 containers deep, numbers of 63 characters, 4096
 * members in an object, 1,000,000 elements in an array. */
static void json_limits(void) {
    char err[DD_ERR_LEN] = "";
    size_t n = 2 * 1000001 + 2;
    char *text = malloc(n);
    for (int deep = 64; deep <= 65; deep++) { /* a number inside DEEP arrays */
        int at = 0;
        for (int i = 0; i < deep; i++) text[at++] = '[';
        text[at++] = '1';
        for (int i = 0; i < deep; i++) text[at++] = ']';
        dd_json *v = dd_json_parse(text, (size_t)at, err);
        CHECK(deep == 64 ? v != NULL : !v && strstr(err, "deeply"), "%d deep: %s", deep, err);
        dd_json_free(v);
    }
    for (int len = 63; len <= 64; len++) {
        memset(text, '1', (size_t)len);
        dd_json *v = dd_json_parse(text, (size_t)len, err);
        CHECK(len == 63 ? v != NULL : !v && strstr(err, "number too long"), "%d digits: %s", len,
              err);
        dd_json_free(v);
    }
    for (int members = 4096; members <= 4097; members++) {
        int at = 0;
        for (int i = 0; i < members; i++) at += sprintf(text + at, "%s\"%d\":0", i ? "," : "{", i);
        text[at++] = '}';
        dd_json *v = dd_json_parse(text, (size_t)at, err);
        CHECK(members == 4096 ? v && v->count == 4096 : !v && strstr(err, "too many members"),
              "%d members: %s", members, err);
        dd_json_free(v);
    }
    for (int elements = 1000000; elements <= 1000001; elements++) {
        for (int i = 0; i < elements; i++) text[2 * i] = i ? ',' : '[', text[2 * i + 1] = '0';
        text[2 * elements] = ']';
        dd_json *v = dd_json_parse(text, 2 * (size_t)elements + 1, err);
        CHECK(elements == 1000000 ? v && v->count == 1000000
                                  : !v && strstr(err, "too many elements"),
              "%d elements: %s", elements, err);
        dd_json_free(v);
    }
    free(text);
}

/* The typed getters: only an object has members; null is a double's NaN; an integer's range
 * includes both ends. */
static void json_getters(void) {
    char err[DD_ERR_LEN] = "", why[DD_ERR_LEN] = "";
    const char *text = "{\"n\": 5, \"x\": null, \"s\": \"v\", \"a\": [1]}";
    dd_json *v = dd_json_parse(text, strlen(text), err);
    double d = 0;
    long long i = 0;
    CHECK(v && dd_json_get(dd_json_get(v, "a"), "n") == NULL, "a member of an array");
    CHECK(v && dd_json_get_string(v, "n") == NULL && strcmp(dd_json_get_string(v, "s"), "v") == 0,
          "strings");
    CHECK(v && dd_json_get_double(v, "x", &d, why) == 0 && isnan(d), "null as NaN: %s", why);
    CHECK(v && dd_json_get_int(v, "n", 5, 5, &i, why) == 0 && i == 5, "5 in [5, 5]: %s", why);
    CHECK(v && dd_json_get_int(v, "n", 6, 9, &i, why) != 0 && strstr(why, "out of range"),
          "[6, 9]");
    CHECK(v && dd_json_get_int(v, "n", 0, 4, &i, why) != 0 && strstr(why, "out of range"),
          "[0, 4]");
    dd_json_free(v);
}

/* Doubles and floats read back as the same value (a float in its fewest digits: 0.01, not
 * 0.00999999978; 0.0100000035 needs all 9); JSON has no infinity, so what is not finite is null. */
static void json_numbers_written(void) {
    const double doubles[] = {0.1, nextafter(0.1, 1), -1e-300, 4.9e-324, INFINITY, -INFINITY, NAN};
    const float floats[] = {0.01f, 0.0100000035f, nextafterf(0.1f, 1), FLT_MAX, INFINITY, NAN};
    for (size_t i = 0; i < sizeof doubles / sizeof *doubles; i++) {
        dd_strbuf sb = {0};
        dd_sb_double(&sb, doubles[i]);
        CHECK(isfinite(doubles[i]) ? strtod(sb.data, NULL) == doubles[i]
                                   : strcmp(sb.data, "null") == 0,
              "%.17g written as %s", doubles[i], sb.data);
        dd_sb_free(&sb);
    }
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
        dd_strbuf sb = {0};
        dd_sb_float(&sb, floats[i]);
        CHECK(isfinite(floats[i]) ? strtof(sb.data, NULL) == floats[i]
                                  : strcmp(sb.data, "null") == 0,
              "%.9g written as %s", floats[i], sb.data);
        CHECK(i != 0 || strcmp(sb.data, "0.01") == 0, "0.01f written as %s", sb.data);
        dd_sb_free(&sb);
    }
    /* The buffer holds a NUL-terminated string at every length, its first growth included. */
    for (int n = 250; n <= 260; n++) {
        dd_strbuf sb = {0};
        dd_sb_printf(&sb, "%*s", n, "");
        CHECK(!sb.failed && sb.len == (size_t)n && sb.cap > sb.len && sb.data[n] == '\0',
              "%d bytes: len %zu cap %zu", n, sb.len, sb.cap);
        dd_sb_free(&sb);
    }
}

typedef struct {
    uint8_t *data;
    size_t len;
} blob;

/* ST saved as a checkpoint with initial weights, as bytes. */
static blob saved_checkpoint(const dd_checkpoint_state *st, const char *file) {
    dd_layout layout;
    char err[DD_ERR_LEN], path[512];
    dd_layout_build(&st->options.model, &layout, err);
    float *p = malloc(layout.n_params * sizeof *p);
    dd_model_init(&st->options.model, &layout, 7, p, err);
    snprintf(path, sizeof path, "%s/%s", dd_test_tmpdir(), file);
    CHECK(dd_checkpoint_save(path, p, st, err) == 0, "%s", err);
    free(p);
    blob b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return b;
    fseek(f, 0, SEEK_END);
    b.len = (size_t)ftell(f);
    rewind(f);
    b.data = malloc(b.len);
    CHECK(fread(b.data, 1, b.len, f) == b.len, "short read");
    fclose(f);
    return b;
}

/* A valid checkpoint of the lab's model (initial weights, no epochs done), as bytes. */
static blob valid_checkpoint(void) {
    dd_checkpoint_state st = {.options = dd_train_options_lab(), .mean = 33.3, .std = 78.5};
    return saved_checkpoint(&st, "lab.safetensors");
}

/* A valid checkpoint of the lab's model with BatchNormalization before the activation, one epoch
 * done, and that epoch's history with its diagnostics. */
static blob bn_checkpoint(void) {
    dd_epoch_stats e = {.epoch = 1,
                        .loss = 0.25,
                        .acc = 0.5,
                        .val_loss = 0.25,
                        .val_acc = 0.5,
                        .train_seconds = 2.25,
                        .eval_seconds = 0.5,
                        .steps = 60000,
                        .n_layers = 2};
    for (int l = 0; l < 2; l++)
        e.grad_rms[l] = 0.01, e.probe[l] = (dd_layer_probe){.saturated = 0.25, .preact_std = 1.5};
    dd_checkpoint_state st = {.options = dd_train_options_lab(),
                              .epochs_done = 1,
                              .history = &e,
                              .mean = 33.3,
                              .std = 78.5};
    st.options.model.bn = DD_BN_BEFORE;
    return saved_checkpoint(&st, "bn.safetensors");
}

static uint64_t header_length(blob b) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b.data[i];
    return n;
}

/* A copy of B with VALUE as element I of tensor NAME. */
static blob with_value(blob b, const char *name, uint64_t i, float value) {
    blob c = {malloc(b.len), b.len};
    memcpy(c.data, b.data, b.len);
    dd_safetensors st;
    char err[DD_ERR_LEN];
    CHECK(dd_safetensors_parse(b.data, b.len, "b", &st, err) == 0, "%s", err);
    for (int t = 0; t < st.n_tensors; t++) {
        if (strcmp(st.tensors[t].name, name) != 0) continue;
        uint32_t u;
        memcpy(&u, &value, 4);
        uint8_t *at = c.data + 8 + header_length(b) + st.tensors[t].begin + 4 * i;
        for (int k = 0; k < 4; k++) at[k] = (uint8_t)(u >> (8 * k));
    }
    dd_safetensors_free(&st);
    return c;
}

/* A copy of B with one more F32 tensor, NAME of shape [1], after the others. */
static blob with_extra_tensor(blob b, const char *name) {
    const uint64_t n = header_length(b), data_len = b.len - 8 - n;
    uint64_t end = n;
    while (end > 0 && b.data[8 + end - 1] != '}') end--; /* the header's closing brace */
    char entry[256];
    int k = snprintf(entry, sizeof entry,
                     ",\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%llu,%llu]}}",
                     name, (unsigned long long)data_len, (unsigned long long)data_len + 4);
    const uint64_t m = (end - 1 + (uint64_t)k + 7) / 8 * 8; /* padded to 8 bytes */
    blob c = {calloc(1, 8 + m + data_len + 4), 8 + m + data_len + 4};
    for (int i = 0; i < 8; i++) c.data[i] = (uint8_t)(m >> (8 * i));
    memcpy(c.data + 8, b.data + 8, end - 1);
    memcpy(c.data + 8 + end - 1, entry, (size_t)k);
    memset(c.data + 8 + end - 1 + k, ' ', m - (end - 1 + (uint64_t)k));
    memcpy(c.data + 8 + m, b.data + 8 + n, data_len);
    return c;
}

/* A copy of B with the first FROM in its header replaced by TO (same length). */
static blob edited(blob b, const char *from, const char *to) {
    blob c = {malloc(b.len), b.len};
    memcpy(c.data, b.data, b.len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b.data[i];
    for (size_t i = 8; i + strlen(from) <= 8 + n; i++)
        if (memcmp(c.data + i, from, strlen(from)) == 0) {
            memcpy(c.data + i, to, strlen(to));
            return c;
        }
    CHECK(0, "'%s' not in the header", from);
    return c;
}

/* Parses B, expecting failure with WANT in the message (or success when WANT is NULL). */
static void expect(blob b, const char *want, const char *what) {
    float *p;
    dd_checkpoint_state st;
    char err[DD_ERR_LEN] = "";
    int rc = dd_checkpoint_parse(b.data, b.len, "x.safetensors", &p, &st, err);
    if (!want) {
        CHECK(rc == 0, "%s: %s", what, err);
        free(p), free(st.history);
        return;
    }
    CHECK(rc == -1 && strstr(err, want) && strncmp(err, "x.safetensors: ", 15) == 0 &&
              !strchr(err, '\n'),
          "%s: wanted '%s', got rc %d '%s'", what, want, rc, err);
    if (rc == 0) free(p), free(st.history);
}

static void malformed_files(void) {
    blob b = valid_checkpoint();
    if (!b.data) return;
    expect(b, NULL, "valid file");
    expect((blob){b.data, 5}, "too short", "5 bytes");
    expect((blob){b.data, b.len - 1}, "the tensors cover", "truncated by one byte");
    blob c = edited(b, "", "");
    c.data[7] = 0x7f;
    expect(c, "exceeds the limit", "huge header length");
    c.data[7] = 0, c.data[3] = 0x01;
    expect(c, "runs past the end", "header length beyond the file");
    free(c.data);
    struct {
        const char *from, *to, *want;
    } edits[] = {
        {"{\"__metadata__\"", "[\"__metadata__\"", "does not start with '{'"},
        {"\"dtype\":\"F32\"", "\"dtype\":\"I32\"", "dtype I32, expected F32"},
        {"\"dtype\":\"F32\"", "\"dtype\":\"F16\"", "shape need 39200"},
        {"\"dtype\":\"F32\"", "\"dtype\":\"X32\"", "unknown dtype"},
        {"[784,25]", "[25,784]", "shape [25, 784], the model's config needs [784, 25]"},
        {"[78400,78500]", "[78300,78400]", "overlap"},
        {"dense_2.bias", "dense_2.bia\"", "invalid JSON"},
        {"dense_2.bias", "dense_1.bias", "duplicate key"},
        {"dense_2.bias", "dense_3.bias", "no tensor dense_2.bias"},
        {"\"format\":\"deepdigits-1\"", "\"format\":\"deepdigits-9\"", "not a deepdigits"},
        {"\\\"tanh\\\"", "\\\"tang\\\"", "\"activation\" missing or unknown"},
        {"\\\"hidden\\\":[25]", "\\\"hidden\\\":[26]", "shape [784, 25], the model's config"},
        {"\\\"epochs_done\\\":0", "\\\"epochs_done\\\":1", "history must list"},
        {"\"data_offsets\":[0,", "\"data_offsets\":[1,", "hold 78399 bytes"},
        {"\"shape\":[784,25]", "\"shape\":[784,-5]", "something other than a size"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        c = edited(b, edits[i].from, edits[i].to);
        expect(c, edits[i].want, edits[i].to);
        free(c.data);
    }
    /* Only random_uniform needs its range; files written before 2026-11-28 gave every
     * initializer one, which still loads. */
    c = edited(b, "\\\"min\\\"", "\\\"mix\\\"");
    expect(c, "\"min\"", "random_uniform without its range");
    free(c.data);
    c = edited(b, "random_uniform", "glorot_uniform");
    expect(c, NULL, "glorot_uniform with a range, as older files have");
    blob d = edited(c, "\\\"min\\\"", "\\\"mix\\\"");
    expect(d, NULL, "glorot_uniform without a range");
    free(d.data), free(c.data);
    free(b.data);
}

/* HEADER as a safetensors file with DATA_LEN zero bytes of data, parsed: 0, or -1 with WANT in
 * the message. */
static void container(const char *header, size_t data_len, const char *want) {
    const size_t n = strlen(header), len = 8 + n + data_len;
    uint8_t *buf = calloc(1, len);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    dd_safetensors st;
    char err[DD_ERR_LEN] = "";
    int rc = dd_safetensors_parse(buf, len, "c.safetensors", &st, err);
    if (!want)
        CHECK(rc == 0, "%s: %s", header, err);
    else
        CHECK(rc == -1 && strstr(err, want), "%s: wanted '%s', got rc %d '%s'", header, want, rc,
              err);
    if (rc == 0) dd_safetensors_free(&st);
    free(buf);
}

/* The container's own rules, on headers written by hand. */
static void container_rules(void) {
    /* A header alone (no tensors, no data) is a valid file. */
    container("{}      ", 0, NULL);
    container("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              12, NULL);
    /* The tensors tile the data: no unused bytes between two of them. */
    container("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
              12, "4 unused bytes before tensor b");
    /* At most DD_ST_MAX_RANK (8) dimensions. */
    container("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
              "tensor t: rank 9 (at most 8)");
    container("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
              NULL);
    /* An entry holds exactly dtype, shape and data_offsets. */
    container("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
              "tensor t: needs exactly dtype, shape and data_offsets");
}

/* The checkpoint's rules beyond the container: tensor values and metadata ranges, on a BN model
 * with one epoch of history. */
static void checkpoint_rules(void) {
    blob b = bn_checkpoint(), c;
    if (!b.data) return;
    expect(b, NULL, "valid BN file");
    /* A moving variance is never negative (it would make every output NaN). */
    c = with_value(b, "batch_normalization_1.moving_variance", 3, -0.5f);
    expect(c,
           "tensor batch_normalization_1.moving_variance holds -0.5 at element 3, not a variance",
           "negative moving variance");
    free(c.data);
    /* The file holds the model's tensors and nothing else. */
    c = with_extra_tensor(b, "extra.tensor");
    expect(c, "unexpected tensor extra.tensor for the model's config", "an extra tensor");
    free(c.data);
    struct {
        const char *from, *to, *want;
    } edits[] = {
        /* Pixel statistics: a mean within 0..255, a std within (0, 255]. */
        {"\\\"mean\\\":33.", "\\\"mean\\\":333", "\"mean\": not a mean of pixels (0 to 255)"},
        {"\\\"std\\\":78.", "\\\"std\\\":788", "\"std\": not a standard deviation of pixels"},
        /* The learning rate within (0, 1000], as --lr takes it. */
        {"\\\"lr\\\":0.01", "\\\"lr\\\":1e+9", "\"lr\" out of range"},
        /* History: an accuracy within 0..1, and the entries numbered 1, 2, ... */
        {"\\\"acc\\\":0.5", "\\\"acc\\\":1.5", "history entry 1: \"acc\" is 1.5, expected 0 to 1"},
        {"\\\"epoch\\\":1", "\\\"epoch\\\":2", "history entry 1: \"epoch\" out of range"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        c = edited(b, edits[i].from, edits[i].to);
        expect(c, edits[i].want, edits[i].to);
        free(c.data);
    }
    /* No more epochs done than the run's --epochs (here 1 of 1 becomes 2 of 1). */
    c = edited(b, "\\\"epochs\\\":20,", "\\\"epochs\\\":1 ,");
    blob d = edited(c, "\\\"epochs_done\\\":1", "\\\"epochs_done\\\":2");
    expect(c, NULL, "1 epoch done of 1");
    expect(d, "\"epochs_done\" out of range", "2 epochs done of 1");
    free(d.data), free(c.data), free(b.data);
}

/* A history entry's ranges, at their bounds: a loss and a time are finite and not negative; a
 * gradient's RMS and a pre-activation's std are not negative, or null (a diagnostic not taken);
 * each layer's value is checked, the last too. 0 and an accuracy of 1 are within range. */
static void history_ranges(void) {
    blob b = bn_checkpoint(), c;
    if (!b.data) return;
    struct {
        const char *from, *to, *want;
    } edits[] = {
        {"\\\"loss\\\":0.25", "\\\"loss\\\":-2.5", "entry 1: \"loss\" is -2.5, expected 0 or more"},
        {"\\\"loss\\\":0.25", "\\\"loss\\\":null", "entry 1: \"loss\" is null, expected 0 or more"},
        {"\\\"loss\\\":0.25", "\\\"loss\\\":0   ", NULL},
        {"\\\"acc\\\":0.5", "\\\"acc\\\":1  ", NULL},
        {"train_seconds\\\":2.25", "train_seconds\\\":-225",
         "entry 1: \"train_seconds\" is -225, expected 0 or more"},
        {"train_seconds\\\":2.25", "train_seconds\\\":null",
         "\"train_seconds\" is null, expected 0 or more"},
        {"train_seconds\\\":2.25", "train_seconds\\\":0   ", NULL},
        {"grad_rms\\\":[0.01,0.01]", "grad_rms\\\":[0.01,-1.0]",
         "entry 1: \"grad_rms\" is -1, expected 0 or more"},
        {"grad_rms\\\":[0.01,0.01]", "grad_rms\\\":[0.01,null]", NULL},
        {"grad_rms\\\":[0.01,0.01]", "grad_rms\\\":[0   ,0   ]", NULL},
        {"preact_std\\\":[1.5,1.5]", "preact_std\\\":[1.5,-15]",
         "entry 1: \"preact_std\" is -15, expected 0 or more"},
        {"preact_std\\\":[1.5,1.5]", "preact_std\\\":[0  ,1.5]", NULL},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        c = edited(b, edits[i].from, edits[i].to);
        expect(c, edits[i].want, edits[i].to);
        free(c.data);
    }
    free(b.data);
}

int main(void) {
    json_rules();
    json_writer();
    json_decoding();
    json_values();
    json_limits();
    json_getters();
    json_numbers_written();
    malformed_files();
    container_rules();
    checkpoint_rules();
    history_ranges();
    return dd_test_finish("test_safetensors");
}
