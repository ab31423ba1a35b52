/* The safetensors container (see ../shared/LAB.md): a strict reader of a file held in memory and
 * an atomic writer of F32 tensors. It knows nothing of models; src/checkpoint.c maps tensors to
 * the parameter layout. Implementation: src/safetensors.c. */
#ifndef DD_SAFETENSORS_H
#define DD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define DD_ST_MAX_HEADER 100000000ULL /* the reference reader's limit on N */
#define DD_ST_MAX_RANK   8

typedef struct {
    const char *name, *dtype; /* point into the parsed header */
    int rank;
    uint64_t shape[DD_ST_MAX_RANK];
    uint64_t begin, end; /* byte offsets into the data buffer, END exclusive */
} dd_st_tensor;

typedef struct {
    dd_json *header;         /* the parsed header (owned) */
    const dd_json *metadata; /* its __metadata__ object, or NULL */
    dd_st_tensor *tensors;   /* in header order (owned) */
    int n_tensors;
    const uint8_t *data; /* the data buffer, inside the caller's memory */
    uint64_t data_len;
} dd_safetensors;

/* Parses and checks BUF[0..len): the header length (at most DD_ST_MAX_HEADER, inside the file),
 * strict UTF-8 JSON starting with '{', a string-to-string __metadata__, every entry with a known
 * dtype, a shape and data_offsets, END - BEGIN = elements * dtype size, the entries contiguous
 * from 0 without holes or overlaps, and the buffer ending exactly at the end of the file.
 * NAME (the file's name) starts the one line written to ERR on failure. Returns 0 or -1. */
int dd_safetensors_parse(const uint8_t *buf, size_t len, const char *name, dd_safetensors *out,
                         char *err);
void dd_safetensors_free(dd_safetensors *st);

/* The string value of metadata KEY, or NULL. */
const char *dd_safetensors_meta(const dd_safetensors *st, const char *key);

/* One tensor to write: F32, row-major. */
typedef struct {
    char name[64];
    int rank;
    uint64_t shape[2];
    const float *data;
} dd_st_out;

/* The temporary file a save of PATH writes before renaming it: "PATH.tmp.<pid>" into BUF (LEN
 * bytes). Returns 0, or -1 when it does not fit. */
int dd_safetensors_tmp_path(const char *path, char *buf, size_t len);

/* Writes METADATA (a JSON object of strings, or NULL) and the N tensors to PATH atomically:
 * PATH.tmp.<pid>, fsync, rename, fsync of the directory. PATH is untouched on failure.
 * Returns 0, or -1 with one line in ERR. */
int dd_safetensors_save(const char *path, const char *metadata, const dd_st_out *t, int n,
                        char *err);

#endif
