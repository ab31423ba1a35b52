/* The safetensors container: strict reader and atomic F32 writer; see safetensors.h. */
#include "errors.h"
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deepdigits/idx.h"

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Bytes per element of the dtypes the format defines; 0 for an unknown name. */
static uint64_t dtype_size(const char *dtype) {
    static const struct {
        const char *name;
        uint64_t size;
    } dtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
                  {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
                  {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtype, dtypes[i].name) == 0) return dtypes[i].size;
    return 0;
}

/* A non-negative JSON integer. */
static int get_u64(const dd_json *v, uint64_t *out) {
    if (!v || v->type != DD_JSON_NUMBER || !v->is_integer || v->integer < 0) return -1;
    *out = (uint64_t)v->integer;
    return 0;
}

static int check_metadata(const dd_json *m, const char *name, char *err) {
    if (m->type != DD_JSON_OBJECT) return dd_fail(err, name, "__metadata__ is not an object");
    for (const dd_json *e = m->child; e; e = e->next)
        if (e->type != DD_JSON_STRING)
            return dd_fail(err, name, "__metadata__ \"%.80s\" is not a string", e->key);
    return 0;
}

static int read_shape(const dd_json *shape, dd_st_tensor *t, const char *name, char *err) {
    if (!shape || shape->type != DD_JSON_ARRAY)
        return dd_fail(err, name, "tensor %.80s: shape is not an array", t->name);
    if (shape->count > DD_ST_MAX_RANK)
        return dd_fail(err, name, "tensor %.80s: rank %zu (at most %d)", t->name, shape->count,
                       DD_ST_MAX_RANK);
    t->rank = (int)shape->count;
    int i = 0;
    for (const dd_json *d = shape->child; d; d = d->next, i++)
        if (get_u64(d, &t->shape[i]) != 0)
            return dd_fail(err, name, "tensor %.80s: shape holds something other than a size",
                           t->name);
    return 0;
}

/* One header entry: exactly dtype, shape and data_offsets, with a consistent size. */
static int read_entry(const dd_json *e, dd_st_tensor *t, const char *name, char *err) {
    t->name = e->key;
    if (e->type != DD_JSON_OBJECT)
        return dd_fail(err, name, "tensor %.80s: not an object", t->name);
    const dd_json *dtype = dd_json_get(e, "dtype"), *offsets = dd_json_get(e, "data_offsets");
    if (e->count != 3 || !dtype || !offsets || !dd_json_get(e, "shape"))
        return dd_fail(err, name, "tensor %.80s: needs exactly dtype, shape and data_offsets",
                       t->name);
    if (dtype->type != DD_JSON_STRING || !dtype_size(dtype->string))
        return dd_fail(err, name, "tensor %.80s: unknown dtype", t->name);
    t->dtype = dtype->string;
    if (read_shape(dd_json_get(e, "shape"), t, name, err) != 0) return -1;
    if (offsets->type != DD_JSON_ARRAY || offsets->count != 2 ||
        get_u64(offsets->child, &t->begin) || get_u64(offsets->child->next, &t->end) ||
        t->end < t->begin)
        return dd_fail(err, name,
                       "tensor %.80s: data_offsets must be [BEGIN, END] with BEGIN <= END",
                       t->name);
    uint64_t bytes = dtype_size(t->dtype);
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] && bytes > UINT64_MAX / t->shape[i])
            return dd_fail(err, name, "tensor %.80s: shape too large", t->name);
        bytes *= t->shape[i];
    }
    if (t->end - t->begin != bytes)
        return dd_fail(err, name,
                       "tensor %.80s: data_offsets [%llu, %llu] hold %llu bytes, its dtype and "
                       "shape need %llu",
                       t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)(t->end - t->begin), (unsigned long long)bytes);
    return 0;
}

static int by_offset(const void *a, const void *b) {
    const dd_st_tensor *x = *(const dd_st_tensor *const *)a, *y = *(const dd_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Entries sorted by offset must tile the data buffer exactly. */
static int check_tiling(dd_safetensors *st, const char *name, char *err) {
    dd_st_tensor **sorted = malloc(((size_t)st->n_tensors + 1) * sizeof *sorted);
    if (!sorted) return dd_fail(err, name, "out of memory");
    for (int i = 0; i < st->n_tensors; i++) sorted[i] = &st->tensors[i];
    qsort(sorted, (size_t)st->n_tensors, sizeof *sorted, by_offset);
    uint64_t at = 0;
    int rc = 0;
    for (int i = 0; i < st->n_tensors && rc == 0; i++) {
        const dd_st_tensor *t = sorted[i];
        if (t->begin < at)
            rc = dd_fail(err, name, "tensors %.80s and %.80s overlap (data_offsets [%llu, %llu])",
                         sorted[i - 1]->name, t->name, (unsigned long long)t->begin,
                         (unsigned long long)t->end);
        else if (t->begin > at)
            rc = dd_fail(
                err, name, "%llu unused bytes before tensor %.80s (data_offsets [%llu, ...])",
                (unsigned long long)(t->begin - at), t->name, (unsigned long long)t->begin);
        at = t->end;
    }
    free(sorted);
    if (rc == 0 && at != st->data_len)
        rc = dd_fail(err, name,
                     "the tensors cover %llu bytes but the data buffer after the header holds %llu",
                     (unsigned long long)at, (unsigned long long)st->data_len);
    return rc;
}

static int read_header(dd_safetensors *st, const char *text, uint64_t n, const char *name,
                       char *err) {
    char why[DD_ERR_LEN];
    if (n < 2 || text[0] != '{') return dd_fail(err, name, "the header does not start with '{'");
    if (!(st->header = dd_json_parse(text, (size_t)n, why)))
        return dd_fail(err, name, "header: %s", why);
    if (st->header->type != DD_JSON_OBJECT)
        return dd_fail(err, name, "the header is not a JSON object");
    st->tensors = calloc(st->header->count + 1, sizeof *st->tensors);
    if (!st->tensors) return dd_fail(err, name, "out of memory");
    for (const dd_json *e = st->header->child; e; e = e->next) {
        if (strcmp(e->key, "__metadata__") == 0) {
            if (check_metadata(e, name, err) != 0) return -1;
            st->metadata = e;
        } else if (read_entry(e, &st->tensors[st->n_tensors++], name, err) != 0) {
            return -1;
        }
    }
    return 0;
}

int dd_safetensors_parse(const uint8_t *buf, size_t len, const char *name, dd_safetensors *out,
                         char *err) {
    memset(out, 0, sizeof *out);
    if (len < 8)
        return dd_fail(err, name,
                       "%zu bytes: too short for a safetensors file (8-byte header length)", len);
    uint64_t n = le64(buf);
    if (n > DD_ST_MAX_HEADER)
        return dd_fail(err, name, "header length %llu exceeds the limit of %llu bytes",
                       (unsigned long long)n, DD_ST_MAX_HEADER);
    if (n > len - 8)
        return dd_fail(err, name, "header length %llu runs past the end of the file (%zu bytes)",
                       (unsigned long long)n, len);
    out->data = buf + 8 + n;
    out->data_len = len - 8 - n;
    if (read_header(out, (const char *)buf + 8, n, name, err) != 0 ||
        check_tiling(out, name, err) != 0) {
        dd_safetensors_free(out);
        return -1;
    }
    return 0;
}

void dd_safetensors_free(dd_safetensors *st) {
    dd_json_free(st->header);
    free(st->tensors);
    memset(st, 0, sizeof *st);
}

const char *dd_safetensors_meta(const dd_safetensors *st, const char *key) {
    const dd_json *v = dd_json_get(st->metadata, key);
    return v ? v->string : NULL;
}

/* The header text: metadata, then each tensor with contiguous offsets, padded to 8 bytes. */
static void build_header(dd_strbuf *sb, const char *metadata, const dd_st_out *t, int n) {
    dd_sb_printf(sb, "{");
    if (metadata) dd_sb_printf(sb, "\"__metadata__\":%s", metadata);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        uint64_t elements = 1;
        dd_sb_printf(sb, "%s", i || metadata ? "," : "");
        dd_sb_string(sb, t[i].name);
        dd_sb_printf(sb, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].rank; d++) {
            dd_sb_printf(sb, "%s%llu", d ? "," : "", (unsigned long long)t[i].shape[d]);
            elements *= t[i].shape[d];
        }
        dd_sb_printf(sb, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
                     (unsigned long long)(at + 4 * elements));
        at += 4 * elements;
    }
    dd_sb_printf(sb, "}");
    while (sb->len % 8) dd_sb_printf(sb, " ");
}

/* Writes N floats little-endian, whatever the host's byte order. */
static int write_f32(FILE *f, const float *x, uint64_t n) {
    uint8_t buf[4096];
    while (n) {
        size_t k = n < sizeof buf / 4 ? (size_t)n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            for (int b = 0; b < 4; b++) buf[4 * i + b] = (uint8_t)(u >> (8 * b));
        }
        if (fwrite(buf, 4, k, f) != k) return -1;
        x += k, n -= k;
    }
    return 0;
}

static int write_all(FILE *f, const dd_strbuf *header, const dd_st_out *t, int n) {
    uint8_t len[8];
    for (int b = 0; b < 8; b++) len[b] = (uint8_t)((uint64_t)header->len >> (8 * b));
    if (fwrite(len, 1, 8, f) != 8 || fwrite(header->data, 1, header->len, f) != header->len)
        return -1;
    for (int i = 0; i < n; i++) {
        uint64_t elements = 1;
        for (int d = 0; d < t[i].rank; d++) elements *= t[i].shape[d];
        if (write_f32(f, t[i].data, elements) != 0) return -1;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) return -1;
    return 0;
}

/* fsync of PATH's directory, so that the rename itself survives a crash. */
static int sync_dir(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof dir) return -1;
    if (slash && n == 0) n = 1; /* "/file" */
    memcpy(dir, slash ? path : ".", slash ? n : 1);
    dir[slash ? n : 1] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int dd_safetensors_tmp_path(const char *path, char *buf, size_t len) {
    const int n = snprintf(buf, len, "%s.tmp.%ld", path, (long)getpid());
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

int dd_safetensors_save(const char *path, const char *metadata, const dd_st_out *t, int n,
                        char *err) {
    dd_strbuf header = {0};
    build_header(&header, metadata, t, n);
    if (header.failed) return dd_fail(err, path, "out of memory for the header");
    char tmp[4200];
    if (dd_safetensors_tmp_path(path, tmp, sizeof tmp) != 0) {
        dd_sb_free(&header);
        return dd_fail(err, path, "path too long");
    }
    FILE *f = fopen(tmp, "wbx");
    int rc = f ? write_all(f, &header, t, n) : -1;
    int saved = errno;
    if (f && fclose(f) != 0 && rc == 0) rc = -1, saved = errno;
    if (rc == 0 && rename(tmp, path) != 0) rc = -1, saved = errno;
    dd_sb_free(&header);
    if (rc != 0) {
        if (f) unlink(tmp);
        return dd_fail(err, path, "cannot write the checkpoint: %s", strerror(saved));
    }
    if (sync_dir(path) != 0)
        return dd_fail(err, path, "written, but syncing its directory failed: %s", strerror(errno));
    return 0;
}
