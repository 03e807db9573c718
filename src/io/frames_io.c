/* frames_io.c — the frames file of SPEC §8 (plus the search diagnostics and the
 * truth extras), written atomically and read back for comparisons. */
#include <string.h>

#include "io/h5util.h"

int fpr_frames_write(const fpr_frames *f, const char *path)
{
    fpr_h5_out o;
    int rc = fpr_h5_create(path, &o);
    if (rc)
        return rc;
    hsize_t d2[2] = {(hsize_t)f->S, (hsize_t)f->n_token};
    hsize_t d3[3] = {(hsize_t)f->S, (hsize_t)f->n_token, 3};
    hsize_t d4[4] = {(hsize_t)f->S, (hsize_t)f->n_token, 3, 3};
    rc = fpr_h5_set_attr_string(&o, "format", "frameprec-frames");
    if (!rc) rc = fpr_h5_set_attr_int(&o, "version", 1);
    if (!rc) rc = fpr_h5_set_attr_string(&o, "backend", f->backend ? f->backend : "");
    if (!rc) rc = fpr_h5_set_attr_string(&o, "case", f->case_name ? f->case_name : "");
    if (!rc) rc = fpr_h5_set_attr_string(&o, "frameprec_version", FPR_VERSION_STRING);
    if (!rc)
        rc = fpr_h5_write(&o, "a_index", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d2, f->a_index, 4);
    if (!rc)
        rc = fpr_h5_write(&o, "b_index", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d2, f->b_index, 4);
    if (!rc)
        rc = fpr_h5_write(&o, "c_index", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d2, f->c_index, 4);
    if (!rc)
        rc = fpr_h5_write(&o, "phi", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 4, d4, f->phi, 4);
    if (!rc)
        rc = fpr_h5_write(&o, "valid_frame_mask", H5T_NATIVE_UINT8, H5T_STD_U8LE, 2, d2,
                          f->valid_frame_mask, 4);
    if (!rc)
        rc = fpr_h5_write(&o, "top_value", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 3, d3,
                          f->top_value, 4);
    if (!rc && f->tie1) {
        rc = fpr_h5_write(&o, "tie1", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d2, f->tie1, 4);
        if (!rc)
            rc = fpr_h5_write(&o, "tie2", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d2, f->tie2, 4);
        if (!rc)
            rc = fpr_h5_write(&o, "margin1", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2,
                              f->margin1, 4);
        if (!rc)
            rc = fpr_h5_write(&o, "margin2", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2,
                              f->margin2, 4);
        if (!rc)
            rc = fpr_h5_write(&o, "fragile_angle", H5T_NATIVE_UINT8, H5T_STD_U8LE, 2, d2,
                              f->fragile_angle, 4);
    }
    if (rc) {
        fpr_h5_abort(&o);
        return rc;
    }
    return fpr_h5_commit(&o);
}

static int read_dims2(hid_t h, const char *file, const char *ds, int rank_want, hsize_t *dims)
{
    int rank;
    int rc = fpr_h5_shape(h, file, ds, 1, rank_want, rank_want, &rank, dims);
    return rc;
}

static int read_i32(hid_t h, const char *file, const char *ds, size_t n, int32_t *out,
                    double *tmp)
{
    int rc = fpr_h5_read_f64(h, file, ds, n, tmp);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!(tmp[i] >= -2147483648.0 && tmp[i] <= 2147483647.0) || tmp[i] != (double)(int64_t)tmp[i])
            return fpr_error(FPR_EINVAL, "%s: dataset '%s': element %zu has value %g, expected "
                             "an int32 index", file, ds, i, tmp[i]);
        out[i] = (int32_t)tmp[i];
    }
    return rc;
}

static int read_u8(hid_t h, const char *file, const char *ds, size_t n, uint8_t *out,
                   double *tmp)
{
    int rc = fpr_h5_read_f64(h, file, ds, n, tmp);
    for (size_t i = 0; !rc && i < n; i++)
        out[i] = (uint8_t)(tmp[i] != 0);
    return rc;
}

int fpr_frames_read(const char *path, fpr_frames **out)
{
    *out = NULL;
    hid_t h;
    int rc = fpr_h5_open_read(path, &h);
    if (rc)
        return rc;
    hsize_t d[4];
    fpr_frames *f = NULL;
    double *tmp = NULL;
    if ((rc = read_dims2(h, path, "a_index", 2, d)))
        goto done;
    int truth = fpr_h5_exists(h, "tie1");
    /* Declared sizes are refused before allocating: S and N_token within int32 (as in
     * a case), and the arrays (about 112 bytes a token, 150 with truth extras, plus
     * the read buffer) within the memory limit. */
    if (d[0] > INT32_MAX || d[1] > INT32_MAX) {
        rc = fpr_error(FPR_ETOOBIG, "%s: dataset 'a_index' declares %llu x %llu entries, beyond "
                       "what frameprec supports (2^31-1 each)", path,
                       (unsigned long long)d[0], (unsigned long long)d[1]);
        goto done;
    }
    double need = (double)d[0] * (double)d[1] * (truth ? 150.0 + 72.0 : 112.0 + 72.0);
    uint64_t limit = fpr_effective_memory_limit();
    if (need > (double)limit) {
        rc = fpr_error(FPR_ETOOBIG, "%s: frames of %llu x %llu tokens need about %.0f bytes, over "
                       "the memory limit of %llu bytes", path, (unsigned long long)d[0],
                       (unsigned long long)d[1], need, (unsigned long long)limit);
        goto done;
    }
    if ((rc = fpr_frames_new((int64_t)d[0], (int64_t)d[1], truth, &f)))
        goto done;
    size_t n = (size_t)(d[0] * d[1]);
    if (!(tmp = fpr_calloc(n * 9 + 1, sizeof(double)))) {
        rc = FPR_ENOMEM;
        goto done;
    }
    if ((rc = read_i32(h, path, "a_index", n, f->a_index, tmp)) ||
        (rc = read_i32(h, path, "b_index", n, f->b_index, tmp)) ||
        (rc = read_i32(h, path, "c_index", n, f->c_index, tmp)) ||
        (rc = fpr_h5_read_f32(h, path, "phi", n * 9, f->phi)) ||
        (rc = read_u8(h, path, "valid_frame_mask", n, f->valid_frame_mask, tmp)))
        goto done;
    if (fpr_h5_exists(h, "top_value") &&
        (rc = fpr_h5_read_f64(h, path, "top_value", n * 3, f->top_value)))
        goto done;
    if (truth &&
        ((rc = read_i32(h, path, "tie1", n, f->tie1, tmp)) ||
         (rc = read_i32(h, path, "tie2", n, f->tie2, tmp)) ||
         (rc = fpr_h5_read_f64(h, path, "margin1", n, f->margin1)) ||
         (rc = fpr_h5_read_f64(h, path, "margin2", n, f->margin2)) ||
         (rc = read_u8(h, path, "fragile_angle", n, f->fragile_angle, tmp))))
        goto done;
    if ((rc = fpr_h5_attr_string(h, path, "backend", 0, &f->backend)) ||
        (rc = fpr_h5_attr_string(h, path, "case", 0, &f->case_name)))
        goto done;
done:
    free(tmp);
    H5Fclose(h);
    if (rc) {
        fpr_frames_free(f);
        return rc;
    }
    *out = f;
    return FPR_OK;
}

/* Checks that dataset `ds` has shape [S][N_token] + tail (the leading S may be absent
 * when S = 1). */
static int ext_shape(hid_t h, const char *path, const char *ds, int tail_rank,
                     const hsize_t *tail, int64_t S, int64_t nt)
{
    hsize_t d[4];
    int rank;
    int rc = fpr_h5_shape(h, path, ds, 1, 1 + tail_rank, 2 + tail_rank, &rank, d);
    if (rc)
        return rc;
    int lead = rank - tail_rank; /* 1: [N_token]..., 2: [S][N_token]... */
    int ok = lead == 2 ? d[0] == (hsize_t)S && d[1] == (hsize_t)nt
                       : S == 1 && d[0] == (hsize_t)nt;
    for (int k = 0; ok && k < tail_rank; k++)
        ok = d[lead + k] == tail[k];
    if (!ok)
        return fpr_error(FPR_EFORMAT, "%s: dataset '%s' has shape %llu x %llu%s, expected "
                         "[S=%lld][N_token=%lld]%s (the case's sizes)", path, ds,
                         (unsigned long long)d[0], (unsigned long long)d[1],
                         rank > 2 ? " x ..." : "", (long long)S, (long long)nt,
                         tail_rank == 2 ? "[3][3]" : "");
    return FPR_OK;
}

int fpr_frames_read_external(const char *path, int64_t S, int64_t nt, fpr_frames **out,
                             int *have_idx)
{
    *out = NULL;
    *have_idx = 0;
    hid_t h;
    int rc = fpr_h5_open_read(path, &h);
    if (rc)
        return rc;
    fpr_frames *f = NULL;
    double *tmp = NULL;
    static const hsize_t t33[2] = {3, 3};
    static const char *const idx[3] = {"a_index", "b_index", "c_index"};
    int nidx = 0;
    for (int k = 0; k < 3; k++)
        nidx += fpr_h5_exists(h, idx[k]);
    if (nidx != 0 && nidx != 3) {
        rc = fpr_error(FPR_EFORMAT, "%s: has %d of the datasets a_index, b_index, c_index; "
                       "give all three or none (then they are recovered from phi)", path, nidx);
        goto done;
    }
    if ((rc = ext_shape(h, path, "phi", 2, t33, S, nt)) ||
        (rc = ext_shape(h, path, "valid_frame_mask", 0, NULL, S, nt)))
        goto done;
    for (int k = 0; nidx && k < 3; k++)
        if ((rc = ext_shape(h, path, idx[k], 0, NULL, S, nt)))
            goto done;
    if ((rc = fpr_frames_new(S, nt, 0, &f)))
        goto done;
    size_t n = (size_t)S * (size_t)nt;
    if (!(tmp = fpr_calloc(n + 1, sizeof(double)))) {
        rc = FPR_ENOMEM;
        goto done;
    }
    if ((rc = fpr_h5_read_f32(h, path, "phi", n * 9, f->phi)) ||
        (rc = fpr_h5_read_f64(h, path, "valid_frame_mask", n, tmp)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (tmp[i] != 0 && tmp[i] != 1) {
            rc = fpr_error(FPR_EFORMAT, "%s: dataset 'valid_frame_mask': element %zu (sample "
                           "%lld, token %lld) is %g, expected 0 or 1", path, i,
                           (long long)(i / (size_t)nt), (long long)(i % (size_t)nt), tmp[i]);
            goto done;
        }
        f->valid_frame_mask[i] = (uint8_t)(tmp[i] != 0);
    }
    if (nidx == 3) {
        if ((rc = read_i32(h, path, "a_index", n, f->a_index, tmp)) ||
            (rc = read_i32(h, path, "b_index", n, f->b_index, tmp)) ||
            (rc = read_i32(h, path, "c_index", n, f->c_index, tmp)))
            goto done;
        *have_idx = 1;
    } else {
        for (size_t i = 0; i < n; i++)
            f->a_index[i] = f->b_index[i] = f->c_index[i] = -1;
    }
    if ((rc = fpr_h5_attr_string(h, path, "backend", 0, &f->backend)))
        goto done;
done:
    free(tmp);
    H5Fclose(h);
    if (rc) {
        fpr_frames_free(f);
        return rc;
    }
    *out = f;
    return FPR_OK;
}

int fpr_frames_attr_string(const char *path, const char *name, char **out)
{
    *out = NULL;
    hid_t h;
    int rc = fpr_h5_open_read(path, &h);
    if (rc)
        return rc;
    rc = fpr_h5_attr_string(h, path, name, 0, out);
    H5Fclose(h);
    return rc;
}

int fpr_frames_attr_double(const char *path, const char *name, int *present, double *out)
{
    *present = 0;
    hid_t h;
    int rc = fpr_h5_open_read(path, &h);
    if (rc)
        return rc;
    rc = fpr_h5_attr_double(h, path, name, present, out);
    H5Fclose(h);
    return rc;
}
