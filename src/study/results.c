/* results.c — results.h5 (every run, every backend, every token) and summary.json.
 *
 * Layout (format "frameprec-study", version 1):
 *   /                 attrs format, version, frameprec_version, compiler, flags, machine,
 *                     reference, created, notes
 *   /runs/<key>       attrs case, path, mode, offset, S, n_atom, n_token, n_atomized,
 *                     truth_seconds, truth_memo_rows, backends (comma list, study order);
 *                     datasets margin_hist [1+BINS] (zero count first), and the truth's
 *                     per-token tie1, tie2, margin1, margin2, fragile_angle [S][n_token]
 *   /runs/<key>/<backend>  one attribute per metric (fpr_metric_fields), memo_rows (rows
 *                     answered from the chain memo: identical chains searched earlier in
 *                     the study; absent in older files = 0), bound_hist,
 *                     and per token [S][n_token]: kind, cause, explained, valid_flip,
 *                     flip_cause, phi_change, err_bound, err_ulp, degenerate (1: a or c
 *                     is b, 2: and valid), tie_order (bits 1/2/4: ranks 0|1, 1|2, 2|3 of
 *                     the backend's own values tie), disp_a, disp_c (Å from the true
 *                     atom; 0 unchanged); disp_hist [4096] (1/100 Å bins)
 * A run file in DIR/.work has the same layout with one run, so joining (the end of a
 * study, and `frameprec merge`) is copying groups. Storage (dset_as): an all-zero
 * array has none (its fill value, 0, is what a reader gets), small ones are compact,
 * err_bound and err_ulp contiguous, the rest chunked with shuffle + deflate. */
#include <math.h>
#include <string.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"
#include "io/jsonutil.h"
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

/* How a dataset is stored; a reader sees the same values whichever:
 * - every byte zero (most per-token arrays of most backends: nothing changed): no
 *   storage, the fill value (0, set explicitly) is what HDF5 returns on reading;
 * - at most COMPACT_MAX bytes: compact, inside the object header (no chunk index);
 * - DS_RAW (err_bound, err_ulp: float noise; measured on the corpus study, shuffle +
 *   deflate kept 71% of their bytes for about 5 s of the study's 60): contiguous;
 * - else chunked (≤ 1 MiB chunks), shuffle, deflate level 1. */
enum { DS_PACK = 0, DS_RAW = 1, COMPACT_MAX = 16384 };
enum { ST_ZERO, ST_COMPACT, ST_CONTIG, ST_CHUNKED };

/* The storage dset_as gives n elements of `el` bytes; for ST_CHUNKED the chunk's rows
 * (*c0: ≤ 1 MiB a chunk along the first axis, the second axis whole). */
static int storage_of(const void *data, size_t el, int rank, const hsize_t *dims, int how,
                      hsize_t *c0)
{
    hsize_t n = 1;
    for (int k = 0; k < rank; k++)
        n *= dims[k];
    size_t bytes = (size_t)n * el;
    int zero = n > 0;
    for (size_t i = 0; zero && i < bytes; i++)
        zero = ((const unsigned char *)data)[i] == 0;
    if (zero)
        return ST_ZERO;
    if (n > 0 && bytes <= COMPACT_MAX)
        return ST_COMPACT;
    if (n == 0 || how != DS_PACK)
        return ST_CONTIG;
    size_t rowb = el * (rank > 1 ? dims[1] : 1);
    hsize_t rows = rowb ? (hsize_t)((1u << 20) / rowb) : 1;
    if (rows < 1)
        rows = 1;
    *c0 = dims[0] < rows ? dims[0] : rows;
    return ST_CHUNKED;
}

/* A chunked array filtered ahead of the write (fpr_results_pack, in a comparison
 * thread): each chunk as HDF5's pipeline stores it — shuffle, then deflate level 1 in
 * the zlib format (RFC 1950, what HDF5's deflate filter reads back with zlib's
 * inflate). Where that is not smaller than the chunk, deflate (optional in the
 * pipeline: set by H5Pset_deflate) is skipped and the chunk's filter mask says so
 * (bit 1), as HDF5 does where its output overflows ceil(1.001 n) + 12 bytes
 * (H5Z_DEFLATE_SIZE_ADJUST, src/H5Zdeflate.c, 1.10). Edge chunks are padded with
 * zeros. The compressor is libdeflate's at level 1, not zlib's compress2: on the
 * corpus study's arrays (6ZU5 all atomized at 0 and 1000 Å, 3O21 cell, 4JSV; 400
 * arrays, 77 MB) it took 0.38 s against zlib's 0.68 s and kept 11.9 MB against 12.5 MB,
 * a few chunks up to 3% larger. So the stored bytes are not zlib's: tests/test_results.c
 * checks the file against HDF5's own write — the values read back, layout, chunk shape,
 * filters, each chunk's size (at most 5% above zlib's) and its mask. */
typedef struct pack_ds {
    int st;
    hsize_t c0;
    size_t nch;
    unsigned char *buf; /* the chunks, back to back */
    size_t *off, *len;
    unsigned *mask;
} pack_ds;

enum { PACK_NDS = 10 };
struct fpr_packed {
    pack_ds ds[PACK_NDS];
};

static void pack_ds_free(pack_ds *p)
{
    free(p->buf);
    free(p->off);
    free(p->len);
    free(p->mask);
    memset(p, 0, sizeof *p);
}

static int pack_ds_make(struct libdeflate_compressor *zc, const void *data, size_t el, int rank,
                        const hsize_t *dims, pack_ds *p)
{
    memset(p, 0, sizeof *p);
    p->st = storage_of(data, el, rank, dims, DS_PACK, &p->c0);
    if (p->st != ST_CHUNKED)
        return FPR_OK;
    const size_t rowb = el * (rank > 1 ? (size_t)dims[1] : 1), cb = (size_t)p->c0 * rowb;
    const size_t zcap = (size_t)ceil((double)cb * 1.001) + 12; /* H5Z_DEFLATE_SIZE_ADJUST */
    p->nch = (size_t)((dims[0] + p->c0 - 1) / p->c0);
    p->buf = fpr_malloc_n(p->nch, zcap);
    p->off = fpr_malloc_n(p->nch, sizeof(size_t));
    p->len = fpr_malloc_n(p->nch, sizeof(size_t));
    p->mask = fpr_malloc_n(p->nch, sizeof(unsigned));
    unsigned char *in = fpr_malloc_n(cb, 1), *sh = fpr_malloc_n(cb, 1);
    int rc = p->buf && p->off && p->len && p->mask && in && sh ? FPR_OK : FPR_ENOMEM;
    size_t at = 0;
    for (size_t c = 0; c < p->nch && !rc; c++) {
        const size_t r0 = c * (size_t)p->c0;
        const size_t nr = (size_t)dims[0] - r0 < (size_t)p->c0 ? (size_t)dims[0] - r0 : (size_t)p->c0;
        memcpy(in, (const unsigned char *)data + r0 * rowb, nr * rowb);
        memset(in + nr * rowb, 0, cb - nr * rowb);
        const unsigned char *src = in;
        if (el > 1) { /* shuffle: byte j of element i to j·N + i */
            const size_t ne = cb / el;
            for (size_t i = 0; i < ne; i++)
                for (size_t j = 0; j < el; j++)
                    sh[j * ne + i] = in[i * el + j];
            src = sh;
        }
        size_t dl = libdeflate_zlib_compress(zc, src, cb, p->buf + at, zcap);
        p->off[c] = at;
        if (dl > 0 && dl < cb) {
            p->len[c] = dl;
            p->mask[c] = 0;
        } else { /* no gain, or does not fit (libdeflate's 0): stored shuffled only */
            memcpy(p->buf + at, src, cb);
            p->len[c] = cb;
            p->mask[c] = 1u << 1;
        }
        at += p->len[c];
    }
    free(in);
    free(sh);
    if (rc)
        pack_ds_free(p);
    return rc;
}

static int dset_as(hid_t g, const char *name, hid_t mem, hid_t ft, int rank,
                   const hsize_t *dims, const void *data, int how, const pack_ds *pk)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0); /* byte-identical files */
    hsize_t c0 = 0;
    int st = pk ? pk->st : storage_of(data, H5Tget_size(mem), rank, dims, how, &c0);
    if (pk)
        c0 = pk->c0;
    if (st == ST_ZERO) {
        static const unsigned char fill[16] = {0};
        H5Pset_fill_value(dcpl, mem, fill);
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE);
    } else if (st == ST_COMPACT) {
        H5Pset_layout(dcpl, H5D_COMPACT);
    } else if (st == ST_CHUNKED) {
        hsize_t chunk[2] = {c0, rank > 1 ? dims[1] : 1};
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 1);
    }
    hid_t d = H5Dcreate2(g, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int ok = d >= 0;
    if (ok && st == ST_CHUNKED && pk) { /* the chunks as filtered ahead */
        for (size_t c = 0; ok && c < pk->nch; c++) {
            hsize_t offs[2] = {(hsize_t)c * c0, 0};
            ok = H5Dwrite_chunk(d, H5P_DEFAULT, pk->mask[c], offs, pk->len[c],
                                pk->buf + pk->off[c]) >= 0;
        }
    } else if (ok && st != ST_ZERO) {
        ok = H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    }
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return ok ? FPR_OK : fpr_error(FPR_EIO, "cannot write dataset '%s' (disk full?)", name);
}

static int dset(hid_t g, const char *name, hid_t mem, hid_t ft, int rank, const hsize_t *dims,
                const void *data)
{
    return dset_as(g, name, mem, ft, rank, dims, data, DS_PACK, NULL);
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
    if (!rc && h->plan) rc = attr_str(f, "plan", h->plan);
    if (!rc && h->shard) rc = attr_str(f, "shard", h->shard);
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

/* The per-token arrays of a backend group, in the order they are written. */
typedef struct tok_array {
    const char *name;
    hid_t mem, ft;
    const void *data;
    int how, pack; /* pack: its index in fpr_packed (DS_PACK arrays) */
} tok_array;
enum { TOK_NARRAYS = 12 };

static void tok_arrays(const fpr_token_results *t, tok_array a[TOK_NARRAYS])
{
    const tok_array v[TOK_NARRAYS] = {
        {"kind", H5T_NATIVE_UINT8, H5T_STD_U8LE, t->kind, DS_PACK, 0},
        {"cause", H5T_NATIVE_UINT8, H5T_STD_U8LE, t->cause, DS_PACK, 1},
        {"explained", H5T_NATIVE_UINT8, H5T_STD_U8LE, t->explained, DS_PACK, 2},
        {"valid_flip", H5T_NATIVE_INT8, H5T_STD_I8LE, t->valid_flip, DS_PACK, 3},
        {"flip_cause", H5T_NATIVE_UINT8, H5T_STD_U8LE, t->flip_cause, DS_PACK, 4},
        {"phi_change", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, t->phi_change, DS_PACK, 5},
        {"err_bound", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, t->err_bound, DS_RAW, -1},
        {"err_ulp", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, t->err_ulp, DS_RAW, -1},
        {"degenerate", H5T_NATIVE_UINT8, H5T_STD_U8LE, t->degenerate, DS_PACK, 6},
        {"tie_order", H5T_NATIVE_UINT8, H5T_STD_U8LE, t->tie_order, DS_PACK, 7},
        {"disp_a", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, t->disp_a, DS_PACK, 8},
        {"disp_c", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, t->disp_c, DS_PACK, 9},
    };
    memcpy(a, v, sizeof v);
}

/* n arrays of S × n_token elements (el[k] bytes each) filtered into a new pack, ds[k]
 * for data[k]. No HDF5 call: any thread may. */
static int pack_arrays(const void *const *data, const size_t *el, int n, int64_t S,
                       int64_t nt, fpr_packed **out)
{
    *out = NULL;
    fpr_packed *p = fpr_calloc(1, sizeof *p);
    struct libdeflate_compressor *zc = p ? libdeflate_alloc_compressor(1) : NULL;
    if (!zc) {
        free(p);
        return fpr_error(FPR_ENOMEM, "out of memory for a deflate compressor");
    }
    const hsize_t d2[2] = {(hsize_t)S, (hsize_t)nt};
    int rc = FPR_OK;
    for (int k = 0; k < n && !rc; k++)
        rc = pack_ds_make(zc, data[k], el[k], 2, d2, &p->ds[k]);
    libdeflate_free_compressor(zc);
    if (rc) {
        fpr_packed_free(p);
        return rc;
    }
    *out = p;
    return FPR_OK;
}

int fpr_results_pack(const fpr_token_results *t, fpr_packed **out)
{
    static const size_t el[PACK_NDS] = {1, 1, 1, 1, 1, 4, 1, 1, 4, 4};
    const void *data[PACK_NDS] = {t->kind,     t->cause,     t->explained, t->valid_flip,
                                  t->flip_cause, t->phi_change, t->degenerate, t->tie_order,
                                  t->disp_a,   t->disp_c};
    return pack_arrays(data, el, PACK_NDS, t->S, t->n_token, out);
}

/* The truth's per-token arrays of a run group, in the order they are written. */
enum { TRUTH_NARRAYS = 5 };
static void truth_arrays(const fpr_frames *tr, tok_array a[TRUTH_NARRAYS])
{
    const tok_array v[TRUTH_NARRAYS] = {
        {"tie1", H5T_NATIVE_INT32, H5T_STD_I32LE, tr->tie1, DS_PACK, 0},
        {"tie2", H5T_NATIVE_INT32, H5T_STD_I32LE, tr->tie2, DS_PACK, 1},
        {"margin1", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, tr->margin1, DS_PACK, 2},
        {"margin2", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, tr->margin2, DS_PACK, 3},
        {"fragile_angle", H5T_NATIVE_UINT8, H5T_STD_U8LE, tr->fragile_angle, DS_PACK, 4},
    };
    memcpy(a, v, sizeof v);
}

int fpr_results_pack_truth(const fpr_frames *truth, fpr_packed **out)
{
    *out = NULL;
    if (!truth->tie1)
        return FPR_OK; /* (no truth arrays to write) */
    /* truth_arrays' data and element sizes (not the table itself: the H5T_NATIVE_*
     * macros call into HDF5, which only the writer thread may) */
    const void *data[TRUTH_NARRAYS] = {truth->tie1, truth->tie2, truth->margin1,
                                       truth->margin2, truth->fragile_angle};
    static const size_t el[TRUTH_NARRAYS] = {4, 4, 8, 8, 1};
    return pack_arrays(data, el, TRUTH_NARRAYS, truth->S, truth->n_token, out);
}

void fpr_packed_free(fpr_packed *p)
{
    if (!p)
        return;
    for (int k = 0; k < PACK_NDS; k++)
        pack_ds_free(&p->ds[k]);
    free(p);
}

/* A run file written piece by piece: the header, the run's attributes and the truth's
 * datasets (open), then each row's group in order (backend), then commit (close) or
 * abort. One thread at a time may call these (HDF5 is not thread-safe); the study's
 * writer thread does while the comparisons of the run's other rows go on. */
struct fpr_run_writer {
    fpr_h5_out o;
    hid_t runs, g;
    int direct; /* the group is in a results file being filled (not a run file of its own) */
    hsize_t d2[2];
    char path[4096];
};

static int run_fill(fpr_run_writer *w, const fpr_study_run *run, const fpr_frames *truth,
                    const fpr_packed *tpack);

int fpr_results_run_open(const char *path, const fpr_study_results *hdr,
                         const fpr_study_run *run, const fpr_frames *truth,
                         const fpr_packed *tpack, fpr_run_writer **out)
{
    *out = NULL;
    fpr_run_writer *w = fpr_calloc(1, sizeof *w);
    if (!w)
        return FPR_ENOMEM;
    w->runs = w->g = -1;
    snprintf(w->path, sizeof w->path, "%s", path);
    int rc = fpr_h5_create(path, &w->o);
    if (rc) {
        free(w);
        return rc;
    }
    hid_t g = -1;
    if ((rc = write_header(w->o.f, hdr)))
        goto fail;
    w->runs = H5Gcreate2(w->o.f, "runs", H5P_DEFAULT, fpr_h5_gcpl(), H5P_DEFAULT);
    g = w->g = w->runs >= 0 ? H5Gcreate2(w->runs, run->key, H5P_DEFAULT, fpr_h5_gcpl(), H5P_DEFAULT)
                            : -1;
    if (g < 0) {
        rc = fpr_error(FPR_EIO, "%s: cannot create group /runs/%s", path, run->key);
        goto fail;
    }
    if ((rc = run_fill(w, run, truth, tpack)))
        goto fail;
    *out = w;
    return FPR_OK;
fail:
    fpr_results_run_abort(w);
    return rc;
}

/* The run's attributes and the truth's datasets in its group w->g (their chunks from
 * tpack, fpr_results_pack_truth, when given). */
static int run_fill(fpr_run_writer *w, const fpr_study_run *run, const fpr_frames *truth,
                    const fpr_packed *tpack)
{
    int rc;
    hid_t g = w->g;
    char *blist = NULL;
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
    if (!rc) rc = attr_num(g, "truth_memo_rows", (double)run->truth_memo_rows, 1);
    if (!rc) rc = attr_str(g, "backends", blist ? blist : "");
    if (!rc && run->case_sha256) rc = attr_str(g, "case_sha256", run->case_sha256);
    if (!rc && run->work_key) rc = attr_str(g, "work_key", run->work_key);
    if (!rc) rc = write_hist(g, "margin_hist", &run->margin_hist);
    hsize_t *d2 = w->d2;
    d2[0] = (hsize_t)run->S;
    d2[1] = (hsize_t)run->n_token;
    if (!rc && truth && truth->tie1) {
        tok_array a[TRUTH_NARRAYS];
        truth_arrays(truth, a);
        for (int k = 0; k < TRUTH_NARRAYS && !rc; k++)
            rc = dset_as(g, a[k].name, a[k].mem, a[k].ft, 2, d2, a[k].data, DS_PACK,
                         tpack ? &tpack->ds[k] : NULL);
    }
    free(blist);
    return rc;
}

int fpr_results_run_backend(fpr_run_writer *w, const fpr_study_backend *sb,
                            const fpr_token_results *t, const fpr_packed *pack)
{
    const char *path = w->path;
    const hsize_t *d2 = w->d2;
    int rc = FPR_OK;
    hid_t bg = H5Gcreate2(w->g, sb->name, H5P_DEFAULT, fpr_h5_gcpl(), H5P_DEFAULT);
    if (bg < 0)
        return fpr_error(FPR_EIO, "%s: cannot create group for backend %s", path, sb->name);
    for (size_t k = 0; !rc && k < fpr_metric_nfields; k++)
        rc = attr_num(bg, fpr_metric_fields[k].name, fpr_metric_get(&sb->m, k),
                      fpr_metric_fields[k].is_int);
    if (!rc) rc = attr_num(bg, "memo_rows", (double)sb->memo_rows, 1);
    if (!rc) rc = write_hist(bg, "bound_hist", &sb->bound_hist);
    if (!rc && sb->examples && sb->examples[0]) rc = attr_str(bg, "examples", sb->examples);
    if (!rc && sb->m.disp_n > 0) { /* absent = empty (most runs change nothing) */
        hsize_t dd[1] = {FPR_DISP_BINS};
        rc = dset(bg, "disp_hist", H5T_NATIVE_INT64, H5T_STD_I64LE, 1, dd, sb->disp_hist.bin);
    }
    if (t) {
        tok_array a[TOK_NARRAYS];
        tok_arrays(t, a);
        for (int k = 0; k < TOK_NARRAYS && !rc; k++) {
            const pack_ds *pk = pack && a[k].how == DS_PACK ? &pack->ds[a[k].pack] : NULL;
            rc = dset_as(bg, a[k].name, a[k].mem, a[k].ft, 2, d2, a[k].data, a[k].how, pk);
        }
    }
    H5Gclose(bg);
    return rc;
}

int fpr_results_run_close(fpr_run_writer *w)
{
    H5Gclose(w->g);
    if (w->direct) { /* (the results file is committed by its owner) */
        free(w);
        return FPR_OK;
    }
    H5Gclose(w->runs);
    int rc = fpr_h5_commit(&w->o);
    free(w);
    return rc;
}

void fpr_results_run_abort(fpr_run_writer *w)
{
    if (!w)
        return;
    if (w->g >= 0)
        H5Gclose(w->g);
    if (w->direct) { /* the results file is unfinished: its owner aborts it */
        free(w);
        return;
    }
    if (w->runs >= 0)
        H5Gclose(w->runs);
    fpr_h5_abort(&w->o);
    free(w);
}

int fpr_results_write_run(const char *path, const fpr_study_results *hdr,
                          const fpr_study_run *run, fpr_token_results *const *tok,
                          const fpr_frames *truth, const fpr_case *c)
{
    (void)c;
    fpr_run_writer *w = NULL;
    int rc = fpr_results_run_open(path, hdr, run, truth, NULL, &w);
    for (size_t i = 0; !rc && i < run->nb; i++)
        rc = fpr_results_run_backend(w, &run->b[i], tok ? tok[i] : NULL, NULL);
    if (rc) {
        fpr_results_run_abort(w);
        return rc;
    }
    return fpr_results_run_close(w);
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

/* A results file filled run file by run file (the join, done as runs finish). */
struct fpr_results_out {
    fpr_h5_out o;
    hid_t runs;
    char path[4096];
};

int fpr_results_out_open(const char *out, const fpr_study_results *hdr, fpr_results_out **res)
{
    fpr_h5_quiet();
    *res = NULL;
    fpr_results_out *r = fpr_calloc(1, sizeof *r);
    if (!r)
        return FPR_ENOMEM;
    r->runs = -1;
    snprintf(r->path, sizeof r->path, "%s", out);
    int rc = fpr_h5_create(out, &r->o);
    if (rc) {
        free(r);
        return rc;
    }
    if ((rc = write_header(r->o.f, hdr)))
        goto fail;
    r->runs = H5Gcreate2(r->o.f, "runs", H5P_DEFAULT, fpr_h5_gcpl(), H5P_DEFAULT);
    if (r->runs < 0) {
        rc = fpr_error(FPR_EIO, "%s: cannot create /runs", out);
        goto fail;
    }
    *res = r;
    return FPR_OK;
fail:
    fpr_results_out_abort(r);
    return rc;
}

int fpr_results_run_open_in(fpr_results_out *r, const fpr_study_run *run,
                            const fpr_frames *truth, const fpr_packed *tpack,
                            fpr_run_writer **out)
{
    *out = NULL;
    fpr_run_writer *w = fpr_calloc(1, sizeof *w);
    if (!w)
        return FPR_ENOMEM;
    w->runs = -1;
    w->direct = 1;
    w->o.f = -1;
    snprintf(w->path, sizeof w->path, "%s", r->path);
    if (H5Lexists(r->runs, run->key, H5P_DEFAULT) > 0) {
        free(w);
        return fpr_error(FPR_EINTERNAL, "internal check failed: run %s written twice into %s",
                         run->key, r->path);
    }
    w->g = H5Gcreate2(r->runs, run->key, H5P_DEFAULT, fpr_h5_gcpl(), H5P_DEFAULT);
    if (w->g < 0) {
        free(w);
        return fpr_error(FPR_EIO, "%s: cannot create group /runs/%s", r->path, run->key);
    }
    int rc = run_fill(w, run, truth, tpack);
    if (rc) {
        fpr_results_run_abort(w);
        return rc;
    }
    *out = w;
    return FPR_OK;
}

int fpr_results_out_add(fpr_results_out *r, const char *input)
{
    hid_t f;
    int rc = fpr_h5_open_read(input, &f);
    if (rc)
        return rc;
    hid_t src = H5Gopen2(f, "runs", H5P_DEFAULT);
    if (src < 0) {
        rc = fpr_error(FPR_EFORMAT, "%s: not a frameprec study results file (no /runs)", input);
    } else {
        copy_ctx k = {r->runs, input, FPR_OK};
        H5Literate(src, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_one, &k);
        rc = k.rc;
        H5Gclose(src);
    }
    H5Fclose(f);
    return rc;
}

int fpr_results_out_commit(fpr_results_out *r)
{
    H5Gclose(r->runs);
    int rc = fpr_h5_commit(&r->o);
    free(r);
    return rc;
}

void fpr_results_out_abort(fpr_results_out *r)
{
    if (!r)
        return;
    if (r->runs >= 0)
        H5Gclose(r->runs);
    fpr_h5_abort(&r->o);
    free(r);
}

int fpr_results_join(const char *const *inputs, size_t n, const fpr_study_results *hdr,
                     const char *out)
{
    fpr_results_out *r = NULL;
    int rc = fpr_results_out_open(out, hdr, &r);
    for (size_t i = 0; i < n && !rc; i++)
        rc = fpr_results_out_add(r, inputs[i]);
    if (rc) {
        fpr_results_out_abort(r);
        return rc;
    }
    return fpr_results_out_commit(r);
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

/* A metric attribute as the gate and the report will trust it: absent (an older file:
 * the default stays), or one number of the right kind — counters integral, at least -1
 * and below 2^53; other fields finite or NaN (not measured). A hand-edited or corrupt
 * value (a string, NaN or 1e300 as a count) is refused, naming run, backend and field. */
static int rd_metric(hid_t bg, const char *path, const char *run, const char *backend,
                     size_t field, double *v)
{
    const fpr_metric_field *mf = &fpr_metric_fields[field];
    if (H5Aexists(bg, mf->name) <= 0)
        return FPR_OK;
    hid_t a = H5Aopen(bg, mf->name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    int ok = a >= 0 && (cls == H5T_INTEGER || cls == H5T_FLOAT) &&
             H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    if (!ok)
        return fpr_error(FPR_EFORMAT, "%s: run %s backend %s: metric '%s' is not a single "
                         "number", path, run, backend, mf->name);
    if (mf->is_int ? !(*v == floor(*v) && *v >= -1 && *v < 0x1p53)
                   : (isinf(*v) || fabs(*v) > 1e300))
        return fpr_error(FPR_EFORMAT, "%s: run %s backend %s: metric '%s' = %g is not a valid "
                         "%s", path, run, backend, mf->name, *v,
                         mf->is_int ? "count" : "value");
    return FPR_OK;
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
    run->truth_memo_rows = (int64_t)rd_num(g, "truth_memo_rows", 0); /* absent: none */
    run->case_sha256 = rd_str(g, "case_sha256");
    run->work_key = rd_str(g, "work_key");
    if (!isfinite(run->offset) || (strcmp(run->mode, "native") && strcmp(run->mode, "all")) ||
        run->S < 0 || run->n_token < 0 || run->n_atom < 0) {
        k->rc = fpr_error(FPR_EFORMAT, "%s: run %s has an invalid header (mode '%s', offset %g, "
                          "S %lld): corrupt or edited", k->path, name, run->mode, run->offset,
                          (long long)run->S);
        H5Gclose(g);
        return -1;
    }
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
             * it; reading it as its default would be a silent wrong answer */
            double v = fpr_metric_get(&sb->m, f);
            if (H5Aexists(bg, fpr_metric_fields[f].name) <= 0)
                k->rc = fpr_error(FPR_EFORMAT, "%s: run %s, backend %s lacks metric '%s' "
                                  "(written by an older frameprec; run the study again)",
                                  k->path, name, t, fpr_metric_fields[f].name);
            else if (!(k->rc = rd_metric(bg, k->path, name, t, f, &v)))
                fpr_metric_set(&sb->m, f, v);
        }
        sb->memo_rows = (int64_t)rd_num(bg, "memo_rows", 0); /* absent: none (older) */
        rd_hist(bg, "bound_hist", &sb->bound_hist);
        rd_disp_hist(bg, &sb->disp_hist);
        sb->examples = rd_str(bg, "examples");
        H5Gclose(bg);
        if (k->rc)
            break;
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
    r->plan = rd_str(f, "plan");
    r->shard = rd_str(f, "shard");
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
    fpr_study_results_sort(r);
    *out = r;
    return FPR_OK;
}

void fpr_study_results_sort(fpr_study_results *r)
{
    if (r->nruns)
        qsort(r->runs, r->nruns, sizeof *r->runs, cmp_run);
}

/* The strings of a run as a reader gets them: absent ones are "". */
static char *dup_or_empty(const char *s) { return fpr_strdup(s ? s : ""); }

int fpr_study_run_copy(fpr_study_run *dst, const fpr_study_run *src)
{
    *dst = *src;
    dst->key = dup_or_empty(src->key);
    dst->case_name = dup_or_empty(src->case_name);
    dst->case_path = dup_or_empty(src->case_path);
    dst->mode = dup_or_empty(src->mode);
    dst->case_sha256 = dup_or_empty(src->case_sha256);
    dst->work_key = dup_or_empty(src->work_key);
    dst->b = fpr_calloc(src->nb + 1, sizeof *dst->b);
    int ok = dst->key && dst->case_name && dst->case_path && dst->mode && dst->case_sha256 &&
             dst->work_key && dst->b;
    for (size_t i = 0; ok && i < src->nb; i++) {
        dst->b[i] = src->b[i];
        /* the metrics a file holds, as attributes hold them (counts as int64) */
        fpr_metrics_init(&dst->b[i].m);
        for (size_t k = 0; k < fpr_metric_nfields; k++) {
            double v = fpr_metric_get(&src->b[i].m, k);
            if (fpr_metric_fields[k].is_int)
                v = (double)(int64_t)v;
            fpr_metric_set(&dst->b[i].m, k, v);
        }
        dst->b[i].name = dup_or_empty(src->b[i].name);
        dst->b[i].examples = dup_or_empty(src->b[i].examples);
        ok = dst->b[i].name && dst->b[i].examples;
        if (src->b[i].m.disp_n <= 0) /* not written when empty: a reader gets zeros */
            memset(&dst->b[i].disp_hist, 0, sizeof dst->b[i].disp_hist);
    }
    if (!ok) {
        if (!dst->b)
            dst->nb = 0;
        fpr_study_run_clear(dst);
        return FPR_ENOMEM;
    }
    return FPR_OK;
}

void fpr_study_run_clear(fpr_study_run *run)
{
    free(run->key);
    free(run->case_name);
    free(run->case_path);
    free(run->mode);
    free(run->case_sha256);
    free(run->work_key);
    for (size_t j = 0; run->b && j < run->nb; j++) {
        free(run->b[j].name);
        free(run->b[j].examples);
    }
    free(run->b);
    memset(run, 0, sizeof *run);
}

void fpr_study_results_free(fpr_study_results *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nruns; i++)
        fpr_study_run_clear(&r->runs[i]);
    free(r->runs);
    free(r->version);
    free(r->compiler);
    free(r->flags);
    free(r->machine);
    free(r->reference);
    free(r->created);
    free(r->notes);
    free(r->plan);
    free(r->shard);
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

/* Every metric of fpr_metric_fields, by name: new metrics flow without JSON code. */
static json_t *json_metrics(fpr_jb *jb, const fpr_metrics *m)
{
    json_t *o = json_object();
    if (!o)
        return NULL; /* the caller's fpr_jb_set reports it */
    for (size_t k = 0; k < fpr_metric_nfields; k++) {
        double v = fpr_metric_get(m, k);
        if (fpr_metric_fields[k].is_int)
            fpr_jb_int(jb, o, fpr_metric_fields[k].name, (long long)v);
        else
            fpr_jb_real(jb, o, fpr_metric_fields[k].name, v);
    }
    return o;
}

/* JSON by jansson (src/io/jsonutil.c): names that are not UTF-8 are refused with a
 * message, non-finite numbers are written as null. */
int fpr_summary_write(const fpr_study_results *r, const char *path)
{
    fpr_jb jb = {FPR_OK};
    json_t *root = json_object();
    if (!root)
        return fpr_error(FPR_ENOMEM, "out of memory writing %s", path);
    fpr_jb_str(&jb, root, "format", "frameprec-summary");
    fpr_jb_int(&jb, root, "version", 1);
    fpr_jb_str(&jb, root, "frameprec_version", r->version);
    fpr_jb_str(&jb, root, "compiler", r->compiler);
    fpr_jb_str(&jb, root, "flags", r->flags);
    fpr_jb_str(&jb, root, "machine", r->machine);
    fpr_jb_str(&jb, root, "reference", r->reference);
    fpr_jb_str(&jb, root, "created", r->created);
    fpr_jb_str(&jb, root, "notes", r->notes);
    json_t *mh = json_object();
    for (size_t k = 0; mh && k < fpr_metric_nfields; k++)
        fpr_jb_str(&jb, mh, fpr_metric_fields[k].name, fpr_metric_fields[k].help);
    fpr_jb_set(&jb, root, "metrics", mh);

    size_t cap = 16;
    for (size_t k = 0; k < r->nruns; k++)
        cap += r->runs[k].nb;
    const char **names = fpr_calloc(cap, sizeof *names);
    double *offs = fpr_calloc(r->nruns + 1, sizeof *offs);
    if (!names || !offs) {
        free(names);
        free(offs);
        json_decref(root);
        return FPR_ENOMEM;
    }
    size_t nb = fpr_study_backend_names(r, names, cap);
    json_t *bl = json_array();
    for (size_t i = 0; bl && i < nb; i++)
        fpr_jb_append(&jb, bl, fpr_jb_string(&jb, names[i], "a backend name"));
    fpr_jb_set(&jb, root, "backends", bl);

    /* totals per backend × mode × offset: the tables of the report */
    size_t no = 0;
    for (size_t k = 0; k < r->nruns; k++) {
        size_t q;
        for (q = 0; q < no && offs[q] != r->runs[k].offset; q++)
            ;
        if (q == no)
            offs[no++] = r->runs[k].offset;
    }
    json_t *totals = json_array();
    static const char *const modes[2] = {"native", "all"};
    for (size_t i = 0; totals && i < nb && !jb.rc; i++)
        for (int mi = 0; mi < 2; mi++)
            for (size_t q = 0; q < no; q++) {
                fpr_metrics m;
                if (!fpr_study_aggregate(r, names[i], modes[mi], offs[q], &m))
                    continue;
                json_t *e = json_object();
                if (e) {
                    fpr_jb_str(&jb, e, "backend", names[i]);
                    fpr_jb_str(&jb, e, "mode", modes[mi]);
                    fpr_jb_real(&jb, e, "offset", offs[q]);
                    fpr_jb_set(&jb, e, "metrics", json_metrics(&jb, &m));
                }
                fpr_jb_append(&jb, totals, e);
            }
    fpr_jb_set(&jb, root, "totals", totals);

    json_t *runs = json_array();
    for (size_t k = 0; runs && k < r->nruns && !jb.rc; k++) {
        const fpr_study_run *run = &r->runs[k];
        json_t *e = json_object();
        if (e) {
            fpr_jb_str(&jb, e, "key", run->key);
            fpr_jb_str(&jb, e, "case", run->case_name);
            fpr_jb_str(&jb, e, "path", run->case_path);
            fpr_jb_str(&jb, e, "mode", run->mode);
            fpr_jb_real(&jb, e, "offset", run->offset);
            fpr_jb_int(&jb, e, "S", (long long)run->S);
            fpr_jb_int(&jb, e, "n_atom", (long long)run->n_atom);
            fpr_jb_int(&jb, e, "n_token", (long long)run->n_token);
            fpr_jb_int(&jb, e, "n_atomized", (long long)run->n_atomized);
            fpr_jb_real(&jb, e, "truth_seconds", run->truth_seconds);
            fpr_jb_int(&jb, e, "truth_memo_rows", (long long)run->truth_memo_rows);
            json_t *bo = json_object();
            for (size_t j = 0; bo && j < run->nb; j++) {
                /* each result names its run and backend too, so one object read on its
                 * own (a grep, a jq select) says what it is */
                json_t *mo = json_metrics(&jb, &run->b[j].m);
                if (mo) {
                    fpr_jb_str(&jb, mo, "case", run->case_name);
                    fpr_jb_str(&jb, mo, "mode", run->mode);
                    fpr_jb_real(&jb, mo, "offset", run->offset);
                    fpr_jb_str(&jb, mo, "backend", run->b[j].name);
                    fpr_jb_int(&jb, mo, "memo_rows", (long long)run->b[j].memo_rows);
                }
                fpr_jb_set(&jb, bo, run->b[j].name, mo);
            }
            fpr_jb_set(&jb, e, "backends", bo);
        }
        fpr_jb_append(&jb, runs, e);
    }
    fpr_jb_set(&jb, root, "runs", runs);

    /* the candidates of the verdict (SPEC §10), against `original` over every run */
    const fpr_candidate *rec = fpr_candidate_recommended(r);
    json_t *cands = json_array();
    for (size_t i = 0; cands && i < fpr_candidate_count() && !jb.rc; i++) {
        const fpr_candidate *k = fpr_candidate_at(i);
        fpr_candidate_result cr;
        fpr_candidate_against_original(r, k, &cr);
        json_t *e = json_object();
        if (e) {
            fpr_jb_str(&jb, e, "name", k->name);
            fpr_jb_str(&jb, e, "backend", k->backend);
            fpr_jb_str(&jb, e, "rows", k->rows);
            fpr_jb_real(&jb, e, "torch_bytes_42k_5k_tokens", fpr_candidate_bytes_seed(k, 0));
            fpr_jb_real(&jb, e, "torch_bytes_42k_all_atomized", fpr_candidate_bytes_seed(k, 1));
            fpr_jb_int(&jb, e, "runs", cr.runs);
            fpr_jb_int(&jb, e, "runs_compared_with_original", cr.compared);
            fpr_jb_int(&jb, e, "orig_changed", (long long)cr.changed);
            fpr_jb_int(&jb, e, "orig_flips", (long long)cr.flips);
            fpr_jb_set(&jb, e, "identical_to_original", json_boolean(cr.identical));
            fpr_jb_set(&jb, e, "recommended", json_boolean(rec == k));
        }
        fpr_jb_append(&jb, cands, e);
    }
    fpr_jb_set(&jb, root, "candidates", cands);
    free(names);
    free(offs);
    int rc = jb.rc;
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", fpr_errmsg());
        rc = fpr_error(rc, "%s: %s", path, msg);
    } else {
        /* one line per run's backend and per total: readable, diffable */
        rc = fpr_json_write_file(path, root, 4);
    }
    json_decref(root);
    return rc;
}
