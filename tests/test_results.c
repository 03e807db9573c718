/* test_results.c — run files written with the per-token arrays filtered ahead of the
 * write (fpr_results_pack: shuffle + deflate in the comparing thread, direct chunk
 * writes) hold what the HDF5 pipeline's own write gives: every dataset's values, its
 * layout, chunk shape and filters; each chunk no more than 5% larger than zlib's (the
 * compressor is libdeflate's, so the bytes differ), stored unfiltered (mask bit 1)
 * only where zlib could not shrink it by 5% either,
 * on arrays that are all zero, small (compact), compressible, incompressible (random
 * bytes: deflate output a little larger than the chunk) and chunked along S with a
 * partial last chunk. The truth's arrays of the run (fpr_results_pack_truth) likewise. */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "study/study.h"

static const char *const names[] = {"kind",     "cause",      "explained", "valid_flip",
                                    "flip_cause", "phi_change", "err_bound", "err_ulp",
                                    "degenerate", "tie_order",  "disp_a",    "disp_c"};

static const char *const truth_names[] = {"tie1", "tie2", "margin1", "margin2", "fragile_angle"};

/* A truth's frames with its per-token extras: small tie counts (compress), margins
 * (float noise), a sparse fragile flag. */
static fpr_frames *truth_frames(int64_t S, int64_t nt, uint64_t seed)
{
    tu_rng r = {seed};
    fpr_frames *f = NULL;
    assert_int_equal(fpr_frames_new(S, nt, 1, &f), FPR_OK);
    assert_non_null(f->tie1);
    for (int64_t i = 0; i < S * nt; i++) {
        f->tie1[i] = 1 + (int32_t)(i % 7 == 0);
        f->tie2[i] = 1;
        f->margin1[i] = tu_uniform_f(&r, 0, 1);
        f->margin2[i] = i % 3 ? NAN : tu_uniform_f(&r, 0, 1);
        f->fragile_angle[i] = i % 501 == 0;
    }
    return f;
}

static fpr_token_results *tokens(int64_t S, int64_t nt, uint64_t seed)
{
    tu_rng r = {seed};
    size_t n = (size_t)(S * nt);
    fpr_token_results *t = fpr_token_results_new(S, nt);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++) {
        t->kind[i] = i % 97 == 3 ? (uint8_t)(1 + i % 4) : 0;   /* sparse: compresses */
        t->cause[i] = (uint8_t)(tu_next(&r) >> 56);            /* random: deflate grows it */
        t->valid_flip[i] = i % 1000 == 1 ? -1 : 0;
        t->phi_change[i] = i % 5 ? 0.0f : tu_uniform_f(&r, 0, 3);
        t->err_bound[i] = tu_uniform_f(&r, 0, 1);
        t->err_ulp[i] = tu_uniform_f(&r, 0, 100);
        t->tie_order[i] = (uint8_t)(i % 3);
        t->disp_c[i] = tu_uniform_f(&r, 0, 9); /* float noise */
        /* explained, flip_cause, degenerate, disp_a stay zero: no storage */
    }
    return t;
}

/* Writes one run of two backends to path, with or without the filtered arrays. */
static void write_run(const char *path, fpr_token_results *t0, fpr_token_results *t1,
                      const fpr_frames *truth, int pack)
{
    static char version[] = "test", one[] = "one", two[] = "two", key[] = "case@all@0",
                cname[] = "case", mode[] = "all";
    fpr_study_results hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.version = version;
    fpr_study_backend b[2];
    memset(b, 0, sizeof b);
    b[0].name = one;
    b[1].name = two;
    fpr_metrics_init(&b[0].m);
    fpr_metrics_init(&b[1].m);
    fpr_study_run run;
    memset(&run, 0, sizeof run);
    run.key = key;
    run.case_name = cname;
    run.mode = mode;
    run.S = t0->S;
    run.n_token = run.n_atom = run.n_atomized = t0->n_token;
    run.nb = 2;
    run.b = b;
    fpr_run_writer *w = NULL;
    fpr_packed *tp = NULL;
    if (pack)
        assert_int_equal(fpr_results_pack_truth(truth, &tp), FPR_OK);
    assert_int_equal(fpr_results_run_open(path, &hdr, &run, truth, tp, &w), FPR_OK);
    fpr_packed_free(tp);
    fpr_token_results *t[2] = {t0, t1};
    for (int i = 0; i < 2; i++) {
        fpr_packed *p = NULL;
        if (pack)
            assert_int_equal(fpr_results_pack(t[i], &p), FPR_OK);
        assert_int_equal(fpr_results_run_backend(w, &b[i], t[i], p), FPR_OK);
        fpr_packed_free(p);
    }
    assert_int_equal(fpr_results_run_close(w), FPR_OK);
}

/* Every per-token dataset of both files: the same values, layout, chunks and filters. */
static void same_files(const char *a, const char *b, int64_t S, int64_t nt, int want_partial)
{
    hid_t fa = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT), fb = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fa >= 0 && fb >= 0);
    size_t n = (size_t)(S * nt);
    n *= 2; /* (room for the truth's doubles) */
    unsigned char *va = malloc(n * 4), *vb = malloc(n * 4);
    int chunked = 0, unfiltered = 0, deflated = 0;
    const size_t nn = sizeof names / sizeof names[0], nt5 = sizeof truth_names / sizeof truth_names[0];
    for (int g = 0; g < 3; g++)
        for (size_t k = 0; k < (g < 2 ? nn : nt5); k++) {
            char p[128];
            if (g < 2)
                snprintf(p, sizeof p, "/runs/case@all@0/%s/%s", g ? "two" : "one", names[k]);
            else /* the truth's, in the run's group */
                snprintf(p, sizeof p, "/runs/case@all@0/%s", truth_names[k]);
            hid_t da = H5Dopen2(fa, p, H5P_DEFAULT), db = H5Dopen2(fb, p, H5P_DEFAULT);
            assert_true(da >= 0 && db >= 0);
            hid_t ta = H5Dget_type(da);
            size_t el = H5Tget_size(ta);
            const size_t nv = (size_t)(S * nt);
            memset(va, 0x55, nv * el);
            memset(vb, 0xaa, nv * el);
            assert_true(H5Dread(da, ta, H5S_ALL, H5S_ALL, H5P_DEFAULT, va) >= 0);
            assert_true(H5Dread(db, ta, H5S_ALL, H5S_ALL, H5P_DEFAULT, vb) >= 0);
            if (memcmp(va, vb, nv * el))
                fail_msg("%s: the values differ", p);
            hid_t pa = H5Dget_create_plist(da), pb = H5Dget_create_plist(db);
            assert_int_equal(H5Pget_layout(pa), H5Pget_layout(pb));
            assert_int_equal(H5Pget_nfilters(pa), H5Pget_nfilters(pb));
            if (H5Pget_layout(pa) == H5D_CHUNKED) {
                hsize_t ca[2], cb[2];
                assert_int_equal(H5Pget_chunk(pa, 2, ca), 2);
                assert_int_equal(H5Pget_chunk(pb, 2, cb), 2);
                assert_true(ca[0] == cb[0] && ca[1] == cb[1]);
                chunked += ca[0] < (hsize_t)S && S % (int64_t)ca[0] != 0; /* a partial chunk */
                const hsize_t chunk_bytes = ca[0] * ca[1] * el;
                hsize_t nch = 0;
                hid_t sp = H5Dget_space(db);
                assert_true(H5Dget_num_chunks(db, sp, &nch) >= 0);
                for (hsize_t c = 0; c < nch; c++) {
                    unsigned ma = 0, mb = 0;
                    haddr_t ad;
                    hsize_t sza = 0, szb = 0, off[2];
                    assert_true(H5Dget_chunk_info(da, sp, c, off, &ma, &ad, &sza) >= 0);
                    assert_true(H5Dget_chunk_info(db, sp, c, off, &mb, &ad, &szb) >= 0);
                    int size_ok = szb <= sza + sza / 20 + 64;
                    int mask_ok = mb == 0 || (mb == 2u && szb == chunk_bytes &&
                                              sza >= chunk_bytes - chunk_bytes / 20);
                    unfiltered += mb == 2u;
                    deflated += mb == 0;
                    if (!size_ok || !mask_ok)
                        fail_msg("%s chunk %llu: mask %u/%u, %llu/%llu bytes", p,
                                 (unsigned long long)c, ma, mb, (unsigned long long)sza,
                                 (unsigned long long)szb);
                }
                H5Sclose(sp);
            }
            H5Pclose(pa);
            H5Pclose(pb);
            H5Tclose(ta);
            H5Dclose(da);
            H5Dclose(db);
        }
    free(va);
    free(vb);
    H5Fclose(fa);
    H5Fclose(fb);
    if (want_partial) { /* the cases the test is for were met */
        assert_true(chunked > 0);
        assert_true(unfiltered > 0 && deflated > 0);
    }
}

static void test_packed_equals_pipeline(void **state)
{
    (void)state;
    const int64_t sizes[][2] = {{7, 100000}, {1, 3000}, {2, 70000}};
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        int64_t S = sizes[z][0], nt = sizes[z][1];
        fpr_token_results *t0 = tokens(S, nt, 1 + z), *t1 = tokens(S, nt, 100 + z);
        fpr_frames *tr = truth_frames(S, nt, 200 + z);
        memset(t1->kind, 0, (size_t)(S * nt)); /* all zero in one, not the other */
        char a[512], b[512]; /* tu_tmp's buffer is reused by the next call */
        snprintf(a, sizeof a, "%s", tu_tmp("pipeline.h5"));
        snprintf(b, sizeof b, "%s", tu_tmp("packed.h5"));
        assert_string_not_equal(a, b);
        write_run(a, t0, t1, tr, 0);
        write_run(b, t0, t1, tr, 1);
        same_files(a, b, S, nt, z == 0);
        fpr_frames_free(tr);
        fpr_token_results_free(t0);
        fpr_token_results_free(t1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_equals_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
