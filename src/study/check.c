/* check.c — the regression gate (`frameprec check`) and its baseline file.
 *
 * Baseline (JSON, format "frameprec-baseline" version 1): one entry per run × backend,
 *   {"case": ..., "mode": ..., "offset": ..., "backend": ..., "tokens": n,
 *    "mismatch": n, "unexplained": n, "flips": n, "degenerate": n,
 *    "degenerate_valid": n}
 * read and written with jansson (src/io/jsonutil.c), every entry validated on reading
 * (types, ranges, no duplicate entry). The gate passes only when it compared something:
 * RESULTS hold at least one backend result, every result has a baseline entry (or
 * --allow-new says new ones are expected, and at least one was still compared), and
 * then no unexplained mismatch exists, every bit-identity contract holds, no backend's
 * mismatch, valid-flip or degenerate-frame count (SPEC §5 severity 1: all degenerate
 * frames, and those marked valid) grew beyond its entry, and no run's token count changed
 * (a changed case under an old name). Baseline entries the results lack (a subset run)
 * are counted and ignored. */
#include <math.h>
#include <string.h>

#include "io/jsonutil.h"
#include "study/study.h"

int fpr_baseline_write(const fpr_study_results *r, const char *path)
{
    fpr_jb jb = {FPR_OK};
    json_t *root = json_object(), *entries = json_array();
    if (!root || !entries) {
        json_decref(root);
        json_decref(entries);
        return fpr_error(FPR_ENOMEM, "out of memory writing %s", path);
    }
    fpr_jb_str(&jb, root, "format", "frameprec-baseline");
    fpr_jb_int(&jb, root, "version", 1);
    fpr_jb_str(&jb, root, "reference", r->reference);
    fpr_jb_str(&jb, root, "frameprec_version", r->version);
    size_t n = 0;
    for (size_t i = 0; i < r->nruns && !jb.rc; i++) {
        const fpr_study_run *run = &r->runs[i];
        if (!isfinite(run->offset)) {
            jb.rc = fpr_error(FPR_EINVAL, "run %s has a non-finite offset", run->key);
            break;
        }
        for (size_t j = 0; j < run->nb && !jb.rc; j++) {
            const fpr_metrics *m = &run->b[j].m;
            json_t *e = json_object();
            if (e) {
                fpr_jb_str(&jb, e, "case", run->case_name);
                fpr_jb_str(&jb, e, "mode", run->mode);
                fpr_jb_real(&jb, e, "offset", run->offset);
                fpr_jb_str(&jb, e, "backend", run->b[j].name);
                fpr_jb_int(&jb, e, "tokens", (long long)m->tokens);
                fpr_jb_int(&jb, e, "mismatch", (long long)m->mismatch);
                fpr_jb_int(&jb, e, "unexplained", (long long)m->unexplained);
                fpr_jb_int(&jb, e, "flips", (long long)(m->flip_01 + m->flip_10));
                fpr_jb_int(&jb, e, "degenerate", (long long)m->degenerate);
                fpr_jb_int(&jb, e, "degenerate_valid", (long long)m->degenerate_valid);
            }
            fpr_jb_append(&jb, entries, e);
            n++;
        }
    }
    fpr_jb_set(&jb, root, "entries", entries);
    int rc = jb.rc;
    if (!rc && n == 0)
        rc = fpr_error(FPR_EINVAL, "the results hold no backend results (%zu runs): a baseline "
                       "of nothing would gate nothing", r->nruns);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", fpr_errmsg());
        rc = fpr_error(rc, "%s: %s", path, msg);
    } else {
        rc = fpr_json_write_file(path, root, 2); /* one line per entry */
    }
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ reading */
typedef struct bentry {
    const char *case_name, *mode, *backend; /* owned by the JSON document */
    double offset;
    long long tokens, mismatch, unexplained, flips, degenerate, degenerate_valid;
    int used;
} bentry;

static int cmp_entry(const bentry *a, const bentry *b)
{
    int c = strcmp(a->case_name, b->case_name);
    if (!c) c = strcmp(a->mode, b->mode);
    if (!c) c = (a->offset > b->offset) - (a->offset < b->offset);
    if (!c) c = strcmp(a->backend, b->backend);
    return c;
}

static int qcmp_entry(const void *a, const void *b) { return cmp_entry(a, b); }

/* Reads and validates the baseline; *doc keeps the strings alive. Entries sorted. */
static int read_baseline(const char *path, json_t **doc, bentry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *root;
    int rc = fpr_json_read_file(path, &root);
    if (rc)
        return rc;
    *doc = root;
    const char *fmt;
    long long ver;
    if (!json_is_object(root))
        return fpr_error(FPR_EFORMAT, "%s: not a frameprec baseline (not a JSON object)", path);
    if ((rc = fpr_json_get_str(root, "format", path, "the baseline", &fmt)))
        return rc;
    if (strcmp(fmt, "frameprec-baseline") != 0)
        return fpr_error(FPR_EFORMAT, "%s: not a frameprec baseline (format \"%s\")", path, fmt);
    if ((rc = fpr_json_get_int(root, "version", path, "the baseline", 1, 1, &ver)))
        return rc;
    const json_t *arr = json_object_get(root, "entries");
    if (!json_is_array(arr))
        return fpr_error(FPR_EFORMAT, "%s: baseline has no \"entries\" array", path);
    size_t m = json_array_size(arr);
    bentry *v = fpr_calloc(m + 1, sizeof *v);
    if (!v)
        return FPR_ENOMEM;
    for (size_t i = 0; i < m && !rc; i++) {
        const json_t *e = json_array_get(arr, i);
        char where[64];
        snprintf(where, sizeof where, "entry %zu", i);
        bentry *b = &v[i];
        const long long big = (1LL << 53);
        if (!json_is_object(e))
            rc = fpr_error(FPR_EFORMAT, "%s: %s is not an object", path, where);
        if (!rc) rc = fpr_json_get_str(e, "case", path, where, &b->case_name);
        if (!rc) rc = fpr_json_get_str(e, "mode", path, where, &b->mode);
        if (!rc) rc = fpr_json_get_num(e, "offset", path, where, &b->offset);
        if (!rc) rc = fpr_json_get_str(e, "backend", path, where, &b->backend);
        if (!rc) rc = fpr_json_get_int(e, "tokens", path, where, 0, big, &b->tokens);
        if (!rc) rc = fpr_json_get_int(e, "mismatch", path, where, 0, b->tokens, &b->mismatch);
        if (!rc)
            rc = fpr_json_get_int(e, "unexplained", path, where, 0, b->mismatch, &b->unexplained);
        if (!rc) rc = fpr_json_get_int(e, "flips", path, where, 0, big, &b->flips);
        if (!rc)
            rc = fpr_json_get_int(e, "degenerate", path, where, 0, b->tokens, &b->degenerate);
        if (!rc)
            rc = fpr_json_get_int(e, "degenerate_valid", path, where, 0, b->degenerate,
                                  &b->degenerate_valid);
    }
    if (!rc && m > 1) {
        qsort(v, m, sizeof *v, qcmp_entry);
        for (size_t i = 1; i < m && !rc; i++)
            if (!cmp_entry(&v[i - 1], &v[i]))
                rc = fpr_error(FPR_EFORMAT, "%s: two entries for %s [%s, +%g A] %s", path,
                               v[i].case_name, v[i].mode, v[i].offset, v[i].backend);
    }
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = m;
    return FPR_OK;
}

int fpr_check(const fpr_study_results *r, const char *baseline, FILE *out)
{
    return fpr_check_ex(r, baseline, 0, out);
}

int fpr_check_ex(const fpr_study_results *r, const char *baseline, int allow_new, FILE *out)
{
    json_t *doc = NULL;
    bentry *be = NULL;
    size_t nbe = 0;
    int rc = read_baseline(baseline, &doc, &be, &nbe);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    int fail = 0;
    long long compared = 0, fresh = 0, results = 0;
    for (size_t i = 0; i < r->nruns; i++) {
        const fpr_study_run *run = &r->runs[i];
        for (size_t j = 0; j < run->nb; j++) {
            const fpr_metrics *m = &run->b[j].m;
            const char *bn = run->b[j].name;
            results++;
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
                        fpr_study_identity_partner(bn) ? fpr_study_identity_partner(bn)
                                                       : "its declared arithmetic (tie order aside)",
                        (long long)m->ident_diff);
                fail = 1;
            }
            bentry key = {run->case_name, run->mode, bn, run->offset, 0, 0, 0, 0, 0, 0, 0};
            bentry *e = nbe ? bsearch(&key, be, nbe, sizeof *be, qcmp_entry) : NULL;
            if (!e) {
                fresh++;
                if (!allow_new) {
                    if (fresh <= 20)
                        fprintf(out, "FAIL %s: not in the baseline (a new run or backend: "
                                     "--allow-new to accept, or --write-baseline)\n", where);
                    fail = 1;
                }
                continue;
            }
            compared++;
            e->used = 1;
            if (e->tokens != m->tokens) {
                fprintf(out, "FAIL %s: %lld tokens, baseline had %lld (the case changed under "
                             "the same name: regenerate the baseline)\n", where,
                        (long long)m->tokens, e->tokens);
                fail = 1;
            }
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
            if (m->degenerate > e->degenerate) {
                fprintf(out, "FAIL %s: degenerate frames (a or c = the token's own atom) grew "
                             "%lld -> %lld\n", where, e->degenerate, (long long)m->degenerate);
                fail = 1;
            }
            if (m->degenerate_valid > e->degenerate_valid) {
                fprintf(out, "FAIL %s: degenerate frames marked valid grew %lld -> %lld\n",
                        where, e->degenerate_valid, (long long)m->degenerate_valid);
                fail = 1;
            }
            if (m->mismatch < e->mismatch)
                fprintf(out, "better %s: pick mismatches %lld -> %lld (consider "
                             "--write-baseline)\n", where, e->mismatch, (long long)m->mismatch);
        }
    }
    if (fresh > 20 && !allow_new)
        fprintf(out, "FAIL ... and %lld more results not in the baseline\n", fresh - 20);
    if (r->nruns == 0) {
        fprintf(out, "FAIL the results hold no runs: nothing to gate\n");
        fail = 1;
    } else if (results == 0) {
        fprintf(out, "FAIL the results hold %zu runs but no backend results (only the "
                     "reference was run?): nothing to gate\n", r->nruns);
        fail = 1;
    }
    if (nbe == 0) {
        fprintf(out, "FAIL %s has no entries: nothing to compare with\n", baseline);
        fail = 1;
    } else if (compared == 0 && results > 0) {
        fprintf(out, "FAIL the baseline covers none of the %lld results (other cases, modes, "
                     "offsets or backends?)\n", results);
        fail = 1;
    }
    long long unused = 0;
    for (size_t k = 0; k < nbe; k++)
        unused += !be[k].used;
    fprintf(out, "check: %s — %lld of %lld run x backend results compared with %s, %lld not in "
                 "the baseline%s; %lld baseline entries not in the results\n",
            fail ? "FAIL" : "PASS", compared, results, baseline, fresh,
            fresh && allow_new ? " (allowed by --allow-new)" : "", unused);
    free(be);
    json_decref(doc);
    return fail;
}
