/* test_search.c — SPEC §12: --search grid gives bit-identical frames and top values to
 * --search brute for every registered backend, on the adversarial catalogue (lattices
 * with exact ties, duplicate atoms, points at equal sqrt but distinct D², degenerate
 * planar and collinear chains, a generated protein with several chains and samples),
 * each also translated by +1000 Å; and with the error-bound slack removed (the
 * sabotage hook) the grid must go wrong somewhere: the margin is what protects it.
 * The driver's count of unpicked candidates tying the third value (tie3, which the
 * study's tie-order severity reads) is checked against a scan of the whole row with
 * the backend's own values, for both searches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"
#include "internal.h"
#include "study/study.h"
#include "testutil.h"

static uint64_t g_seed;

static void set_atom(fpr_case *c, int64_t s, int64_t i, float x, float y, float z)
{
    float *p = c->x + ((size_t)s * (size_t)c->n_atom + (size_t)i) * 3;
    p[0] = x;
    p[1] = y;
    p[2] = z;
}

/* Tokens alternate between two chains (asym 1, 2) and every 11th atom is masked, so
 * the chain walk, masks and several grids per sample are exercised. */
static void two_chains(fpr_case *c)
{
    for (int64_t t = 0; t < c->n_token; t++) {
        c->asym_id[t] = 1 + (int32_t)((t / 7) % 2);
        c->atom_mask[t] = t % 11 != 5;
    }
}

enum { K_LATTICE, K_DUPLICATES, K_SHELLS, K_PLANE, K_LINE, K_CLUMP, K_PROTEIN, K_COUNT };
static const char *const kind_name[K_COUNT] = {"lattice", "duplicates", "equal-sqrt shells",
                                                "plane", "line", "clump", "protein"};

static fpr_case *make_case(int kind, tu_rng *r)
{
    fpr_case *c = NULL;
    switch (kind) {
    case K_LATTICE: { /* 12^3 points, spacing 1.5: exact ties at every rank */
        int64_t m = 12, n = m * m * m;
        c = tu_atomized_case(2, n, 1);
        for (int64_t s = 0; s < 2; s++)
            for (int64_t i = 0; i < n; i++) /* sample 1: a shuffled order */
                set_atom(c, s, s ? (i * 7919) % n : i, 1.5f * (float)(i % m),
                         1.5f * (float)((i / m) % m), 1.5f * (float)(i / (m * m)));
        two_chains(c);
        break;
    }
    case K_DUPLICATES: { /* 400 points, each three times, copies far apart in index */
        int64_t u = 400, n = 3 * u;
        c = tu_atomized_case(1, n, 1);
        for (int64_t i = 0; i < u; i++) {
            float x = tu_uniform_f(r, 0, 20), y = tu_uniform_f(r, 0, 20), z = tu_uniform_f(r, 0, 20);
            for (int64_t k = 0; k < 3; k++)
                set_atom(c, 0, i + k * u, x, y, z);
        }
        break;
    }
    case K_SHELLS: { /* around each centre, points on the axes at 1.5 + k ulp(1.5): distinct
                        D², float32 distances that round together */
        int64_t nc = 150, per = 13, n = nc * per;
        c = tu_atomized_case(1, n, 1);
        for (int64_t i = 0; i < nc; i++) {
            float cx = 4.0f * (float)(i % 6), cy = 4.0f * (float)((i / 6) % 5),
                  cz = 4.0f * (float)(i / 30);
            set_atom(c, 0, i * per, cx, cy, cz);
            for (int64_t k = 1; k < per; k++) {
                float d = 1.5f + (float)(k / 2) * 0x1p-23f * 1.5f;
                float sg = k % 2 ? 1.0f : -1.0f;
                int ax = (int)(k % 3);
                set_atom(c, 0, i * per + k, cx + (ax == 0 ? sg * d : 0), cy + (ax == 1 ? sg * d : 0),
                         cz + (ax == 2 ? sg * d : 0));
            }
        }
        break;
    }
    case K_PLANE: { /* z = 0: a flat bounding box */
        int64_t n = 900;
        c = tu_atomized_case(1, n, 1);
        for (int64_t i = 0; i < n; i++)
            set_atom(c, 0, i, (float)(i % 30), (float)(i / 30) * 0.75f, 0.0f);
        break;
    }
    case K_LINE: { /* collinear, equal spacing: every row has tied neighbours */
        int64_t n = 600;
        c = tu_atomized_case(1, n, 1);
        for (int64_t i = 0; i < n; i++)
            set_atom(c, 0, i, 0.5f * (float)((i * 37) % n), 0.0f, 0.0f);
        break;
    }
    case K_CLUMP: { /* 1100 copies of one point among 300 others: one cell that no cell
                       size splits, its seed block over the driver's limit (1024) */
        int64_t n = 1400;
        c = tu_atomized_case(1, n, 1);
        for (int64_t i = 0; i < n; i++) {
            if (i % 14 < 11)
                set_atom(c, 0, i, 5.0f, 5.0f, 5.0f);
            else
                set_atom(c, 0, i, tu_uniform_f(r, 0, 20), tu_uniform_f(r, 0, 20),
                         tu_uniform_f(r, 0, 20));
        }
        break;
    }
    default: { /* a generated protein: 3 chains, 2 samples, random geometry */
        fpr_gen_opts o;
        fpr_gen_opts_init(&o);
        o.atoms = 2400;
        o.chains = 3;
        o.samples = 2;
        o.atomize_all = 1;
        o.seed = tu_next(r);
        assert_int_equal(fpr_gen_protein(&o, &c), FPR_OK);
        break;
    }
    }
    return c;
}

/* Number of tokens whose frames or top values differ between the two runs (bitwise). */
static int64_t differences(const fpr_frames *a, const fpr_frames *b)
{
    int64_t n = a->S * a->n_token, bad = 0;
    for (int64_t o = 0; o < n; o++) {
        int d = a->a_index[o] != b->a_index[o] || a->b_index[o] != b->b_index[o] ||
                a->c_index[o] != b->c_index[o] ||
                a->valid_frame_mask[o] != b->valid_frame_mask[o] ||
                (a->tie3 && b->tie3 && a->tie3[o] != b->tie3[o]) ||
                memcmp(a->phi + o * 9, b->phi + o * 9, 9 * sizeof(float)) != 0 ||
                memcmp(a->top_value + o * 3, b->top_value + o * 3, 3 * sizeof(double)) != 0;
        if (a->tie1)
            d = d || a->tie1[o] != b->tie1[o] || a->tie2[o] != b->tie2[o] ||
                memcmp(&a->margin1[o], &b->margin1[o], sizeof(double)) != 0 ||
                memcmp(&a->margin2[o], &b->margin2[o], sizeof(double)) != 0 ||
                a->fragile_angle[o] != b->fragile_angle[o];
        bad += d;
    }
    return bad;
}

static int64_t g_tie3_tokens; /* tokens with tie3 > 0 seen by check_tie3 */

/* tie3 of f against the row scanned through the study's pair evaluator: the chain
 * members whose value equals the third, less the top-3 entries that do. Returns the
 * number of tokens where they differ. */
static int64_t check_tie3(const fpr_case *c, const fpr_backend *b, const fpr_frames *f,
                          const char *label, const char *search)
{
    fpr_paireval *pe = NULL;
    assert_int_equal(fpr_paireval_new(c, b, NULL, &pe), FPR_OK);
    assert_non_null(f->tie3);
    int64_t bad = 0;
    for (int64_t s = 0; s < c->S; s++) {
        assert_int_equal(fpr_paireval_sample(pe, s), FPR_OK);
        for (int64_t t = 0; t < c->n_token; t++) {
            int64_t o = s * c->n_token + t;
            const double *v = f->top_value + o * 3;
            if (!c->is_atomized[t])
                continue;
            if (b->precision == FPR_PREC_EXACT || !fpr_paireval_ok(pe) || !isfinite(v[2])) {
                bad += b->precision == FPR_PREC_EXACT && f->tie3[o] != -1;
                continue;
            }
            int64_t want = fpr_paireval_count_equal(pe, c->start_atom_index[t], v[2]);
            if (want < 0 || v[2] == c->inf || v[2] == (double)(float)c->inf)
                want = 0; /* the third is an inf filler (short row): nothing ties it */
            else
                for (int w = 0; w < 3; w++)
                    want -= v[w] == v[2];
            if (want != f->tie3[o]) {
                if (bad < 3)
                    printf("# %s %s %s: token %lld tie3 %d, the row scan says %lld\n", label,
                           b->name, search, (long long)t, f->tie3[o], (long long)want);
                bad++;
            }
            g_tie3_tokens += want > 0;
        }
    }
    fpr_paireval_free(pe);
    return bad;
}

/* Runs every backend brute and grid (grid with 2 threads) on case c; returns the total
 * number of differing tokens and prints the per-backend counts when any. With `tie3`,
 * both runs' tie counts are also checked against the row scan. */
static int64_t compare_all_tie3(const fpr_case *c, const char *label, int tie3)
{
    int64_t total = 0;
    for (size_t bi = 0; bi < fpr_backend_count(); bi++) {
        const fpr_backend *b = fpr_backend_at(bi);
        fpr_run_opts ro;
        fpr_run_opts_init(&ro);
        ro.search = FPR_SEARCH_BRUTE;
        fpr_frames *fb = NULL, *fg = NULL;
        if (fpr_frames_compute(c, b, &ro, &fb))
            fail_msg("%s brute: %s", b->name, fpr_errmsg());
        ro.search = FPR_SEARCH_GRID;
        ro.jobs = 2;
        if (fpr_frames_compute(c, b, &ro, &fg))
            fail_msg("%s grid: %s", b->name, fpr_errmsg());
        int64_t d = differences(fb, fg);
        if (d)
            printf("# %-28s %-16s %lld tokens differ (grid vs brute)\n", label, b->name,
                   (long long)d);
        total += d;
        if (b->scan_f32 || b->eval_sq_f32) { /* fused kernel, scan of sums: against the
                                                  backend's plain eval + scan */
            fpr_frames *fe = NULL;
            ro.search = FPR_SEARCH_BRUTE;
            setenv("FRAMEPREC_FUSED", "0", 1);
            int erc = fpr_frames_compute(c, b, &ro, &fe);
            unsetenv("FRAMEPREC_FUSED");
            if (erc)
                fail_msg("%s eval path: %s", b->name, fpr_errmsg());
            int64_t de = differences(fb, fe);
            if (de)
                printf("# %-28s %-16s %lld tokens differ (fused vs eval path)\n", label,
                       b->name, (long long)de);
            total += de;
            if (tie3)
                total += check_tie3(c, b, fe, label, "eval path");
            fpr_frames_free(fe);
        }
        if (tie3)
            total += check_tie3(c, b, fb, label, "brute") + check_tie3(c, b, fg, label, "grid");
        fpr_frames_free(fb);
        fpr_frames_free(fg);
    }
    return total;
}

static int64_t compare_all(const fpr_case *c, const char *label)
{
    return compare_all_tie3(c, label, 0);
}

static void test_grid_identity(void **state)
{
    (void)state;
    tu_rng r = {g_seed};
    fpr_grid_test_seed_blocks(1);
    (void)fpr_grid_test_seed_rows(); /* from 0 */
    fpr_grid_test_hooks(1.0, 32); /* the real rule; grids even for small chains */
    for (int kind = 0; kind < K_COUNT; kind++) {
        for (int shifted = 0; shifted < 2; shifted++) {
            fpr_case *c = make_case(kind, &r);
            if (shifted)
                fpr_case_translate(c, 1000.0);
            assert_int_equal(fpr_case_validate(c, NULL), FPR_OK);
            char label[64];
            snprintf(label, sizeof label, "%s%s", kind_name[kind], shifted ? " +1000" : "");
            assert_int_equal(compare_all_tie3(c, label, 1), 0);
            /* the fused brute-force kernel of exact_diff (prefilter, seed window) against
             * chunked_fp32, which ranks exact_diff's plain eval values block by block */
            fpr_run_opts ro;
            fpr_run_opts_init(&ro);
            ro.search = FPR_SEARCH_BRUTE;
            fpr_frames *fe = NULL, *fc = NULL;
            assert_int_equal(fpr_frames_compute(c, fpr_backend_find("exact_diff"), &ro, &fe), FPR_OK);
            assert_int_equal(fpr_frames_compute(c, fpr_backend_find("chunked_fp32"), &ro, &fc), FPR_OK);
            assert_int_equal(differences(fe, fc), 0);
            fpr_frames_free(fe);
            fpr_frames_free(fc);
            fpr_case_free(c);
        }
    }
    fpr_grid_test_hooks(1.0, 0);
    printf("# %lld token runs with an unpicked candidate tying the third\n",
           (long long)g_tie3_tokens);
    assert_true(g_tie3_tokens > 0); /* the catalogue exercises the count */
    int64_t seeded = fpr_grid_test_seed_rows();
    printf("# %lld rows answered by their seed block alone\n", (long long)seeded);
    assert_true(seeded > 0); /* the seed blocks were used */
}

/* The same identity with the seed blocks off: the grid's cell-by-cell path, which is
 * also what a row takes beyond its block and where a block is too large. */
static void test_grid_identity_no_seed_blocks(void **state)
{
    (void)state;
    tu_rng r = {g_seed + 2};
    fpr_grid_test_hooks(1.0, 32);
    fpr_grid_test_seed_blocks(0);
    (void)fpr_grid_test_seed_rows(); /* from 0 */
    int64_t total = 0;
    for (int kind = 0; kind < K_COUNT; kind++)
        for (int shifted = 0; shifted < 2; shifted++) {
            fpr_case *c = make_case(kind, &r);
            if (shifted)
                fpr_case_translate(c, 1000.0);
            char label[64];
            snprintf(label, sizeof label, "no seed blocks, %s%s", kind_name[kind],
                     shifted ? " +1000" : "");
            total += compare_all(c, label);
            fpr_case_free(c);
        }
    int64_t seeded = fpr_grid_test_seed_rows();
    fpr_grid_test_seed_blocks(1);
    fpr_grid_test_hooks(1.0, 0);
    assert_int_equal(seeded, 0);
    assert_int_equal(total, 0);
}

/* Seed blocks are per sample: two samples whose rows (a few atomized tokens, close
 * together, so in one cell) sit in the same cell of both samples' grids, with every
 * coordinate moved a little in the second; one thread, so the block the first sample
 * ended with is the one the second starts at. A block kept across samples would rank
 * the second sample with the first one's coordinates. */
static void test_grid_seed_blocks_per_sample(void **state)
{
    (void)state;
    tu_rng r = {g_seed + 3};
    const int64_t n = 300, nrow = 6;
    fpr_case *c = tu_atomized_case(2, n, 1);
    for (int64_t i = 0; i < n; i++) {
        float x = tu_uniform_f(&r, 0, 20), y = tu_uniform_f(&r, 0, 20), z = tu_uniform_f(&r, 0, 20);
        if (i >= n - nrow) { /* the rows: within 0.01 A of (10, 10, 10) */
            x = 10.0f + 0.001f * (float)(i - (n - nrow));
            y = z = 10.0f;
        }
        c->is_atomized[i] = i >= n - nrow;
        set_atom(c, 0, i, x, y, z);
        set_atom(c, 1, i, x + tu_uniform_f(&r, -0.003f, 0.003f),
                 y + tu_uniform_f(&r, -0.003f, 0.003f), z + tu_uniform_f(&r, -0.003f, 0.003f));
    }
    assert_int_equal(fpr_case_validate(c, NULL), FPR_OK);
    fpr_grid_test_hooks(1.0, 32);
    fpr_grid_test_seed_blocks(1);
    (void)fpr_grid_test_seed_rows();
    int64_t total = 0;
    for (size_t bi = 0; bi < fpr_backend_count(); bi++) {
        const fpr_backend *b = fpr_backend_at(bi);
        fpr_run_opts ro;
        fpr_run_opts_init(&ro);
        ro.search = FPR_SEARCH_BRUTE;
        fpr_frames *fb = NULL, *fg = NULL;
        assert_int_equal(fpr_frames_compute(c, b, &ro, &fb), FPR_OK);
        ro.search = FPR_SEARCH_GRID;
        ro.jobs = 1;
        assert_int_equal(fpr_frames_compute(c, b, &ro, &fg), FPR_OK);
        int64_t d = differences(fb, fg);
        if (d)
            printf("# two samples, one cell: %-16s %lld tokens differ (grid vs brute)\n",
                   b->name, (long long)d);
        total += d;
        fpr_frames_free(fb);
        fpr_frames_free(fg);
    }
    int64_t seeded = fpr_grid_test_seed_rows();
    fpr_grid_test_hooks(1.0, 0);
    fpr_case_free(c);
    printf("# %lld rows answered by their seed block alone\n", (long long)seeded);
    assert_true(seeded > 0);
    assert_int_equal(total, 0);
}

/* The sabotage: without the error-bound slack, a backend whose computed values err by
 * more than the gaps (matmul far from the origin) loses picks under the grid. */
static void test_grid_sabotage(void **state)
{
    (void)state;
    tu_rng r = {g_seed + 1};
    fpr_grid_test_hooks(0.0, 32);
    int64_t total = 0;
    for (int kind = 0; kind < K_COUNT; kind++) {
        fpr_case *c = make_case(kind, &r);
        fpr_case_translate(c, 1000.0);
        char label[64];
        snprintf(label, sizeof label, "sabotaged %s +1000", kind_name[kind]);
        total += compare_all(c, label);
        fpr_case_free(c);
    }
    fpr_grid_test_hooks(1.0, 0);
    printf("# without the slack: %lld tokens differ\n", (long long)total);
    assert_true(total > 0);
}

/* The grid is the default and the option names parse. */
static void test_search_option(void **state)
{
    (void)state;
    fpr_run_opts ro;
    fpr_run_opts_init(&ro);
    assert_int_equal(ro.search, FPR_SEARCH_GRID);
    assert_int_equal(fpr_search_parse("grid"), FPR_SEARCH_GRID);
    assert_int_equal(fpr_search_parse("brute"), FPR_SEARCH_BRUTE);
    assert_int_equal(fpr_search_parse("kd"), -1);
    fpr_case *c = tu_atomized_case(1, 4, 1);
    ro.search = 7;
    fpr_frames *f = NULL;
    assert_int_equal(fpr_frames_compute(c, fpr_backend_find("exact_diff"), &ro, &f), FPR_EUSAGE);
    assert_null(f);
    fpr_case_free(c);
}

int main(void)
{
    fpr_driver_test_threads(1); /* jobs = 2 means two threads, also on small cases */
    g_seed = tu_seed(16);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_option),
        cmocka_unit_test(test_grid_identity),
        cmocka_unit_test(test_grid_identity_no_seed_blocks),
        cmocka_unit_test(test_grid_seed_blocks_per_sample),
        cmocka_unit_test(test_grid_sabotage),
    };
    return cmocka_run_group_tests_name("search", tests, NULL, NULL);
}
