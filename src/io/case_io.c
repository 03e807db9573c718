/* case_io.c — HDF5 case files, format version 1 (SPEC §8): read with conversion of
 * any numeric type and full validation (SPEC §7); write atomically. */
#include <math.h>
#include <string.h>

#include "io/h5util.h"

static const char *const token_int_ds[] = {"restype", "asym_id", "start_atom_index",
                                           "num_atoms_per_token"};
static const char *const token_flag_ds[] = {"is_protein", "is_rna", "is_dna", "is_atomized",
                                            "token_mask"};

static int to_int32(const double *v, size_t n, const char *file, const char *ds, int32_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!(v[i] == floor(v[i])) || v[i] < -2147483648.0 || v[i] > 2147483647.0)
            return fpr_error(FPR_EINVAL, "%s: dataset '%s': index %zu has value %g, expected an "
                             "integer in int32 range", file, ds, i, v[i]);
        out[i] = (int32_t)v[i];
    }
    return FPR_OK;
}

/* Masks may come as floats (an OpenFold3 dump): accept exactly 0 or 1. */
static int to_flag(const double *v, size_t n, const char *file, const char *ds, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] != 0.0 && v[i] != 1.0)
            return fpr_error(FPR_EINVAL, "%s: dataset '%s': index %zu has value %g, expected 0 or 1",
                             file, ds, i, v[i]);
        out[i] = (uint8_t)v[i];
    }
    return FPR_OK;
}

static int expect_len(hid_t f, const char *file, const char *ds, int numeric, hsize_t n,
                      const char *what)
{
    int rank;
    hsize_t dims[4];
    int rc = fpr_h5_shape(f, file, ds, numeric, 1, 1, &rank, dims);
    if (rc)
        return rc;
    if (dims[0] != n)
        return fpr_error(FPR_EFORMAT, "%s: dataset '%s' has %llu entries, expected %llu (%s)",
                         file, ds, (unsigned long long)dims[0], (unsigned long long)n, what);
    return FPR_OK;
}

static int read_case(hid_t f, const char *file, fpr_case **out)
{
    int rc;
    char *fmt = NULL;
    if ((rc = fpr_h5_attr_string(f, file, "format", 0, &fmt)))
        return rc;
    if (fmt && strcmp(fmt, "frameprec-case") != 0) {
        rc = fpr_error(FPR_EFORMAT, "%s: root attribute 'format' is '%s', expected "
                       "'frameprec-case'", file, fmt);
        free(fmt);
        return rc;
    }
    free(fmt);
    int present;
    double ver;
    if ((rc = fpr_h5_attr_double(f, file, "version", &present, &ver)))
        return rc;
    if (present && ver != 1.0)
        return fpr_error(FPR_EFORMAT, "%s: root attribute 'version' is %g; this frameprec reads "
                         "format version 1", file, ver);

    int rank;
    hsize_t dx[4];
    if ((rc = fpr_h5_shape(f, file, "x", 1, 2, 3, &rank, dx)))
        return rc;
    hsize_t S = rank == 3 ? dx[0] : 1, N = rank == 3 ? dx[1] : dx[0];
    hsize_t three = rank == 3 ? dx[2] : dx[1];
    if (three != 3)
        return fpr_error(FPR_EFORMAT, "%s: dataset 'x' has last dimension %llu, expected 3 "
                         "(x, y, z)", file, (unsigned long long)three);
    if (S == 0)
        return fpr_error(FPR_EINVAL, "%s: dataset 'x': S = 0 samples, expected at least 1", file);
    if (N == 0)
        return fpr_error(FPR_EINVAL, "%s: dataset 'x': N_atom = 0, expected at least 1", file);
    hsize_t T[4];
    if ((rc = fpr_h5_shape(f, file, "restype", 1, 1, 1, &rank, T)))
        return rc;
    if (T[0] == 0)
        return fpr_error(FPR_EINVAL, "%s: dataset 'restype': N_token = 0, expected at least 1",
                         file);
    if (S > INT32_MAX || N > INT32_MAX || T[0] > INT32_MAX)
        return fpr_error(FPR_ETOOBIG, "%s: declared sizes S=%llu N_atom=%llu N_token=%llu are "
                         "beyond what frameprec supports (2^31-1 each)", file,
                         (unsigned long long)S, (unsigned long long)N, (unsigned long long)T[0]);
    if ((rc = expect_len(f, file, "atom_mask", 1, N, "N_atom, from 'x'")))
        return rc;
    for (size_t k = 0; k < 4; k++)
        if ((rc = expect_len(f, file, token_int_ds[k], 1, T[0], "N_token, from 'restype'")))
            return rc;
    for (size_t k = 0; k < 5; k++)
        if ((rc = expect_len(f, file, token_flag_ds[k], 1, T[0], "N_token, from 'restype'")))
            return rc;

    fpr_case *c;
    if ((rc = fpr_case_new((int64_t)S, (int64_t)N, (int64_t)T[0], &c))) {
        if (rc == FPR_ETOOBIG || rc == FPR_ENOMEM) {
            /* copy first: fpr_errmsg() is the buffer fpr_error writes into */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", fpr_errmsg());
            return fpr_error(rc, "%s: %s", file, msg);
        }
        return rc;
    }
    size_t nt = (size_t)T[0], na = (size_t)N;
    double *tmp = fpr_calloc(nt > na ? nt : na, sizeof(double));
    if (!tmp) {
        fpr_case_free(c);
        return FPR_ENOMEM;
    }
    rc = fpr_h5_read_f32(f, file, "x", (size_t)(S * N * 3), c->x);
    if (!rc && !(rc = fpr_h5_read_f64(f, file, "atom_mask", na, tmp)))
        rc = to_flag(tmp, na, file, "atom_mask", c->atom_mask);
    int32_t *ints[4] = {c->restype, c->asym_id, c->start_atom_index, c->num_atoms_per_token};
    for (size_t k = 0; k < 4 && !rc; k++)
        if (!(rc = fpr_h5_read_f64(f, file, token_int_ds[k], nt, tmp)))
            rc = to_int32(tmp, nt, file, token_int_ds[k], ints[k]);
    uint8_t *flags[5] = {c->is_protein, c->is_rna, c->is_dna, c->is_atomized, c->token_mask};
    for (size_t k = 0; k < 5 && !rc; k++)
        if (!(rc = fpr_h5_read_f64(f, file, token_flag_ds[k], nt, tmp)))
            rc = to_flag(tmp, nt, file, token_flag_ds[k], flags[k]);
    free(tmp);

    static const char *const pnames[3] = {"angle_threshold", "eps", "inf"};
    double *pvals[3] = {&c->angle_threshold, &c->eps, &c->inf};
    for (int k = 0; k < 3 && !rc; k++) {
        double v;
        if (!(rc = fpr_h5_attr_double(f, file, pnames[k], &present, &v)) && present)
            *pvals[k] = v;
    }
    if (!rc)
        rc = fpr_h5_attr_string(f, file, "name", 0, &c->name);
    if (!rc)
        rc = fpr_h5_attr_string(f, file, "source", 0, &c->source);
    struct { const char *ds; char ***dst; size_t n; const char *what; } labels[3] = {
        {"atom_name", &c->atom_name, na, "N_atom"},
        {"res_name", &c->res_name, nt, "N_token"},
        {"chain_label", &c->chain_label, nt, "N_token"},
    };
    for (int k = 0; k < 3 && !rc; k++) {
        if (!fpr_h5_exists(f, labels[k].ds))
            continue;
        if ((rc = expect_len(f, file, labels[k].ds, 0, labels[k].n, labels[k].what)))
            break;
        if (!(*labels[k].dst = fpr_calloc(labels[k].n, sizeof(char *))))
            rc = FPR_ENOMEM;
        else
            rc = fpr_h5_read_strings(f, file, labels[k].ds, labels[k].n, *labels[k].dst);
    }
    if (!rc && !(c->path = fpr_strdup(file)))
        rc = FPR_ENOMEM;
    if (!rc && !c->name) {
        /* default name: the file's base name without extension */
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        if ((c->name = fpr_strdup(base))) {
            char *dot = strrchr(c->name, '.');
            if (dot && dot != c->name)
                *dot = '\0';
        } else {
            rc = FPR_ENOMEM;
        }
    }
    if (!rc)
        rc = fpr_case_validate(c, file);
    if (rc) {
        fpr_case_free(c);
        return rc;
    }
    *out = c;
    return FPR_OK;
}

int fpr_case_read(const char *path, fpr_case **out)
{
    *out = NULL;
    hid_t f;
    int rc = fpr_h5_open_read(path, &f);
    if (rc)
        return rc;
    rc = read_case(f, path, out);
    H5Fclose(f);
    return rc;
}

int fpr_case_write(const fpr_case *c, const char *path, int compress)
{
    fpr_h5_out o;
    int rc = fpr_h5_create(path, &o);
    if (rc)
        return rc;
    hsize_t dx[3] = {(hsize_t)c->S, (hsize_t)c->n_atom, 3};
    hsize_t da[1] = {(hsize_t)c->n_atom}, dt[1] = {(hsize_t)c->n_token};
    rc = fpr_h5_set_attr_string(&o, "format", "frameprec-case");
    if (!rc) rc = fpr_h5_set_attr_int(&o, "version", 1);
    if (!rc) rc = fpr_h5_set_attr_string(&o, "name", c->name ? c->name : "");
    if (!rc) rc = fpr_h5_set_attr_string(&o, "source", c->source ? c->source : "");
    if (!rc) rc = fpr_h5_set_attr_double(&o, "angle_threshold", c->angle_threshold);
    if (!rc) rc = fpr_h5_set_attr_double(&o, "eps", c->eps);
    if (!rc) rc = fpr_h5_set_attr_double(&o, "inf", c->inf);
    if (!rc)
        rc = fpr_h5_write(&o, "x", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 3, dx, c->x, compress);
    if (!rc)
        rc = fpr_h5_write(&o, "atom_mask", H5T_NATIVE_UINT8, H5T_STD_U8LE, 1, da, c->atom_mask,
                          compress);
    const int32_t *ints[4] = {c->restype, c->asym_id, c->start_atom_index,
                              c->num_atoms_per_token};
    for (int k = 0; k < 4 && !rc; k++)
        rc = fpr_h5_write(&o, token_int_ds[k], H5T_NATIVE_INT32, H5T_STD_I32LE, 1, dt, ints[k],
                          compress);
    const uint8_t *flags[5] = {c->is_protein, c->is_rna, c->is_dna, c->is_atomized,
                               c->token_mask};
    for (int k = 0; k < 5 && !rc; k++)
        rc = fpr_h5_write(&o, token_flag_ds[k], H5T_NATIVE_UINT8, H5T_STD_U8LE, 1, dt, flags[k],
                          compress);
    if (!rc && c->atom_name)
        rc = fpr_h5_write_strings(&o, "atom_name", (size_t)c->n_atom, c->atom_name, compress);
    if (!rc && c->res_name)
        rc = fpr_h5_write_strings(&o, "res_name", (size_t)c->n_token, c->res_name, compress);
    if (!rc && c->chain_label)
        rc = fpr_h5_write_strings(&o, "chain_label", (size_t)c->n_token, c->chain_label,
                                  compress);
    if (rc) {
        fpr_h5_abort(&o);
        return rc;
    }
    return fpr_h5_commit(&o);
}
