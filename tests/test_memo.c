/* test_memo.c — the chain memo (src/core/memo.c): a chain searched in one case answers
 * the same chain in another case, bit for bit, and nothing else. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

enum { NCH = 3, PER = 700, S = 2, PAD = 37 };

static uint64_t g_seed;

/* NCH chains of PER atoms (asym 1..NCH), S samples, random coordinates in a 24 Å box
 * with every 9th atom a copy of the one before (exact ties and duplicates), every 13th
 * atom masked. */
static fpr_case *big_case(void)
{
    tu_rng r = {g_seed};
    fpr_case *c = tu_atomized_case(S, NCH * PER, 1);
    for (int64_t i = 0; i < c->n_token; i++) {
        c->asym_id[i] = 1 + (int32_t)(i / PER);
        c->atom_mask[i] = i % 13 != 6;
    }
    for (int64_t s = 0; s < S; s++)
        for (int64_t i = 0; i < c->n_atom; i++) {
            float *p = c->x + ((size_t)s * (size_t)c->n_atom + (size_t)i) * 3;
            for (int w = 0; w < 3; w++)
                p[w] = i % 9 == 8 ? p[w - 3] : tu_uniform_f(&r, 0, 24);
        }
    return c;
}

/* Chain `chain` of a (its tokens in order) after PAD atoms of another chain (asym 7, far
 * away): the same chain content at other atom indices. */
static fpr_case *subset_case(const fpr_case *a, int32_t chain)
{
    int64_t n = 0;
    for (int64_t t = 0; t < a->n_token; t++)
        n += a->asym_id[t] == chain;
    fpr_case *c = tu_atomized_case(a->S, PAD + n, 7);
    int64_t k = PAD;
    for (int64_t t = 0; t < a->n_token; t++) {
        if (a->asym_id[t] != chain)
            continue;
        c->asym_id[k] = chain;
        c->atom_mask[k] = a->atom_mask[t];
        for (int64_t s = 0; s < a->S; s++)
            memcpy(c->x + ((size_t)s * (size_t)c->n_atom + (size_t)k) * 3,
                   a->x + ((size_t)s * (size_t)a->n_atom + (size_t)t) * 3, 3 * sizeof(float));
        k++;
    }
    for (int64_t s = 0; s < c->S; s++)
        for (int64_t i = 0; i < PAD; i++)
            for (int w = 0; w < 3; w++)
                c->x[((size_t)s * (size_t)c->n_atom + (size_t)i) * 3 + w] =
                    500.0f + (float)(i * 3 + w + s); /* unlike in other samples */
    return c;
}

static int64_t rows_of_chain(const fpr_case *c, int32_t chain)
{
    int64_t n = 0;
    for (int64_t t = 0; t < c->n_token; t++)
        n += c->asym_id[t] == chain && c->atom_mask[c->start_atom_index[t]];
    return n;
}

static fpr_frames *run(const fpr_case *c, const fpr_backend *b, int search, fpr_chain_memo *m)
{
    fpr_run_opts ro;
    fpr_run_opts_init(&ro);
    ro.search = search;
    ro.jobs = 2;
    ro.memo = m;
    fpr_frames *f = NULL;
    if (fpr_frames_compute(c, b, &ro, &f))
        fail_msg("%s: %s", b->name, fpr_errmsg());
    return f;
}

/* Tokens whose outputs differ bitwise (frames, values, tie counts, truth extras). */
static int64_t differences(const fpr_frames *a, const fpr_frames *b)
{
    int64_t bad = 0;
    for (int64_t o = 0; o < a->S * a->n_token; o++) {
        int d = a->a_index[o] != b->a_index[o] || a->b_index[o] != b->b_index[o] ||
                a->c_index[o] != b->c_index[o] ||
                a->valid_frame_mask[o] != b->valid_frame_mask[o] ||
                a->first_index[o] != b->first_index[o] || a->tie3[o] != b->tie3[o] ||
                memcmp(a->phi + o * 9, b->phi + o * 9, 9 * sizeof(float)) ||
                memcmp(a->top_value + o * 3, b->top_value + o * 3, 3 * sizeof(double));
        if (a->tie1)
            d = d || a->tie1[o] != b->tie1[o] || a->tie2[o] != b->tie2[o] ||
                memcmp(&a->margin1[o], &b->margin1[o], sizeof(double)) ||
                memcmp(&a->margin2[o], &b->margin2[o], sizeof(double));
        bad += d;
    }
    return bad;
}

/* Every backend, both searches: the subset case is answered from the big case's
 * search of its chain (both samples), with exactly the bits of its own search. */
static void test_memo_subset_identical(void **state)
{
    (void)state;
    fpr_case *a = big_case(), *b = subset_case(a, 2);
    const int64_t want = S * rows_of_chain(a, 2);
    for (int search = FPR_SEARCH_GRID; search <= FPR_SEARCH_BRUTE; search++)
        for (size_t bi = 0; bi < fpr_backend_count(); bi++) {
            const fpr_backend *be = fpr_backend_at(bi);
            fpr_chain_memo *m = NULL;
            assert_int_equal(fpr_chain_memo_new(INT64_MAX, &m), FPR_OK);
            assert_int_equal(fpr_chain_memo_plan(m, a), FPR_OK);
            assert_int_equal(fpr_chain_memo_plan(m, b), FPR_OK);
            fpr_frames *fa = run(a, be, search, m), *fb = run(b, be, search, m);
            fpr_frames *fa0 = run(a, be, search, NULL), *fb0 = run(b, be, search, NULL);
            if (fa->memo_rows != 0 || fb->memo_rows != want)
                fail_msg("%s %s: memo rows %lld, %lld (want 0, %lld)", be->name,
                         fpr_search_name(search), (long long)fa->memo_rows,
                         (long long)fb->memo_rows, (long long)want);
            int64_t da = differences(fa, fa0), db = differences(fb, fb0);
            if (da || db)
                fail_msg("%s %s: %lld / %lld tokens differ from the search without the memo",
                         be->name, fpr_search_name(search), (long long)da, (long long)db);
            int64_t hr, hc, peak;
            fpr_chain_memo_stats(m, &hr, &hc, &peak);
            assert_int_equal(hr, want);
            assert_int_equal(hc, S);
            assert_true(peak > 0);
            fpr_frames_free(fa);
            fpr_frames_free(fb);
            fpr_frames_free(fa0);
            fpr_frames_free(fb0);
            fpr_chain_memo_free(m);
        }
    fpr_case_free(a);
    fpr_case_free(b);
}

/* What the key holds: one coordinate one ulp off in sample 1 (only sample 0 is
 * answered), another eps, other rows (one atom no longer atomized), another backend,
 * a plan without the second use, a cap of 0 bytes. Each run still gives its own
 * search's bits. */
static void test_memo_key_and_plan(void **state)
{
    (void)state;
    fpr_case *a = big_case();
    const fpr_backend *ed = fpr_backend_find("exact_diff"), *f64 = fpr_backend_find("fp64");
    const fpr_backend *tr = fpr_backend_find("truth");
    assert_non_null(ed);
    assert_non_null(f64);
    assert_non_null(tr);
    const int64_t rows = rows_of_chain(a, 2);
    for (int variant = 0; variant < 6; variant++) {
        fpr_case *b = subset_case(a, 2);
        const fpr_backend *first = variant == 3 ? f64 : ed, *second = ed;
        int64_t want = S * rows, cap = INT64_MAX;
        int plan_a = 1;
        switch (variant) {
        case 0: { /* sample 1, one coordinate of the chain one ulp up */
            float *p = b->x + ((size_t)1 * (size_t)b->n_atom + PAD + 5) * 3;
            p[1] = nextafterf(p[1], INFINITY);
            want = rows;
            break;
        }
        case 1: b->eps = 2e-8; want = 0; break;
        case 2: /* an atom of the chain is no longer a row (the row flags differ) */
            b->is_atomized[PAD + 10] = 0;
            b->is_protein[PAD + 10] = 1;
            want = 0;
            break;
        case 3: want = 0; break; /* the big case was searched by another backend */
        case 4: plan_a = 0; want = 0; break; /* content planned once: nothing kept */
        default: cap = 0; want = 0; break;
        }
        fpr_chain_memo *m = NULL;
        assert_int_equal(fpr_chain_memo_new(cap, &m), FPR_OK);
        if (plan_a)
            assert_int_equal(fpr_chain_memo_plan(m, a), FPR_OK);
        assert_int_equal(fpr_chain_memo_plan(m, b), FPR_OK);
        fpr_frames *fa = run(a, first, FPR_SEARCH_GRID, m);
        fpr_frames *fb = run(b, second, FPR_SEARCH_GRID, m);
        fpr_frames *fb0 = run(b, second, FPR_SEARCH_GRID, NULL);
        if (fb->memo_rows != want)
            fail_msg("variant %d: %lld rows from the memo, want %lld", variant,
                     (long long)fb->memo_rows, (long long)want);
        assert_int_equal(differences(fb, fb0), 0);
        fpr_frames_free(fa);
        fpr_frames_free(fb);
        fpr_frames_free(fb0);
        fpr_chain_memo_free(m);
        fpr_case_free(b);
    }
    /* the truth's extras (tie groups, margins) come back too; the entry is dropped
     * after its last planned use, so a third run searches again */
    fpr_case *b = subset_case(a, 2);
    fpr_chain_memo *m = NULL;
    assert_int_equal(fpr_chain_memo_new(INT64_MAX, &m), FPR_OK);
    assert_int_equal(fpr_chain_memo_plan(m, a), FPR_OK);
    assert_int_equal(fpr_chain_memo_plan(m, b), FPR_OK);
    fpr_frames *fa = run(a, tr, FPR_SEARCH_GRID, m), *fb = run(b, tr, FPR_SEARCH_GRID, m);
    fpr_frames *fc = run(b, tr, FPR_SEARCH_GRID, m), *fb0 = run(b, tr, FPR_SEARCH_GRID, NULL);
    assert_int_equal(fb->memo_rows, S * rows);
    assert_int_equal(fc->memo_rows, 0);
    assert_int_equal(differences(fb, fb0), 0);
    assert_int_equal(differences(fc, fb0), 0);
    fpr_frames_free(fa);
    fpr_frames_free(fb);
    fpr_frames_free(fc);
    fpr_frames_free(fb0);
    fpr_chain_memo_free(m);
    fpr_case_free(b);
    /* within one case: a sample equal to an earlier one is answered by it */
    b = subset_case(a, 2);
    memcpy(b->x + (size_t)b->n_atom * 3, b->x, (size_t)b->n_atom * 3 * sizeof(float));
    assert_int_equal(fpr_chain_memo_new(INT64_MAX, &m), FPR_OK);
    assert_int_equal(fpr_chain_memo_plan(m, b), FPR_OK);
    fb = run(b, ed, FPR_SEARCH_GRID, m);
    fb0 = run(b, ed, FPR_SEARCH_GRID, NULL);
    assert_int_equal(fb->memo_rows, rows + PAD);
    assert_int_equal(differences(fb, fb0), 0);
    fpr_frames_free(fb);
    fpr_frames_free(fb0);
    fpr_chain_memo_free(m);
    fpr_case_free(b);
    fpr_case_free(a);
}

int main(void)
{
    fpr_driver_test_threads(1); /* jobs = 2 means two threads, also on small cases */
    g_seed = tu_seed(0x6d656d6fULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memo_subset_identical),
        cmocka_unit_test(test_memo_key_and_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
