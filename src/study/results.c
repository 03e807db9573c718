/* results.c — results.h5 (every run, every backend, every token) and summary.json.
 *
 * Layout (format "frameprec-study", version 1):
 *   /                 attrs format, version, frameprec_version, compiler, flags, machine,
 *                     reference, created, notes
 *   /runs/<key>       attrs case, path, mode, offset, S, n_atom, n_token, n_atomized,
 *                     truth_seconds, backends (comma list, study order);
 *                     datasets margin_hist [1+BINS] (zero count first), and the truth's
 *                     per-token tie1, tie2, margin1, margin2, fragile_angle [S][n_token]
 *   /runs/<key>/<backend>  one attribute per metric (fpr_metric_fields), bound_hist,
 *                     and per token [S][n_token]: kind, cause, explained, valid_flip,
 *                     flip_cause, phi_change, err_bound, err_ulp, degenerate (1: a or c
 *                     is b, 2: and valid), tie_order (bits 1/2/4: ranks 0|1, 1|2, 2|3 of
 *                     the backend's own values tie), disp_a, disp_c (Å from the true
 *                     atom; 0 unchanged); disp_hist [4096] (1/100 Å bins)
 * A run file in DIR/.work has the same layout with one run, so joining (the end of a
 * study, and `frameprec merge`) is copying groups. */
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"
#include "study/study.h"

/* ------------------------------------------------------------------ small writers */
static int attr_str(hid_t h, const char *name, const char *v)
{
    if (!v)
        v = "";
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(h, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, t, v) >= 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return ok ? FPR_OK : fpr_error(FPR_EIO, "cannot write attribute '%s'", name);
}

static int attr_num(hid_t h, const char *name, double v, int is_int)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(h, name, is_int ? H5T_STD_I64LE : H5T_IEEE_F64LE, sp, H5P_DEFAULT,
                         H5P_DEFAULT);
    int ok;
    if (is_int) {
        int64_t iv = (int64_t)v;
        ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &iv) >= 0;
    } else {
        ok = a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &v) >= 0;
    }
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return ok ? FPR_OK : fpr_error(FPR_EIO, "cannot write attribute '%s'", name);
}

static int dset(hid_t g, const char *name, hid_t mem, hid_t ft, int rank, const hsize_t *dims,
                const void *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t n = 1;
    for (int k = 0; k < rank; k++)
        n *= dims[k];
    if (n > 0) {
        hsize_t chunk[2] = {dims[0], rank > 1 ? dims[1] : 1};
        size_t el = H5Tget_size(ft) * (rank > 1 ? dims[1] : 1);
        hsize_t rows = el ? (hsize_t)((1u << 20) / el) : 1;
        if (rows < 1)
            rows = 1;
        if (chunk[0] > rows)
            chunk[0] = rows;
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 4);
    }
    hid_t d = H5Dcreate2(g, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int ok = d >= 0 && H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return ok ? FPR_OK : fpr_error(FPR_EIO, "cannot write dataset '%s' (disk full?)", name);
}

static int write_header(hid_t f, const fpr_study_results *h)
{
    int rc = attr_str(f, "format", "frameprec-study");
    if (!rc) rc = attr_num(f, "version", 1, 1);
    if (!rc) rc = attr_str(f, "frameprec_version", h->version);
    if (!rc) rc = attr_str(f, "compiler", h->compiler);
    if (!rc) rc = attr_str(f, "flags", h->flags);
    if (!rc) rc = attr_str(f, "machine", h->machine);
    if (!rc) rc = attr_str(f, "reference", h->reference);
    if (!rc) rc = attr_str(f, "created", h->created);
    if (!rc) rc = attr_str(f, "notes", h->notes);
    return rc;
}

static int write_hist(hid_t g, const char *name, const fpr_hist *h)
{
    int64_t v[FPR_HIST_BINS + 1];
    v[0] = h->zero;
    memcpy(v + 1, h->bin, sizeof h->bin);
    hsize_t d[1] = {FPR_HIST_BINS + 1};
    return dset(g, name, H5T_NATIVE_INT64, H5T_STD_I64LE, 1, d, v);
}

int fpr_results_write_run(const char *path, const fpr_study_results *hdr,
                          const fpr_study_run *run, fpr_token_results *const *tok,
                          const fpr_frames *truth, const fpr_case *c)
{
    (void)c;
    fpr_h5_out o;
    int rc = fpr_h5_create(path, &o);
    if (rc)
        return rc;
    hid_t runs = -1, g = -1, bg = -1;
    char *blist = NULL;
    if ((rc = write_header(o.f, hdr)))
        goto fail;
    runs = H5Gcreate2(o.f, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    g = runs >= 0 ? H5Gcreate2(runs, run->key, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (g < 0) {
        rc = fpr_error(FPR_EIO, "%s: cannot create group /runs/%s", path, run->key);
        goto fail;
    }
    size_t bl = 1;
    for (size_t i = 0; i < run->nb; i++)
        bl += strlen(run->b[i].name) + 1;
    blist = fpr_calloc(bl, 1);
    for (size_t i = 0; blist && i < run->nb; i++) {
        if (i)
            strcat(blist, ",");
        strcat(blist, run->b[i].name);
    }
    rc = attr_str(g, "case", run->case_name);
    if (!rc) rc = attr_str(g, "path", run->case_path);
    if (!rc) rc = attr_str(g, "mode", run->mode);
    if (!rc) rc = attr_num(g, "offset", run->offset, 0);
    if (!rc) rc = attr_num(g, "S", (double)run->S, 1);
    if (!rc) rc = attr_num(g, "n_atom", (double)run->n_atom, 1);
    if (!rc) rc = attr_num(g, "n_token", (double)run->n_token, 1);
    if (!rc) rc = attr_num(g, "n_atomized", (double)run->n_atomized, 1);
    if (!rc) rc = attr_num(g, "truth_seconds", run->truth_seconds, 0);
    if (!rc) rc = attr_str(g, "backends", blist ? blist : "");
    if (!rc) rc = write_hist(g, "margin_hist", &run->margin_hist);
    hsize_t d2[2] = {(hsize_t)run->S, (hsize_t)run->n_token};
    if (!rc && truth && truth->tie1) {
        rc = dset(g, "tie1", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d2, truth->tie1);
        if (!rc) rc = dset(g, "tie2", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d2, truth->tie2);
        if (!rc) rc = dset(g, "margin1", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2, truth->margin1);
        if (!rc) rc = dset(g, "margin2", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2, truth->margin2);
        if (!rc)
            rc = dset(g, "fragile_angle", H5T_NATIVE_UINT8, H5T_STD_U8LE, 2, d2,
                      truth->fragile_angle);
    }
    for (size_t i = 0; !rc && i < run->nb; i++) {
        const fpr_study_backend *sb = &run->b[i];
        bg = H5Gcreate2(g, sb->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (bg < 0) {
            rc = fpr_error(FPR_EIO, "%s: cannot create group for backend %s", path, sb->name);
            break;
        }
        for (size_t k = 0; !rc && k < fpr_metric_nfields; k++)
            rc = attr_num(bg, fpr_metric_fields[k].name, fpr_metric_get(&sb->m, k),
                          fpr_metric_fields[k].is_int);
        if (!rc) rc = write_hist(bg, "bound_hist", &sb->bound_hist);
        if (!rc && sb->examples && sb->examples[0]) rc = attr_str(bg, "examples", sb->examples);
        if (!rc && sb->m.disp_n > 0) { /* absent = empty (most runs change nothing) */
            hsize_t dd[1] = {FPR_DISP_BINS};
            rc = dset(bg, "disp_hist", H5T_NATIVE_INT64, H5T_STD_I64LE, 1, dd, sb->disp_hist.bin);
        }
        const fpr_token_results *t = tok ? tok[i] : NULL;
        if (t) {
            if (!rc) rc = dset(bg, "kind", H5T_NATIVE_UINT8, H5T_STD_U8LE, 2, d2, t->kind);
            if (!rc) rc = dset(bg, "cause", H5T_NATIVE_UINT8, H5T_STD_U8LE, 2, d2, t->cause);
            if (!rc) rc = dset(bg, "explained", H5T_NATIVE_UINT8, H5T_STD_U8LE, 2, d2, t->explained);
            if (!rc) rc = dset(bg, "valid_flip", H5T_NATIVE_INT8, H5T_STD_I8LE, 2, d2, t->valid_flip);
            if (!rc) rc = dset(bg, "flip_cause", H5T_NATIVE_UINT8, H5T_STD_U8LE, 2, d2, t->flip_cause);
            if (!rc) rc = dset(bg, "phi_change", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, d2, t->phi_change);
            if (!rc) rc = dset(bg, "err_bound", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, d2, t->err_bound);
            if (!rc) rc = dset(bg, "err_ulp", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, d2, t->err_ulp);
            if (!rc) rc = dset(bg, "degenerate", H5T_NATIVE_UINT8, H5T_STD_U8LE, 2, d2, t->degenerate);
            if (!rc) rc = dset(bg, "tie_order", H5T_NATIVE_UINT8, H5T_STD_U8LE, 2, d2, t->tie_order);
            if (!rc) rc = dset(bg, "disp_a", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, d2, t->disp_a);
            if (!rc) rc = dset(bg, "disp_c", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, d2, t->disp_c);
        }
        H5Gclose(bg);
        bg = -1;
    }
    if (rc)
        goto fail;
    free(blist);
    H5Gclose(g);
    H5Gclose(runs);
    return fpr_h5_commit(&o);
fail:
    free(blist);
    if (bg >= 0)
        H5Gclose(bg);
    if (g >= 0)
        H5Gclose(g);
    if (runs >= 0)
        H5Gclose(runs);
    fpr_h5_abort(&o);
    return rc;
}

/* ------------------------------------------------------------------ join */
typedef struct copy_ctx {
    hid_t dst;
    const char *src_path;
    int rc;
} copy_ctx;

static herr_t copy_one(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    copy_ctx *k = data;
    if (H5Lexists(k->dst, name, H5P_DEFAULT) > 0) {
        k->rc = fpr_error(FPR_EINVAL, "%s: run %s appears in two inputs (overlapping shards?)",
                          k->src_path, name);
        return -1;
    }
    if (H5Ocopy(g, name, k->dst, name, H5P_DEFAULT, H5P_DEFAULT) < 0) {
        k->rc = fpr_error(FPR_EIO, "%s: cannot copy run %s", k->src_path, name);
        return -1;
    }
    return 0;
}

int fpr_results_join(const char *const *inputs, size_t n, const fpr_study_results *hdr,
                     const char *out)
{
    fpr_h5_quiet();
    fpr_h5_out o;
    int rc = fpr_h5_create(out, &o);
    if (rc)
        return rc;
    hid_t runs = -1;
    if ((rc = write_header(o.f, hdr)))
        goto fail;
    runs = H5Gcreate2(o.f, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (runs < 0) {
        rc = fpr_error(FPR_EIO, "%s: cannot create /runs", out);
        goto fail;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        hid_t f;
        if ((rc = fpr_h5_open_read(inputs[i], &f)))
            break;
        hid_t src = H5Gopen2(f, "runs", H5P_DEFAULT);
        if (src < 0) {
            rc = fpr_error(FPR_EFORMAT, "%s: not a frameprec study results file (no /runs)",
                           inputs[i]);
        } else {
            copy_ctx k = {runs, inputs[i], FPR_OK};
            H5Literate(src, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_one, &k);
            rc = k.rc;
            H5Gclose(src);
        }
        H5Fclose(f);
    }
    if (rc)
        goto fail;
    H5Gclose(runs);
    return fpr_h5_commit(&o);
fail:
    if (runs >= 0)
        H5Gclose(runs);
    fpr_h5_abort(&o);
    return rc;
}

/* ------------------------------------------------------------------ read */
static char *rd_str(hid_t h, const char *name)
{
    if (H5Aexists(h, name) <= 0)
        return fpr_strdup("");
    hid_t a = H5Aopen(h, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    char *s = NULL;
    if (H5Tis_variable_str(t) > 0) {
        char *v = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Aread(a, mt, &v) >= 0 && v) {
            s = fpr_strdup(v);
            H5free_memory(v);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        s = fpr_calloc(n + 1, 1);
        if (s && H5Aread(a, t, s) < 0) {
            free(s);
            s = NULL;
        }
    }
    H5Tclose(t);
    H5Aclose(a);
    return s ? s : fpr_strdup("");
}

static double rd_num(hid_t h, const char *name, double dflt)
{
    if (H5Aexists(h, name) <= 0)
        return dflt;
    hid_t a = H5Aopen(h, name, H5P_DEFAULT);
    double v = dflt;
    if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0)
        v = dflt;
    H5Aclose(a);
    return v;
}

static void rd_hist(hid_t g, const char *name, fpr_hist *h)
{
    memset(h, 0, sizeof *h);
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        return;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    int64_t v[FPR_HIST_BINS + 1];
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (n == FPR_HIST_BINS + 1 &&
        H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0) {
        h->zero = v[0];
        memcpy(h->bin, v + 1, sizeof h->bin);
    }
    H5Sclose(sp);
    H5Dclose(d);
}

static void rd_disp_hist(hid_t g, fpr_disp_hist *h)
{
    memset(h, 0, sizeof *h);
    if (H5Lexists(g, "disp_hist", H5P_DEFAULT) <= 0)
        return;
    hid_t d = H5Dopen2(g, "disp_hist", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    if (H5Sget_simple_extent_npoints(sp) != FPR_DISP_BINS ||
        H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, h->bin) < 0)
        memset(h, 0, sizeof *h);
    H5Sclose(sp);
    H5Dclose(d);
}

typedef struct read_ctx {
    fpr_study_results *r;
    const char *path;
    size_t cap;
    int rc;
} read_ctx;

static herr_t read_run(hid_t runs, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    read_ctx *k = data;
    fpr_study_results *r = k->r;
    if (r->nruns == k->cap) {
        size_t nc = k->cap ? 2 * k->cap : 64;
        fpr_study_run *nr = realloc(r->runs, nc * sizeof *nr);
        if (!nr) {
            k->rc = fpr_error(FPR_ENOMEM, "out of memory reading %s", k->path);
            return -1;
        }
        r->runs = nr;
        k->cap = nc;
    }
    fpr_study_run *run = &r->runs[r->nruns];
    memset(run, 0, sizeof *run);
    hid_t g = H5Gopen2(runs, name, H5P_DEFAULT);
    if (g < 0) {
        k->rc = fpr_error(FPR_EFORMAT, "%s: cannot open run %s", k->path, name);
        return -1;
    }
    r->nruns++;
    run->key = fpr_strdup(name);
    run->case_name = rd_str(g, "case");
    run->case_path = rd_str(g, "path");
    run->mode = rd_str(g, "mode");
    run->offset = rd_num(g, "offset", 0);
    run->S = (int64_t)rd_num(g, "S", 0);
    run->n_atom = (int64_t)rd_num(g, "n_atom", 0);
    run->n_token = (int64_t)rd_num(g, "n_token", 0);
    run->n_atomized = (int64_t)rd_num(g, "n_atomized", 0);
    run->truth_seconds = rd_num(g, "truth_seconds", 0);
    rd_hist(g, "margin_hist", &run->margin_hist);
    char *bl = rd_str(g, "backends");
    size_t nb = bl[0] ? 1 : 0;
    for (char *p = bl; *p; p++)
        nb += *p == ',';
    run->b = fpr_calloc(nb + 1, sizeof *run->b);
    char *save = NULL;
    for (char *t = strtok_r(bl, ",", &save); t && run->b; t = strtok_r(NULL, ",", &save)) {
        fpr_study_backend *sb = &run->b[run->nb];
        hid_t bg = H5Gopen2(g, t, H5P_DEFAULT);
        if (bg < 0) {
            k->rc = fpr_error(FPR_EFORMAT, "%s: run %s lacks backend group %s", k->path, name, t);
            break;
        }
        run->nb++;
        sb->name = fpr_strdup(t);
        fpr_metrics_init(&sb->m);
        for (size_t f = 0; f < fpr_metric_nfields && !k->rc; f++) {
            /* a metric this build defines but the file lacks: an older frameprec wrote
             * it; reading it as 0 would be a silent wrong answer */
            if (H5Aexists(bg, fpr_metric_fields[f].name) <= 0)
                k->rc = fpr_error(FPR_EFORMAT, "%s: run %s, backend %s lacks metric '%s' "
                                  "(written by an older frameprec; run the study again)",
                                  k->path, name, t, fpr_metric_fields[f].name);
            else
                fpr_metric_set(&sb->m, f, rd_num(bg, fpr_metric_fields[f].name,
                                                 fpr_metric_get(&sb->m, f)));
        }
        rd_hist(bg, "bound_hist", &sb->bound_hist);
        rd_disp_hist(bg, &sb->disp_hist);
        sb->examples = rd_str(bg, "examples");
        H5Gclose(bg);
    }
    free(bl);
    H5Gclose(g);
    return k->rc ? -1 : 0;
}

static int cmp_run(const void *pa, const void *pb)
{
    const fpr_study_run *a = pa, *b = pb;
    int c = strcmp(a->case_name, b->case_name);
    if (c)
        return c;
    int ma = strcmp(a->mode, "native") != 0, mb = strcmp(b->mode, "native") != 0;
    if (ma != mb)
        return ma - mb;
    return (a->offset > b->offset) - (a->offset < b->offset);
}

char *fpr_results_path(const char *arg)
{
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(arg) + 16;
        char *p = fpr_calloc(n, 1);
        if (p)
            snprintf(p, n, "%s/results.h5", arg);
        return p;
    }
    return fpr_strdup(arg);
}

int fpr_results_read(const char *arg, fpr_study_results **out)
{
    *out = NULL;
    char *path = fpr_results_path(arg);
    if (!path)
        return FPR_ENOMEM;
    hid_t f;
    int rc = fpr_h5_open_read(path, &f);
    if (rc) {
        free(path);
        return rc;
    }
    fpr_study_results *r = fpr_calloc(1, sizeof *r);
    char *fmt = rd_str(f, "format");
    if (!r || strcmp(fmt, "frameprec-study") != 0) {
        rc = r ? fpr_error(FPR_EFORMAT, "%s: not a frameprec study results file (format "
                                        "attribute '%s')", path, fmt)
               : FPR_ENOMEM;
        free(fmt);
        free(r);
        H5Fclose(f);
        free(path);
        return rc;
    }
    free(fmt);
    r->version = rd_str(f, "frameprec_version");
    r->compiler = rd_str(f, "compiler");
    r->flags = rd_str(f, "flags");
    r->machine = rd_str(f, "machine");
    r->reference = rd_str(f, "reference");
    r->created = rd_str(f, "created");
    r->notes = rd_str(f, "notes");
    hid_t runs = H5Gopen2(f, "runs", H5P_DEFAULT);
    if (runs < 0) {
        rc = fpr_error(FPR_EFORMAT, "%s: no /runs group", path);
    } else {
        read_ctx k = {r, path, 0, FPR_OK};
        H5Literate(runs, H5_INDEX_NAME, H5_ITER_INC, NULL, read_run, &k);
        rc = k.rc;
        H5Gclose(runs);
    }
    H5Fclose(f);
    free(path);
    if (rc) {
        fpr_study_results_free(r);
        return rc;
    }
    if (r->nruns)
        qsort(r->runs, r->nruns, sizeof *r->runs, cmp_run);
    *out = r;
    return FPR_OK;
}

void fpr_study_results_free(fpr_study_results *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nruns; i++) {
        fpr_study_run *run = &r->runs[i];
        free(run->key);
        free(run->case_name);
        free(run->case_path);
        free(run->mode);
        for (size_t j = 0; j < run->nb; j++) {
            free(run->b[j].name);
            free(run->b[j].examples);
        }
        free(run->b);
    }
    free(r->runs);
    free(r->version);
    free(r->compiler);
    free(r->flags);
    free(r->machine);
    free(r->reference);
    free(r->created);
    free(r->notes);
    free(r);
}

/* ------------------------------------------------------------------ aggregates */
size_t fpr_study_backend_names(const fpr_study_results *r, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nruns; i++)
        for (size_t j = 0; j < r->runs[i].nb; j++) {
            size_t k;
            for (k = 0; k < n && strcmp(names[k], r->runs[i].b[j].name) != 0; k++)
                ;
            if (k == n && n < max)
                names[n++] = r->runs[i].b[j].name;
        }
    return n;
}

int fpr_study_aggregate(const fpr_study_results *r, const char *name, const char *mode,
                        double offset, fpr_metrics *out)
{
    fpr_metrics_init(out);
    int n = 0;
    for (size_t i = 0; i < r->nruns; i++) {
        const fpr_study_run *run = &r->runs[i];
        if (mode && strcmp(run->mode, mode) != 0)
            continue;
        if (!isnan(offset) && run->offset != offset)
            continue;
        for (size_t j = 0; j < run->nb; j++)
            if (strcmp(run->b[j].name, name) == 0) {
                fpr_metrics_add(out, &run->b[j].m);
                n++;
            }
    }
    return n;
}

/* ------------------------------------------------------------------ summary.json */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = (b->cap + (size_t)k + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

static void json_str(sbuf *b, const char *s)
{
    sb_printf(b, "\"");
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            sb_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            sb_printf(b, "\\u%04x", ch);
        else
            sb_printf(b, "%c", ch);
    }
    sb_printf(b, "\"");
}

static void json_num(sbuf *b, double v, int is_int)
{
    if (is_int)
        sb_printf(b, "%lld", (long long)v);
    else if (isfinite(v))
        sb_printf(b, "%.17g", v);
    else
        sb_printf(b, "null");
}

static void json_metrics(sbuf *b, const fpr_metrics *m)
{
    sb_printf(b, "{");
    for (size_t k = 0; k < fpr_metric_nfields; k++) {
        sb_printf(b, "%s\"%s\": ", k ? ", " : "", fpr_metric_fields[k].name);
        json_num(b, fpr_metric_get(m, k), fpr_metric_fields[k].is_int);
    }
    sb_printf(b, "}");
}

int fpr_write_file_atomic(const char *path, const char *text, size_t len)
{
    fpr_atomic_file a;
    int rc = fpr_atomic_open(path, &a);
    if (rc)
        return rc;
    if (fwrite(text, 1, len, a.fp) != len) {
        fpr_atomic_abort(&a);
        return fpr_error(FPR_EIO, "%s: cannot write (disk full?)", path);
    }
    return fpr_atomic_commit(&a);
}

int fpr_summary_write(const fpr_study_results *r, const char *path)
{
    sbuf b = {0};
    const char *names[256];
    size_t nb = fpr_study_backend_names(r, names, 256);
    sb_printf(&b, "{\n  \"format\": \"frameprec-summary\",\n  \"version\": 1,\n");
    sb_printf(&b, "  \"frameprec_version\": ");
    json_str(&b, r->version);
    sb_printf(&b, ",\n  \"compiler\": ");
    json_str(&b, r->compiler);
    sb_printf(&b, ",\n  \"flags\": ");
    json_str(&b, r->flags);
    sb_printf(&b, ",\n  \"machine\": ");
    json_str(&b, r->machine);
    sb_printf(&b, ",\n  \"reference\": ");
    json_str(&b, r->reference);
    sb_printf(&b, ",\n  \"created\": ");
    json_str(&b, r->created);
    sb_printf(&b, ",\n  \"notes\": ");
    json_str(&b, r->notes);
    sb_printf(&b, ",\n  \"metrics\": {");
    for (size_t k = 0; k < fpr_metric_nfields; k++) {
        sb_printf(&b, "%s\n    \"%s\": ", k ? "," : "", fpr_metric_fields[k].name);
        json_str(&b, fpr_metric_fields[k].help);
    }
    sb_printf(&b, "\n  },\n  \"backends\": [");
    for (size_t i = 0; i < nb; i++) {
        sb_printf(&b, "%s", i ? ", " : "");
        json_str(&b, names[i]);
    }
    /* totals per backend × mode × offset: the tables of the report */
    sb_printf(&b, "],\n  \"totals\": [");
    int first = 1;
    static const char *const modes[2] = {"native", "all"};
    for (size_t i = 0; i < nb; i++)
        for (int mi = 0; mi < 2; mi++) {
            double offs[64];
            size_t no = 0;
            for (size_t k = 0; k < r->nruns; k++) {
                size_t q;
                for (q = 0; q < no && offs[q] != r->runs[k].offset; q++)
                    ;
                if (q == no && no < 64)
                    offs[no++] = r->runs[k].offset;
            }
            for (size_t q = 0; q < no; q++) {
                fpr_metrics m;
                if (!fpr_study_aggregate(r, names[i], modes[mi], offs[q], &m))
                    continue;
                sb_printf(&b, "%s\n    {\"backend\": ", first ? "" : ",");
                first = 0;
                json_str(&b, names[i]);
                sb_printf(&b, ", \"mode\": \"%s\", \"offset\": %g, \"metrics\": ", modes[mi],
                          offs[q]);
                json_metrics(&b, &m);
                sb_printf(&b, "}");
            }
        }
    sb_printf(&b, "\n  ],\n  \"runs\": [");
    for (size_t k = 0; k < r->nruns; k++) {
        const fpr_study_run *run = &r->runs[k];
        sb_printf(&b, "%s\n    {\"key\": ", k ? "," : "");
        json_str(&b, run->key);
        sb_printf(&b, ", \"case\": ");
        json_str(&b, run->case_name);
        sb_printf(&b, ", \"path\": ");
        json_str(&b, run->case_path);
        sb_printf(&b, ", \"mode\": ");
        json_str(&b, run->mode);
        sb_printf(&b, ", \"offset\": %g, \"S\": %lld, \"n_atom\": %lld, \"n_token\": %lld, "
                      "\"n_atomized\": %lld, \"truth_seconds\": %.6g,\n     \"backends\": {",
                  run->offset, (long long)run->S, (long long)run->n_atom,
                  (long long)run->n_token, (long long)run->n_atomized, run->truth_seconds);
        for (size_t j = 0; j < run->nb; j++) {
            sb_printf(&b, "%s\n      ", j ? "," : "");
            json_str(&b, run->b[j].name);
            sb_printf(&b, ": ");
            json_metrics(&b, &run->b[j].m);
        }
        sb_printf(&b, "}}");
    }
    sb_printf(&b, "\n  ]\n}\n");
    if (b.oom) {
        free(b.p);
        return fpr_error(FPR_ENOMEM, "out of memory writing %s", path);
    }
    int rc = fpr_write_file_atomic(path, b.p, b.n);
    free(b.p);
    return rc;
}
