/* test_io.c — case and frames files: round trips, type conversion on read,
 * atomic writes, validation messages (SPEC §7, §8). */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/gen.h"
#include "testutil.h"

static fpr_case *small_protein(void)
{
    fpr_gen_opts o;
    fpr_gen_opts_init(&o);
    o.atoms = 200;
    o.ligand_atoms = 10;
    o.samples = 2;
    fpr_case *c = NULL;
    assert_int_equal(fpr_gen_protein(&o, &c), FPR_OK);
    return c;
}

static void assert_cases_equal(const fpr_case *a, const fpr_case *b)
{
    assert_int_equal(a->S, b->S);
    assert_int_equal(a->n_atom, b->n_atom);
    assert_int_equal(a->n_token, b->n_token);
    size_t na = (size_t)a->n_atom, nt = (size_t)a->n_token;
    assert_memory_equal(a->x, b->x, (size_t)a->S * na * 12);
    assert_memory_equal(a->atom_mask, b->atom_mask, na);
    assert_memory_equal(a->restype, b->restype, nt * 4);
    assert_memory_equal(a->asym_id, b->asym_id, nt * 4);
    assert_memory_equal(a->start_atom_index, b->start_atom_index, nt * 4);
    assert_memory_equal(a->num_atoms_per_token, b->num_atoms_per_token, nt * 4);
    assert_memory_equal(a->is_protein, b->is_protein, nt);
    assert_memory_equal(a->is_rna, b->is_rna, nt);
    assert_memory_equal(a->is_dna, b->is_dna, nt);
    assert_memory_equal(a->is_atomized, b->is_atomized, nt);
    assert_memory_equal(a->token_mask, b->token_mask, nt);
    assert_true(a->eps == b->eps && a->inf == b->inf && a->angle_threshold == b->angle_threshold);
}

static void test_case_roundtrip(void **state)
{
    (void)state;
    fpr_case *c = small_protein();
    const char *p = tu_tmp("rt.h5");
    for (int compress = 0; compress <= 4; compress += 4) {
        assert_int_equal(fpr_case_write(c, p, compress), FPR_OK);
        fpr_case *d = NULL;
        assert_int_equal(fpr_case_read(p, &d), FPR_OK);
        assert_cases_equal(c, d);
        assert_string_equal(c->name, d->name);
        assert_string_equal(c->source, d->source);
        assert_non_null(d->atom_name);
        assert_string_equal(d->atom_name[1], "CA");
        assert_string_equal(d->res_name[0], c->res_name[0]);
        assert_string_equal(d->chain_label[0], c->chain_label[0]);
        fpr_case_free(d);
    }
    fpr_case_free(c);
}

static void test_frames_roundtrip(void **state)
{
    (void)state;
    fpr_case *c = small_protein();
    fpr_frames *f = tu_run(c, "exact_diff");
    const char *p = tu_tmp("frames.h5");
    assert_int_equal(fpr_frames_write(f, p), FPR_OK);
    fpr_frames *g = NULL;
    assert_int_equal(fpr_frames_read(p, &g), FPR_OK);
    size_t n = (size_t)(f->S * f->n_token);
    assert_int_equal(g->S, f->S);
    assert_memory_equal(g->a_index, f->a_index, n * 4);
    assert_memory_equal(g->b_index, f->b_index, n * 4);
    assert_memory_equal(g->c_index, f->c_index, n * 4);
    assert_memory_equal(g->phi, f->phi, n * 36);
    assert_memory_equal(g->valid_frame_mask, f->valid_frame_mask, n);
    for (size_t k = 0; k < n * 3; k++)
        assert_true(g->top_value[k] == f->top_value[k] ||
                    (isnan(g->top_value[k]) && isnan(f->top_value[k])));
    assert_string_equal(g->backend, "exact_diff");
    fpr_frames_free(g);
    fpr_frames_free(f);
    fpr_case_free(c);
}

/* Writes a dataset with an arbitrary file type from doubles. */
static void put(hid_t f, const char *name, hid_t ftype, int rank, const hsize_t *dims,
                const double *v)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
}

/* An OpenFold3-style dump: float64 coordinates, float32 masks and flags, int64 ids,
 * no root attributes, x of rank 2 (one sample). */
static void write_foreign(const char *path, double mask_value)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    double x[4 * 3] = {0, 0, 0, 1.5, 0, 0, 0, 1.6, 0, 3, 3, 3};
    hsize_t dx[2] = {4, 3}, d4[1] = {4};
    put(f, "x", H5T_IEEE_F64LE, 2, dx, x);
    double one[4] = {1, 1, 1, mask_value}, zero[4] = {0, 0, 0, 0}, idx[4] = {0, 1, 2, 3},
           cnt[4] = {1, 1, 1, 1}, unk[4] = {20, 20, 20, 20}, asym[4] = {5, 5, 5, 5};
    put(f, "atom_mask", H5T_IEEE_F32LE, 1, d4, one);
    put(f, "restype", H5T_STD_I64LE, 1, d4, unk);
    put(f, "asym_id", H5T_STD_I64LE, 1, d4, asym);
    put(f, "start_atom_index", H5T_STD_I64LE, 1, d4, idx);
    put(f, "num_atoms_per_token", H5T_STD_I64LE, 1, d4, cnt);
    put(f, "is_protein", H5T_IEEE_F32LE, 1, d4, zero);
    put(f, "is_rna", H5T_IEEE_F32LE, 1, d4, zero);
    put(f, "is_dna", H5T_IEEE_F32LE, 1, d4, zero);
    put(f, "is_atomized", H5T_IEEE_F32LE, 1, d4, one);
    put(f, "token_mask", H5T_STD_U16LE, 1, d4, one);
    H5Fclose(f);
}

static void test_foreign_types(void **state)
{
    (void)state;
    const char *p = tu_tmp("foreign.h5");
    write_foreign(p, 1.0);
    fpr_case *c = NULL;
    int rc = fpr_case_read(p, &c);
    if (rc)
        fail_msg("%s", fpr_errmsg());
    assert_int_equal(c->S, 1);
    assert_int_equal(c->n_atom, 4);
    assert_true(c->x[3] == 1.5f);
    assert_int_equal(c->asym_id[2], 5);
    assert_int_equal(c->is_atomized[3], 1);
    assert_string_equal(c->name, "foreign");
    fpr_frames *f = tu_run(c, "exact_diff");
    assert_int_equal(f->a_index[0], 1);
    assert_int_equal(f->c_index[0], 2);
    fpr_frames_free(f);
    fpr_case_free(c);
    /* a mask of 0.5 is refused, naming the dataset and the index */
    write_foreign(p, 0.5);
    assert_int_equal(fpr_case_read(p, &c), FPR_EINVAL);
    assert_null(c);
    assert_non_null(strstr(fpr_errmsg(), "'atom_mask'"));
    assert_non_null(strstr(fpr_errmsg(), "index 3"));
    assert_non_null(strstr(fpr_errmsg(), "foreign.h5"));
}

static void test_missing_file_and_dataset(void **state)
{
    (void)state;
    fpr_case *c = NULL;
    assert_int_equal(fpr_case_read(tu_tmp("nope.h5"), &c), FPR_EIO);
    const char *p = tu_tmp("partial.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    double x[3] = {0, 0, 0};
    hsize_t dx[3] = {1, 1, 3};
    put(f, "x", H5T_IEEE_F32LE, 3, dx, x);
    H5Fclose(f);
    assert_int_equal(fpr_case_read(p, &c), FPR_EFORMAT);
    assert_non_null(strstr(fpr_errmsg(), "dataset 'restype' is missing"));
}

/* A failed write leaves neither the target nor a temporary file. */
static void test_atomic_write(void **state)
{
    (void)state;
    fpr_case *c = small_protein();
    assert_int_not_equal(fpr_case_write(c, "/nonexistent-dir/x.h5", 0), FPR_OK);
    assert_non_null(strstr(fpr_errmsg(), "/nonexistent-dir/x.h5"));
    const char *p = tu_tmp("atomic.h5");
    assert_int_equal(fpr_case_write(c, p, 0), FPR_OK);
    char tmpname[600];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", p, (long)getpid());
    assert_false(tu_file_exists(tmpname));
    assert_true(tu_file_exists(p));
    fpr_case_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_roundtrip),
        cmocka_unit_test(test_frames_roundtrip),
        cmocka_unit_test(test_foreign_types),
        cmocka_unit_test(test_missing_file_and_dataset),
        cmocka_unit_test(test_atomic_write),
    };
    return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
