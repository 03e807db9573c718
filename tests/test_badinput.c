/* test_badinput.c — the bad-input catalogue (SPEC §7, issue 9): every bad case file is
 * generated here with the HDF5 C API (never hand-edited binaries), loaded, and must
 * fail with its own message (checked by text, naming the file) and code. Also the
 * foreign encodings that must load (h5py bool enums, float masks, an OpenFold3-style
 * dump), and the signal cleanup of temporary output files.
 *
 *   test_badinput                run the suite (files in a temporary directory)
 *   test_badinput --write DIR    write the catalogue into DIR (e.g. tests/bad) with
 *                                DIR/MANIFEST: name|code|expected text|max-memory,
 *                                for tests/check_badinput.sh and the fuzz seed corpus */
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "io/h5util.h"

/* ------------------------------------------------------------------ a valid base case */
/* S = 2, 12 atoms: ALA (atoms 0..4) and GLY (5..8) on chain 1, three ligand atoms
 * (9..11) atomized on chain 2; 5 tokens. */
enum { BS = 2, BN = 12, BT = 5 };
typedef struct tcase {
    float x[BS][BN][3];
    uint8_t atom_mask[BN];
    int32_t restype[BT], asym_id[BT], start[BT], num[BT];
    uint8_t is_protein[BT], is_rna[BT], is_dna[BT], is_atomized[BT], token_mask[BT];
} tcase;

static void base_init(tcase *t)
{
    memset(t, 0, sizeof *t);
    for (int s = 0; s < BS; s++)
        for (int a = 0; a < BN; a++)
            for (int d = 0; d < 3; d++)
                t->x[s][a][d] = (float)(1.5 * a + 0.25 * d * d + 0.7 * (a % 3 == d) + 0.01 * s);
    for (int a = 0; a < BN; a++)
        t->atom_mask[a] = 1;
    static const int32_t rt[BT] = {0, 7, 20, 20, 20}, as[BT] = {1, 1, 2, 2, 2},
                         st[BT] = {0, 5, 9, 10, 11}, nm[BT] = {5, 4, 1, 1, 1};
    for (int k = 0; k < BT; k++) {
        t->restype[k] = rt[k];
        t->asym_id[k] = as[k];
        t->start[k] = st[k];
        t->num[k] = nm[k];
        t->is_protein[k] = k < 2;
        t->is_atomized[k] = k >= 2;
        t->token_mask[k] = 1;
    }
}

/* How flags and masks are stored: as uint8, as h5py stores numpy bool (an int8 enum
 * FALSE/TRUE), as float32 (an OpenFold3 dump), or as int64. */
enum { FL_U8, FL_BOOL, FL_F32, FL_I64 };

static hid_t h5_new(const char *path)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static hid_t h5_reopen(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static void h5_ds(hid_t f, const char *name, hid_t mtype, hid_t ftype, int rank,
                  const hsize_t *dims, const void *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (n > 0)
        assert_true(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
}

static void h5_ds1(hid_t f, const char *name, hid_t mtype, hid_t ftype, hsize_t n,
                   const void *data)
{
    h5_ds(f, name, mtype, ftype, 1, &n, data);
}

/* A dataset that declares `dims` but stores nothing: chunked, no chunk written. Costs a
 * few hundred bytes on disk whatever the declared size. */
static void h5_ds_sparse(hid_t f, const char *name, hid_t ftype, int rank, const hsize_t *dims)
{
    hsize_t chunk[4];
    for (int k = 0; k < rank; k++)
        chunk[k] = dims[k] < 1024 ? (dims[k] ? dims[k] : 1) : 1024;
    if (rank == 3)
        chunk[0] = 1;
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, rank, chunk);
    hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, p, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d);
    H5Pclose(p);
    H5Sclose(sp);
}

static void h5_ds_strings(hid_t f, const char *name, hsize_t n, const char *const *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    h5_ds1(f, name, t, t, n, s);
    H5Tclose(t);
}

static void h5_attr_str(hid_t f, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, t, v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void h5_attr_f64(hid_t f, const char *name, double v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
}

static void h5_flags(hid_t f, const char *name, hsize_t n, const uint8_t *v, int kind)
{
    if (kind == FL_U8) {
        h5_ds1(f, name, H5T_NATIVE_UINT8, H5T_STD_U8LE, n, v);
    } else if (kind == FL_BOOL) {
        hid_t e = H5Tenum_create(H5T_NATIVE_INT8);
        int8_t no = 0, yes = 1;
        H5Tenum_insert(e, "FALSE", &no);
        H5Tenum_insert(e, "TRUE", &yes);
        int8_t b[64];
        for (hsize_t i = 0; i < n; i++)
            b[i] = (int8_t)v[i];
        h5_ds1(f, name, e, e, n, b);
        H5Tclose(e);
    } else if (kind == FL_F32) {
        float b[64];
        for (hsize_t i = 0; i < n; i++)
            b[i] = v[i];
        h5_ds1(f, name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, n, b);
    } else {
        int64_t b[64];
        for (hsize_t i = 0; i < n; i++)
            b[i] = v[i];
        h5_ds1(f, name, H5T_NATIVE_INT64, H5T_STD_I64LE, n, b);
    }
}

/* Writes the case, leaving out dataset `omit` (NULL: none); attrs = 0 leaves out the
 * root attributes (an OpenFold3 feature dump has none). Indices as int64 when
 * `ints64`. */
static void write_tcase_f(const char *path, const tcase *t, const char *omit, int flags,
                          int attrs, int ints64)
{
    hid_t f = h5_new(path);
    if (attrs) {
        h5_attr_str(f, "format", "frameprec-case");
        h5_attr_f64(f, "version", 1);
        h5_attr_str(f, "name", "bad");
        h5_attr_str(f, "source", "tests/test_badinput.c");
    }
    hsize_t dx[3] = {BS, BN, 3};
    if (!omit || strcmp(omit, "x"))
        h5_ds(f, "x", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 3, dx, t->x);
    if (!omit || strcmp(omit, "atom_mask"))
        h5_flags(f, "atom_mask", BN, t->atom_mask, flags);
    const char *in[4] = {"restype", "asym_id", "start_atom_index", "num_atoms_per_token"};
    const int32_t *iv[4] = {t->restype, t->asym_id, t->start, t->num};
    for (int k = 0; k < 4; k++) {
        if (omit && !strcmp(omit, in[k]))
            continue;
        if (ints64) {
            int64_t b[BT];
            for (int i = 0; i < BT; i++)
                b[i] = iv[k][i];
            h5_ds1(f, in[k], H5T_NATIVE_INT64, H5T_STD_I64LE, BT, b);
        } else {
            h5_ds1(f, in[k], H5T_NATIVE_INT32, H5T_STD_I32LE, BT, iv[k]);
        }
    }
    const char *fn[5] = {"is_protein", "is_rna", "is_dna", "is_atomized", "token_mask"};
    const uint8_t *fv[5] = {t->is_protein, t->is_rna, t->is_dna, t->is_atomized, t->token_mask};
    for (int k = 0; k < 5; k++)
        if (!omit || strcmp(omit, fn[k]))
            h5_flags(f, fn[k], BT, fv[k], flags);
    H5Fclose(f);
}

static void write_tcase(const char *path, const tcase *t, const char *omit)
{
    write_tcase_f(path, t, omit, FL_U8, 1, 0);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *o = fopen(path, "wb");
    assert_non_null(o);
    assert_int_equal(fwrite(p, 1, n, o), n);
    fclose(o);
}

/* ------------------------------------------------------------------ the catalogue */
/* One maker per bad file. Value errors mutate the base case; shape errors leave a
 * dataset out and add their own. */
#define VALUE_CASE(fn, stmt)                                                         \
    static void fn(const char *p)                                                    \
    {                                                                                \
        tcase t;                                                                     \
        base_init(&t);                                                               \
        stmt;                                                                        \
        write_tcase(p, &t, NULL);                                                    \
    }

VALUE_CASE(mk_valid, (void)0)
VALUE_CASE(mk_x_nan, t.x[1][3][2] = __builtin_nanf(""))
VALUE_CASE(mk_x_pinf, t.x[0][7][0] = __builtin_inff())
VALUE_CASE(mk_x_ninf, t.x[1][11][1] = -__builtin_inff())
VALUE_CASE(mk_x_far, t.x[0][2][1] = 2.5e6f)
VALUE_CASE(mk_restype_32, t.restype[3] = 32)
VALUE_CASE(mk_restype_neg, t.restype[2] = -1)
VALUE_CASE(mk_restype_flag_mismatch, t.restype[1] = 21)           /* A with is_protein */
VALUE_CASE(mk_flags_overlap, t.is_rna[0] = 1)                     /* protein and RNA */
VALUE_CASE(mk_flag_not_01, t.is_atomized[4] = 2)
VALUE_CASE(mk_mask_not_01, t.atom_mask[6] = 3)
VALUE_CASE(mk_num_negative, t.num[3] = -1)
VALUE_CASE(mk_start_negative, t.start[2] = -4)
VALUE_CASE(mk_start_past_end, t.start[4] = 12)
VALUE_CASE(mk_range_past_end, t.num[4] = 3)
VALUE_CASE(mk_ranges_overlap, t.start[1] = 3)
VALUE_CASE(mk_ranges_out_of_order, (t.start[0] = 4, t.start[1] = 0))
VALUE_CASE(mk_atomized_two_atoms, (t.num[3] = 2, t.num[4] = 0))
VALUE_CASE(mk_standard_too_few_atoms, (t.num[0] = 2))

static void mk_not_integer(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "start_atom_index");
    hid_t f = h5_reopen(p);
    double v[BT] = {0, 5, 9.5, 10, 11};
    h5_ds1(f, "start_atom_index", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, BT, v);
    H5Fclose(f);
}

static void mk_index_beyond_int32(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "asym_id");
    hid_t f = h5_reopen(p);
    int64_t v[BT] = {1, 1, 2, 2, 5000000000LL};
    h5_ds1(f, "asym_id", H5T_NATIVE_INT64, H5T_STD_I64LE, BT, v);
    H5Fclose(f);
}

static void mk_missing_x(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "x");
}

static void mk_missing_token_mask(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "token_mask");
}

static void mk_x_group(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "x");
    hid_t f = h5_reopen(p);
    H5Gclose(H5Gcreate2(f, "x", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);
}

static void mk_x_rank1(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "x");
    hid_t f = h5_reopen(p);
    h5_ds1(f, "x", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, BS * BN * 3, t.x);
    H5Fclose(f);
}

static void mk_x_rank4(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "x");
    hid_t f = h5_reopen(p);
    hsize_t d[4] = {1, BS, BN, 3};
    h5_ds(f, "x", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 4, d, t.x);
    H5Fclose(f);
}

static void mk_x_last_dim(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "x");
    hid_t f = h5_reopen(p);
    hsize_t d[3] = {BS, BN * 3 / 4, 4};
    h5_ds(f, "x", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 3, d, t.x);
    H5Fclose(f);
}

static void mk_restype_rank2(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "restype");
    hid_t f = h5_reopen(p);
    int32_t v[BT * 2] = {0};
    hsize_t d[2] = {BT, 2};
    h5_ds(f, "restype", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, d, v);
    H5Fclose(f);
}

static void mk_mask_length(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "atom_mask");
    hid_t f = h5_reopen(p);
    h5_ds1(f, "atom_mask", H5T_NATIVE_UINT8, H5T_STD_U8LE, BN - 1, t.atom_mask);
    H5Fclose(f);
}

static void mk_token_length(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "is_dna");
    hid_t f = h5_reopen(p);
    h5_ds1(f, "is_dna", H5T_NATIVE_UINT8, H5T_STD_U8LE, BT + 3, t.atom_mask);
    H5Fclose(f);
}

static void mk_restype_strings(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "restype");
    hid_t f = h5_reopen(p);
    const char *s[BT] = {"ALA", "GLY", "UNK", "UNK", "UNK"};
    h5_ds_strings(f, "restype", BT, s);
    H5Fclose(f);
}

static void mk_x_strings(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "x");
    hid_t f = h5_reopen(p);
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, 8);
    char buf[BS * BN * 3][8];
    memset(buf, 0, sizeof buf);
    for (int k = 0; k < BS * BN * 3; k++)
        snprintf(buf[k], 8, "%d.5", k % 1000); /* k % 1000 fits: "999.5" */
    hsize_t d[3] = {BS, BN, 3};
    h5_ds(f, "x", ty, ty, 3, d, buf);
    H5Tclose(ty);
    H5Fclose(f);
}

/* A legal but unusual layout (24 significant bits in 4 bytes): refused by layout,
 * since HDF5 1.10 converts corrupt layouts of this kind past its stack buffers. */
static void mk_restype_int24(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "restype");
    hid_t f = h5_reopen(p);
    hid_t ty = H5Tcopy(H5T_STD_I32LE);
    H5Tset_precision(ty, 24);
    h5_ds1(f, "restype", H5T_NATIVE_INT32, ty, BT, t.restype);
    H5Tclose(ty);
    H5Fclose(f);
}

static void mk_x_compound(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, "x");
    hid_t f = h5_reopen(p);
    hid_t ty = H5Tcreate(H5T_COMPOUND, 3 * sizeof(float));
    H5Tinsert(ty, "x", 0, H5T_NATIVE_FLOAT);
    H5Tinsert(ty, "y", sizeof(float), H5T_NATIVE_FLOAT);
    H5Tinsert(ty, "z", 2 * sizeof(float), H5T_NATIVE_FLOAT);
    hsize_t d[3] = {BS, BN, 3};
    static float xyz[BS * BN * 3][3]; /* one (x, y, z) struct per element */
    h5_ds(f, "x", ty, ty, 3, d, xyz);
    H5Tclose(ty);
    H5Fclose(f);
}

static void mk_name_not_string(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, NULL);
    hid_t f = h5_reopen(p);
    H5Adelete(f, "name");
    h5_attr_f64(f, "name", 7);
    H5Fclose(f);
}

/* A string attribute holding several strings: the reader must not read an array
 * into a one-string buffer. */
static void mk_source_string_array(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, NULL);
    hid_t f = h5_reopen(p);
    H5Adelete(f, "source");
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, 4);
    hsize_t n = 64;
    char buf[64][4];
    memset(buf, 'a', sizeof buf);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t a = H5Acreate2(f, "source", ty, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, ty, buf) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(ty);
    H5Fclose(f);
}

static void mk_wrong_format(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, NULL);
    hid_t f = h5_reopen(p);
    H5Adelete(f, "format");
    h5_attr_str(f, "format", "frameprec-frames");
    H5Fclose(f);
}

static void mk_version_2(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, NULL);
    hid_t f = h5_reopen(p);
    H5Adelete(f, "version");
    h5_attr_f64(f, "version", 2);
    H5Fclose(f);
}

static void mk_angle_threshold_bad(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, NULL);
    hid_t f = h5_reopen(p);
    h5_attr_f64(f, "angle_threshold", 120);
    H5Fclose(f);
}

/* Parameters outside the function's domain (issue 13): an `inf` the in-chain distances
 * reach, or an `eps` that pushes them past it; accepted before, every pick then wrong. */
static void mk_param(const char *p, const char *name, double v)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, NULL);
    hid_t f = h5_reopen(p);
    H5Adelete(f, name);
    h5_attr_f64(f, name, v);
    H5Fclose(f);
}
static void mk_inf_half(const char *p) { mk_param(p, "inf", 0.5); }
static void mk_inf_tiny(const char *p) { mk_param(p, "inf", 1e-50); }
static void mk_eps_huge(const char *p) { mk_param(p, "eps", 1e20); }

/* A name that is not UTF-8 (it made summary.json invalid JSON). */
static void mk_name_not_utf8(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, NULL);
    hid_t f = h5_reopen(p);
    H5Adelete(f, "name");
    h5_attr_str(f, "name", "bad\xff\xfename");
    H5Fclose(f);
}

static void mk_eps_nan(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, NULL);
    hid_t f = h5_reopen(p);
    h5_attr_f64(f, "eps", __builtin_nan(""));
    H5Fclose(f);
}

static void mk_label_length(const char *p)
{
    tcase t;
    base_init(&t);
    write_tcase(p, &t, NULL);
    hid_t f = h5_reopen(p);
    const char *s[3] = {"N", "CA", "C"};
    h5_ds_strings(f, "atom_name", 3, s);
    H5Fclose(f);
}

/* S = 0 / N_atom = 0 / N_token = 0: empty datasets of the right rank. */
static void mk_sizes(const char *p, hsize_t S, hsize_t N, hsize_t T)
{
    tcase t;
    base_init(&t);
    hid_t f = h5_new(p);
    h5_attr_str(f, "format", "frameprec-case");
    hsize_t dx[3] = {S, N, 3};
    h5_ds(f, "x", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 3, dx, t.x);
    h5_ds1(f, "atom_mask", H5T_NATIVE_UINT8, H5T_STD_U8LE, N, t.atom_mask);
    const char *names[9] = {"restype", "asym_id", "start_atom_index", "num_atoms_per_token",
                            "is_protein", "is_rna", "is_dna", "is_atomized", "token_mask"};
    for (int k = 0; k < 9; k++)
        h5_ds1(f, names[k], H5T_NATIVE_INT32, H5T_STD_I32LE, T, t.restype);
    H5Fclose(f);
}
static void mk_s0(const char *p) { mk_sizes(p, 0, BN, BT); }
static void mk_natom0(const char *p) { mk_sizes(p, BS, 0, BT); }
static void mk_ntoken0(const char *p) { mk_sizes(p, BS, BN, 0); }

/* Huge declared sizes, stored sparse: the loader must refuse before allocating. */
static void mk_huge(const char *p, hsize_t S, hsize_t N, hsize_t T)
{
    hid_t f = h5_new(p);
    h5_attr_str(f, "format", "frameprec-case");
    hsize_t dx[3] = {S, N, 3};
    h5_ds_sparse(f, "x", H5T_IEEE_F32LE, 3, dx);
    h5_ds_sparse(f, "atom_mask", H5T_STD_U8LE, 1, &N);
    const char *names[9] = {"restype", "asym_id", "start_atom_index", "num_atoms_per_token",
                            "is_protein", "is_rna", "is_dna", "is_atomized", "token_mask"};
    for (int k = 0; k < 9; k++)
        h5_ds_sparse(f, names[k], H5T_STD_I32LE, 1, &T);
    H5Fclose(f);
}
/* 10^12 coordinates (12 TB of float32) in a file of a few kB. */
static void mk_huge_sparse(const char *p) { mk_huge(p, 1000000, 1000000, 1000000); }
/* S·N_atom·3 beyond 2^63: the products must not overflow into a small allocation. */
static void mk_huge_overflow(const char *p) { mk_huge(p, 2147483647, 2147483647, 2147483647); }
/* N_atom beyond int32 indices. */
static void mk_huge_beyond_int32(const char *p) { mk_huge(p, 1, 5000000000ULL, 5); }

static void mk_truncated(const char *p)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.whole", p);
    mk_valid(tmp);
    FILE *i = fopen(tmp, "rb");
    assert_non_null(i);
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, i);
    fclose(i);
    unlink(tmp);
    assert_true(n > 2048 && n < sizeof buf);
    write_bytes(p, buf, n / 2);
}

static void mk_empty_file(const char *p) { write_bytes(p, "", 0); }

static void mk_text_file(const char *p)
{
    const char *s = "x,y,z\n1.0,2.0,3.0\n";
    write_bytes(p, s, strlen(s));
}

typedef struct bad_case {
    const char *name;
    void (*make)(const char *path);
    int code;
    const char *msg;    /* expected text of the message */
    uint64_t max_mem;   /* memory limit for this case; 0 = the suite's 1 GiB */
} bad_case;

#define GiB (1024ull * 1024 * 1024)
static const bad_case catalogue[] = {
    /* files that are not case files */
    {"empty_file", mk_empty_file, FPR_EFORMAT, "not an HDF5 file", 0},
    {"text_file", mk_text_file, FPR_EFORMAT, "not an HDF5 file", 0},
    {"truncated", mk_truncated, FPR_EFORMAT, "HDF5 file cannot be opened (truncated or corrupt?)", 0},
    {"wrong_format", mk_wrong_format, FPR_EFORMAT, "root attribute 'format' is 'frameprec-frames', expected 'frameprec-case'", 0},
    {"version_2", mk_version_2, FPR_EFORMAT, "root attribute 'version' is 2", 0},
    {"name_not_string", mk_name_not_string, FPR_EFORMAT, "root attribute 'name' is not a string", 0},
    {"source_string_array", mk_source_string_array, FPR_EFORMAT, "root attribute 'source' holds 64 values, expected one string", 0},
    {"angle_threshold_120", mk_angle_threshold_bad, FPR_EINVAL, "attribute 'angle_threshold' = 120, expected a value in (0, 90) degrees", 0},
    {"eps_nan", mk_eps_nan, FPR_EINVAL, "attribute 'eps' = nan, expected a finite value >= 0", 0},
    {"inf_half", mk_inf_half, FPR_EINVAL, "attribute 'inf' = 0.5 does not exceed the in-chain distances", 0},
    {"inf_tiny", mk_inf_tiny, FPR_EINVAL, "attribute 'inf' = 1e-50 does not exceed the in-chain distances", 0},
    {"eps_huge", mk_eps_huge, FPR_EINVAL, "attribute 'eps' = 1e+20 is so large that in-chain distances", 0},
    {"name_not_utf8", mk_name_not_utf8, FPR_EINVAL, "root attribute 'name' is not valid UTF-8", 0},
    /* missing or mis-shaped datasets */
    {"missing_x", mk_missing_x, FPR_EFORMAT, "dataset 'x' is missing", 0},
    {"missing_token_mask", mk_missing_token_mask, FPR_EFORMAT, "dataset 'token_mask' is missing", 0},
    {"x_is_group", mk_x_group, FPR_EFORMAT, "'x' exists but is not a readable dataset", 0},
    {"x_rank1", mk_x_rank1, FPR_EFORMAT, "dataset 'x' has rank 1, expected rank 2 to 3", 0},
    {"x_rank4", mk_x_rank4, FPR_EFORMAT, "dataset 'x' has rank 4, expected rank 2 to 3", 0},
    {"x_last_dim_4", mk_x_last_dim, FPR_EFORMAT, "dataset 'x' has last dimension 4, expected 3", 0},
    {"restype_rank2", mk_restype_rank2, FPR_EFORMAT, "dataset 'restype' has rank 2, expected rank 1", 0},
    {"atom_mask_length", mk_mask_length, FPR_EFORMAT, "dataset 'atom_mask' has 11 entries, expected 12 (N_atom, from 'x')", 0},
    {"token_length", mk_token_length, FPR_EFORMAT, "dataset 'is_dna' has 8 entries, expected 5 (N_token, from 'restype')", 0},
    {"atom_name_length", mk_label_length, FPR_EFORMAT, "dataset 'atom_name' has 3 entries, expected 12", 0},
    /* strings (and structs) where numbers belong */
    {"restype_strings", mk_restype_strings, FPR_EFORMAT, "dataset 'restype' has string elements, expected numbers", 0},
    {"x_strings", mk_x_strings, FPR_EFORMAT, "dataset 'x' has string elements, expected numbers", 0},
    {"restype_int24", mk_restype_int24, FPR_EFORMAT, "dataset 'restype' has a non-standard number layout (4 bytes, 24-bit precision at offset 0)", 0},
    {"x_compound", mk_x_compound, FPR_EFORMAT, "dataset 'x' has compound elements, expected numbers", 0},
    /* sizes */
    {"s_zero", mk_s0, FPR_EINVAL, "dataset 'x': S = 0 samples, expected at least 1", 0},
    {"n_atom_zero", mk_natom0, FPR_EINVAL, "dataset 'x': N_atom = 0, expected at least 1", 0},
    {"n_token_zero", mk_ntoken0, FPR_EINVAL, "dataset 'restype': N_token = 0, expected at least 1", 0},
    {"huge_sparse", mk_huge_sparse, FPR_ETOOBIG, "bytes (S=1000000, N_atom=1000000, N_token=1000000), over the memory limit of 1073741824 bytes (--max-memory)", 0},
    {"huge_overflow", mk_huge_overflow, FPR_ETOOBIG, "(S=2147483647, N_atom=2147483647, N_token=2147483647), over the memory limit of 1073741824 bytes (--max-memory)", 0},
    {"huge_beyond_int32", mk_huge_beyond_int32, FPR_ETOOBIG, "declared sizes S=1 N_atom=5000000000 N_token=5 are beyond what frameprec supports", 0},
    {"over_max_memory", mk_valid, FPR_ETOOBIG, "bytes (S=2, N_atom=12, N_token=5), over the memory limit of 1000 bytes (--max-memory)", 1000},
    /* values */
    {"x_nan", mk_x_nan, FPR_EINVAL, "dataset 'x': sample 1 atom 3 coordinate 2 is NaN", 0},
    {"x_pinf", mk_x_pinf, FPR_EINVAL, "dataset 'x': sample 0 atom 7 coordinate 0 is +Inf", 0},
    {"x_ninf", mk_x_ninf, FPR_EINVAL, "dataset 'x': sample 1 atom 11 coordinate 1 is -Inf", 0},
    {"x_far", mk_x_far, FPR_EINVAL, "dataset 'x': sample 0 atom 2 coordinate 1 = 2.5e+06 is beyond the supported range", 0},
    {"restype_32", mk_restype_32, FPR_EINVAL, "dataset 'restype': index 3 has value 32, expected 0..31", 0},
    {"restype_negative", mk_restype_neg, FPR_EINVAL, "dataset 'restype': index 2 has value -1, expected 0..31", 0},
    {"restype_flag_mismatch", mk_restype_flag_mismatch, FPR_EINVAL, "dataset 'restype': standard token 1 has restype 21 (A) but flag is_protein", 0},
    {"flags_overlap", mk_flags_overlap, FPR_EINVAL, "token 0 has is_protein is_rna set together", 0},
    {"flag_not_01", mk_flag_not_01, FPR_EINVAL, "dataset 'is_atomized': index 4 has value 2, expected 0 or 1", 0},
    {"atom_mask_not_01", mk_mask_not_01, FPR_EINVAL, "dataset 'atom_mask': index 6 has value 3, expected 0 or 1", 0},
    {"not_integer", mk_not_integer, FPR_EINVAL, "dataset 'start_atom_index': index 2 has value 9.5, expected an integer", 0},
    {"index_beyond_int32", mk_index_beyond_int32, FPR_EINVAL, "dataset 'asym_id': index 4 has value 5e+09, expected an integer in int32 range", 0},
    {"num_negative", mk_num_negative, FPR_EINVAL, "dataset 'num_atoms_per_token': index 3 has value -1, expected >= 0", 0},
    {"start_negative", mk_start_negative, FPR_EINVAL, "dataset 'start_atom_index': index 2 has value -4, outside the atom array 0..11", 0},
    {"start_past_end", mk_start_past_end, FPR_EINVAL, "dataset 'start_atom_index': index 4 has value 12, outside the atom array 0..11", 0},
    {"range_past_end", mk_range_past_end, FPR_EINVAL, "token 4 covers atoms 11..13, past the end of the atom array (N_atom = 12)", 0},
    {"ranges_overlap", mk_ranges_overlap, FPR_EINVAL, "token 1 (atoms 3..6) overlaps token 0", 0},
    {"ranges_out_of_order", mk_ranges_out_of_order, FPR_EINVAL, "token 1 (atoms 0..3) overlaps token 0", 0},
    {"atomized_two_atoms", mk_atomized_two_atoms, FPR_EINVAL, "atomized token 3 has 2 atoms, expected exactly 1", 0},
    {"standard_too_few_atoms", mk_standard_too_few_atoms, FPR_EINVAL, "standard token 0 (ALA) has 2 atoms, too few for its frame atom at offset 2", 0},
};
#define N_CATALOGUE (sizeof catalogue / sizeof catalogue[0])

/* ------------------------------------------------------------------ the tests */
static void expect_fail(const bad_case *b, const char *path)
{
    fpr_set_max_memory(b->max_mem ? b->max_mem : GiB);
    fpr_clear_error();
    fpr_case *c = (fpr_case *)0x1;
    int rc = fpr_case_read(path, &c);
    const char *m = fpr_errmsg();
    /* the message names the file once, at its start */
    size_t np = strlen(path);
    int named = !strncmp(m, path, np) && m[np] == ':' && !strstr(m + np, path);
    if (rc != b->code || !strstr(m, b->msg) || !named) {
        fprintf(stderr, "[ bad case ] %s: rc %d (%s), expected %d (%s)\n  message:  %s\n"
                        "  expected: %s\n",
                b->name, rc, fpr_strerror(rc), b->code, fpr_strerror(b->code), m, b->msg);
        fail();
    }
    assert_null(c);
    fpr_set_max_memory(GiB);
}

static void test_catalogue(void **state)
{
    (void)state;
    char path[600];
    for (size_t i = 0; i < N_CATALOGUE; i++) {
        snprintf(path, sizeof path, "%s.h5", tu_tmp(catalogue[i].name));
        catalogue[i].make(path);
        expect_fail(&catalogue[i], path);
    }
}

/* Every message is its own: no two catalogue entries expect the same text, so a
 * check that fires for the wrong reason is caught. */
static void test_messages_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CATALOGUE; i++)
        for (size_t j = i + 1; j < N_CATALOGUE; j++)
            if (catalogue[i].make != catalogue[j].make && !strcmp(catalogue[i].msg, catalogue[j].msg) &&
                strncmp(catalogue[i].name, "huge", 4) && strncmp(catalogue[i].name, "empty", 5))
                fail_msg("%s and %s expect the same message", catalogue[i].name, catalogue[j].name);
}

/* The base case itself loads (so every failure above is the mutation's). */
static void test_base_is_valid(void **state)
{
    (void)state;
    const char *p = tu_tmp("valid.h5");
    mk_valid(p);
    fpr_case *c;
    assert_int_equal(fpr_case_read(p, &c), FPR_OK);
    assert_int_equal(c->S, BS);
    assert_int_equal(c->n_atom, BN);
    assert_int_equal(c->n_token, BT);
    fpr_case_free(c);
}

static void frames_equal(const fpr_frames *a, const fpr_frames *b)
{
    size_t n = (size_t)(a->S * a->n_token);
    assert_int_equal(a->S, b->S);
    assert_int_equal(a->n_token, b->n_token);
    assert_memory_equal(a->a_index, b->a_index, n * sizeof(int32_t));
    assert_memory_equal(a->c_index, b->c_index, n * sizeof(int32_t));
    assert_memory_equal(a->phi, b->phi, n * 9 * sizeof(float));
    assert_memory_equal(a->valid_frame_mask, b->valid_frame_mask, n);
}

/* Foreign encodings that must load and give the same frames: h5py bool enums,
 * int64 flags, and an OpenFold3-style feature dump (float32 0/1 masks and flags,
 * int64 indices, no root attributes). */
static void test_foreign_encodings_load(void **state)
{
    (void)state;
    tcase t;
    base_init(&t);
    t.atom_mask[10] = 0; /* some zeros, so the conversion is seen */
    t.token_mask[4] = 0;
    const char *ref = tu_tmp("enc_u8.h5");
    write_tcase_f(ref, &t, NULL, FL_U8, 1, 0);
    fpr_case *c0;
    assert_int_equal(fpr_case_read(ref, &c0), FPR_OK);
    fpr_frames *f0 = tu_run(c0, "exact_diff");
    const struct { const char *file; int flags, attrs, i64; } enc[] = {
        {"enc_bool.h5", FL_BOOL, 1, 0},
        {"enc_i64.h5", FL_I64, 1, 1},
        {"enc_openfold3.h5", FL_F32, 0, 1},
    };
    for (size_t k = 0; k < sizeof enc / sizeof enc[0]; k++) {
        const char *p = tu_tmp(enc[k].file);
        write_tcase_f(p, &t, NULL, enc[k].flags, enc[k].attrs, enc[k].i64);
        fpr_case *c;
        int rc = fpr_case_read(p, &c);
        if (rc)
            fail_msg("%s: %s", enc[k].file, fpr_errmsg());
        assert_memory_equal(c->atom_mask, c0->atom_mask, BN);
        assert_memory_equal(c->token_mask, c0->token_mask, BT);
        assert_memory_equal(c->is_atomized, c0->is_atomized, BT);
        assert_memory_equal(c->start_atom_index, c0->start_atom_index, BT * sizeof(int32_t));
        fpr_frames *f = tu_run(c, "exact_diff");
        frames_equal(f, f0);
        fpr_frames_free(f);
        fpr_case_free(c);
    }
    /* a float mask that is not 0/1 is refused by value */
    t.token_mask[4] = 1;
    const char *p = tu_tmp("enc_f32_half.h5");
    write_tcase_f(p, &t, NULL, FL_F32, 0, 1);
    hid_t f = h5_reopen(p);
    H5Ldelete(f, "atom_mask", H5P_DEFAULT);
    float m[BN];
    for (int a = 0; a < BN; a++)
        m[a] = a == 5 ? 0.5f : 1.0f;
    h5_ds1(f, "atom_mask", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, BN, m);
    H5Fclose(f);
    fpr_case *c;
    assert_int_equal(fpr_case_read(p, &c), FPR_EINVAL);
    assert_non_null(strstr(fpr_errmsg(), "dataset 'atom_mask': index 5 has value 0.5, expected 0 or 1"));
    fpr_frames_free(f0);
    fpr_case_free(c0);
}

/* A writer killed by SIGINT/SIGTERM half-way leaves no temporary file, and the
 * previous file at the final name stays intact. */
static void test_signal_leaves_nothing(void **state)
{
    (void)state;
    const int sigs[2] = {SIGINT, SIGTERM};
    for (int k = 0; k < 2; k++) {
        const char *out = tu_tmp(k ? "sig_term.h5" : "sig_int.h5");
        char keep[600];
        snprintf(keep, sizeof keep, "%s", out);
        mk_valid(keep); /* the previous result */
        struct stat st0;
        assert_int_equal(stat(keep, &st0), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* start writing the new result, then die by the signal half-way. A job
             * started in the background by a non-interactive shell inherits SIGINT as
             * ignored (POSIX), and the library only hooks signals left at the default:
             * restore the default so the test checks the same thing wherever it runs. */
            signal(sigs[k], SIG_DFL);
            fpr_h5_out o;
            if (fpr_h5_create(keep, &o) != FPR_OK)
                _exit(98);
            hsize_t n = 1000;
            static float junk[1000];
            fpr_h5_write(&o, "junk", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 1, &n, junk, 0);
            H5Fflush(o.f, H5F_SCOPE_GLOBAL);
            if (!tu_file_exists(o.tmp_path))
                _exit(97);
            raise(sigs[k]);
            _exit(99); /* not reached: the default action of the signal ends the child */
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), sigs[k]);
        char tmp[700];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", keep, (long)pid);
        assert_false(tu_file_exists(tmp));
        struct stat st1;
        assert_int_equal(stat(keep, &st1), 0);
        assert_int_equal(st1.st_size, st0.st_size);
        assert_int_equal(st1.st_mtime, st0.st_mtime);
        fpr_case *c;
        assert_int_equal(fpr_case_read(keep, &c), FPR_OK);
        fpr_case_free(c);
    }
}

/* ------------------------------------------------------------------ --write DIR */
static int write_catalogue(const char *dir)
{
    mkdir(dir, 0777);
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    FILE *m = fopen(path, "w");
    if (!m) {
        perror(path);
        return 1;
    }
    fprintf(m, "# generated by tests/test_badinput.c --write: name|code|expected message|max-memory\n");
    for (size_t i = 0; i < N_CATALOGUE; i++) {
        snprintf(path, sizeof path, "%s/%s.h5", dir, catalogue[i].name);
        unlink(path);
        catalogue[i].make(path);
        fprintf(m, "%s|%d|%s|%llu\n", catalogue[i].name, catalogue[i].code, catalogue[i].msg,
                (unsigned long long)catalogue[i].max_mem);
    }
    snprintf(path, sizeof path, "%s/valid.h5", dir);
    mk_valid(path);
    fclose(m);
    printf("wrote %zu bad case files and valid.h5 to %s\n", N_CATALOGUE, dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write"))
        return write_catalogue(argv[2]);
    fpr_set_max_memory(GiB);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_is_valid),
        cmocka_unit_test(test_catalogue),
        cmocka_unit_test(test_messages_distinct),
        cmocka_unit_test(test_foreign_encodings_load),
        cmocka_unit_test(test_signal_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
