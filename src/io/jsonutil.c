/* jsonutil.c — JSON through jansson (libjansson, Debian libjansson-dev): building values
 * with error tracking, an atomic writer with a readable line layout, and a validating
 * reader. jansson refuses strings that are not UTF-8 (json_string returns NULL) and
 * non-finite reals (json_real returns NULL), and escapes everything it writes; the
 * layout below only places whitespace between values that jansson has encoded. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "io/jsonutil.h"

/* ------------------------------------------------------------------ building */
json_t *fpr_jb_string(fpr_jb *b, const char *v, const char *what)
{
    json_t *s = json_string(v ? v : "");
    if (!s && !b->rc)
        b->rc = fpr_error(FPR_EINVAL, "%s is not valid UTF-8 (or out of memory): cannot be "
                          "written as JSON", what);
    return s;
}

void fpr_jb_set(fpr_jb *b, json_t *obj, const char *key, json_t *v)
{
    if (!v) {
        if (!b->rc)
            b->rc = fpr_error(FPR_ENOMEM, "out of memory building JSON (key '%s')", key);
        return;
    }
    if (json_object_set_new(obj, key, v) != 0 && !b->rc)
        b->rc = fpr_error(FPR_EINVAL, "JSON key '%s' is not valid UTF-8 (or out of memory)", key);
}

void fpr_jb_append(fpr_jb *b, json_t *arr, json_t *v)
{
    if (!v) {
        if (!b->rc)
            b->rc = fpr_error(FPR_ENOMEM, "out of memory building a JSON array");
        return;
    }
    if (json_array_append_new(arr, v) != 0 && !b->rc)
        b->rc = fpr_error(FPR_ENOMEM, "out of memory building a JSON array");
}

void fpr_jb_str(fpr_jb *b, json_t *obj, const char *key, const char *v)
{
    char what[128];
    snprintf(what, sizeof what, "the value of '%s'", key);
    json_t *s = fpr_jb_string(b, v, what);
    if (s)
        fpr_jb_set(b, obj, key, s);
}

void fpr_jb_int(fpr_jb *b, json_t *obj, const char *key, long long v)
{
    fpr_jb_set(b, obj, key, json_integer((json_int_t)v));
}

void fpr_jb_real(fpr_jb *b, json_t *obj, const char *key, double v)
{
    fpr_jb_set(b, obj, key, isfinite(v) ? json_real(v) : json_null());
}

/* ------------------------------------------------------------------ writing */
/* jansson encodes every scalar and every deep container; 17 significant digits make
 * every binary64 round-trip exactly (offsets are matched by ==). */
static const size_t ENC = JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);

static int put(FILE *fp, const char *s) { return fputs(s, fp) < 0 ? -1 : 0; }

static int indent(FILE *fp, int depth)
{
    for (int i = 0; i < depth; i++)
        if (put(fp, "  "))
            return -1;
    return 0;
}

static int dump_value(FILE *fp, const json_t *v, int depth, int expand)
{
    int is_obj = json_is_object(v), is_arr = json_is_array(v);
    size_t n = is_obj ? json_object_size(v) : is_arr ? json_array_size(v) : 0;
    if ((!is_obj && !is_arr) || depth >= expand || n == 0)
        return json_dumpf(v, fp, ENC);
    if (put(fp, is_obj ? "{\n" : "[\n"))
        return -1;
    size_t k = 0;
    if (is_obj) {
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)(uintptr_t)v, key, m) {
            json_t *ks = json_string(key); /* keys were checked when they were set */
            int bad = !ks || indent(fp, depth + 1) || json_dumpf(ks, fp, ENC) || put(fp, ": ") ||
                      dump_value(fp, m, depth + 1, expand) || put(fp, ++k < n ? ",\n" : "\n");
            json_decref(ks);
            if (bad)
                return -1;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            if (indent(fp, depth + 1) || dump_value(fp, json_array_get(v, i), depth + 1, expand) ||
                put(fp, i + 1 < n ? ",\n" : "\n"))
                return -1;
    }
    return indent(fp, depth) || put(fp, is_obj ? "}" : "]") ? -1 : 0;
}

int fpr_json_write_file(const char *path, const json_t *root, int expand)
{
    fpr_atomic_file a;
    int rc = fpr_atomic_open(path, &a);
    if (rc)
        return rc;
    if (dump_value(a.fp, root, 0, expand) || put(a.fp, "\n")) {
        fpr_atomic_abort(&a);
        return fpr_error(FPR_EIO, "%s: cannot write (disk full?)", path);
    }
    return fpr_atomic_commit(&a);
}

/* ------------------------------------------------------------------ reading */
int fpr_json_read_file(const char *path, json_t **out)
{
    *out = NULL;
    int rc = fpr_input_regular(path, "JSON file");
    if (rc)
        return rc;
    json_error_t err;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!v)
        return fpr_error(FPR_EFORMAT, "%s: not valid JSON at line %d, column %d: %s", path,
                         err.line, err.column, err.text);
    *out = v;
    return FPR_OK;
}

int fpr_json_get_str(const json_t *o, const char *key, const char *file, const char *where,
                     const char **out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return fpr_error(FPR_EFORMAT, "%s: %s lacks \"%s\"", file, where, key);
    if (!json_is_string(v))
        return fpr_error(FPR_EFORMAT, "%s: %s: \"%s\" must be a string", file, where, key);
    *out = json_string_value(v);
    return FPR_OK;
}

int fpr_json_get_int(const json_t *o, const char *key, const char *file, const char *where,
                     long long lo, long long hi, long long *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return fpr_error(FPR_EFORMAT, "%s: %s lacks \"%s\"", file, where, key);
    if (!json_is_integer(v))
        return fpr_error(FPR_EFORMAT, "%s: %s: \"%s\" must be an integer", file, where, key);
    long long x = (long long)json_integer_value(v);
    if (x < lo || x > hi)
        return fpr_error(FPR_EFORMAT, "%s: %s: \"%s\" = %lld is outside %lld..%lld", file, where,
                         key, x, lo, hi);
    *out = x;
    return FPR_OK;
}

int fpr_json_get_num(const json_t *o, const char *key, const char *file, const char *where,
                     double *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return fpr_error(FPR_EFORMAT, "%s: %s lacks \"%s\"", file, where, key);
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return fpr_error(FPR_EFORMAT, "%s: %s: \"%s\" must be a finite number", file, where, key);
    *out = json_number_value(v);
    return FPR_OK;
}
