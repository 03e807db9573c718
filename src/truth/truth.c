/* truth.c — the exact ground truth as a backend (SPEC §4): per query row the exact
 * top-3 by exact squared distance D², the tie groups at ranks 1 and 2, and the margins.
 *
 * Why D². Ranking by d = sqrt(Σ(eps + dx²)) is ranking by D² = Σ dx² (the eps terms
 * and sqrt are monotone), and D² of float32 inputs is an exact dyadic rational.
 *
 * Filter, then decide exactly. Exact arithmetic on every pair is far too slow at 50k
 * atoms, so each row is first scanned in binary64:
 *   ĥ_j = ((dx̂² + dŷ²) + dẑ²), dx̂ = (double)x_q − (double)x_j, every op rounded.
 * Error bound: each dx̂ = dx(1+δ), |δ| ≤ u = 2^−53 (a non-zero difference of float32s
 * is ≥ 2^−149, so nothing underflows; |x| ≤ 1e6 so nothing overflows), each square
 * adds one rounding, the two additions of non-negative terms one each: every term
 * carries at most 5 factors (1+δ), so ĥ = D²(1+θ5), |θ5| ≤ γ5 = 5u/(1−5u), for every
 * pair, relatively (ĥ = 0 iff D² = 0).
 * Threshold: let ĥ_(4) be the 4th smallest ĥ among any 4 distinct candidates seen. The
 * true 4th smallest D² of the row (the first runner-up after the three picks) is then
 * ≤ ĥ_(4)/(1−γ5), and any candidate j with D²_j ≤ that has ĥ_j ≤ ĥ_(4)(1+γ5)/(1−γ5)
 * ≤ ĥ_(4)(1 + 2.0001·γ5). The filter keeps j iff ĥ_j ≤ fl(ĥ_(4)·K), K = 1 + 2^−48:
 * fl(ĥ_(4)·K) ≥ ĥ_(4)·K·(1−u) ≥ ĥ_(4)(1 + 31u) > ĥ_(4)(1 + 10.001u), so every candidate
 * whose exact D² is ≤ the row's exact 4th smallest survives — hence every member of the
 * tie groups at ranks 1 and 2 and the runner-up. Everything else is proved out: its
 * exact D² exceeds the 4th smallest and can change neither picks, ties nor margins.
 * The threshold only decreases during the scan (seeded from the row's index
 * neighbours, which are usually spatial neighbours), and survivors are re-filtered
 * with the final threshold.
 *
 * Exact evaluation of the survivors. Per row, s = 60 − E where 2^E > max |coordinate|
 * of the row atom and its survivors; every coordinate is then X = x·2^s with
 * |X| < 2^60. If each X is an integer (true unless a coordinate is tiny, below
 * ~2^−40·max|x|: then the row falls back to GMP), differences are < 2^61, squares
 * < 2^122 and D²·2^2s = ΣΔX² < 3·2^122 < 2^127: exact in __int128. The fallback and
 * the brute-force reference scale by 2^149 (every float32 is then an integer) and
 * work in mpz_t.
 *
 * Reported values. val[k] = exact D² rounded to nearest binary64 (the scaling 2^−2s
 * is exact). Margins: (D²_(2) − D²_(1)) / D²_(2) with D²_(r) the exact values of
 * closest[r], r = 1, 2, and D²_(3) the first runner-up (4th smallest including self);
 * numerator and denominator are exact integers, each rounded to nearest binary64,
 * then divided: relative error ≤ 3·2^−53 (identical in every path, since scaling by
 * powers of two commutes with rounding). NaN when undefined (fewer than 3 or 4
 * candidates, or 0/0). tie1, tie2: the number of candidates whose exact D² equals that
 * of closest[1], closest[2] (the pick itself included). */
#include <math.h>
#include <string.h>
#include <gmp.h>
#include <mpfr.h>

#include "internal.h"
#include "truth/truth.h"

typedef __int128 i128;

enum { SCAN_BLOCK = 256, SEED_RADIUS = 4 };
static const double FILTER_K = 1.0 + 0x1p-48;

/* ------------------------------------------------------------------ survivors */
typedef struct cand {
    int64_t j;   /* position in the chain */
    double h;    /* binary64 estimate of D² */
    int64_t w;   /* coincident candidates after this one that were not kept (see below) */
} cand;

/* Coincident candidates (identical float32 coordinates) have the same exact D² to any
 * row, so of each such group at most the 4 lowest indices can be among a row's 4
 * smallest by (D², index); the others only add to the tie counts. The filter keeps the
 * first 4 members of every group (ascending position = ascending atom index) and counts
 * the rest on the 4th (`w`), so a row's exact work is bounded by its distinct
 * neighbours, not by how many atoms coincide: 20,000 atoms all at one point cost a
 * scan per row, not 20,000 exact evaluations per row (issue 13). Groups are found by a
 * small open-addressing table on the coordinate bits, stamped per row (no clearing). */
typedef struct cand_buf {
    cand *v;
    size_t n, cap;
    int64_t *gslot;  /* [hcap] index in v of the group's latest kept member */
    int32_t *gcount; /* [hcap] kept members (1..4) */
    uint32_t *gstamp;
    uint32_t stamp;
    size_t hcap, hused;
} cand_buf;

static void cand_buf_free(cand_buf *b)
{
    free(b->v);
    free(b->gslot);
    free(b->gcount);
    free(b->gstamp);
}

static uint32_t coord_bits(float f)
{
    f += 0.0f; /* -0 and +0 are one coordinate */
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static size_t coord_hash(const fpr_chain_view *cv, int64_t j, size_t mask)
{
    uint64_t h = coord_bits(cv->x[j]) * 0x9E3779B97F4A7C15ull;
    h ^= coord_bits(cv->y[j]) + 0xC2B2AE3D27D4EB4Full + (h << 6) + (h >> 2);
    h ^= coord_bits(cv->z[j]) + 0x165667B19E3779F9ull + (h << 6) + (h >> 2);
    return (size_t)(h ^ (h >> 29)) & mask;
}

static int same_point(const fpr_chain_view *cv, int64_t a, int64_t b)
{
    return cv->x[a] == cv->x[b] && cv->y[a] == cv->y[b] && cv->z[a] == cv->z[b];
}

/* Finds (or adds) the group of v[k]'s point; returns its slot or -1 (out of memory). */
static int64_t group_slot(cand_buf *b, const fpr_chain_view *cv, int64_t j)
{
    if (2 * (b->hused + 1) > b->hcap) { /* grow and re-add every kept survivor */
        size_t nc = b->hcap ? 2 * b->hcap : 256;
        int64_t *ns = malloc(nc * sizeof *ns);
        int32_t *nn = malloc(nc * sizeof *nn);
        uint32_t *nt = calloc(nc, sizeof *nt);
        if (!ns || !nn || !nt) {
            free(ns);
            free(nn);
            free(nt);
            return -1;
        }
        free(b->gslot);
        free(b->gcount);
        free(b->gstamp);
        b->gslot = ns;
        b->gcount = nn;
        b->gstamp = nt;
        b->hcap = nc;
        b->hused = 0;
        b->stamp = 1;
        for (size_t k = 0; k < b->n; k++) {
            size_t i = coord_hash(cv, b->v[k].j, nc - 1);
            while (b->gstamp[i] == b->stamp && !same_point(cv, b->v[b->gslot[i]].j, b->v[k].j))
                i = (i + 1) & (nc - 1);
            if (b->gstamp[i] != b->stamp) {
                b->gstamp[i] = b->stamp;
                b->gcount[i] = 0;
                b->hused++;
            }
            b->gslot[i] = (int64_t)k;
            b->gcount[i]++;
        }
    }
    size_t i = coord_hash(cv, j, b->hcap - 1);
    while (b->gstamp[i] == b->stamp && !same_point(cv, b->v[b->gslot[i]].j, j))
        i = (i + 1) & (b->hcap - 1);
    if (b->gstamp[i] != b->stamp) {
        b->gstamp[i] = b->stamp;
        b->gcount[i] = 0;
        b->gslot[i] = -1;
        b->hused++;
    }
    return (int64_t)i;
}

static int cand_push(cand_buf *b, int64_t j, double h)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 64;
        cand *p = realloc(b->v, nc * sizeof *p);
        if (!p)
            return fpr_error(FPR_ENOMEM, "truth: out of memory for %zu candidates", nc);
        b->v = p;
        b->cap = nc;
    }
    b->v[b->n].j = j;
    b->v[b->n].h = h;
    b->v[b->n].w = 0;
    b->n++;
    return FPR_OK;
}

/* Keeps candidate j unless 4 members of its coincidence group are kept already, in
 * which case it is counted on the group's 4th (*kept = 0). */
static int cand_add(cand_buf *b, const fpr_chain_view *cv, int64_t j, double h, int *kept)
{
    int64_t g = group_slot(b, cv, j);
    if (g < 0)
        return fpr_error(FPR_ENOMEM, "truth: out of memory for the coincidence groups");
    if (b->gcount[g] >= 4) {
        b->v[b->gslot[g]].w++;
        *kept = 0;
        return FPR_OK;
    }
    int rc = cand_push(b, j, h);
    if (rc)
        return rc;
    b->gslot[g] = (int64_t)(b->n - 1);
    b->gcount[g]++;
    *kept = 1;
    return FPR_OK;
}

/* Running 4 smallest values (duplicates allowed: they are distinct candidates). */
typedef struct top4 {
    double v[4];
    int n;
} top4;

static inline void top4_add(top4 *t, double h)
{
    int p;
    if (t->n < 4) {
        p = t->n++;
    } else {
        if (!(h < t->v[3]))
            return;
        p = 3;
    }
    while (p > 0 && h < t->v[p - 1]) {
        t->v[p] = t->v[p - 1];
        p--;
    }
    t->v[p] = h;
}

static inline double top4_threshold(const top4 *t)
{
    return t->n == 4 ? t->v[3] * FILTER_K : INFINITY;
}

static inline double d2_f64(const fpr_chain_view *cv, int64_t q, int64_t j)
{
    double dx = (double)cv->x[q] - (double)cv->x[j];
    double dy = (double)cv->y[q] - (double)cv->y[j];
    double dz = (double)cv->z[q] - (double)cv->z[j];
    return (dx * dx + dy * dy) + dz * dz;
}

/* The filter of one row (see the header): fills `out` with every candidate that may
 * reach the 4 smallest exact D², in ascending position order. */
static int filter_row(const fpr_chain_view *cv, int64_t q, cand_buf *out)
{
    out->n = 0;
    if (++out->stamp == 0) { /* a new row: every group slot is free again */
        if (out->gstamp)
            memset(out->gstamp, 0, out->hcap * sizeof *out->gstamp);
        out->stamp = 1;
    }
    out->hused = 0;
    /* candidates at q's own point (h = 0 exactly iff D² = 0): counted without a lookup */
    int64_t zkept = 0, zlast = -1;
    const int64_t n = cv->n;
    double T = INFINITY;
    if (n >= 4) { /* seed: any 4 distinct candidates give a valid threshold */
        top4 s = {.n = 0};
        int64_t a = q - SEED_RADIUS < 0 ? 0 : q - SEED_RADIUS;
        int64_t b = a + 2 * SEED_RADIUS + 1 > n ? n : a + 2 * SEED_RADIUS + 1;
        if (b - a < 4)
            a = b - 4 < 0 ? 0 : b - 4;
        for (int64_t j = a; j < b; j++)
            top4_add(&s, d2_f64(cv, q, j));
        T = top4_threshold(&s);
    }
    top4 run = {.n = 0};
    const double qx = cv->x[q], qy = cv->y[q], qz = cv->z[q];
    double h[SCAN_BLOCK];
    for (int64_t j0 = 0; j0 < n; j0 += SCAN_BLOCK) {
        int64_t m = n - j0 < SCAN_BLOCK ? n - j0 : SCAN_BLOCK;
        const float *restrict x = cv->x + j0, *restrict y = cv->y + j0, *restrict z = cv->z + j0;
        for (int64_t j = 0; j < m; j++) { /* vectorisable: same ops as d2_f64 */
            double dx = qx - (double)x[j];
            double dy = qy - (double)y[j];
            double dz = qz - (double)z[j];
            h[j] = (dx * dx + dy * dy) + dz * dz;
        }
        int any = 0;
        for (int64_t j = 0; j < m; j++)
            any |= h[j] <= T;
        if (!any)
            continue;
        for (int64_t j = 0; j < m; j++) {
            if (!(h[j] <= T))
                continue;
            int rc, kept = 1;
            if (h[j] == 0 && zkept >= 4) {
                out->v[zlast].w++;
                continue;
            }
            if (h[j] == 0) {
                rc = cand_push(out, j0 + j, h[j]);
                zlast = (int64_t)out->n - 1;
                zkept++;
            } else {
                rc = cand_add(out, cv, j0 + j, h[j], &kept);
            }
            if (rc)
                return rc;
            if (!kept)
                continue;
            top4_add(&run, h[j]);
            double t = top4_threshold(&run);
            if (t < T)
                T = t;
        }
    }
    size_t k = 0; /* re-filter with the final threshold */
    for (size_t i = 0; i < out->n; i++)
        if (out->v[i].h <= T)
            out->v[k++] = out->v[i];
    out->n = k;
    return FPR_OK;
}

/* ------------------------------------------------------------------ exact values */
static double mpz_to_double(const mpz_t z, long exp2)
{
    mpfr_t f;
    mpfr_init2(f, 53);
    mpfr_set_z(f, z, MPFR_RNDN); /* the one rounding */
    double d = mpfr_get_d(f, MPFR_RNDN);
    mpfr_clear(f);
    return ldexp(d, (int)exp2); /* exact: results stay normal binary64 */
}

/* Exact D²·2^298 of positions q, j of a chain, in mpz (every float32·2^149 is an
 * integer held exactly in a double below 2^277). */
static void d2_mpz(mpz_t out, mpz_t t1, mpz_t t2, const fpr_chain_view *cv, int64_t q,
                   int64_t j)
{
    const float *c[3] = {cv->x, cv->y, cv->z};
    mpz_set_ui(out, 0);
    for (int k = 0; k < 3; k++) {
        mpz_set_d(t1, ldexp((double)c[k][q], 149));
        mpz_set_d(t2, ldexp((double)c[k][j], 149));
        mpz_sub(t1, t1, t2);
        mpz_addmul(out, t1, t1);
    }
}

/* Rounded to nearest binary64, also for |v| ≥ 2^64 (libgcc's conversion rounds
 * correctly; kept in one place so every path converts the same way). */
static inline double i128_to_double(i128 v) { return (double)v; }

/* Ranking entry after exact evaluation: key compared exactly, then atom index. */
typedef struct ranked {
    int64_t j;
    int32_t idx;
    i128 k;      /* int128 path */
    int slot;    /* mpz path: index into an mpz array */
} ranked;

/* The exact keys of one path behind three operations, so that ranking, ties and
 * margins (finish_row) are one code for both exact paths: cmp compares exact D²,
 * val rounds an exact D² to binary64, diff rounds an exact difference of two. */
typedef struct key_ops {
    int (*cmp)(const void *ctx, const ranked *a, const ranked *b); /* keys only */
    double (*val)(void *ctx, const ranked *a);                     /* D² → double */
    double (*diff)(void *ctx, const ranked *hi, const ranked *lo); /* D²_hi − D²_lo */
    void *ctx;
} key_ops;

static int rank_before(const key_ops *o, const ranked *a, const ranked *b)
{
    int c = o->cmp(o->ctx, a, b);
    return c < 0 || (c == 0 && a->idx < b->idx);
}

/* The 4 smallest by (exact D², atom index) by one selection pass, then the tie groups
 * by one counting pass: O(m), so even a row where thousands of duplicate atoms all
 * survive the filter costs no more than its scan. */
static void finish_row(const key_ops *o, const ranked *r, const int64_t *w, size_t m,
                       fpr_top3 *t, fpr_row_extra *ex)
{
    const ranked *best[4];
    int nb = 0;
    for (size_t i = 0; i < m; i++) {
        const ranked *x = &r[i];
        if (nb == 4 && !rank_before(o, x, best[3]))
            continue;
        int p = nb < 4 ? nb++ : 3;
        while (p > 0 && rank_before(o, x, best[p - 1])) {
            best[p] = best[p - 1];
            p--;
        }
        best[p] = x;
    }
    fpr_top3_init(t);
    for (int k = 0; k < nb && k < 3; k++) {
        t->idx[k] = best[k]->idx;
        t->val[k] = o->val(o->ctx, best[k]);
        t->n++;
    }
    if (!ex)
        return;
    ex->tie1 = ex->tie2 = 0;
    ex->margin1 = ex->margin2 = NAN;
    for (int rank = 1; rank <= 2 && rank < nb; rank++) {
        int32_t cnt = 0;
        for (size_t i = 0; i < m; i++) /* w: coincident candidates not kept (filter) */
            cnt += o->cmp(o->ctx, &r[i], best[rank]) == 0 ? (int32_t)(1 + (w ? w[i] : 0)) : 0;
        *(rank == 1 ? &ex->tie1 : &ex->tie2) = cnt;
    }
    if (nb >= 3)
        ex->margin1 = o->diff(o->ctx, best[2], best[1]) / o->val(o->ctx, best[2]);
    if (nb >= 4)
        ex->margin2 = o->diff(o->ctx, best[3], best[2]) / o->val(o->ctx, best[3]);
}

/* int128 keys: scale 2^(2s) */
typedef struct i128_ctx { int s; } i128_ctx;
static int i128_cmp(const void *ctx, const ranked *a, const ranked *b)
{
    (void)ctx;
    return (a->k > b->k) - (a->k < b->k);
}
static double i128_val(void *ctx, const ranked *a)
{
    return i128_to_double(a->k) * fpr_pow2(-2 * ((i128_ctx *)ctx)->s); /* ldexp: s ≤ 208 */
}
static double i128_diff(void *ctx, const ranked *hi, const ranked *lo)
{
    return i128_to_double(hi->k - lo->k) * fpr_pow2(-2 * ((i128_ctx *)ctx)->s);
}

/* mpz keys: scale 2^298 */
typedef struct mpz_ctx { mpz_t *keys; mpz_t tmp, tmp2; } mpz_ctx;
static int mpz_cmp_k(const void *ctx, const ranked *a, const ranked *b)
{
    const mpz_ctx *c = ctx;
    int r = mpz_cmp(c->keys[a->slot], c->keys[b->slot]);
    return (r > 0) - (r < 0);
}
static double mpz_val(void *ctx, const ranked *a)
{
    return mpz_to_double(((mpz_ctx *)ctx)->keys[a->slot], -298);
}
static double mpz_diff(void *ctx, const ranked *hi, const ranked *lo)
{
    mpz_ctx *c = ctx;
    mpz_sub(c->tmp, c->keys[hi->slot], c->keys[lo->slot]);
    return mpz_to_double(c->tmp, -298);
}

/* Exact ranking of candidates cand[0..m-1] (chain positions) of row q in GMP. */
static int rank_mpz(const fpr_chain_view *cv, int64_t q, const int64_t *pos,
                    const int64_t *w, size_t m, ranked *r, fpr_top3 *t, fpr_row_extra *ex)
{
    mpz_ctx c;
    c.keys = malloc((m ? m : 1) * sizeof(mpz_t));
    if (!c.keys)
        return fpr_error(FPR_ENOMEM, "truth: out of memory");
    mpz_inits(c.tmp, c.tmp2, (mpz_ptr)0);
    for (size_t i = 0; i < m; i++) {
        mpz_init(c.keys[i]);
        d2_mpz(c.keys[i], c.tmp, c.tmp2, cv, q, pos[i]);
        r[i].j = pos[i];
        r[i].idx = cv->idx[pos[i]];
        r[i].slot = (int)i;
    }
    key_ops o = {mpz_cmp_k, mpz_val, mpz_diff, &c};
    finish_row(&o, r, w, m, t, ex);
    for (size_t i = 0; i < m; i++)
        mpz_clear(c.keys[i]);
    mpz_clears(c.tmp, c.tmp2, (mpz_ptr)0);
    free(c.keys);
    return FPR_OK;
}

/* Exact ranking in __int128 when the row's coordinates scale to integers < 2^60
 * (see the header); returns 1 when it could not (caller falls back to GMP). */
static int rank_i128(const fpr_chain_view *cv, int64_t q, const int64_t *pos,
                     const int64_t *w, size_t m, ranked *r, fpr_top3 *t, fpr_row_extra *ex)
{
    const float *c[3] = {cv->x, cv->y, cv->z};
    float mx = 0;
    for (int k = 0; k < 3; k++) {
        mx = fmaxf(mx, fabsf(c[k][q]));
        for (size_t i = 0; i < m; i++)
            mx = fmaxf(mx, fabsf(c[k][pos[i]]));
    }
    int E = 0;
    (void)frexpf(mx, &E); /* mx < 2^E (mx = 0 gives E = 0) */
    int s = 60 - E; /* −68 ≤ s ≤ 208 (E of a float32) */
    const double p2s = fpr_pow2(s);
    int64_t Q[3];
    for (int k = 0; k < 3; k++) {
        double X = (double)c[k][q] * p2s; /* ldexp's: exact, |X| < 2^60, no overflow */
        if (X != trunc(X))
            return 1;
        Q[k] = (int64_t)X;
    }
    for (size_t i = 0; i < m; i++) {
        i128 acc = 0;
        for (int k = 0; k < 3; k++) {
            double X = (double)c[k][pos[i]] * p2s;
            if (X != trunc(X))
                return 1;
            i128 d = (i128)Q[k] - (i128)(int64_t)X; /* |d| < 2^61 */
            acc += d * d;                           /* < 3·2^122 */
        }
        r[i].j = pos[i];
        r[i].idx = cv->idx[pos[i]];
        r[i].k = acc;
    }
    i128_ctx ctx = {s};
    key_ops o = {i128_cmp, i128_val, i128_diff, &ctx};
    finish_row(&o, r, w, m, t, ex);
    return 0;
}

/* ------------------------------------------------------------------ the backend */
static int block_top3(const fpr_backend *b, const void *cfg, void *scratch,
                      const fpr_chain_view *cv, const int64_t *q, int64_t nq, fpr_top3 *out,
                      fpr_row_extra *extra)
{
    (void)b;
    (void)cfg;
    (void)scratch;
    cand_buf buf = {0};
    int64_t *pos = NULL, *w = NULL;
    ranked *r = NULL;
    size_t cap = 0;
    int rc = FPR_OK;
    for (int64_t i = 0; i < nq && rc == FPR_OK; i++) {
        if ((rc = filter_row(cv, q[i], &buf)))
            break;
        if (buf.n > cap) {
            free(pos);
            free(w);
            free(r);
            cap = buf.n;
            pos = malloc(cap * sizeof *pos);
            w = malloc(cap * sizeof *w);
            r = malloc(cap * sizeof *r);
            if (!pos || !w || !r) {
                rc = fpr_error(FPR_ENOMEM, "truth: out of memory for %zu candidates", cap);
                break;
            }
        }
        for (size_t k = 0; k < buf.n; k++) {
            pos[k] = buf.v[k].j;
            w[k] = buf.v[k].w;
        }
        fpr_row_extra *ex = extra ? &extra[i] : NULL;
        if (rank_i128(cv, q[i], pos, w, buf.n, r, &out[i], ex))
            rc = rank_mpz(cv, q[i], pos, w, buf.n, r, &out[i], ex);
    }
    cand_buf_free(&buf);
    free(pos);
    free(w);
    free(r);
    return rc;
}

/* --search grid: the exact ranking of a candidate set the driver collected (every
 * member at or below the row's exact 4th smallest D² is in it; see src/core/driver.c).
 * The ranking, the tie groups and the margins depend only on those members, so this is
 * block_top3's answer on the whole chain. */
static int cands_top3(const fpr_backend *b, const void *cfg, void *scratch,
                      const fpr_chain_view *cv, int64_t q, const int64_t *pos, int64_t m,
                      fpr_top3 *out, fpr_row_extra *extra)
{
    (void)b;
    (void)cfg;
    (void)scratch;
    ranked *r = malloc((size_t)(m > 0 ? m : 1) * sizeof *r);
    int64_t *kp = malloc((size_t)(m > 0 ? m : 1) * sizeof *kp);
    int64_t *kw = calloc((size_t)(m > 0 ? m : 1), sizeof *kw);
    if (!r || !kp || !kw) {
        free(r);
        free(kp);
        free(kw);
        return fpr_error(FPR_ENOMEM, "truth: out of memory for %lld candidates", (long long)m);
    }
    /* Candidates at q's own point (D² = 0) in any order: the 4 lowest atom indices are
     * ranked, the others only counted (as in filter_row), so a row among thousands of
     * coincident atoms costs a pass, not thousands of exact evaluations. */
    const float qx = cv->x[q], qy = cv->y[q], qz = cv->z[q];
    int64_t z4[4], zextra = 0;
    int nz = 0;
    size_t mk = 0;
    for (int64_t k = 0; k < m; k++) {
        int64_t j = pos[k];
        if (!(cv->x[j] == qx && cv->y[j] == qy && cv->z[j] == qz)) {
            kp[mk++] = j;
            continue;
        }
        if (nz == 4 && cv->idx[j] > cv->idx[z4[3]]) {
            zextra++;
            continue;
        }
        if (nz == 4)
            zextra++; /* z4[3] drops out */
        int p = nz < 4 ? nz++ : 3;
        while (p > 0 && cv->idx[j] < cv->idx[z4[p - 1]]) {
            z4[p] = z4[p - 1];
            p--;
        }
        z4[p] = j;
    }
    for (int k = 0; k < nz; k++) {
        kw[mk] = k == 0 ? zextra : 0;
        kp[mk++] = z4[k];
    }
    int rc = FPR_OK;
    if (rank_i128(cv, q, kp, kw, mk, r, out, extra))
        rc = rank_mpz(cv, q, kp, kw, mk, r, out, extra);
    free(r);
    free(kp);
    free(kw);
    return rc;
}

int fpr_truth_block_top3(const fpr_chain_view *cv, const int64_t *q, int64_t nq,
                         fpr_top3 *out, fpr_row_extra *extra, int force_mpz)
{
    if (!force_mpz)
        return block_top3(NULL, NULL, NULL, cv, q, nq, out, extra);
    cand_buf buf = {0};
    int rc = FPR_OK;
    for (int64_t i = 0; i < nq && rc == FPR_OK; i++) {
        if ((rc = filter_row(cv, q[i], &buf)))
            break;
        int64_t *pos = malloc((buf.n ? buf.n : 1) * sizeof *pos);
        int64_t *w = malloc((buf.n ? buf.n : 1) * sizeof *w);
        ranked *r = malloc((buf.n ? buf.n : 1) * sizeof *r);
        if (!pos || !w || !r)
            rc = fpr_error(FPR_ENOMEM, "truth: out of memory");
        else {
            for (size_t k = 0; k < buf.n; k++) {
                pos[k] = buf.v[k].j;
                w[k] = buf.v[k].w;
            }
            rc = rank_mpz(cv, q[i], pos, w, buf.n, r, &out[i], extra ? &extra[i] : NULL);
        }
        free(pos);
        free(w);
        free(r);
    }
    cand_buf_free(&buf);
    return rc;
}

/* Brute force: every candidate of the row in GMP, no filter. The reference the tests
 * compare the filtered truth against; written independently of finish_row. */
int fpr_truth_row_brute(const fpr_chain_view *cv, int64_t q, fpr_top3 *t, fpr_row_extra *ex)
{
    const int64_t n = cv->n;
    mpz_t *d = malloc((size_t)(n ? n : 1) * sizeof(mpz_t));
    if (!d)
        return fpr_error(FPR_ENOMEM, "truth: out of memory");
    mpz_t tmp, tmp2;
    mpz_inits(tmp, tmp2, (mpz_ptr)0);
    for (int64_t j = 0; j < n; j++) {
        mpz_init(d[j]);
        d2_mpz(d[j], tmp, tmp2, cv, q, j);
    }
    /* the 4 smallest by (D², atom index), by repeated selection */
    int64_t best[4];
    int nb = 0;
    for (; nb < 4 && nb < n; nb++) {
        int64_t bj = -1;
        for (int64_t j = 0; j < n; j++) {
            int taken = 0;
            for (int k = 0; k < nb; k++)
                taken |= best[k] == j;
            if (taken)
                continue;
            if (bj < 0) {
                bj = j;
                continue;
            }
            int c = mpz_cmp(d[j], d[bj]);
            if (c < 0 || (c == 0 && cv->idx[j] < cv->idx[bj]))
                bj = j;
        }
        best[nb] = bj;
    }
    fpr_top3_init(t);
    for (int k = 0; k < nb && k < 3; k++) {
        t->idx[k] = cv->idx[best[k]];
        t->val[k] = mpz_to_double(d[best[k]], -298);
        t->n++;
    }
    if (ex) {
        ex->tie1 = ex->tie2 = 0;
        ex->margin1 = ex->margin2 = NAN;
        for (int rank = 1; rank <= 2 && rank < nb; rank++) {
            int32_t cnt = 0;
            for (int64_t j = 0; j < n; j++)
                cnt += mpz_cmp(d[j], d[best[rank]]) == 0;
            *(rank == 1 ? &ex->tie1 : &ex->tie2) = cnt;
        }
        for (int r = 2; r <= 3 && r < nb; r++) {
            mpz_sub(tmp, d[best[r]], d[best[r - 1]]);
            double m = mpz_to_double(tmp, -298) /
                       mpz_to_double(d[best[r]], -298);
            *(r == 2 ? &ex->margin1 : &ex->margin2) = m;
        }
    }
    for (int64_t j = 0; j < n; j++)
        mpz_clear(d[j]);
    mpz_clears(tmp, tmp2, (mpz_ptr)0);
    free(d);
    return FPR_OK;
}

/* An exact evaluation has no PyTorch form. The closest realistic analogue is a
 * binary64 query-rows formulation: a float64 [N_token, N_atom] D² block plus a boolean
 * pair mask of the same shape, for each of the S samples (batched like the others). */
static double torch_peak(const fpr_backend *b, const void *cfg, double n_atom, double n_token,
                         double S)
{
    (void)b;
    (void)cfg;
    return S * (8.0 + 1.0) * n_token * n_atom;
}

const fpr_backend fpr_backend_truth = {
    .version = 1,
    .name = "truth",
    .summary = "exact ground truth: exact D2 (binary64 filter with a proven bound, then "
               "__int128/GMP), tie groups, margins, MPFR angle",
    .precision = FPR_PREC_EXACT,
    .block_top3 = block_top3,
    .cands_top3 = cands_top3,
    .torch_peak_bytes = torch_peak,
};
