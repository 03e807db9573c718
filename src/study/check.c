/* check.c — the regression gate (`frameprec check`) and its baseline file.
 *
 * Baseline (JSON, format "frameprec-baseline" version 1): one entry per run × backend,
 *   {"case": ..., "mode": ..., "offset": ..., "backend": ..., "tokens": n,
 *    "mismatch": n, "unexplained": n, "flips": n}
 * The gate passes only when no unexplained mismatch exists anywhere, every
 * bit-identity contract holds, and no backend's mismatch or valid-flip count grew
 * beyond its baseline entry. Entries the results lack (a subset run) are ignored;
 * runs the baseline lacks are reported as new and pass the count test. */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "study/study.h"

int fpr_baseline_write(const fpr_study_results *r, const char *path)
{
    size_t cap = 4096 + r->nruns * 64 * 256, n = 0;
    char *buf = fpr_calloc(cap, 1);
    if (!buf)
        return FPR_ENOMEM;
    n += (size_t)snprintf(buf + n, cap - n,
                          "{\n  \"format\": \"frameprec-baseline\",\n  \"version\": 1,\n"
                          "  \"reference\": \"%s\",\n  \"frameprec_version\": \"%s\",\n"
                          "  \"entries\": [",
                          r->reference, r->version);
    int first = 1;
    for (size_t i = 0; i < r->nruns; i++) {
        const fpr_study_run *run = &r->runs[i];
        for (size_t j = 0; j < run->nb && n < cap - 512; j++) {
            const fpr_metrics *m = &run->b[j].m;
            n += (size_t)snprintf(buf + n, cap - n,
                                  "%s\n    {\"case\": \"%s\", \"mode\": \"%s\", \"offset\": %g, "
                                  "\"backend\": \"%s\", \"tokens\": %lld, \"mismatch\": %lld, "
                                  "\"unexplained\": %lld, \"flips\": %lld}",
                                  first ? "" : ",", run->case_name, run->mode, run->offset,
                                  run->b[j].name, (long long)m->tokens,
                                  (long long)m->mismatch, (long long)m->unexplained,
                                  (long long)(m->flip_01 + m->flip_10));
            first = 0;
        }
    }
    n += (size_t)snprintf(buf + n, cap - n, "\n  ]\n}\n");
    int rc = n >= cap - 1 ? fpr_error(FPR_EINTERNAL, "baseline buffer too small")
                          : fpr_write_file_atomic(path, buf, n);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ a small reader */
typedef struct bentry {
    char case_name[256], mode[256], backend[256]; /* as long as a parsed string */
    double offset;
    long long tokens, mismatch, unexplained, flips;
    int used;
} bentry;

static const char *skip_ws(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Parses a JSON string at p (after the quote is checked); returns the end or NULL. */
static const char *parse_str(const char *p, char *out, size_t n)
{
    if (*p != '"')
        return NULL;
    p++;
    size_t k = 0;
    while (*p && *p != '"') {
        char ch = *p++;
        if (ch == '\\' && *p)
            ch = *p++;
        if (k + 1 >= n)
            return NULL; /* longer than any name frameprec writes: refuse, never truncate */
        out[k++] = ch;
    }
    out[k] = 0;
    return *p == '"' ? p + 1 : NULL;
}

/* One flat object of the entries array; returns the end or NULL on a syntax error. */
static const char *parse_entry(const char *p, bentry *e)
{
    memset(e, 0, sizeof *e);
    p = skip_ws(p);
    if (*p != '{')
        return NULL;
    p++;
    for (;;) {
        p = skip_ws(p);
        if (*p == '}')
            return p + 1;
        char key[64], sval[256] = "";
        double nval = 0;
        if (!(p = parse_str(p, key, sizeof key)))
            return NULL;
        p = skip_ws(p);
        if (*p++ != ':')
            return NULL;
        p = skip_ws(p);
        if (*p == '"') {
            if (!(p = parse_str(p, sval, sizeof sval)))
                return NULL;
        } else {
            char *end;
            nval = strtod(p, &end);
            if (end == p)
                return NULL;
            p = end;
        }
        if (!strcmp(key, "case")) memcpy(e->case_name, sval, sizeof sval);
        else if (!strcmp(key, "mode")) memcpy(e->mode, sval, sizeof sval);
        else if (!strcmp(key, "backend")) memcpy(e->backend, sval, sizeof sval);
        else if (!strcmp(key, "offset")) e->offset = nval;
        else if (!strcmp(key, "tokens")) e->tokens = (long long)nval;
        else if (!strcmp(key, "mismatch")) e->mismatch = (long long)nval;
        else if (!strcmp(key, "unexplained")) e->unexplained = (long long)nval;
        else if (!strcmp(key, "flips")) e->flips = (long long)nval;
        p = skip_ws(p);
        if (*p == ',')
            p++;
    }
}

static int read_baseline(const char *path, bentry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fpr_error(FPR_EIO, "%s: cannot open the baseline", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *txt = fpr_calloc((size_t)(len > 0 ? len : 0) + 1, 1);
    if (!txt || fread(txt, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(txt);
        return fpr_error(FPR_EIO, "%s: cannot read the baseline", path);
    }
    fclose(f);
    int rc = FPR_OK;
    if (!strstr(txt, "\"frameprec-baseline\"")) {
        free(txt);
        return fpr_error(FPR_EFORMAT, "%s: not a frameprec baseline (format "
                                      "\"frameprec-baseline\" missing)", path);
    }
    const char *p = strstr(txt, "\"entries\"");
    p = p ? strchr(p, '[') : NULL;
    if (!p) {
        free(txt);
        return fpr_error(FPR_EFORMAT, "%s: baseline has no \"entries\" array", path);
    }
    p++;
    size_t cap = 0;
    bentry *v = NULL;
    for (;;) {
        p = skip_ws(p);
        if (*p == ']')
            break;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            bentry *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                rc = FPR_ENOMEM;
                break;
            }
            v = nv;
        }
        const char *q = parse_entry(p, &v[*n]);
        if (!q) {
            rc = fpr_error(FPR_EFORMAT, "%s: baseline entry %zu is not valid JSON "
                                        "(near byte %ld)", path, *n, (long)(p - txt));
            break;
        }
        p = q;
        (*n)++;
    }
    free(txt);
    if (rc) {
        free(v);
        *n = 0;
        return rc;
    }
    *out = v;
    return FPR_OK;
}

int fpr_check(const fpr_study_results *r, const char *baseline, FILE *out)
{
    bentry *be = NULL;
    size_t nbe = 0;
    int rc = read_baseline(baseline, &be, &nbe);
    if (rc)
        return rc;
    int fail = 0;
    long long compared = 0, fresh = 0;
    for (size_t i = 0; i < r->nruns; i++) {
        const fpr_study_run *run = &r->runs[i];
        for (size_t j = 0; j < run->nb; j++) {
            const fpr_metrics *m = &run->b[j].m;
            const char *bn = run->b[j].name;
            char where[512];
            snprintf(where, sizeof where, "%s [%s, +%g A] %s", run->case_name, run->mode,
                     run->offset, bn);
            if (m->unexplained > 0) {
                fprintf(out, "FAIL %s: %lld unexplained mismatches (outside the error "
                             "bound: a bug; %lld inconsistent with its own values)\n",
                        where, (long long)m->unexplained, (long long)m->inconsistent);
                fail = 1;
            }
            if (m->ident_diff > 0) {
                fprintf(out, "FAIL %s: bit-identity with %s broken on %lld tokens\n", where,
                        fpr_study_identity_partner(bn) ? fpr_study_identity_partner(bn) : "?",
                        (long long)m->ident_diff);
                fail = 1;
            }
            bentry *e = NULL;
            for (size_t k = 0; k < nbe && !e; k++)
                if (!strcmp(be[k].case_name, run->case_name) && !strcmp(be[k].mode, run->mode) &&
                    be[k].offset == run->offset && !strcmp(be[k].backend, bn))
                    e = &be[k];
            if (!e) {
                fresh++;
                continue;
            }
            compared++;
            e->used = 1;
            if (e->tokens != m->tokens)
                fprintf(out, "note %s: %lld tokens, baseline had %lld (case changed?)\n", where,
                        (long long)m->tokens, e->tokens);
            if (m->mismatch > e->mismatch) {
                fprintf(out, "FAIL %s: pick mismatches grew %lld -> %lld\n", where,
                        e->mismatch, (long long)m->mismatch);
                fail = 1;
            }
            long long fl = m->flip_01 + m->flip_10;
            if (fl > e->flips) {
                fprintf(out, "FAIL %s: valid-mask flips grew %lld -> %lld\n", where, e->flips,
                        fl);
                fail = 1;
            }
            if (m->mismatch < e->mismatch)
                fprintf(out, "better %s: pick mismatches %lld -> %lld (consider "
                             "--write-baseline)\n", where, e->mismatch, (long long)m->mismatch);
        }
    }
    fprintf(out, "check: %s — %lld run x backend results compared with %s, %lld not in the "
                 "baseline\n", fail ? "FAIL" : "PASS", compared, baseline, fresh);
    free(be);
    return fail;
}
