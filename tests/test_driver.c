/* test_driver.c — every rule of SPEC §2 with hand-checked expectations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"
#include "internal.h"
#include "testutil.h"

static void set_atom(fpr_case *c, int64_t s, int64_t i, float x, float y, float z)
{
    float *p = c->x + ((size_t)s * (size_t)c->n_atom + (size_t)i) * 3;
    p[0] = x;
    p[1] = y;
    p[2] = z;
}

static int64_t at(const fpr_frames *f, int64_t s, int64_t t) { return s * f->n_token + t; }

/* Standard tokens: protein N/CA/C offsets, RNA C1' at 11, DNA C1' at 10. */
static fpr_case *standard_case(void)
{
    /* tokens: ALA (5 atoms), A (22), DA (21), UNK (6), N (12), DN (11), GLY(4) */
    static const int types[] = {0, 21, 26, 20, 25, 30, 7};
    int64_t na = 0;
    for (int k = 0; k < 7; k++) {
        const char *const *a = fpr_restype_atoms(types[k]);
        while (*a++)
            na++;
    }
    fpr_case *c = NULL;
    assert_int_equal(fpr_case_new(1, na, 7, &c), FPR_OK);
    int64_t st = 0;
    for (int k = 0; k < 7; k++) {
        int n = 0;
        while (fpr_restype_atoms(types[k])[n])
            n++;
        c->restype[k] = types[k];
        c->asym_id[k] = 1;
        c->start_atom_index[k] = (int32_t)st;
        c->num_atoms_per_token[k] = n;
        int cls = fpr_restype_class(types[k]);
        c->is_protein[k] = cls == 1;
        c->is_rna[k] = cls == 2;
        c->is_dna[k] = cls == 3;
        c->token_mask[k] = 1;
        st += n;
    }
    for (int64_t i = 0; i < na; i++) {
        c->atom_mask[i] = 1;
        set_atom(c, 0, i, (float)i, (float)(i % 3), 0.5f * (float)(i % 2));
    }
    return c;
}

static void test_standard_offsets(void **state)
{
    (void)state;
    fpr_case *c = standard_case();
    assert_int_equal(fpr_case_validate(c, NULL), FPR_OK);
    fpr_frames *f = tu_run(c, "exact_diff");
    int32_t s;
    /* ALA at 0: N=0 CA=1 C=2 */
    assert_int_equal(f->a_index[0], 0);
    assert_int_equal(f->b_index[0], 1);
    assert_int_equal(f->c_index[0], 2);
    assert_int_equal(f->valid_frame_mask[0], 1);
    /* RNA A at 5: C3'=7, C1'=11, C4'=5 */
    s = c->start_atom_index[1];
    assert_int_equal(f->a_index[1], s + 7);
    assert_int_equal(f->b_index[1], s + 11);
    assert_int_equal(f->c_index[1], s + 5);
    /* DNA DA: C1' = 10 */
    s = c->start_atom_index[2];
    assert_int_equal(f->a_index[2], s + 7);
    assert_int_equal(f->b_index[2], s + 10);
    assert_int_equal(f->c_index[2], s + 5);
    /* UNK is a protein type, N and DN keep the backbone offsets */
    s = c->start_atom_index[3];
    assert_int_equal(f->b_index[3], s + 1);
    s = c->start_atom_index[4];
    assert_int_equal(f->b_index[4], s + 11);
    s = c->start_atom_index[5];
    assert_int_equal(f->b_index[5], s + 10);
    s = c->start_atom_index[6];
    assert_int_equal(f->c_index[6], s + 2);
    for (int t = 0; t < 7; t++) {
        assert_int_equal(f->valid_frame_mask[t], 1);
        /* phi holds the coordinates of a, b, c */
        for (int w = 0; w < 3; w++) {
            int32_t idx = w == 0 ? f->a_index[t] : w == 1 ? f->b_index[t] : f->c_index[t];
            assert_memory_equal(&f->phi[t * 9 + w * 3], &c->x[idx * 3], 3 * sizeof(float));
        }
    }
    fpr_frames_free(f);
    fpr_case_free(c);
}

static void test_gap_masked_missing(void **state)
{
    (void)state;
    fpr_case *c = standard_case();
    /* token 0 (ALA) loses its CA: invalid, indices unchanged */
    c->atom_mask[1] = 0;
    /* token 3 (UNK) becomes a masked token: offsets 0, invalid */
    c->token_mask[3] = 0;
    /* token 6 becomes GAP with no flags: index 0, invalid */
    c->restype[6] = FPR_RESTYPE_GAP;
    c->is_protein[6] = 0;
    assert_int_equal(fpr_case_validate(c, NULL), FPR_OK);
    fpr_frames *f = tu_run(c, "exact_diff");
    assert_int_equal(f->b_index[0], 1);
    assert_int_equal(f->valid_frame_mask[0], 0);
    int32_t s3 = c->start_atom_index[3];
    assert_int_equal(f->a_index[3], s3);
    assert_int_equal(f->b_index[3], s3);
    assert_int_equal(f->c_index[3], s3);
    assert_int_equal(f->valid_frame_mask[3], 0);
    assert_int_equal(f->a_index[6], 0);
    assert_int_equal(f->b_index[6], 0);
    assert_int_equal(f->c_index[6], 0);
    assert_int_equal(f->valid_frame_mask[6], 0);
    assert_int_equal(f->valid_frame_mask[1], 1);
    fpr_frames_free(f);
    fpr_case_free(c);
}

/* The generated ligands: frames known by construction (see src/gen/gen.h). */
static void test_ligand_situations(void **state)
{
    (void)state;
    fpr_gen_opts o;
    fpr_gen_opts_init(&o);
    fpr_case *c = NULL;
    assert_int_equal(fpr_gen_ligands(&o, &c), FPR_OK);
    static const char *const backends[] = {"exact_diff", "fp64"};
    for (int k = 0; k < 2; k++) {
        fpr_frames *f = tu_run(c, backends[k]);
        static const int32_t ea[] = {1, 0, 0, 4, 3, 4, 7, 6, 0, 10, 10, 9};
        static const int32_t ec[] = {2, 2, 1, 5, 5, 3, 0, 0, 1, 11, 11, 10};
        static const uint8_t ev[] = {1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0};
        for (int t = 0; t < 12; t++) {
            assert_int_equal(f->b_index[t], t);
            assert_int_equal(f->a_index[t], ea[t]);
            assert_int_equal(f->c_index[t], ec[t]);
            assert_int_equal(f->valid_frame_mask[t], ev[t]);
        }
        /* the ALA token */
        assert_int_equal(f->b_index[12], 13);
        assert_int_equal(f->valid_frame_mask[12], 1);
        /* filler values are inf */
        assert_true(f->top_value[8 * 3 + 1] == (k == 0 ? (double)(float)1e9 : 1e9));
        fpr_frames_free(f);
    }
    fpr_case_free(c);
}

/* Rows with fewer than three candidates take the smallest non-paired indices. */
static void test_fillers(void **state)
{
    (void)state;
    fpr_case *c = tu_atomized_case(1, 6, 1);
    c->asym_id[3] = c->asym_id[4] = c->asym_id[5] = 2;
    c->atom_mask[5] = 0;
    for (int i = 0; i < 6; i++)
        set_atom(c, 0, i, (float)i, 0, 0);
    assert_int_equal(fpr_case_validate(c, NULL), FPR_OK);
    fpr_frames *f = tu_run(c, "exact_diff");
    /* row 3: chain 2 has present atoms 3, 4: closest = 3, 4, then filler 0 */
    assert_int_equal(f->a_index[3], 4);
    assert_int_equal(f->c_index[3], 0);
    assert_int_equal(f->valid_frame_mask[3], 0);
    /* row 5: its atom is absent: everything is a filler: 0, 1, 2 */
    assert_int_equal(f->a_index[5], 1);
    assert_int_equal(f->c_index[5], 2);
    assert_int_equal(f->valid_frame_mask[5], 0);
    fpr_frames_free(f);
    /* the truth agrees, and a row without candidates has undefined margins */
    f = tu_run(c, "truth");
    assert_int_equal(f->a_index[3], 4);
    assert_int_equal(f->c_index[5], 2);
    assert_true(isnan(f->margin1[5]) && isnan(f->margin2[5]));
    assert_int_equal(f->tie1[5], 0);
    fpr_frames_free(f);
    fpr_case_free(c);
}

/* Exact ties: a square lattice; equal values keep the smaller index. */
static void test_tie_rule(void **state)
{
    (void)state;
    fpr_case *c = tu_atomized_case(1, 5, 1);
    /* centre 0 with four neighbours at distance 1 (indices 1..4) */
    set_atom(c, 0, 0, 0, 0, 0);
    set_atom(c, 0, 1, 1, 0, 0);
    set_atom(c, 0, 2, -1, 0, 0);
    set_atom(c, 0, 3, 0, 1, 0);
    set_atom(c, 0, 4, 0, -1, 0);
    fpr_frames *f = tu_run(c, "exact_diff");
    assert_int_equal(f->a_index[0], 1);
    assert_int_equal(f->c_index[0], 2);
    assert_int_equal(f->valid_frame_mask[0], 0); /* 1 and 2 are colinear through 0 */
    fpr_frames_free(f);
    /* reorder the ties: the rule follows indices, not insertion */
    set_atom(c, 0, 1, 0, 1, 0);
    set_atom(c, 0, 3, 1, 0, 0);
    f = tu_run(c, "fp64");
    assert_int_equal(f->a_index[0], 1);
    assert_int_equal(f->c_index[0], 2);
    assert_int_equal(f->valid_frame_mask[0], 1); /* 90 degrees */
    fpr_frames_free(f);
    fpr_case_free(c);
}

static float f32_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* fpr_sqrt_limits_f32: sqrtf(s) <= v exactly up to hi, sqrtf(s) >= v exactly from lo,
 * for v across every exponent (zero, subnormals, FLT_MAX, +inf, random patterns). */
static void test_sqrt_limits(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int64_t checked = 0;
    for (int k = 0; k < 400000; k++) {
        uint32_t u;
        if (k < 4)
            u = k == 0 ? 0u : k == 1 ? 1u : k == 2 ? 0x7f7fffffu : 0x7f800000u;
        else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            u = (uint32_t)(x >> 33) % 0x7f800000u;
        }
        float v = f32_of(u), lo, hi;
        fpr_sqrt_limits_f32(v, &lo, &hi);
        uint32_t ul, uh;
        memcpy(&ul, &lo, 4);
        memcpy(&uh, &hi, 4);
        assert_true(sqrtf(hi) <= v && sqrtf(lo) >= v);
        if (uh < 0x7f800000u)
            assert_true(sqrtf(f32_of(uh + 1)) > v);
        if (ul > 0)
            assert_true(sqrtf(f32_of(ul - 1)) < v);
        checked++;
    }
    /* whole ranges: two binades around 1 (a power of two inside), the smallest
     * subnormals, the normal/subnormal boundary, the top of the range */
    static const uint32_t ranges[][2] = {{0x3f000000u, 0x40000000u}, {0x00000001u, 0x00010000u},
                                         {0x007f0000u, 0x00810000u}, {0x7f7f0000u, 0x7f800000u}};
    for (size_t g = 0; g < sizeof ranges / sizeof ranges[0]; g++)
        for (uint32_t u = ranges[g][0]; u < ranges[g][1]; u++) {
            float v = f32_of(u), lo, hi;
            fpr_sqrt_limits_f32(v, &lo, &hi);
            uint32_t ul, uh;
            memcpy(&ul, &lo, 4);
            memcpy(&uh, &hi, 4);
            if (!(sqrtf(hi) <= v && sqrtf(lo) >= v) ||
                (uh < 0x7f800000u && !(sqrtf(f32_of(uh + 1)) > v)) ||
                (ul > 0 && !(sqrtf(f32_of(ul - 1)) < v)))
                fail_msg("sqrt limits of %a: lo %a hi %a", (double)v, (double)lo, (double)hi);
            checked++;
        }
    printf("# sqrt limits checked for %lld values\n", (long long)checked);
}

/* The scan of sums (eval_sq_f32 backends) against the scan of their sqrtf values: the
 * same top-3 and count of ties at the third, on sums with bulk zeros, equal-sqrt runs
 * and random values, from every starting state of the running top-3. */
static void test_scan_sq(void **state)
{
    (void)state;
    enum { N = 1000 };
    float s[N], v[N];
    int32_t idx[N];
    uint64_t x = 0x243f6a8885a308d3ull;
    int64_t ties = 0;
    for (int trial = 0; trial < 3000; trial++) {
        int kind = trial % 4;
        for (int j = 0; j < N; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint32_t r = (uint32_t)(x >> 32);
            float f;
            if (kind == 0) /* clamped zeros in bulk, some small values */
                f = r % 3 ? 0.0f : (float)(r % 1000) * 0x1p-20f;
            else if (kind == 1) /* neighbours of a few squares: many equal sqrtf */
                f = f32_of(0x40800000u + (r % 5) * 0x100000u + (r >> 29) - 4);
            else if (kind == 2)
                f = (float)(r % 100000) * 0.01f;
            else
                f = r % 50 == 0 ? INFINITY : f32_of(r % 0x7f800000u);
            s[j] = f;
            v[j] = sqrtf(f);
            idx[j] = trial % 2 ? j : N - j; /* ascending, or not (the grid's cell order) */
        }
        fpr_top3 a, b;
        fpr_top3_init(&a);
        fpr_top3_init(&b);
        for (int off = 0; off < N; off += 137) { /* offered in pieces, like the blocks */
            int n = N - off < 137 ? N - off : 137;
            fpr_top3_scan_f32(&a, v + off, idx + off, n);
            fpr_top3_scan_sq_f32(&b, s + off, idx + off, n);
        }
        assert_int_equal(a.n, b.n);
        assert_int_equal(a.eq3, b.eq3);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(a.idx[k], b.idx[k]);
            assert_true(a.val[k] == b.val[k]);
        }
        ties += a.eq3 > 0;
    }
    assert_true(ties > 100); /* the bulk-tie path was exercised */
    printf("# scan of sums = scan of values on 3000 rows, %lld with ties at the third\n",
           (long long)ties);
}

/* The angle bounds are strict: exactly colinear within eps fails both ways. */
static void test_angle_stages(void **state)
{
    (void)state;
    float b[3] = {0, 0, 0}, a[3] = {1, 0, 0};
    double th = 25.0;
    for (int deg = 0; deg <= 180; deg += 5) {
        float c[3] = {(float)cos(deg * 3.141592653589793 / 180), (float)sin(deg * 3.141592653589793 / 180), 0};
        int want = deg > 25 && deg < 155;
        if (deg == 25 || deg == 155)
            continue; /* decided by rounding; exact tests live in test_truth */
        assert_int_equal(fpr_angle_valid_f32(a, b, c, 1e-8, th), want);
        assert_int_equal(fpr_angle_valid_f64(a, b, c, 1e-8, th), want);
    }
    /* zero-length vector: cos = 0, valid (the duplicate-atom frame) */
    assert_int_equal(fpr_angle_valid_f32(b, b, a, 1e-8, th), 1);
}

/* The chain walk ignores start_atom_index and skips masked tokens. */
static void test_chain_walk(void **state)
{
    (void)state;
    fpr_case *c = tu_atomized_case(1, 6, 7);
    c->asym_id[0] = 1;
    c->asym_id[1] = 2;
    c->token_mask[1] = 0; /* skipped: atom 1 takes the next token's chain */
    c->asym_id[2] = 3;
    c->num_atoms_per_token[1] = 1;
    int32_t *ch = NULL;
    assert_int_equal(fpr_atom_chains(c, &ch), FPR_OK);
    assert_int_equal(ch[0], 1);
    assert_int_equal(ch[1], 3);
    assert_int_equal(ch[2], 7);
    assert_int_equal(ch[4], 7);
    assert_int_equal(ch[5], 0); /* leftover atom */
    free(ch);
    fpr_case_free(c);
}

/* S > 1: each sample is searched with its own coordinates. */
static void test_samples(void **state)
{
    (void)state;
    fpr_case *c = tu_atomized_case(2, 4, 1);
    float p0[4][3] = {{0, 0, 0}, {1, 0, 0}, {0, 2, 0}, {0, 0, 3}};
    float p1[4][3] = {{0, 0, 0}, {0, 0, 3}, {0, 2, 0}, {1, 0, 0}};
    for (int i = 0; i < 4; i++) {
        set_atom(c, 0, i, p0[i][0], p0[i][1], p0[i][2]);
        set_atom(c, 1, i, p1[i][0], p1[i][1], p1[i][2]);
    }
    fpr_frames *f = tu_run(c, "exact_diff");
    assert_int_equal(f->a_index[at(f, 0, 0)], 1);
    assert_int_equal(f->c_index[at(f, 0, 0)], 2);
    assert_int_equal(f->a_index[at(f, 1, 0)], 3);
    assert_int_equal(f->c_index[at(f, 1, 0)], 2);
    fpr_frames_free(f);
    fpr_case_free(c);
}

/* A generated all-atomized protein of `atoms` atoms in `chains` chains (seed: tu_seed). */
static fpr_case *all_atomized_protein(int64_t atoms, int chains, uint64_t seed)
{
    fpr_gen_opts o;
    fpr_gen_opts_init(&o);
    o.atoms = atoms;
    o.chains = chains;
    o.atomize_all = 1;
    o.seed = tu_seed(seed);
    fpr_case *c = NULL;
    assert_int_equal(fpr_gen_protein(&o, &c), FPR_OK);
    return c;
}

/* A 1000 Å translation keeps every fp64 pick of a generated protein whose
 * coordinates sit on a 2^-10 Å grid (so the translated float32 inputs are exact and
 * the structure is truly the same), and threads give identical results. */
static void test_translation_and_threads(void **state)
{
    (void)state;
    fpr_case *c = all_atomized_protein(3000, 2, 7);
    for (int64_t k = 0; k < c->S * c->n_atom * 3; k++)
        c->x[k] = roundf(c->x[k] * 1024.0f) / 1024.0f; /* exact: |x| < 2^13 */
    fpr_case *d = NULL;
    assert_int_equal(fpr_case_clone(c, &d), FPR_OK);
    fpr_case_translate(d, 1000.0);
    for (int64_t k = 0; k < c->S * c->n_atom * 3; k++)
        assert_true((double)d->x[k] - 1000.0 == (double)c->x[k]);
    const fpr_backend *b = fpr_backend_find("fp64");
    fpr_run_opts ro;
    fpr_run_opts_init(&ro);
    fpr_frames *f0, *f1, *f2;
    assert_int_equal(fpr_frames_compute(c, b, &ro, &f0), FPR_OK);
    assert_int_equal(fpr_frames_compute(d, b, &ro, &f1), FPR_OK);
    int64_t n = f0->S * f0->n_token;
    assert_memory_equal(f0->a_index, f1->a_index, (size_t)n * 4);
    assert_memory_equal(f0->c_index, f1->c_index, (size_t)n * 4);
    assert_memory_equal(f0->valid_frame_mask, f1->valid_frame_mask, (size_t)n);
    ro.jobs = 2;
    assert_int_equal(fpr_frames_compute(c, fpr_backend_find("exact_diff"), &ro, &f2), FPR_OK);
    fpr_frames *f3;
    ro.jobs = 1;
    assert_int_equal(fpr_frames_compute(c, fpr_backend_find("exact_diff"), &ro, &f3), FPR_OK);
    assert_memory_equal(f2->a_index, f3->a_index, (size_t)n * 4);
    assert_memory_equal(f2->c_index, f3->c_index, (size_t)n * 4);
    assert_memory_equal(f2->phi, f3->phi, (size_t)n * 36);
    assert_memory_equal(f2->valid_frame_mask, f3->valid_frame_mask, (size_t)n);
    fpr_frames_free(f0);
    fpr_frames_free(f1);
    fpr_frames_free(f2);
    fpr_frames_free(f3);
    fpr_case_free(d);
    fpr_case_free(c);
}

/* A caller's chains (fpr_run_opts.chains) give the frames the driver's own give, also
 * with the per-chain steps in parallel (several chains, > 8192 atoms, 2 threads); the
 * chains of another case are refused. */
static void test_given_chains(void **state)
{
    (void)state;
    fpr_case *c = all_atomized_protein(12000, 3, 23), *d = NULL;
    assert_int_equal(fpr_case_clone(c, &d), FPR_OK);
    fpr_chains ch, chd;
    assert_int_equal(fpr_chains_build(c, &ch), FPR_OK);
    assert_int_equal(fpr_chains_build(d, &chd), FPR_OK);
    assert_true(ch.n_chains >= 3);
    static const char *const names[] = {"exact_diff", "matmul_tf32", "truth"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const fpr_backend *b = fpr_backend_find(names[k]);
        fpr_run_opts ro;
        fpr_run_opts_init(&ro);
        fpr_frames *f0 = NULL, *f1 = NULL, *bad = NULL;
        assert_int_equal(fpr_frames_compute(c, b, &ro, &f0), FPR_OK);
        ro.jobs = 2;
        ro.chains = &ch;
        assert_int_equal(fpr_frames_compute(c, b, &ro, &f1), FPR_OK);
        int64_t n = f0->S * f0->n_token;
        assert_memory_equal(f0->a_index, f1->a_index, (size_t)n * 4);
        assert_memory_equal(f0->b_index, f1->b_index, (size_t)n * 4);
        assert_memory_equal(f0->c_index, f1->c_index, (size_t)n * 4);
        assert_memory_equal(f0->top_value, f1->top_value, (size_t)n * 3 * sizeof(double));
        assert_memory_equal(f0->tie3, f1->tie3, (size_t)n * 4);
        assert_memory_equal(f0->phi, f1->phi, (size_t)n * 36);
        assert_memory_equal(f0->valid_frame_mask, f1->valid_frame_mask, (size_t)n);
        ro.chains = &chd; /* the same content, another case object: refused */
        assert_int_equal(fpr_frames_compute(c, b, &ro, &bad), FPR_EINTERNAL);
        assert_null(bad);
        fpr_frames_free(f0);
        fpr_frames_free(f1);
    }
    fpr_chains_free(&ch);
    fpr_chains_free(&chd);
    fpr_case_free(d);
    fpr_case_free(c);
}

/* Against a brute-force full N x N reference of SPEC §2 on small random cases. */
static void test_brute_force(void **state)
{
    (void)state;
    tu_rng r = {tu_seed(11)};
    for (int rep = 0; rep < 20; rep++) {
        int64_t n = 3 + (int64_t)(tu_next(&r) % 60);
        fpr_case *c = tu_atomized_case(1, n, 1);
        for (int64_t i = 0; i < n; i++) {
            c->asym_id[i] = 1 + (int32_t)(tu_next(&r) % 3);
            c->atom_mask[i] = tu_next(&r) % 8 != 0;
            /* a coarse lattice makes exact ties common */
            set_atom(c, 0, i, (float)(tu_next(&r) % 5), (float)(tu_next(&r) % 5),
                     (float)(tu_next(&r) % 3));
        }
        int32_t *ch = NULL;
        assert_int_equal(fpr_atom_chains(c, &ch), FPR_OK);
        fpr_frames *f = tu_run(c, "exact_diff");
        float e = (float)1e-8, inf = (float)1e9;
        for (int64_t i = 0; i < n; i++) {
            /* full row, then three selection passes with the tie rule */
            float best[3];
            int32_t bi[3];
            for (int k = 0; k < 3; k++) {
                best[k] = INFINITY;
                bi[k] = -1;
                for (int64_t j = 0; j < n; j++) {
                    int used = 0;
                    for (int q = 0; q < k; q++)
                        used |= bi[q] == j;
                    if (used)
                        continue;
                    float d;
                    if (c->atom_mask[i] && c->atom_mask[j] && ch[i] == ch[j]) {
                        const float *p = &c->x[i * 3], *q = &c->x[j * 3];
                        float dx = p[0] - q[0], dy = p[1] - q[1], dz = p[2] - q[2];
                        d = sqrtf(((e + dx * dx) + (e + dy * dy)) + (e + dz * dz));
                    } else {
                        d = inf;
                    }
                    if (d < best[k]) {
                        best[k] = d;
                        bi[k] = (int32_t)j;
                    }
                }
            }
            assert_int_equal(f->a_index[i], bi[1]);
            assert_int_equal(f->c_index[i], bi[2]);
        }
        free(ch);
        fpr_frames_free(f);
        fpr_case_free(c);
    }
}

static void test_registry(void **state)
{
    (void)state;
    assert_int_equal(fpr_registry_check(), FPR_OK);
    assert_non_null(fpr_backend_find("exact_diff"));
    assert_null(fpr_backend_find("no_such_backend"));
    assert_non_null(strstr(fpr_errmsg(), "exact_diff"));
}

/* Brute force's row groups (fpr_backend.row_key): matmul_bf16 at +1000 Å, where
 * bfloat16 operands put many atoms on one lattice point, gives the frames, values and
 * tie counts of searching every row itself, on 1 and 2 threads, with rows actually
 * grouped; a row_key that groups rows whose operands differ changes the frames (the
 * comparison can fail). */
static int const_key(const fpr_backend *b, const void *cfg, const fpr_chain_view *cv, int64_t q,
                     uint32_t key[8])
{
    (void)b;
    (void)cfg;
    (void)cv;
    key[0] = (uint32_t)(q % 2); /* wrong: two groups whatever the operands */
    return 1;
}

static int same_frames(const fpr_frames *p, const fpr_frames *q)
{
    const size_t n = (size_t)(p->S * p->n_token);
    return !memcmp(p->a_index, q->a_index, n * 4) && !memcmp(p->b_index, q->b_index, n * 4) &&
           !memcmp(p->c_index, q->c_index, n * 4) && !memcmp(p->phi, q->phi, n * 36) &&
           !memcmp(p->valid_frame_mask, q->valid_frame_mask, n) &&
           !memcmp(p->top_value, q->top_value, n * 3 * sizeof(double)) &&
           !memcmp(p->tie3, q->tie3, n * 4);
}

static void test_row_groups(void **state)
{
    (void)state;
    fpr_case *c = all_atomized_protein(3000, 2, 5);
    fpr_case_translate(c, 1000.0);
    const fpr_backend *b = fpr_backend_find("matmul_bf16");
    assert_non_null(b->row_key);
    fpr_run_opts ro;
    fpr_run_opts_init(&ro);
    ro.search = FPR_SEARCH_BRUTE;
    fpr_frames *f0, *f1, *f2;
    fpr_driver_test_dedupe(0);
    assert_int_equal(fpr_frames_compute(c, b, &ro, &f0), FPR_OK);
    assert_int_equal(fpr_driver_test_dedupe_rows(), 0);
    fpr_driver_test_dedupe(1);
    assert_int_equal(fpr_frames_compute(c, b, &ro, &f1), FPR_OK);
    const int64_t grouped = fpr_driver_test_dedupe_rows();
    if (grouped < c->n_token / 4)
        fail_msg("only %lld of %lld rows grouped at +1000 A", (long long)grouped,
                 (long long)c->n_token);
    ro.jobs = 2;
    assert_int_equal(fpr_frames_compute(c, b, &ro, &f2), FPR_OK);
    assert_int_equal(fpr_driver_test_dedupe_rows(), grouped);
    assert_true(same_frames(f0, f1));
    assert_true(same_frames(f0, f2));
    fpr_backend broken = *b;
    broken.row_key = const_key;
    fpr_frames *f3;
    assert_int_equal(fpr_frames_compute(c, &broken, &ro, &f3), FPR_OK);
    (void)fpr_driver_test_dedupe_rows();
    assert_false(same_frames(f0, f3));
    fpr_frames_free(f0);
    fpr_frames_free(f1);
    fpr_frames_free(f2);
    fpr_frames_free(f3);
    fpr_case_free(c);
}

int main(void)
{
    fpr_driver_test_threads(1); /* jobs = 2 means two threads, also on small cases */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_offsets),
        cmocka_unit_test(test_given_chains),
        cmocka_unit_test(test_gap_masked_missing),
        cmocka_unit_test(test_ligand_situations),
        cmocka_unit_test(test_fillers),
        cmocka_unit_test(test_tie_rule),
        cmocka_unit_test(test_sqrt_limits),
        cmocka_unit_test(test_scan_sq),
        cmocka_unit_test(test_angle_stages),
        cmocka_unit_test(test_chain_walk),
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_translation_and_threads),
        cmocka_unit_test(test_brute_force),
        cmocka_unit_test(test_row_groups),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests_name("driver", tests, NULL, NULL);
}
