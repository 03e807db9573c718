/* jsonutil.h — every JSON file frameprec reads or writes goes through jansson (Debian's
 * libjansson): escaping, UTF-8 and number syntax are the library's, never ours (SPEC §7). */
#ifndef FRAMEPREC_JSONUTIL_H
#define FRAMEPREC_JSONUTIL_H

#include <jansson.h>

#include "internal.h"

/* A builder that remembers its first failure, so a writer can add many values and check
 * once. A string that is not valid UTF-8 (jansson refuses it) or a failed allocation sets
 * rc with a message naming `what` (the field). */
typedef struct fpr_jb {
    int rc;
} fpr_jb;
/* Adds key → string to obj. */
void fpr_jb_str(fpr_jb *b, json_t *obj, const char *key, const char *v);
/* Adds key → integer / real (a non-finite real becomes null) to obj. */
void fpr_jb_int(fpr_jb *b, json_t *obj, const char *key, long long v);
void fpr_jb_real(fpr_jb *b, json_t *obj, const char *key, double v);
/* Adds key → value (takes the reference; NULL value: out of memory). */
void fpr_jb_set(fpr_jb *b, json_t *obj, const char *key, json_t *v);
/* Appends a value to an array (takes the reference). */
void fpr_jb_append(fpr_jb *b, json_t *arr, json_t *v);
/* A string value, or NULL (rc set) when v is not valid UTF-8. */
json_t *fpr_jb_string(fpr_jb *b, const char *v, const char *what);

/* Writes root to path atomically (temporary name, rename). Containers up to `expand`
 * levels deep are laid out one member per line; deeper ones on one line each, so a
 * baseline entry or a run stays one diffable line. All text comes from jansson. */
int fpr_json_write_file(const char *path, const json_t *root, int expand);

/* Reads a JSON document from a regular file (a FIFO or device is refused, duplicate
 * object keys are refused); the message names the file, line and column. */
int fpr_json_read_file(const char *path, json_t **out);

/* Typed member access with messages naming file, `where` (e.g. "entry 12") and key.
 * Integers must be JSON integers within [lo, hi]; numbers finite JSON numbers; strings
 * strings. */
int fpr_json_get_str(const json_t *o, const char *key, const char *file, const char *where,
                     const char **out);
int fpr_json_get_int(const json_t *o, const char *key, const char *file, const char *where,
                     long long lo, long long hi, long long *out);
int fpr_json_get_num(const json_t *o, const char *key, const char *file, const char *where,
                     double *out);

#endif
