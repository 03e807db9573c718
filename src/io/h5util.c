/* h5util.c — HDF5 helpers: quiet library errors, typed reads with conversion,
 * atomic writes (temporary name, rename on success). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"

/* HDF5's own atexit cleanup closes files still open; after a failed H5Fclose (a full
 * disk) the file stays in its list and that cleanup crashed with SIGSEGV at exit
 * (HDF5 1.10). frameprec closes every file itself, so the atexit hook is switched off
 * (H5dont_atexit must precede the library's initialisation; later calls fail harmlessly). */
void fpr_h5_quiet(void)
{
    static int once;
    if (!once) {
        once = 1;
        H5dont_atexit();
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* Object creation without modification times: the same inputs give byte-identical
 * files (HDF5 stamps every object header with the time unless told not to). The lists
 * are created once and kept for the life of the process. */
static hid_t untimed(hid_t cls, hid_t *cache)
{
    if (*cache < 0) {
        hid_t p = H5Pcreate(cls);
        if (p >= 0)
            H5Pset_obj_track_times(p, 0);
        *cache = p;
    }
    return *cache >= 0 ? *cache : H5P_DEFAULT;
}

hid_t fpr_h5_gcpl(void)
{
    static hid_t g = -1;
    return untimed(H5P_GROUP_CREATE, &g);
}

static hid_t fcpl(void)
{
    static hid_t f = -1;
    return untimed(H5P_FILE_CREATE, &f);
}

int fpr_h5_open_read(const char *path, hid_t *out)
{
    fpr_h5_quiet();
    *out = -1;
    int rc = fpr_input_regular(path, "input file");
    if (rc)
        return rc;
    if (access(path, R_OK) != 0)
        return fpr_error(FPR_EIO, "%s: cannot open for reading (missing or unreadable)", path);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0)
        return fpr_error(FPR_EFORMAT, "%s: not an HDF5 file (or truncated/corrupt header)", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return fpr_error(FPR_EFORMAT, "%s: HDF5 file cannot be opened (truncated or corrupt?)", path);
    *out = f;
    return FPR_OK;
}

int fpr_h5_exists(hid_t f, const char *ds)
{
    return H5Lexists(f, ds, H5P_DEFAULT) > 0;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_ENUM: return "enum";
    case H5T_COMPOUND: return "compound";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "variable-length";
    case H5T_OPAQUE: return "opaque";
    case H5T_BITFIELD: return "bitfield";
    case H5T_REFERENCE: return "reference";
    default: return "unknown";
    }
}

int fpr_h5_shape(hid_t f, const char *file, const char *ds, int numeric, int rank_lo,
                 int rank_hi, int *rank, hsize_t dims[4])
{
    if (!fpr_h5_exists(f, ds))
        return fpr_error(FPR_EFORMAT, "%s: dataset '%s' is missing", file, ds);
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    if (d < 0)
        return fpr_error(FPR_EFORMAT, "%s: '%s' exists but is not a readable dataset", file, ds);
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    int rc = FPR_OK;
    H5T_class_t cls = H5Tget_class(t);
    int r = H5Sget_simple_extent_ndims(sp);
    if (numeric && cls != H5T_INTEGER && cls != H5T_FLOAT && cls != H5T_ENUM)
        rc = fpr_error(FPR_EFORMAT, "%s: dataset '%s' has %s elements, expected numbers", file, ds,
                       class_name(cls));
    else if (!numeric && cls != H5T_STRING)
        rc = fpr_error(FPR_EFORMAT, "%s: dataset '%s' has %s elements, expected strings", file,
                       ds, class_name(cls));
    else if (r < rank_lo || r > rank_hi || r > 4) {
        if (rank_lo == rank_hi)
            rc = fpr_error(FPR_EFORMAT, "%s: dataset '%s' has rank %d, expected rank %d", file,
                           ds, r, rank_lo);
        else
            rc = fpr_error(FPR_EFORMAT, "%s: dataset '%s' has rank %d, expected rank %d to %d",
                           file, ds, r, rank_lo, rank_hi);
    } else {
        hsize_t dd[4] = {0, 0, 0, 0};
        H5Sget_simple_extent_dims(sp, dd, NULL);
        for (int k = 0; k < 4; k++)
            dims[k] = dd[k];
        *rank = r;
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(d);
    return rc;
}

/* HDF5 1.10 converts whatever bit layout a file declares, and a corrupt layout (an
 * integer whose precision exceeds its size, a float whose fields overlap or leave the
 * element) overruns its stack in the conversion routines (found by fuzzing:
 * H5T__conv_i_f -> H5T__bit_get_d). So numbers are accepted only in the layouts real
 * writers produce: integers of 1, 2, 4 or 8 bytes using every bit, IEEE binary16/32/64
 * floats (either byte order). `what` is "dataset 'x'" or "root attribute 'eps'". */
static int check_number_layout(hid_t t, const char *file, const char *what)
{
    H5T_class_t cls = H5Tget_class(t);
    hid_t base = cls == H5T_ENUM ? H5Tget_super(t) : -1;
    hid_t u = base >= 0 ? base : t;
    size_t sz = H5Tget_size(u), prec = H5Tget_precision(u);
    int off = H5Tget_offset(u);
    int ok = (sz == 1 || sz == 2 || sz == 4 || sz == 8) && prec == 8 * sz && off == 0;
    if (ok && H5Tget_class(u) == H5T_FLOAT) {
        size_t spos, epos, esize, mpos, msize;
        ok = sz >= 2 && H5Tget_fields(u, &spos, &epos, &esize, &mpos, &msize) >= 0 &&
             mpos == 0 && epos == msize && spos == epos + esize && spos == 8 * sz - 1 &&
             ((sz == 2 && esize == 5) || (sz == 4 && esize == 8) || (sz == 8 && esize == 11)) &&
             H5Tget_ebias(u) == ((size_t)1 << (esize - 1)) - 1 &&
             H5Tget_norm(u) == H5T_NORM_IMPLIED;
    } else if (ok && H5Tget_class(u) != H5T_INTEGER) {
        ok = 0;
    }
    if (base >= 0)
        H5Tclose(base);
    if (!ok)
        return fpr_error(FPR_EFORMAT, "%s: %s has a non-standard number layout (%zu bytes, "
                         "%zu-bit precision at offset %d); expected 1/2/4/8-byte integers or "
                         "IEEE binary16/32/64", file, what, sz, prec, off);
    return FPR_OK;
}

static const char *ds_what(char *buf, size_t n, const char *kind, const char *name)
{
    snprintf(buf, n, "%s '%s'", kind, name);
    return buf;
}

static int check_count(hid_t d, const char *file, const char *ds, size_t n)
{
    hid_t sp = H5Dget_space(d);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    if (np < 0 || (size_t)np != n)
        return fpr_error(FPR_EFORMAT, "%s: dataset '%s' has %lld elements, expected %zu", file, ds,
                         (long long)np, n);
    return FPR_OK;
}

/* Enums (h5py stores numpy bool as an int8 enum) are read as their base integers:
 * HDF5 does not convert enum to float, so read the raw native layout. */
static int read_enum_f64(hid_t d, hid_t t, const char *file, const char *ds, size_t n,
                         double *out)
{
    hid_t base = H5Tget_super(t);
    hid_t nat = H5Tget_native_type(t, H5T_DIR_ASCEND);
    size_t sz = H5Tget_size(nat);
    H5T_sign_t sign = H5Tget_sign(base);
    unsigned char *buf = fpr_calloc(n ? n : 1, sz);
    int rc = FPR_OK;
    if (!buf)
        rc = FPR_ENOMEM;
    else if (H5Dread(d, nat, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = fpr_error(FPR_EIO, "%s: dataset '%s' cannot be read (truncated or corrupt?)", file, ds);
    else if (sz != 1 && sz != 2 && sz != 4 && sz != 8)
        rc = fpr_error(FPR_EFORMAT, "%s: dataset '%s' has an enum of %zu-byte base", file, ds, sz);
    else {
        for (size_t i = 0; i < n; i++) {
            const unsigned char *p = buf + i * sz;
            if (sign == H5T_SGN_NONE) {
                uint64_t v = 0;
                if (sz == 1) v = *(const uint8_t *)p;
                else if (sz == 2) { uint16_t w; memcpy(&w, p, 2); v = w; }
                else if (sz == 4) { uint32_t w; memcpy(&w, p, 4); v = w; }
                else memcpy(&v, p, 8);
                out[i] = (double)v;
            } else {
                int64_t v = 0;
                if (sz == 1) v = *(const int8_t *)p;
                else if (sz == 2) { int16_t w; memcpy(&w, p, 2); v = w; }
                else if (sz == 4) { int32_t w; memcpy(&w, p, 4); v = w; }
                else memcpy(&v, p, 8);
                out[i] = (double)v;
            }
        }
    }
    free(buf);
    H5Tclose(nat);
    H5Tclose(base);
    return rc;
}

static int read_numeric(hid_t f, const char *file, const char *ds, size_t n, hid_t mem,
                        void *out, double *enum_out)
{
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    if (d < 0)
        return fpr_error(FPR_EFORMAT, "%s: dataset '%s' is missing", file, ds);
    int rc = check_count(d, file, ds, n);
    hid_t t = H5Dget_type(d);
    H5T_class_t cls = H5Tget_class(t);
    char what[300];
    if (rc) {
    } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT || cls == H5T_ENUM) &&
               (rc = check_number_layout(t, file, ds_what(what, sizeof what, "dataset", ds)))) {
    } else if (cls == H5T_ENUM) {
        if (enum_out)
            rc = read_enum_f64(d, t, file, ds, n, enum_out);
        else
            rc = fpr_error(FPR_EFORMAT, "%s: dataset '%s' is an enum, expected numbers", file, ds);
    } else if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        rc = fpr_error(FPR_EFORMAT, "%s: dataset '%s' has %s elements, expected numbers", file, ds,
                       class_name(cls));
    } else if (n > 0 && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        rc = fpr_error(FPR_EIO, "%s: dataset '%s' cannot be read (truncated or corrupt?)", file, ds);
    }
    H5Tclose(t);
    H5Dclose(d);
    return rc;
}

int fpr_h5_read_f64(hid_t f, const char *file, const char *ds, size_t n, double *out)
{
    return read_numeric(f, file, ds, n, H5T_NATIVE_DOUBLE, out, out);
}

int fpr_h5_read_f32(hid_t f, const char *file, const char *ds, size_t n, float *out)
{
    return read_numeric(f, file, ds, n, H5T_NATIVE_FLOAT, out, NULL);
}

int fpr_h5_read_strings(hid_t f, const char *file, const char *ds, size_t n, char **out)
{
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    if (d < 0)
        return fpr_error(FPR_EFORMAT, "%s: dataset '%s' is missing", file, ds);
    int rc = check_count(d, file, ds, n);
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    if (!rc && H5Tget_class(t) != H5T_STRING)
        rc = fpr_error(FPR_EFORMAT, "%s: dataset '%s' has %s elements, expected strings", file, ds,
                       class_name(H5Tget_class(t)));
    hid_t mem = H5Tcopy(H5T_C_S1);
    if (!rc && H5Tis_variable_str(t) > 0) {
        char **tmp = fpr_calloc(n, sizeof(char *));
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(t));
        if (!tmp)
            rc = FPR_ENOMEM;
        else if (n && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0)
            rc = fpr_error(FPR_EIO, "%s: dataset '%s' cannot be read", file, ds);
        else {
            for (size_t i = 0; i < n && !rc; i++)
                if (!(out[i] = fpr_strdup(tmp[i] ? tmp[i] : "")))
                    rc = FPR_ENOMEM;
            if (n)
                H5Dvlen_reclaim(mem, sp, H5P_DEFAULT, tmp);
        }
        free(tmp);
    } else if (!rc) {
        size_t sz = H5Tget_size(t) + 1;
        char *buf = fpr_calloc(n ? n : 1, sz);
        H5Tset_size(mem, sz);
        H5Tset_strpad(mem, H5T_STR_NULLTERM);
        H5Tset_cset(mem, H5Tget_cset(t));
        if (!buf)
            rc = FPR_ENOMEM;
        else if (n && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            rc = fpr_error(FPR_EIO, "%s: dataset '%s' cannot be read", file, ds);
        else
            for (size_t i = 0; i < n && !rc; i++) {
                buf[i * sz + sz - 1] = '\0';
                if (!(out[i] = fpr_strdup(buf + i * sz)))
                    rc = FPR_ENOMEM;
            }
        free(buf);
    }
    H5Tclose(mem);
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(d);
    return rc;
}

int fpr_h5_attr_string(hid_t f, const char *file, const char *name, int required, char **out)
{
    *out = NULL;
    if (H5Aexists(f, name) <= 0)
        return required ? fpr_error(FPR_EFORMAT, "%s: root attribute '%s' is missing", file, name)
                        : FPR_OK;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    int rc = FPR_OK;
    if (a < 0 || t < 0) {
        rc = fpr_error(FPR_EFORMAT, "%s: root attribute '%s' cannot be opened (corrupt?)", file,
                       name);
    } else if (H5Tget_class(t) != H5T_STRING) {
        rc = fpr_error(FPR_EFORMAT, "%s: root attribute '%s' is not a string", file, name);
    } else if (np != 1) {
        /* reading an array of strings into one string's buffer would overflow it */
        rc = fpr_error(FPR_EFORMAT, "%s: root attribute '%s' holds %lld values, expected one "
                       "string", file, name, (long long)np);
    } else {
        hid_t mem = H5Tcopy(H5T_C_S1);
        if (H5Tis_variable_str(t) > 0) {
            char *s = NULL;
            H5Tset_size(mem, H5T_VARIABLE);
            H5Tset_cset(mem, H5Tget_cset(t));
            if (H5Aread(a, mem, &s) < 0)
                rc = fpr_error(FPR_EIO, "%s: root attribute '%s' cannot be read", file, name);
            else if (!(*out = fpr_strdup(s ? s : "")))
                rc = FPR_ENOMEM;
            if (s)
                H5free_memory(s);
        } else {
            size_t sz = H5Tget_size(t) + 1;
            char *buf = fpr_calloc(sz, 1);
            H5Tset_size(mem, sz);
            H5Tset_strpad(mem, H5T_STR_NULLTERM);
            if (!buf)
                rc = FPR_ENOMEM;
            else if (H5Aread(a, mem, buf) < 0)
                rc = fpr_error(FPR_EIO, "%s: root attribute '%s' cannot be read", file, name);
            else
                *out = buf, buf = NULL;
            free(buf);
        }
        H5Tclose(mem);
    }
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

int fpr_h5_attr_double(hid_t f, const char *file, const char *name, int *present, double *out)
{
    *present = 0;
    if (H5Aexists(f, name) <= 0)
        return FPR_OK;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = FPR_OK;
    H5T_class_t cls = H5Tget_class(t);
    char what[300];
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || H5Sget_simple_extent_npoints(sp) != 1)
        rc = fpr_error(FPR_EFORMAT, "%s: root attribute '%s' must be a single number", file, name);
    else if ((rc = check_number_layout(t, file, ds_what(what, sizeof what, "root attribute", name))))
        ;
    else if (H5Aread(a, H5T_NATIVE_DOUBLE, out) < 0)
        rc = fpr_error(FPR_EIO, "%s: root attribute '%s' cannot be read", file, name);
    else
        *present = 1;
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

/* ------------------------------------------------------------------ writing */
int fpr_h5_create(const char *path, fpr_h5_out *o)
{
    fpr_h5_quiet();
    memset(o, 0, sizeof *o);
    o->f = -1;
    o->slot = -1;
    int rc0 = fpr_output_check(path);
    if (rc0)
        return rc0;
    size_t n = strlen(path) + 32;
    o->final_path = fpr_strdup(path);
    o->tmp_path = fpr_calloc(n, 1);
    if (!o->final_path || !o->tmp_path) {
        fpr_h5_abort(o);
        return FPR_ENOMEM;
    }
    snprintf(o->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    o->slot = fpr_tmp_register(o->tmp_path);
    o->f = H5Fcreate(o->tmp_path, H5F_ACC_TRUNC, fcpl(), H5P_DEFAULT);
    if (o->f < 0) {
        /* HDF5 does not say why: ask the system with the same temporary name */
        const char *why = "directory missing or not writable?";
        int fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0)
            why = strerror(errno);
        else {
            close(fd);
            unlink(o->tmp_path);
        }
        int rc = fpr_error(FPR_EIO, "%s: cannot create output file (%s)", path, why);
        fpr_h5_abort(o);
        return rc;
    }
    fpr_tmp_created(o->slot);
    return FPR_OK;
}

int fpr_h5_commit(fpr_h5_out *o)
{
    int rc = FPR_OK;
    if (H5Fclose(o->f) < 0)
        rc = fpr_error(FPR_EIO, "%s: writing failed while closing the file (disk full?); "
                       "nothing was written", o->final_path);
    o->f = -1;
    if (!rc && rename(o->tmp_path, o->final_path) != 0)
        rc = fpr_error(FPR_EIO, "%s: cannot rename the finished temporary file into place",
                       o->final_path);
    if (rc)
        unlink(o->tmp_path);
    fpr_tmp_release(o->slot);
    o->slot = -1;
    free(o->final_path);
    free(o->tmp_path);
    o->final_path = o->tmp_path = NULL;
    return rc;
}

void fpr_h5_abort(fpr_h5_out *o)
{
    if (o->f >= 0)
        H5Fclose(o->f);
    o->f = -1;
    if (o->tmp_path)
        unlink(o->tmp_path);
    fpr_tmp_release(o->slot);
    o->slot = -1;
    free(o->final_path);
    free(o->tmp_path);
    o->final_path = o->tmp_path = NULL;
}

static hid_t make_dcpl(int rank, const hsize_t *dims, size_t elsize, int compress)
{
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(p, 0);
    if (compress <= 0 || rank < 1)
        return p;
    hsize_t chunk[8];
    size_t per = elsize;
    for (int k = 0; k < rank; k++) {
        if (dims[k] == 0)
            return p;
        chunk[k] = dims[k];
        if (k > 0)
            per *= dims[k];
    }
    /* about 1 MiB per chunk along the first axis */
    hsize_t rows = per ? (hsize_t)((1u << 20) / per) : 1;
    if (rows < 1)
        rows = 1;
    if (chunk[0] > rows)
        chunk[0] = rows;
    H5Pset_chunk(p, rank, chunk);
    H5Pset_shuffle(p);
    H5Pset_deflate(p, (unsigned)(compress > 9 ? 9 : compress));
    return p;
}

int fpr_h5_write(fpr_h5_out *o, const char *ds, hid_t memtype, hid_t filetype, int rank,
                 const hsize_t *dims, const void *data, int compress)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = make_dcpl(rank, dims, H5Tget_size(filetype), compress);
    hid_t d = H5Dcreate2(o->f, ds, filetype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = FPR_OK;
    if (d < 0 || H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = fpr_error(FPR_EIO, "%s: cannot write dataset '%s' (disk full?)", o->final_path, ds);
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return rc;
}

int fpr_h5_write_strings(fpr_h5_out *o, const char *ds, size_t n, char *const *s, int compress)
{
    size_t w = 1;
    for (size_t i = 0; i < n; i++)
        if (s[i] && strlen(s[i]) > w)
            w = strlen(s[i]);
    char *buf = fpr_calloc(n ? n : 1, w);
    if (!buf)
        return FPR_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (s[i])
            memcpy(buf + i * w, s[i], strlen(s[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, w);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hsize_t dims[1] = {n};
    int rc = fpr_h5_write(o, ds, t, t, 1, dims, buf, compress);
    H5Tclose(t);
    free(buf);
    return rc;
}

int fpr_h5_set_attr_string(fpr_h5_out *o, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o->f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = FPR_OK;
    if (a < 0 || H5Awrite(a, t, value) < 0)
        rc = fpr_error(FPR_EIO, "%s: cannot write attribute '%s'", o->final_path, name);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

static int set_attr(fpr_h5_out *o, const char *name, hid_t mem, hid_t ft, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o->f, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = FPR_OK;
    if (a < 0 || H5Awrite(a, mem, v) < 0)
        rc = fpr_error(FPR_EIO, "%s: cannot write attribute '%s'", o->final_path, name);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

int fpr_h5_set_attr_double(fpr_h5_out *o, const char *name, double value)
{
    return set_attr(o, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &value);
}

int fpr_h5_set_attr_int(fpr_h5_out *o, const char *name, int value)
{
    return set_attr(o, name, H5T_NATIVE_INT, H5T_STD_I32LE, &value);
}
