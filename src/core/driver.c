/* driver.c — the frame-atom driver of SPEC §2: chain walk, per-chain candidate
 * views, streaming top-3 with the canonical tie rule, frame assembly, angle and
 * validity. Backends only supply arithmetic; everything else lives here. */
#include <float.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "internal.h"

enum { COL_BLOCK = 1024, DEFAULT_ROW_BLOCK = 16, SEED_WINDOW = 32 };
/* A search of fewer brute-force pairs than this runs on one thread (about 0.1 ms);
 * fpr_driver_test_threads(1) sets it to -1 (always the threads asked for). */
static const double SERIAL_PAIRS = 262144;
static double g_serial_pairs = SERIAL_PAIRS;

void fpr_driver_test_threads(int always) { g_serial_pairs = always ? -1.0 : SERIAL_PAIRS; }

static int g_dedupe = 1;           /* row groups of equal operands (row_dedupe) */
static int64_t g_dedupe_rows = 0;  /* rows given another's top-3 (tests) */
void fpr_driver_test_dedupe(int on) { g_dedupe = on; }
/* *c, and 0 left in its place (a test counter, read between driver calls) */
static int64_t take_count(int64_t *c)
{
    int64_t n;
#pragma omp atomic capture
    {
        n = *c;
        *c = 0;
    }
    return n;
}

int64_t fpr_driver_test_dedupe_rows(void) { return take_count(&g_dedupe_rows); }

void fpr_run_opts_init(fpr_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->angle = FPR_ANGLE_BACKEND;
    o->search = FPR_SEARCH_GRID;
    o->jobs = 1;
}

/* ------------------------------------------------------------------ top-3 */
static inline int ranks_before(double v1, int32_t i1, double v2, int32_t i2)
{
    return v1 < v2 || (v1 == v2 && i1 < i2);
}

void fpr_top3_init(fpr_top3 *t)
{
    t->n = 0;
    t->eq3 = 0;
    for (int k = 0; k < 3; k++) {
        t->idx[k] = -1;
        t->val[k] = INFINITY;
    }
    t->lim_lo = t->lim_hi = INFINITY;
    t->lim_of = NAN;
}

/* eq3 (see fpr_top3): a candidate that stays outside adds one when it equals the third.
 * One that enters evicts the old third (value old2 ≥ the new third): when the new third
 * still equals old2 the evicted candidate is one more equal outsider; when it is
 * smaller, every outsider (each ranked after the old third, so ≥ old2) is larger than
 * it, and the count restarts at 0. The count is independent of the order candidates
 * arrive in, as the top-3 itself is (a total order: value, then index). */
void fpr_top3_insert(fpr_top3 *t, double v, int32_t idx)
{
    int n = t->n;
    if (n == 3 && !ranks_before(v, idx, t->val[2], t->idx[2])) {
        t->eq3 += v == t->val[2];
        return;
    }
    double old2 = t->val[2];
    int p = n < 3 ? n : 2;
    while (p > 0 && ranks_before(v, idx, t->val[p - 1], t->idx[p - 1])) {
        t->val[p] = t->val[p - 1];
        t->idx[p] = t->idx[p - 1];
        p--;
    }
    t->val[p] = v;
    t->idx[p] = idx;
    if (n < 3)
        t->n = n + 1;
    else
        t->eq3 = t->val[2] == old2 ? t->eq3 + 1 : 0;
}

/* ------------------------------------------------------------------ chains */
int fpr_atom_chains(const fpr_case *c, int32_t **out)
{
    int32_t *ch = fpr_calloc((size_t)c->n_atom, sizeof(int32_t));
    if (!ch)
        return FPR_ENOMEM;
    /* SPEC §2 step 1: the cumulative walk over unmasked tokens; start_atom_index is
     * not used. Leftover atoms keep chain 0. */
    int64_t a = 0;
    for (int64_t t = 0; t < c->n_token; t++) {
        if (!c->token_mask[t])
            continue;
        for (int32_t k = 0; k < c->num_atoms_per_token[t] && a < c->n_atom; k++)
            ch[a++] = c->asym_id[t];
    }
    *out = ch;
    return FPR_OK;
}

static int cmp_i32(const void *p, const void *q)
{
    int32_t a = *(const int32_t *)p, b = *(const int32_t *)q;
    return (a > b) - (a < b);
}

void fpr_chains_free(fpr_chains *ch)
{
    free(ch->chain_of_atom);
    free(ch->chain_ids);
    free(ch->start);
    free(ch->members);
    free(ch->pos_in_chain);
    free(ch->chain_slot);
    memset(ch, 0, sizeof *ch);
}

int fpr_chains_build(const fpr_case *c, fpr_chains *ch)
{
    memset(ch, 0, sizeof *ch);
    int rc = fpr_atom_chains(c, &ch->chain_of_atom);
    if (rc)
        return rc;
    size_t na = (size_t)c->n_atom;
    int64_t npresent = 0;
    for (size_t i = 0; i < na; i++)
        npresent += c->atom_mask[i] != 0;
    int32_t *ids = fpr_calloc((size_t)npresent, sizeof(int32_t));
    ch->pos_in_chain = fpr_calloc(na, sizeof(int64_t));
    ch->chain_slot = fpr_calloc(na, sizeof(int64_t));
    ch->members = fpr_calloc((size_t)npresent, sizeof(int32_t));
    if (!ids || !ch->pos_in_chain || !ch->chain_slot || !ch->members) {
        free(ids);
        fpr_chains_free(ch);
        return FPR_ENOMEM;
    }
    ch->of = c;
    int64_t k = 0; /* one entry per run of equal chain ids (atoms come in chain runs) */
    for (size_t i = 0; i < na; i++)
        if (c->atom_mask[i] && (k == 0 || ids[k - 1] != ch->chain_of_atom[i]))
            ids[k++] = ch->chain_of_atom[i];
    qsort(ids, (size_t)k, sizeof(int32_t), cmp_i32);
    int64_t nc = 0;
    for (int64_t i = 0; i < k; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            ids[nc++] = ids[i];
    ch->n_chains = nc;
    ch->chain_ids = ids;
    ch->start = fpr_calloc((size_t)nc + 1, sizeof(int64_t));
    if (!ch->start) {
        fpr_chains_free(ch);
        return FPR_ENOMEM;
    }
    int32_t last_key = 0;
    int64_t last_slot = -1;
    for (size_t i = 0; i < na; i++) {
        ch->pos_in_chain[i] = -1;
        ch->chain_slot[i] = -1;
        if (!c->atom_mask[i])
            continue;
        int32_t key = ch->chain_of_atom[i];
        if (last_slot < 0 || key != last_key) {
            const int32_t *hit = bsearch(&key, ids, (size_t)nc, sizeof(int32_t), cmp_i32);
            last_key = key;
            last_slot = hit - ids;
        }
        ch->chain_slot[i] = last_slot;
        ch->start[ch->chain_slot[i] + 1]++;
    }
    for (int64_t s = 0; s < nc; s++)
        ch->start[s + 1] += ch->start[s];
    /* Stable fill keeps members ascending by atom index inside each chain. */
    int64_t *fill = fpr_calloc((size_t)nc + 1, sizeof(int64_t));
    if (!fill) {
        fpr_chains_free(ch);
        return FPR_ENOMEM;
    }
    memcpy(fill, ch->start, ((size_t)nc + 1) * sizeof(int64_t));
    for (size_t i = 0; i < na; i++) {
        if (!c->atom_mask[i])
            continue;
        int64_t sl = ch->chain_slot[i];
        ch->pos_in_chain[i] = fill[sl] - ch->start[sl];
        ch->members[fill[sl]++] = (int32_t)i;
    }
    free(fill);
    return FPR_OK;
}

/* ------------------------------------------------------------------ angle stages */
void fpr_angle_bounds_f64(double theta_deg, double *cos_hi, double *cos_lo)
{
    /* As OpenFold3 writes them: math.cos(angle_threshold * math.pi / 180) and
     * math.cos((180 - angle_threshold) * math.pi / 180), evaluated left to right in
     * binary64 (Python floats). */
    const double pi = 3.141592653589793;
    /* the last threshold's pair, per thread: a run asks for the same one per token */
    static _Thread_local double last_theta = NAN, last_hi, last_lo;
    if (!(theta_deg == last_theta)) {
        last_hi = cos(theta_deg * pi / 180.0);
        last_lo = cos((180.0 - theta_deg) * pi / 180.0);
        last_theta = theta_deg;
    }
    *cos_hi = last_hi;
    *cos_lo = last_lo;
}

int fpr_angle_valid_f32(const float xa[3], const float xb[3], const float xc[3], double eps,
                        double theta_deg)
{
    /* As PyTorch evaluates step 7 in float32: every operation rounded, sums of three
     * in the order (p0 + p1) + p2, bounds rounded from binary64 to float32. */
    float e = fpr_eps_f32(eps);
    float u0 = xa[0] - xb[0], u1 = xa[1] - xb[1], u2 = xa[2] - xb[2];
    float v0 = xc[0] - xb[0], v1 = xc[1] - xb[1], v2 = xc[2] - xb[2];
    float uv = (u0 * v0 + u1 * v1) + u2 * v2;
    float uu = (u0 * u0 + u1 * u1) + u2 * u2;
    float vv = (v0 * v0 + v1 * v1) + v2 * v2;
    float den = sqrtf(e + uu) * sqrtf(e + vv);
    float cs = uv / den;
    double hi, lo;
    fpr_angle_bounds_f64(theta_deg, &hi, &lo);
    float hif = (float)hi, lof = (float)lo;
    return lof < cs && cs < hif;
}

int fpr_angle_valid_f64(const float xa[3], const float xb[3], const float xc[3], double eps,
                        double theta_deg)
{
    double u[3], v[3];
    for (int k = 0; k < 3; k++) {
        u[k] = (double)xa[k] - (double)xb[k]; /* exact: float32 operands */
        v[k] = (double)xc[k] - (double)xb[k];
    }
    double uv = (u[0] * v[0] + u[1] * v[1]) + u[2] * v[2];
    double uu = (u[0] * u[0] + u[1] * u[1]) + u[2] * u[2];
    double vv = (v[0] * v[0] + v[1] * v[1]) + v[2] * v[2];
    double cs = uv / (sqrt(eps + uu) * sqrt(eps + vv));
    double hi, lo;
    fpr_angle_bounds_f64(theta_deg, &hi, &lo);
    return lo < cs && cs < hi;
}

/* ------------------------------------------------------------------ the run */
typedef struct row_item {
    int32_t token;   /* atomized token */
    int64_t slot;    /* chain slot of the start atom, -1: start atom absent */
    int64_t pos;     /* position in the chain */
} row_item;

static int cmp_row(const void *p, const void *q)
{
    const row_item *a = p, *b = q;
    if (a->slot != b->slot)
        return (a->slot > b->slot) - (a->slot < b->slot);
    if (a->pos != b->pos)
        return (a->pos > b->pos) - (a->pos < b->pos);
    /* rows are made in token order: the token breaks ties as a stable sort would */
    return (a->token > b->token) - (a->token < b->token);
}

/* Rows in (chain slot, position) order, stably: a counting sort by slot (masked start
 * atoms, slot −1, first), then each chain's rows by position where they are not in
 * order already (usually they are). cmp_row is a total order, so this is its order. */
static int sort_rows(row_item *rows, int64_t n, int64_t n_chains)
{
    int sorted = 1;
    for (int64_t i = 1; i < n && sorted; i++)
        sorted = cmp_row(&rows[i - 1], &rows[i]) <= 0;
    if (sorted)
        return FPR_OK;
    int64_t *at = fpr_calloc((size_t)n_chains + 2, sizeof(int64_t));
    row_item *tmp = fpr_malloc_n((size_t)n + 1, sizeof(row_item));
    if (!at || !tmp) {
        free(at);
        free(tmp);
        return FPR_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        at[rows[i].slot + 2]++;
    for (int64_t k = 1; k <= n_chains + 1; k++)
        at[k] += at[k - 1];
    for (int64_t i = 0; i < n; i++)
        tmp[at[rows[i].slot + 1]++] = rows[i];
    for (int64_t i0 = 0, i1; i0 < n; i0 = i1) {
        int in_order = 1;
        for (i1 = i0 + 1; i1 < n && tmp[i1].slot == tmp[i0].slot; i1++)
            in_order = in_order && tmp[i1 - 1].pos <= tmp[i1].pos;
        if (!in_order)
            qsort(tmp + i0, (size_t)(i1 - i0), sizeof(row_item), cmp_row);
    }
    memcpy(rows, tmp, (size_t)n * sizeof(row_item));
    free(at);
    free(tmp);
    return FPR_OK;
}

typedef struct run_ctx {
    const fpr_case *c;
    const fpr_backend *b;
    const void *cfg;
    const fpr_chains *ch;
    fpr_chain_view *views; /* [n_chains] for the current sample */
    row_item *rows;
    int64_t nrows;
    int64_t *blocks; /* [nblocks+1] offsets into rows */
    int64_t nblocks;
    fpr_top3 *top;          /* [nrows] */
    row_item *rows_tmp;     /* [nrows] scratch of grid_row_order, or NULL */
    fpr_row_extra *extra;   /* [nrows] or NULL */
    struct grid *grids;     /* [n_chains] for --search grid, else NULL */
    int fused;              /* use the backend's scan_f32 (FRAMEPREC_FUSED=0: eval path) */
    int sq;                 /* use its eval_sq_f32 + the sum scan (FRAMEPREC_FUSED=0: not) */
    const uint8_t *memo_done; /* [n_chains] 1: this sample's rows come from the memo */
    int64_t *dup;           /* [nrows] the row whose top-3 this row's is (row_dedupe), or −1 */
    uint32_t (*keys)[8];    /* [rows of the longest chain] row_dedupe's scratch */
    int32_t *ktab;          /* [ktab_n] its hash table of row offsets (−1: empty) */
    int64_t ktab_n;
} run_ctx;

/* One candidate with v <= the third of a full top-3: a value equal to the third that
 * ranks after it (larger index) only counts (the common case where computed values
 * tie in bulk, e.g. matmul_bf16's clamped zeros far from the origin); anything else
 * goes through fpr_top3_insert. */
static inline void offer_le(fpr_top3 *t, double v, int32_t idx)
{
    if (t->n == 3 && v == t->val[2] && idx > t->idx[2]) {
        t->eq3++;
        return;
    }
    fpr_top3_insert(t, v, idx);
}

/* The scan of a float32 value block into a running top-3. A value above the current
 * third can neither enter nor tie it, so only v <= third reaches fpr_top3_insert (an
 * equal one is counted in eq3). The vector paths compare 16 (8) values at once
 * against the third and insert the few that pass in index order through the same
 * fpr_top3_insert, so every level gives the same top-3 and count as the scalar loop. */
static void scan_f32_scalar(fpr_top3 *t, const float *v, const int32_t *idx, int64_t j,
                            int64_t n)
{
    float thr = (float)t->val[2]; /* exact: val holds a float32 */
    for (; j < n; j++) {
        if (!(v[j] <= thr))
            continue;
        offer_le(t, (double)v[j], idx[j]);
        thr = (float)t->val[2];
    }
}

#ifdef FPR_HAVE_X86_SIMD
#include <immintrin.h>

/* Lanes of the 16 columns at idx whose index is above i2 (ranked after the third when
 * their value equals it). */
__attribute__((target("avx2"))) static inline unsigned after16(const int32_t *idx, int32_t i2)
{
    __m256i v = _mm256_set1_epi32(i2);
    return (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(
               _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)idx), v))) |
           (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(
               _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)(idx + 8)), v)))
               << 8;
}

__attribute__((target("avx512f"))) static void scan_f32_avx512(fpr_top3 *t, const float *v,
                                                               const int32_t *idx, int64_t j,
                                                               int64_t n)
{
    __m512 thr = _mm512_set1_ps((float)t->val[2]);
    for (; j + 16 <= n; j += 16) {
        __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(v + j), thr, _CMP_LE_OQ);
        if (!m)
            continue;
        while (m) {
            int k = __builtin_ctz(m);
            m &= (__mmask16)(m - 1);
            offer_le(t, (double)v[j + k], idx[j + k]);
        }
        thr = _mm512_set1_ps((float)t->val[2]);
    }
    scan_f32_scalar(t, v, idx, j, n);
}

__attribute__((target("avx2"))) static void scan_f32_avx2(fpr_top3 *t, const float *v,
                                                          const int32_t *idx, int64_t j,
                                                          int64_t n)
{
    __m256 thr = _mm256_set1_ps((float)t->val[2]);
    for (; j + 16 <= n; j += 16) {
        __m256 v0 = _mm256_loadu_ps(v + j), v1 = _mm256_loadu_ps(v + j + 8);
        __m256 c0 = _mm256_cmp_ps(v0, thr, _CMP_LE_OQ);
        __m256 c1 = _mm256_cmp_ps(v1, thr, _CMP_LE_OQ);
        unsigned m = (unsigned)_mm256_movemask_ps(c0) | (unsigned)_mm256_movemask_ps(c1) << 8;
        if (!m)
            continue;
        /* every passing lane equal to the third and after it in index: only counts */
        unsigned eq = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v0, thr, _CMP_EQ_OQ)) |
                      (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v1, thr, _CMP_EQ_OQ)) << 8;
        if (eq == m) {
            if ((after16(idx + j, t->idx[2]) & m) == m) {
                t->eq3 += __builtin_popcount(m);
                continue;
            }
        }
        while (m) {
            int k = __builtin_ctz(m);
            m &= m - 1;
            offer_le(t, (double)v[j + k], idx[j + k]);
        }
        thr = _mm256_set1_ps((float)t->val[2]);
    }
    scan_f32_scalar(t, v, idx, j, n);
}
#endif

void fpr_top3_scan_f32(fpr_top3 *t, const float *v, const int32_t *idx, int64_t n)
{
    int simd = fpr_simd_level();
    int64_t j = 0;
    for (; j < n && t->n < 3; j++) /* the first three enter unconditionally */
        fpr_top3_insert(t, (double)v[j], idx[j]);
#ifdef FPR_HAVE_X86_SIMD
    if (simd == FPR_SIMD_AVX512) {
        scan_f32_avx512(t, v, idx, j, n);
        return;
    }
    if (simd == FPR_SIMD_AVX2) {
        scan_f32_avx2(t, v, idx, j, n);
        return;
    }
#endif
    (void)simd;
    scan_f32_scalar(t, v, idx, j, n);
}

/* ---- the scan of sums whose sqrtf is the value (backends with eval_sq_f32) */
static inline float f32_step(float s, int up)
{
    uint32_t u;
    memcpy(&u, &s, sizeof u);
    u = up ? u + 1 : u - 1; /* the encoding of s ≥ 0 is monotone */
    memcpy(&s, &u, sizeof s);
    return s;
}

/* sqrtf rounds to nearest: sqrtf(s) = v exactly when sqrt(s) lies strictly between the
 * midpoints of v and its float32 neighbours (a tie is impossible: a midpoint has 25
 * significant bits, its square 49 or 50, never a float32 s). Both midpoints and their
 * squares are exact in binary64, so the limits are the float32 values next to those
 * squares: hi the largest below the upper one, lo the smallest above the lower one. */
void fpr_sqrt_limits_f32(float v, float *lo, float *hi)
{
    if (!(v < INFINITY)) { /* only +inf has sqrtf = +inf */
        *lo = *hi = INFINITY;
        return;
    }
    if (v == 0) { /* sqrtf(s) > 0 for every s > 0 */
        *lo = *hi = 0;
        return;
    }
    /* the neighbours: one encoding up and down (v > 0; nextafterf's, without the call) */
    float up = v > 0 ? f32_step(v, 1) : nextafterf(v, INFINITY);
    float down = v > 0 ? f32_step(v, 0) : nextafterf(v, 0);
    if (up == INFINITY) {
        *hi = FLT_MAX;
    } else {
        double m = 0.5 * ((double)v + (double)up), m2 = m * m; /* exact */
        float h = (float)m2;
        if ((double)h >= m2)
            h = h > 0 ? f32_step(h, 0) : 0;
        *hi = h;
    }
    double m = 0.5 * ((double)down + (double)v), m2 = m * m; /* exact */
    float l = (float)m2;
    if ((double)l <= m2)
        l = f32_step(l, 1);
    *lo = l;
}

void fpr_eval_f32_from_sq(const fpr_backend *b, const void *cfg, void *scratch,
                          const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, float *out)
{
    b->eval_sq_f32(b, cfg, scratch, cv, q, j0, n, out);
    for (int64_t j = 0; j < n; j++)
        out[j] = sqrtf(out[j]);
}

int fpr_top3_offer_sq(fpr_top3 *t, float s, int32_t idx)
{
    const double v = (double)sqrtf(s);
    if (t->n == 3 && v > t->val[2]) /* after the third (the lane passed an older limit):
                                        what fpr_top3_insert would find, without the call */
        return 0;
    if (idx == t->idx[0] || idx == t->idx[1] || idx == t->idx[2])
        return 0;
    double old = t->val[2];
    offer_le(t, v, idx);
    return t->val[2] != old;
}

int fpr_top3_offer_lanes_sq(fpr_top3 *t, const float *s, const int32_t *idx, unsigned m)
{
    int changed = 0;
    while (m) {
        int k = __builtin_ctz(m);
        m &= m - 1;
        changed |= fpr_top3_offer_sq(t, s[k], idx[k]);
    }
    return changed;
}

static void scan_sq_scalar(fpr_top3 *t, const float *s, const int32_t *idx, int64_t j,
                           int64_t n)
{
    float lo, hi;
    fpr_top3_sq_limits(t, &lo, &hi);
    for (; j < n; j++)
        if (s[j] <= hi && fpr_top3_offer_sq(t, s[j], idx[j]))
            fpr_top3_sq_limits(t, &lo, &hi);
}

#ifdef FPR_HAVE_X86_SIMD
__attribute__((target("avx512f"))) static void scan_sq_avx512(fpr_top3 *t, const float *s,
                                                              const int32_t *idx, int64_t j,
                                                              int64_t n)
{
    float lo, hi;
    fpr_top3_sq_limits(t, &lo, &hi);
    __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    for (; j + 16 <= n; j += 16) {
        __m512 v = _mm512_loadu_ps(s + j);
        __mmask16 m = _mm512_cmp_ps_mask(v, vhi, _CMP_LE_OQ);
        if (!m)
            continue;
        /* every passing lane equal to the third and after it in index: only counts */
        __mmask16 eq = _mm512_mask_cmp_ps_mask(m, v, vlo, _CMP_GE_OQ);
        if (eq == m) {
            __mmask16 af = _mm512_mask_cmpgt_epi32_mask(
                m, _mm512_loadu_si512((const void *)(idx + j)), _mm512_set1_epi32(t->idx[2]));
            if (af == m) {
                t->eq3 += __builtin_popcount((unsigned)m);
                continue;
            }
        }
        if (fpr_top3_offer_lanes_sq(t, s + j, idx + j, m)) {
            fpr_top3_sq_limits(t, &lo, &hi);
            vlo = _mm512_set1_ps(lo);
            vhi = _mm512_set1_ps(hi);
        }
    }
    scan_sq_scalar(t, s, idx, j, n);
}

__attribute__((target("avx2"))) static void scan_sq_avx2(fpr_top3 *t, const float *s,
                                                         const int32_t *idx, int64_t j,
                                                         int64_t n)
{
    float lo, hi;
    fpr_top3_sq_limits(t, &lo, &hi);
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    for (; j + 16 <= n; j += 16) {
        __m256 v0 = _mm256_loadu_ps(s + j), v1 = _mm256_loadu_ps(s + j + 8);
        unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v0, vhi, _CMP_LE_OQ)) |
                     (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v1, vhi, _CMP_LE_OQ)) << 8;
        if (!m)
            continue;
        /* every passing lane equal to the third and after it in index: only counts */
        unsigned ge = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v0, vlo, _CMP_GE_OQ)) |
                      (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v1, vlo, _CMP_GE_OQ)) << 8;
        if ((ge & m) == m) {
            if ((after16(idx + j, t->idx[2]) & m) == m) {
                t->eq3 += __builtin_popcount(m);
                continue;
            }
        }
        if (fpr_top3_offer_lanes_sq(t, s + j, idx + j, m)) {
            fpr_top3_sq_limits(t, &lo, &hi);
            vlo = _mm256_set1_ps(lo);
            vhi = _mm256_set1_ps(hi);
        }
    }
    scan_sq_scalar(t, s, idx, j, n);
}
#endif

void fpr_top3_scan_sq_f32(fpr_top3 *t, const float *s, const int32_t *idx, int64_t n)
{
    int simd = fpr_simd_level();
    int64_t j = 0;
    for (; j < n && t->n < 3; j++) /* the first three enter unconditionally */
        fpr_top3_insert(t, (double)sqrtf(s[j]), idx[j]);
    if (j == n)
        return;
#ifdef FPR_HAVE_X86_SIMD
    if (simd == FPR_SIMD_AVX512) {
        scan_sq_avx512(t, s, idx, j, n);
        return;
    }
    if (simd == FPR_SIMD_AVX2) {
        scan_sq_avx2(t, s, idx, j, n);
        return;
    }
#endif
    (void)simd;
    scan_sq_scalar(t, s, idx, j, n);
}

void fpr_scan_sq_blocks(const fpr_backend *b, const void *cfg, void *scratch,
                        const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, fpr_top3 *t)
{
    float buf[256];
    for (int64_t k = 0; k < n; k += 256) {
        int64_t nk = n - k < 256 ? n - k : 256;
        b->eval_sq_f32(b, cfg, scratch, cv, q, j0 + k, nk, buf);
        fpr_top3_scan_sq_f32(t, buf, cv->idx + j0 + k, nk);
    }
}

static void scan_f64(fpr_top3 *t, const double *v, const int32_t *idx, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        if (t->n < 3)
            fpr_top3_insert(t, v[j], idx[j]);
        else if (v[j] <= t->val[2])
            offer_le(t, v[j], idx[j]);
    }
}

/* Columns j0..j0+n-1 of row q offered to t by the backend's plain kernels: the sums of
 * eval_sq_f32 (when present and not disabled) or the values of eval_*. */
static void eval_scan(const run_ctx *r, void *scratch, void *vbuf, const fpr_chain_view *cv,
                      int64_t q, int64_t j0, int64_t n, fpr_top3 *t)
{
    const fpr_backend *b = r->b;
    if (r->sq) {
        b->eval_sq_f32(b, r->cfg, scratch, cv, q, j0, n, vbuf);
        fpr_top3_scan_sq_f32(t, vbuf, cv->idx + j0, n);
    } else if (b->eval_f32) {
        b->eval_f32(b, r->cfg, scratch, cv, q, j0, n, vbuf);
        fpr_top3_scan_f32(t, vbuf, cv->idx + j0, n);
    } else {
        b->eval_f64(b, r->cfg, scratch, cv, q, j0, n, vbuf);
        scan_f64(t, vbuf, cv->idx + j0, n);
    }
}

/* The fused kernels' seed window of chain position q: [*w0, *w1). */
static inline void seed_window(int64_t q, int64_t n, int64_t *w0, int64_t *w1)
{
    *w0 = q - SEED_WINDOW > 0 ? q - SEED_WINDOW : 0;
    *w1 = q + SEED_WINDOW + 1 < n ? q + SEED_WINDOW + 1 : n;
}

/* Top-3 of rows r0..r1 (one chain) by eval + scan. Column blocks are the outer
 * loop, so a block of coordinates (12 KB) stays in L1 while every row of the work
 * item is evaluated against it; each row still sees its columns in ascending
 * order, hence the same top-3 as a row-at-a-time scan. */
static void rows_top3_eval(const run_ctx *r, void *scratch, void *vbuf,
                           const fpr_chain_view *cv, int64_t r0, int64_t r1)
{
    const fpr_backend *b = r->b;
    for (int64_t i = r0; i < r1; i++) {
        if (r->dup && r->dup[i] >= 0)
            continue; /* given its group's top-3 after the search */
        fpr_top3_init(&r->top[i]);
        if (r->fused) { /* seed window first: the third falls fast */
            int64_t q = r->rows[i].pos, w0, w1;
            seed_window(q, cv->n, &w0, &w1);
            b->scan_f32(b, r->cfg, scratch, cv, q, w0, w1 - w0, &r->top[i]);
        }
    }
    for (int64_t j0 = 0; j0 < cv->n; j0 += COL_BLOCK) {
        int64_t n = cv->n - j0 < COL_BLOCK ? cv->n - j0 : COL_BLOCK;
        for (int64_t i = r0; i < r1; i++) {
            if (r->dup && r->dup[i] >= 0)
                continue;
            int64_t q = r->rows[i].pos;
            if (r->fused) { /* the block less the seed window, which was offered already:
                               every column is offered once (eq3 counts each once) */
                int64_t w0, w1, e = j0 + n;
                seed_window(q, cv->n, &w0, &w1);
                int64_t a1 = e < w0 ? e : w0; /* [j0, a1) before the window */
                if (a1 > j0)
                    b->scan_f32(b, r->cfg, scratch, cv, q, j0, a1 - j0, &r->top[i]);
                int64_t a2 = j0 > w1 ? j0 : w1; /* [a2, e) after it */
                if (e > a2)
                    b->scan_f32(b, r->cfg, scratch, cv, q, a2, e - a2, &r->top[i]);
            } else {
                eval_scan(r, scratch, vbuf, cv, q, j0, n, &r->top[i]);
            }
        }
    }
}

/* ------------------------------------------------------------------ the grid (SPEC §12) */
/* --search grid: per chain and sample a uniform cell list (cell edge h, cells numbered
 * x fastest), each non-empty cell with the exact bounding box of its members, each row
 * of cells along x with the box of its cells. For backends with eval_* the chain's
 * members are also held in cell order (a second chain view, prepared by the backend), so
 * a run of cells along x is one contiguous column range, evaluated and scanned like a
 * brute-force block (grid_row_eval: the query's own row of cells first, then rows of
 * cells in rings around it, trimmed at both ends by the cells' lower bounds). Where the
 * bound reaches less than half a cell, the rows are taken in cell order and the 3×3×3
 * cells around each row's cell are gathered once per cell into one prepared view, the
 * seed block, which the row scans in one call; the row is done when ring 2 (every cell
 * outside the block) is beyond its threshold, and otherwise goes on as above with the
 * block's cells counted as visited. The truth visits cells in Chebyshev rings R = 0, 1, 2, …, inside a ring in
 * ascending order of their lower-bound distance. Nothing is approximated: the grid only
 * decides which candidates are never evaluated, and it leaves out a candidate only when
 * it is proved to rank after the row's current third, hence after the final one; every
 * candidate whose value can equal the final third is evaluated, so the count of ties at
 * the third (fpr_top3.eq3) is brute force's too.
 *
 * The proof, for a backend with computed value v and value map g = value_to_d2
 * (non-decreasing, |g(v_j) − D²_j| ≤ B_j = d2_error_bound): let Bmax ≥ B_j for every
 * pair of the chain (the bound's maximum over the chain's bounding box, taken at its 64
 * corner pairs, exact for bounds convex in each coordinate; plus 4·(eps + 1e-8) for
 * backends whose bound assumes the default eps). If a cell's lower bound L on D² to
 * the row satisfies L − Bmax > g(t), t the current third value, then every member j
 * has g(v_j) ≥ D²_j − B_j ≥ L − Bmax > g(t), so v_j > t: strictly after the third
 * whatever its index, which is what keeps the canonical tie rule (value, then index)
 * exact — a member with v_j = t and a smaller index is never left out, since the test
 * is strict. L is computed so that it never exceeds the real bound: the cell's box gap
 * (differences of float32 in binary64, three squares, two sums: ≤ 6 roundings, so
 * × (1 − 2^-48); a row's box likewise), and for rings not yet reached ((R−1)·h − 2δ)²,
 * δ the largest error of the cell assignment (x − lo)·fl(1/h) in binary64 (≤ 2^-51·span;
 * δ = 2^-45·span). g(t) + Bmax is raised by 2^-40·(|g| + t² + Bmax) for its own
 * rounding.
 *
 * Backends without eval_* but with cands_top3 (the truth) rank exactly: the row
 * collects every member whose binary64 D² estimate ĥ is ≤ T = fl(ĥ_(4)·(1 + 2^-48)),
 * ĥ_(4) the 4th smallest ĥ seen, and skips a cell when L > T. As in the truth's own
 * filter (src/truth/truth.c), ĥ = D²(1 + θ5), so T ≥ the row's exact 4th smallest D²
 * and every member at or below it is collected: the exact ranking of the collection
 * is the exact ranking of the chain (picks, tie groups, margins). */
enum { GRID_MIN_ATOMS_DEFAULT = 96 };
/* Cells the arrays hold per atom: room to refine h where atoms cluster (memory stays
 * linear in the chain's atoms; counted by fpr_case_working_set). */
enum { GRID_CELLS_PER_ATOM = FPR_GRID_CELLS_PER_ATOM };
static const double GRID_OCC = 3.0;         /* atoms per non-empty cell, about */
static const double GRID_H_PER_REACH = 0.25; /* cell edge ≥ this × sqrt(bmax) */
static const double LB_DOWN = 1.0 - 0x1p-48;
static const double TRUTH_K = 1.0 + 0x1p-48;

static double g_grid_slack = 1.0;
static int64_t g_grid_min_atoms = GRID_MIN_ATOMS_DEFAULT;
static int g_grid_force = 0;
static int g_grid_noseed = 0;
static int64_t g_grid_seed_rows = 0; /* counted only while tests ask (g_grid_count) */
static int g_grid_count = 0;

void fpr_grid_test_hooks(double slack_scale, int64_t min_atoms)
{
    g_grid_slack = slack_scale;
    g_grid_min_atoms = min_atoms > 0 ? min_atoms : GRID_MIN_ATOMS_DEFAULT;
    g_grid_force = min_atoms > 0; /* tests: the grid even where brute force is cheaper */
}

void fpr_grid_test_seed_blocks(int on)
{
    g_grid_noseed = !on;
    g_grid_count = 1;
}

int64_t fpr_grid_test_seed_rows(void) { return take_count(&g_grid_seed_rows); }

int fpr_search_parse(const char *s)
{
    if (s && strcmp(s, "grid") == 0)
        return FPR_SEARCH_GRID;
    if (s && strcmp(s, "brute") == 0)
        return FPR_SEARCH_BRUTE;
    return -1;
}

const char *fpr_search_name(int search)
{
    return search == FPR_SEARCH_BRUTE ? "brute" : "grid";
}

typedef struct grid {
    int on;               /* built for this sample (else: brute force for this chain) */
    int64_t n, cap_cells; /* atoms; cells the arrays hold */
    int64_t nx, ny, nz;
    double h, lo[3], delta, bmax;
    int32_t *cstart; /* [ncell + 1] member offsets (+ 1 for the build) */
    int32_t *pos;    /* [n] chain positions, by cell, ascending inside a cell */
    int32_t *cell;   /* [n] cell of each chain position */
    float *box;      /* [n][6] lo x, y, z, hi x, y, z of the members of each non-empty
                        cell k, at index cstart[k] (its first member's; n, not ncell,
                        boxes: most cells of a chain's bounding box are empty) */
    float *rowbox;   /* [ny·nz][6] the same for each row of cells along x */
    /* Backends with eval_*: the chain's members in cell order (x fastest), so a row of
     * cells is one contiguous column range of this view (eval and scan over it at
     * brute-force speed). pv.base is the driver's view: chain-level constants come
     * from there (the values of a pair do not depend on the view). inv[q] = the
     * cell-ordered position of chain position q. */
    fpr_chain_view pv;
    float *px, *py, *pz;
    int32_t *pidx, *inv;
    char *paux;
    int seedblk;   /* the 3×3×3 seed of a row gathered into one view (grid_seed_block) */
    uint64_t gen;  /* builds so far (one per sample): what a held seed block was built from */
    int32_t *rcnt; /* [n + 1] counting-sort scratch of the rows' cell order */
} grid;

static void grid_free(grid *g)
{
    free(g->cstart);
    free(g->pos);
    free(g->cell);
    free(g->box);
    free(g->rowbox);
    free(g->px);
    free(g->py);
    free(g->pz);
    free(g->pidx);
    free(g->inv);
    free(g->paux);
    free(g->rcnt);
    memset(g, 0, sizeof *g);
}

static int grid_alloc(grid *g, const fpr_backend *b, int64_t n)
{
    memset(g, 0, sizeof *g);
    g->n = n;
    g->cap_cells = GRID_CELLS_PER_ATOM * n + 8;
    if (g->cap_cells > INT32_MAX - 1)
        g->cap_cells = INT32_MAX - 1;
    /* not zeroed: grid_build sets every element it reads (the counts and boxes of the
     * cells in use, every atom's cell, position and cell-ordered copy) */
    g->cstart = fpr_malloc_n((size_t)g->cap_cells + 2, sizeof(int32_t));
    g->pos = fpr_malloc_n((size_t)n, sizeof(int32_t));
    g->cell = fpr_malloc_n((size_t)n, sizeof(int32_t));
    g->box = fpr_malloc_n((size_t)n * 6, sizeof(float));
    int bad = !g->cstart || !g->pos || !g->cell || !g->box;
    if (!bad && (b->eval_f32 || b->eval_f64)) {
        g->px = fpr_malloc_n((size_t)n, sizeof(float));
        g->py = fpr_malloc_n((size_t)n, sizeof(float));
        g->pz = fpr_malloc_n((size_t)n, sizeof(float));
        g->pidx = fpr_malloc_n((size_t)n, sizeof(int32_t));
        g->inv = fpr_malloc_n((size_t)n, sizeof(int32_t));
        g->rcnt = fpr_malloc_n((size_t)n + 1, sizeof(int32_t));
        bad = !g->px || !g->py || !g->pz || !g->pidx || !g->inv || !g->rcnt;
        if (!bad && b->chain_aux_bytes)
            bad = !(g->paux = fpr_calloc(b->chain_aux_bytes(b, n) + 64, 1));
    }
    if (bad) {
        grid_free(g);
        return FPR_ENOMEM;
    }
    return FPR_OK;
}

/* Cell coordinate of x along one axis: floor((x − lo)·rh) in binary64, rh = fl(1/h)
 * (a multiplication, not a division per coordinate), clamped to the last cell (the one
 * place the assignment is computed, for the proof's δ: three roundings, relative
 * 2^-53 each, so the position it stands for errs by at most 2^-51·span). */
static inline int64_t cell_coord(float x, double lo, double rh, int64_t n)
{
    int64_t i = (int64_t)(((double)x - lo) * rh);
    return i < n ? i : n - 1;
}

static double cells_for(const double span[3], double h)
{
    double c = 1;
    for (int k = 0; k < 3; k++)
        c *= floor(span[k] / h) + 1;
    return c;
}

/* Builds the cell list of one chain view (arrays from grid_alloc for cv->n atoms). */
static int grid_build(grid *g, const fpr_backend *b, const void *cfg, const fpr_chain_view *cv)
{
    const int64_t n = cv->n;
    g->gen++; /* every seed block held from an earlier build is stale */
    const float *c[3] = {cv->x, cv->y, cv->z};
    float lo[3], hi[3];
    for (int k = 0; k < 3; k++) {
        lo[k] = hi[k] = c[k][0];
        for (int64_t j = 1; j < n; j++) {
            lo[k] = c[k][j] < lo[k] ? c[k][j] : lo[k];
            hi[k] = c[k][j] > hi[k] ? c[k][j] : hi[k];
        }
    }
    double span[3], smax = 0, vol = 1;
    for (int k = 0; k < 3; k++) {
        g->lo[k] = lo[k];
        span[k] = (double)hi[k] - (double)lo[k];
        smax = fmax(smax, span[k]);
    }
    /* the bound made uniform over the chain: its maximum over the bounding box */
    double bmax = 0;
    if (b->d2_error_bound) {
        double absmax = 0; /* as the study passes it: half the largest coordinate span */
        for (int k = 0; k < 3; k++)
            absmax = fmax(absmax, 0.5 * span[k]);
        for (int ci = 0; ci < 8; ci++)
            for (int cj = 0; cj < 8; cj++) {
                float xi[3], xj[3];
                for (int k = 0; k < 3; k++) {
                    xi[k] = (ci >> k) & 1 ? hi[k] : lo[k];
                    xj[k] = (cj >> k) & 1 ? hi[k] : lo[k];
                }
                double B = b->d2_error_bound(b, cfg, xi, xj, absmax);
                bmax = B >= bmax ? B : (B < bmax ? bmax : INFINITY); /* NaN -> inf */
            }
        bmax += 4.0 * (fabs(cv->eps) + 1e-8);
    }
    g->bmax = bmax * g_grid_slack;
    double h = 1.0;
    if (smax > 0) {
        for (int k = 0; k < 3; k++)
            vol *= fmax(span[k], smax / (double)g->cap_cells);
        h = cbrt(vol * GRID_OCC / (double)n);
        while (cells_for(span, h) > (double)g->cap_cells)
            h *= 1.25;
        /* Atoms cluster (a chain in a large box): refine h by the occupancy of the
         * non-empty cells, within the cells the arrays hold. */
        for (int it = 0; it < 4; it++) {
            const int64_t nx = (int64_t)(span[0] / h) + 1, ny = (int64_t)(span[1] / h) + 1;
            const int64_t nz = (int64_t)(span[2] / h) + 1, nc = nx * ny * nz;
            const double rh = 1.0 / h;
            /* one bit per cell, in the box array (24·n bytes ≥ nc / 8 + 1: nc ≤ 8n + 8),
             * which is set only further down */
            uint8_t *seen = (uint8_t *)g->box;
            memset(seen, 0, (size_t)nc / 8 + 1);
            int64_t used = 0;
            for (int64_t j = 0; j < n; j++) {
                int64_t ix = cell_coord(c[0][j], g->lo[0], rh, nx);
                int64_t iy = cell_coord(c[1][j], g->lo[1], rh, ny);
                int64_t iz = cell_coord(c[2][j], g->lo[2], rh, nz);
                const int64_t k = (iz * ny + iy) * nx + ix;
                const uint8_t bit = (uint8_t)(1u << (k & 7));
                used += !(seen[k >> 3] & bit);
                seen[k >> 3] |= bit;
            }
            double occ = (double)n / (double)(used ? used : 1);
            if (occ <= 2.0 * GRID_OCC)
                break;
            double hn = h * cbrt(GRID_OCC / occ);
            while (cells_for(span, hn) > (double)g->cap_cells)
                hn *= 1.1;
            if (!(hn < 0.9 * h))
                break;
            h = hn;
        }
        /* a loose bound reaches sqrt(bmax) anyway: cells much smaller than that only
         * shorten the runs */
        double hb = GRID_H_PER_REACH * sqrt(g->bmax);
        h = hb > h && hb < INFINITY ? hb : h;
    }
    g->h = h;
    g->nx = (int64_t)(span[0] / h) + 1;
    g->ny = (int64_t)(span[1] / h) + 1;
    g->nz = (int64_t)(span[2] / h) + 1;
    g->delta = 0x1p-45 * smax; /* ≥ 2^5 × the cell assignment's error */
    const double rh = 1.0 / h;
    const int64_t ncell = g->nx * g->ny * g->nz;
    /* counting sort, stable (positions ascend inside a cell): cell k's count in
     * cs[k + 2], so that after the prefix sums cs[k + 1] is its start, and after the
     * placement (which advances it) the start of cell k + 1 */
    int32_t *cs = g->cstart;
    memset(cs, 0, ((size_t)ncell + 2) * sizeof(int32_t));
    for (int64_t j = 0; j < n; j++) {
        int64_t ix = cell_coord(c[0][j], g->lo[0], rh, g->nx);
        int64_t iy = cell_coord(c[1][j], g->lo[1], rh, g->ny);
        int64_t iz = cell_coord(c[2][j], g->lo[2], rh, g->nz);
        int32_t cell = (int32_t)((iz * g->ny + iy) * g->nx + ix);
        g->cell[j] = cell;
        cs[cell + 2]++;
    }
    for (int64_t k = 1; k <= ncell; k++)
        cs[k + 1] += cs[k];
    for (int64_t j = 0; j < n; j++)
        g->pos[cs[g->cell[j] + 1]++] = (int32_t)j;
    /* the boxes of the non-empty cells and their rows' (the union of the row's cell
     * boxes), in one walk over the members in cell order: a cell's box sits at its
     * first member's index, cstart[k] */
    const int64_t nrow = g->ny * g->nz;
    free(g->rowbox);
    if (!(g->rowbox = fpr_malloc_n((size_t)nrow * 6, sizeof(float))))
        return FPR_ENOMEM;
    for (int64_t rw = 0; rw < nrow; rw++) {
        float *rb = g->rowbox + (size_t)rw * 6;
        for (int w = 0; w < 3; w++) {
            rb[w] = INFINITY;
            rb[3 + w] = -INFINITY;
        }
    }
    for (int64_t m0 = 0, m1; m0 < n; m0 = m1) {
        const int32_t k = g->cell[g->pos[m0]];
        float *bx = g->box + (size_t)m0 * 6;
        for (int w = 0; w < 3; w++)
            bx[w] = bx[3 + w] = c[w][g->pos[m0]];
        for (m1 = m0 + 1; m1 < n && g->cell[g->pos[m1]] == k; m1++) {
            const int32_t j = g->pos[m1];
            for (int w = 0; w < 3; w++) {
                bx[w] = c[w][j] < bx[w] ? c[w][j] : bx[w];
                bx[3 + w] = c[w][j] > bx[3 + w] ? c[w][j] : bx[3 + w];
            }
        }
        float *rb = g->rowbox + (size_t)(k / g->nx) * 6;
        for (int w = 0; w < 3; w++) {
            rb[w] = bx[w] < rb[w] ? bx[w] : rb[w];
            rb[3 + w] = bx[3 + w] > rb[3 + w] ? bx[3 + w] : rb[3 + w];
        }
    }
    /* the cell-ordered view, prepared by the backend like the driver's own */
    if (g->px) {
        for (int64_t k = 0; k < n; k++) {
            int32_t q = g->pos[k];
            g->px[k] = c[0][q];
            g->py[k] = c[1][q];
            g->pz[k] = c[2][q];
            g->pidx[k] = cv->idx[q];
            g->inv[q] = (int32_t)k;
        }
        fpr_chain_view *v = &g->pv;
        memset(v, 0, sizeof *v);
        v->n = n;
        v->idx = g->pidx;
        v->x = g->px;
        v->y = g->py;
        v->z = g->pz;
        v->chain = cv->chain;
        v->eps = cv->eps;
        v->aux = g->paux ? (void *)(((uintptr_t)g->paux + 63) & ~(uintptr_t)63) : NULL;
        v->base = cv;
        if (b->prepare_chain) {
            int rc = b->prepare_chain(b, cfg, v);
            if (rc)
                return rc;
        }
    }
    /* Worth it? A row must reach at least radius sqrt(Bmax) beyond its neighbours (two
     * rings). Rows of cells are contiguous in the cell-ordered view, so an atom reached
     * through the grid costs a few times a brute-force pair (measured on 6ZU5's 52,573-
     * atom 25S chain, all atomized, 1 thread: matmul_tf32 0.70 s grid / 1.39 s brute at
     * a cube of 0.12 of the cells, 1.22 / 1.35 s at 0.21; matmul_bf16 4.76 / 1.40 s at
     * 0.97); when that cube is more than 1/5 of the grid (a bound as loose as
     * matmul_bf16's, matmul_tf32's far from the origin, or a small chain) brute force is
     * used. Backends without a fused kernel evaluate a pair at the same cost either way,
     * so for them the grid pays up to half of the grid (6ZU5 all atomized, 1 thread:
     * matmul_bf16x3, before it had a fused kernel, at +1000 Å 3.2 s with 1/5, 1.9–2.3 s
     * with 1/2 — with it, at 1/5, 1.78 s grid / 2.69 s brute; matmul_comp at 0 Å
     * 0.44–0.50 / 0.33–0.46 s; fp64, chunked_fp32 and cdist_direct equal within noise).
     * Either search gives the same result; this only picks the faster. */
    double reach = sqrt(g->bmax) / h + 2.0;
    double cube = 1;
    const int64_t dims[3] = {g->nx, g->ny, g->nz};
    for (int k = 0; k < 3; k++)
        cube *= fmin(2.0 * reach + 1.0, (double)dims[k]);
    const double worth = b->scan_f32 ? 5.0 : 2.0;
    g->on = !(worth * cube >= (double)ncell) || g_grid_force;
    /* The seed block pays where the search rarely leaves it: a reach (the bound) within
     * half a cell, so that the third plus the bound usually lies inside the block. */
    g->seedblk = g->on && g->px && !(g->bmax > 0.25 * h * h) && !g_grid_noseed;
    return FPR_OK;
}

/* max(0, below, above) without libm's NaN-aware call (no NaN can occur here) */
static inline double gap1(double below, double above)
{
    double g = below > above ? below : above;
    return g > 0 ? g : 0.0;
}

/* Lower bound on D² from the query point to any point of cell k's box; +inf for an
 * empty cell. */
static inline double cell_lb(const grid *g, int64_t k, double qx, double qy, double qz)
{
    if (g->cstart[k + 1] == g->cstart[k])
        return INFINITY;
    const float *bx = g->box + (size_t)g->cstart[k] * 6;
    double gx = gap1((double)bx[0] - qx, qx - (double)bx[3]);
    double gy = gap1((double)bx[1] - qy, qy - (double)bx[4]);
    double gz = gap1((double)bx[2] - qz, qz - (double)bx[5]);
    return ((gx * gx + gy * gy) + gz * gz) * LB_DOWN;
}

/* Lower bound on D² from the query (in cell a, b, c) to any atom of a cell at Chebyshev
 * distance ≥ R: such an atom lies beyond one face of the (2R−1)³ block of cells around
 * the query's, so D² ≥ (the query's distance to the nearest such face − slack)², the
 * slack covering the cell assignment (δ) and the rounding of lo + i·h (2^-45·(|lo| +
 * i·h), generous). +inf when no cell is left at distance ≥ R. */
typedef struct ring_faces {
    double hi[3], lo[3]; /* the faces beyond the block along +k and −k (±inf: none) */
    double slack;
} ring_faces;

static inline void ring_faces_of(const grid *g, int64_t R, int64_t a, int64_t b, int64_t c,
                                 ring_faces *rf)
{
    const int64_t cell[3] = {a, b, c}, dims[3] = {g->nx, g->ny, g->nz};
    double slack = g->delta;
    for (int k = 0; k < 3; k++) {
        /* (no NaN can occur: ternaries instead of libm's fmin/fmax calls) */
        rf->hi[k] = INFINITY;
        rf->lo[k] = -INFINITY;
        if (cell[k] + R <= dims[k] - 1) {
            rf->hi[k] = g->lo[k] + (double)(cell[k] + R) * g->h;
            double sl = 0x1p-45 * (fabs(g->lo[k]) + (double)(cell[k] + R) * g->h);
            slack = sl > slack ? sl : slack;
        }
        if (cell[k] - R >= 0) {
            rf->lo[k] = g->lo[k] + (double)(cell[k] - R + 1) * g->h;
            double sl = 0x1p-45 * (fabs(g->lo[k]) + (double)(cell[k] + 1) * g->h);
            slack = sl > slack ? sl : slack;
        }
    }
    rf->slack = slack;
}

static inline double ring_lb_faces(const ring_faces *rf, double qx, double qy, double qz)
{
    const double q[3] = {qx, qy, qz};
    double gmin = INFINITY;
    for (int k = 0; k < 3; k++) {
        double dh = rf->hi[k] - q[k], dl = q[k] - rf->lo[k];
        gmin = dh < gmin ? dh : gmin;
        gmin = dl < gmin ? dl : gmin;
    }
    if (gmin == INFINITY)
        return INFINITY;
    double gap = gmin - 2.0 * rf->slack;
    return gap > 0 ? gap * gap * LB_DOWN : 0.0;
}

static inline double ring_lb(const grid *g, int64_t R, int64_t a, int64_t b, int64_t c,
                             double qx, double qy, double qz)
{
    if (R == 0)
        return 0.0;
    ring_faces rf;
    ring_faces_of(g, R, a, b, c, &rf);
    return ring_lb_faces(&rf, qx, qy, qz);
}

typedef struct cell_lb_t {
    double lb;
    int32_t k;
} cell_lb_t;

/* Per-thread scratch of the grid search. */
typedef struct grid_work {
    cell_lb_t *cells;
    size_t cells_cap;
    int64_t *cpos; /* truth path: collected positions and their estimates */
    double *ch;
    size_t c_cap;
    /* the seed block (grid_seed_block): the members of the 3×3×3 cells around cell
     * scell, the query's own row of cells first, as one prepared view */
    const grid *sg;
    uint64_t sgen;             /* sg->gen when it was gathered */
    int64_t scell, sa, sb, sc; /* the cell and its coordinates */
    ring_faces sf;             /* of ring 2 around it: the cells beyond the block */
    int64_t own0, own_s0; /* sv position and cell-ordered position of the own run */
    fpr_chain_view sv;
    float *sx, *sy, *sz;
    int32_t *sidx;
    char *saux;
} grid_work;

static void grid_work_free(grid_work *w)
{
    free(w->cells);
    free(w->cpos);
    free(w->ch);
    free(w->sx);
    free(w->sy);
    free(w->sz);
    free(w->sidx);
    free(w->saux);
    memset(w, 0, sizeof *w);
}

static int push_cell(grid_work *w, size_t *n, double lb, int64_t k)
{
    if (*n == w->cells_cap) {
        size_t nc = w->cells_cap ? 2 * w->cells_cap : 256;
        cell_lb_t *p = realloc(w->cells, nc * sizeof *p);
        if (!p)
            return fpr_error(FPR_ENOMEM, "grid search: out of memory for %zu cells", nc);
        w->cells = p;
        w->cells_cap = nc;
    }
    w->cells[*n].lb = lb;
    w->cells[*n].k = (int32_t)k;
    (*n)++;
    return FPR_OK;
}

static int cmp_cell_lb(const void *p, const void *q)
{
    const cell_lb_t *a = p, *b = q;
    if (a->lb != b->lb)
        return a->lb < b->lb ? -1 : 1;
    return (a->k > b->k) - (a->k < b->k);
}

/* The cells of ring R around (a, b, c) whose lower bound is ≤ thr, sorted by it. */
static int ring_cells(const grid *g, grid_work *w, int64_t R, int64_t a, int64_t b, int64_t c,
                      double qx, double qy, double qz, double thr, size_t *nout)
{
    size_t n = 0;
    int64_t i0 = a - R > 0 ? a - R : 0, i1 = a + R < g->nx - 1 ? a + R : g->nx - 1;
    int64_t j0 = b - R > 0 ? b - R : 0, j1 = b + R < g->ny - 1 ? b + R : g->ny - 1;
    int64_t k0 = c - R > 0 ? c - R : 0, k1 = c + R < g->nz - 1 ? c + R : g->nz - 1;
    for (int64_t k = k0; k <= k1; k++)
        for (int64_t j = j0; j <= j1; j++) {
            int shell = R == 0 || k == c - R || k == c + R || j == b - R || j == b + R;
            int64_t step = shell ? 1 : 2 * R; /* inside: only the two x faces */
            for (int64_t i = shell ? i0 : a - R; i <= i1; i += step) {
                if (i < i0)
                    continue;
                int64_t cell = (k * g->ny + j) * g->nx + i;
                if (g->cstart[cell + 1] == g->cstart[cell])
                    continue;
                double lb = cell_lb(g, cell, qx, qy, qz);
                if (lb > thr)
                    continue;
                int rc = push_cell(w, &n, lb, cell);
                if (rc)
                    return rc;
            }
        }
    if (n > 1) {
        if (n <= 32) { /* insertion sort: the usual ring is small */
            for (size_t x = 1; x < n; x++) {
                cell_lb_t v = w->cells[x];
                size_t y = x;
                while (y > 0 && cmp_cell_lb(&v, &w->cells[y - 1]) < 0) {
                    w->cells[y] = w->cells[y - 1];
                    y--;
                }
                w->cells[y] = v;
            }
        } else {
            qsort(w->cells, n, sizeof *w->cells, cmp_cell_lb);
        }
    }
    *nout = n;
    return FPR_OK;
}

/* D² threshold of the eval path: a cell with lower bound > it holds only candidates
 * whose computed value is > the current third (see the proof above). */
static inline double eval_threshold(const fpr_backend *b, const void *cfg, const fpr_top3 *t,
                                    double bmax)
{
    if (t->n < 3)
        return INFINITY;
    double v = t->val[2];
    if (!(v < INFINITY))
        return INFINITY;
    double gv = b->value_to_d2 ? b->value_to_d2(b, cfg, v) : v;
    double s = gv + bmax;
    return s + 0x1p-40 * (fabs(gv) + v * v + bmax);
}

static inline void insert_tie_rule(fpr_top3 *t, double v, int32_t idx)
{
    if (t->n < 3)
        fpr_top3_insert(t, v, idx);
    else if (v <= t->val[2]) /* an equal value enters or is counted (eq3) */
        offer_le(t, v, idx);
}

/* Lower bound on D² from the query to any atom of the row of cells (j, k). */
static inline double row_lb(const grid *g, int64_t j, int64_t k, double qx, double qy, double qz)
{
    const float *bx = g->rowbox + (size_t)(k * g->ny + j) * 6;
    double gx = gap1((double)bx[0] - qx, qx - (double)bx[3]);
    double gy = gap1((double)bx[1] - qy, qy - (double)bx[4]);
    double gz = gap1((double)bx[2] - qz, qz - (double)bx[5]);
    return ((gx * gx + gy * gy) + gz * gz) * LB_DOWN;
}

enum { GRID_FUSED_MIN = 48 };

/* Columns [s0, e) of view v offered to row q's top-3, in blocks of COL_BLOCK. */
static void view_scan(const run_ctx *r, void *scratch, void *vbuf, const fpr_chain_view *v,
                      int64_t q, int64_t s0, int64_t e, fpr_top3 *t)
{
    for (; s0 < e; s0 += COL_BLOCK) {
        const int64_t n = e - s0 < COL_BLOCK ? e - s0 : COL_BLOCK;
        if (r->fused && n >= GRID_FUSED_MIN) /* short runs: eval + scan is cheaper */
            r->b->scan_f32(r->b, r->cfg, scratch, v, q, s0, n, t);
        else
            eval_scan(r, scratch, vbuf, v, q, s0, n, t);
    }
}

/* Evaluates cells i0..i1 of the row (j, k) — one contiguous range of the cell-ordered
 * view — less the cells at either end whose lower bound exceeds *thr, into t. */
static void grid_run(const run_ctx *r, const grid *g, void *scratch, void *vbuf, int64_t pq,
                     int64_t i0, int64_t i1, int64_t j, int64_t k, double *thr, fpr_top3 *t)
{
    const fpr_backend *b = r->b;
    const fpr_chain_view *pv = &g->pv;
    const double qx = pv->x[pq], qy = pv->y[pq], qz = pv->z[pq];
    const int64_t row = (k * g->ny + j) * g->nx;
    while (i0 <= i1 && cell_lb(g, row + i0, qx, qy, qz) > *thr)
        i0++;
    while (i1 >= i0 && cell_lb(g, row + i1, qx, qy, qz) > *thr)
        i1--;
    if (i0 > i1)
        return;
    view_scan(r, scratch, vbuf, pv, pq, g->cstart[row + i0], g->cstart[row + i1 + 1], t);
    *thr = eval_threshold(b, r->cfg, t, g->bmax);
}

enum { SEED_BLOCK_MAX = COL_BLOCK }; /* members of a seed block at most (else: cell runs) */

/* Gathers the seed block of cell cq into w->sv (its members in cell order, the query's
 * own row of cells first, prepared by the backend); w->sv.n = 0 when it holds more than
 * SEED_BLOCK_MAX atoms. The block is a function of the cell alone, so which rows share
 * it changes nothing in any row's result. */
static int grid_seed_block(const run_ctx *r, const grid *g, grid_work *w, int64_t cq)
{
    /* held: the same grid, the same build of it (this sample's coordinates), the cell */
    if (w->sg == g && w->sgen == g->gen && w->scell == cq)
        return FPR_OK;
    const fpr_backend *b = r->b;
    if (!w->sx) {
        w->sx = fpr_malloc_n(SEED_BLOCK_MAX, sizeof(float));
        w->sy = fpr_malloc_n(SEED_BLOCK_MAX, sizeof(float));
        w->sz = fpr_malloc_n(SEED_BLOCK_MAX, sizeof(float));
        w->sidx = fpr_malloc_n(SEED_BLOCK_MAX, sizeof(int32_t));
        if (b->chain_aux_bytes)
            w->saux = fpr_calloc(b->chain_aux_bytes(b, SEED_BLOCK_MAX) + 64, 1);
        if (!w->sx || !w->sy || !w->sz || !w->sidx || (b->chain_aux_bytes && !w->saux))
            return fpr_error(FPR_ENOMEM, "grid search: out of memory for a seed block");
    }
    w->sg = g;
    w->sgen = g->gen;
    w->scell = cq;
    const int64_t a = cq % g->nx, bb = (cq / g->nx) % g->ny, c = cq / (g->nx * g->ny);
    w->sa = a;
    w->sb = bb;
    w->sc = c;
    ring_faces_of(g, 2, a, bb, c, &w->sf);
    const int64_t sa0 = a - 1 > 0 ? a - 1 : 0, sa1 = a + 1 < g->nx - 1 ? a + 1 : g->nx - 1;
    /* runs of the cell-ordered view: the query's own cell, the rest of its row of
     * cells, then the 8 rows around */
    int64_t run[11][2], nr = 0;
    const int64_t own = (c * g->ny + bb) * g->nx;
    run[nr][0] = g->cstart[cq];
    run[nr++][1] = g->cstart[cq + 1];
    run[nr][0] = g->cstart[own + sa0];
    run[nr++][1] = g->cstart[cq];
    run[nr][0] = g->cstart[cq + 1];
    run[nr++][1] = g->cstart[own + sa1 + 1];
    for (int64_t k = c - 1; k <= c + 1; k++)
        for (int64_t j = bb - 1; j <= bb + 1; j++) {
            if (k < 0 || k >= g->nz || j < 0 || j >= g->ny || (j == bb && k == c))
                continue;
            const int64_t row = (k * g->ny + j) * g->nx;
            run[nr][0] = g->cstart[row + sa0];
            run[nr++][1] = g->cstart[row + sa1 + 1];
        }
    int64_t m = 0;
    for (int64_t x = 0; x < nr; x++)
        m += run[x][1] - run[x][0];
    if (m > SEED_BLOCK_MAX) {
        w->sv.n = 0;
        return FPR_OK;
    }
    w->own_s0 = g->cstart[cq]; /* the own cell comes first: own0 = 0 */
    w->own0 = 0;
    m = 0;
    for (int64_t x = 0; x < nr; x++) /* short runs: a loop, not four memcpy calls */
        for (int64_t s0 = run[x][0]; s0 < run[x][1]; s0++, m++) {
            w->sx[m] = g->px[s0];
            w->sy[m] = g->py[s0];
            w->sz[m] = g->pz[s0];
            w->sidx[m] = g->pidx[s0];
        }
    fpr_chain_view *v = &w->sv;
    *v = g->pv; /* chain, eps, base: the driver's view, already prepared */
    v->n = m;
    v->x = w->sx;
    v->y = w->sy;
    v->z = w->sz;
    v->idx = w->sidx;
    v->aux = w->saux ? (void *)(((uintptr_t)w->saux + 63) & ~(uintptr_t)63) : NULL;
    if (b->prepare_chain) {
        int rc = b->prepare_chain(b, r->cfg, v);
        if (rc)
            return rc;
    }
    return FPR_OK;
}

/* Top-3 of chain row q by the grid, for backends with eval_*. First the cells a − 1 ..
 * a + 1 of the query's own row (the 3×3×3 cells around it where those hold fewer than
 * three atoms), which bring the third down; then the rows of cells in
 * rings of growing Chebyshev distance ρ in (y, z) around the query's row, each row over
 * the x range |i − a| ≤ X, X the largest R with ring_lb(R) ≤ thr (cells further along
 * x lie at Chebyshev distance > X, beyond ring_lb(X + 1) > thr), skipping rows whose
 * box is beyond thr, trimming cells at both ends beyond thr; stopping at the first ρ
 * with ring_lb(ρ) > thr (every cell of every further row is at least that far). Each
 * cell is evaluated at most once, and a cell is left out only when its lower bound, or
 * a ring bound below it, exceeds the running threshold — so the proof above holds. */
static int grid_row_eval(const run_ctx *r, const grid *g, grid_work *w, void *scratch,
                         void *vbuf, const fpr_chain_view *cv, int64_t q, fpr_top3 *t)
{
    (void)cv;
    fpr_top3_init(t);
    const int64_t pq = g->inv[q];
    const double qx = g->pv.x[pq], qy = g->pv.y[pq], qz = g->pv.z[pq];
    const int64_t cq = g->cell[q];
    double thr = INFINITY;
    int64_t a, bb, c;
    int block = 0; /* the seed was the whole 3×3×3 block */
    if (g->seedblk) { /* the 3×3×3 cells at once, from the block its cell shares */
        int rc = grid_seed_block(r, g, w, cq);
        if (rc)
            return rc;
        a = w->sa;
        bb = w->sb;
        c = w->sc;
        if (w->sv.n > 0) {
            /* its first three columns alone (the own cell's), so that the kernel's
             * lane groups meet a full top-3 and a finite limit from the start */
            const int64_t sq = w->own0 + (pq - w->own_s0), n3 = w->sv.n < 3 ? w->sv.n : 3;
            view_scan(r, scratch, vbuf, &w->sv, sq, 0, n3, t);
            view_scan(r, scratch, vbuf, &w->sv, sq, n3, w->sv.n, t);
            thr = eval_threshold(r->b, r->cfg, t, g->bmax);
            block = 1;
            /* Every cell beyond the block is beyond thr: the loop below would find just
             * that at once (X = 1; ρ = 0 and 1 seeded; ring_lb(2) > thr at ρ = 2). */
            if (ring_lb_faces(&w->sf, qx, qy, qz) > thr) {
                if (g_grid_count) {
#pragma omp atomic
                    g_grid_seed_rows++;
                }
                return FPR_OK;
            }
        }
    } else {
        a = cq % g->nx;
        bb = (cq / g->nx) % g->ny;
        c = cq / (g->nx * g->ny);
    }
    int64_t Rmax = g->nx > g->ny ? g->nx : g->ny;
    Rmax = Rmax > g->nz ? Rmax : g->nz;
    /* the seed: the query's own row of cells, a − 1 .. a + 1; where that holds fewer than
     * three atoms, the 3×3 rows around it too */
    const int64_t sa0 = a - 1 > 0 ? a - 1 : 0, sa1 = a + 1 < g->nx - 1 ? a + 1 : g->nx - 1;
    int seed9 = block;
    if (!block) {
        grid_run(r, g, scratch, vbuf, pq, sa0, sa1, bb, c, &thr, t);
        seed9 = t->n < 3;
    }
    if (seed9 && !block)
        for (int64_t k = c - 1; k <= c + 1; k++)
            for (int64_t j = bb - 1; j <= bb + 1; j++)
                if (k >= 0 && k < g->nz && j >= 0 && j < g->ny && (j != bb || k != c))
                    grid_run(r, g, scratch, vbuf, pq, sa0, sa1, j, k, &thr, t);
    int64_t X = 1;
    while (X < Rmax && !(ring_lb(g, X + 1, a, bb, c, qx, qy, qz) > thr))
        X++;
    for (int64_t rho = 0; rho <= Rmax; rho++) {
        if (rho > 1 && ring_lb(g, rho, a, bb, c, qx, qy, qz) > thr)
            break;
        if (rho == 0 && X <= 1)
            continue; /* the seed covered this row's cells within reach */
        if (rho == 1 && X <= 1 && seed9)
            continue; /* and these */
        while (X > 1 && ring_lb(g, X, a, bb, c, qx, qy, qz) > thr)
            X--; /* the threshold fell: fewer cells along x can matter */
        const int64_t i0 = a - X > 0 ? a - X : 0, i1 = a + X < g->nx - 1 ? a + X : g->nx - 1;
        const int64_t k0 = c - rho, k1 = c + rho, j0 = bb - rho, j1 = bb + rho;
        const int seeded = rho == 0 || (rho == 1 && seed9); /* middle cells done */
        for (int64_t k = k0 > 0 ? k0 : 0; k <= k1 && k < g->nz; k++) {
            /* the ring's rows: every j on its two k faces, else only j = j0 and j1 */
            const int64_t step = k == k0 || k == k1 || rho == 0 ? 1 : 2 * rho;
            for (int64_t j = j0; j <= j1; j += step) {
                if (j < 0 || j >= g->ny || row_lb(g, j, k, qx, qy, qz) > thr)
                    continue;
                if (!seeded) {
                    grid_run(r, g, scratch, vbuf, pq, i0, i1, j, k, &thr, t);
                    continue;
                }
                if (i0 <= sa0 - 1)
                    grid_run(r, g, scratch, vbuf, pq, i0, sa0 - 1, j, k, &thr, t);
                if (sa1 + 1 <= i1)
                    grid_run(r, g, scratch, vbuf, pq, sa1 + 1, i1, j, k, &thr, t);
            }
        }
        if (k0 <= 0 && k1 >= g->nz - 1 && j0 <= 0 && j1 >= g->ny - 1)
            break; /* every row visited */
    }
    return FPR_OK;
}

/* Running 4 smallest estimates (duplicates count: distinct candidates). */
static inline void top4_add(double v4[4], int *n4, double h)
{
    int p;
    if (*n4 < 4) {
        p = (*n4)++;
    } else {
        if (!(h < v4[3]))
            return;
        p = 3;
    }
    while (p > 0 && h < v4[p - 1]) {
        v4[p] = v4[p - 1];
        p--;
    }
    v4[p] = h;
}

/* Top-3 of chain row q by the grid, for exact backends (cands_top3). */
static int grid_row_cands(const run_ctx *r, const grid *g, grid_work *w, void *scratch,
                          const fpr_chain_view *cv, int64_t q, fpr_top3 *t, fpr_row_extra *ex)
{
    const double qx = cv->x[q], qy = cv->y[q], qz = cv->z[q];
    const int64_t cq = g->cell[q];
    const int64_t a = cq % g->nx, bb = (cq / g->nx) % g->ny, c = cq / (g->nx * g->ny);
    int64_t Rmax = g->nx > g->ny ? g->nx : g->ny;
    Rmax = Rmax > g->nz ? Rmax : g->nz;
    double T = INFINITY, v4[4];
    int n4 = 0;
    size_t m = 0;
    if (w->c_cap < (size_t)cv->n) { /* at most every member is collected */
        free(w->cpos);
        free(w->ch);
        w->cpos = fpr_calloc((size_t)cv->n, sizeof(int64_t));
        w->ch = fpr_calloc((size_t)cv->n, sizeof(double));
        w->c_cap = w->cpos && w->ch ? (size_t)cv->n : 0;
        if (!w->c_cap)
            return FPR_ENOMEM;
    }
    for (int64_t R = 0; R <= Rmax; R++) {
        double rlb = ring_lb(g, R, a, bb, c, qx, qy, qz);
        if (rlb > T || rlb == INFINITY)
            break;
        size_t nc;
        int rc = ring_cells(g, w, R, a, bb, c, qx, qy, qz, T, &nc);
        if (rc)
            return rc;
        for (size_t ci = 0; ci < nc; ci++) {
            if (w->cells[ci].lb > T)
                break;
            const int32_t *p = g->pos + g->cstart[w->cells[ci].k];
            const int64_t mc = g->cstart[w->cells[ci].k + 1] - g->cstart[w->cells[ci].k];
            for (int64_t s = 0; s < mc; s++) {
                const int64_t j = p[s];
                double dx = qx - (double)cv->x[j];
                double dy = qy - (double)cv->y[j];
                double dz = qz - (double)cv->z[j];
                double hj = (dx * dx + dy * dy) + dz * dz;
                if (!(hj <= T))
                    continue;
                w->cpos[m] = j;
                w->ch[m] = hj;
                m++;
                top4_add(v4, &n4, hj);
                if (n4 == 4) {
                    double t4 = v4[3] * TRUTH_K;
                    T = t4 < T ? t4 : T;
                }
            }
        }
    }
    size_t k = 0; /* keep what the final threshold keeps */
    for (size_t i = 0; i < m; i++)
        if (w->ch[i] <= T)
            w->cpos[k++] = w->cpos[i];
    return r->b->cands_top3(r->b, r->cfg, scratch, cv, q, w->cpos, (int64_t)k, t, ex);
}

/* For this sample, the rows of each chain whose grid uses seed blocks put in the order
 * of their atom's cell-ordered position (a stable counting sort): rows sharing a cell,
 * hence a seed block, come together, and a work item walks its rows and their top-3
 * in memory order. A row's result does not depend on where it stands (every later use
 * goes through its token), and the rows of one chain keep their range of r->rows, so
 * every work item still holds rows of one chain. */
static void grid_row_order(run_ctx *r)
{
    for (int64_t i0 = 0, i1; i0 < r->nrows; i0 = i1) {
        const int64_t sl = r->rows[i0].slot;
        for (i1 = i0 + 1; i1 < r->nrows && r->rows[i1].slot == sl; i1++)
            ;
        const grid *g = sl >= 0 ? &r->grids[sl] : NULL;
        if (!g || !g->seedblk || (r->memo_done && r->memo_done[sl]))
            continue; /* (a memo chain's grid is not built for this sample) */
        int32_t *cnt = g->rcnt;
        memset(cnt, 0, ((size_t)g->n + 1) * sizeof(int32_t));
        for (int64_t i = i0; i < i1; i++)
            cnt[g->inv[r->rows[i].pos] + 1]++;
        for (int64_t k = 0; k < g->n; k++)
            cnt[k + 1] += cnt[k];
        for (int64_t i = i0; i < i1; i++)
            r->rows_tmp[cnt[g->inv[r->rows[i].pos]]++] = r->rows[i];
        memcpy(r->rows + i0, r->rows_tmp, (size_t)(i1 - i0) * sizeof(row_item));
    }
}

/* Brute force's row groups for this sample: in each chain searched by brute force
 * (no grid, not from the memo), the rows whose operands (fpr_backend.row_key) equal
 * an earlier row's are marked with that row (r->dup), searched not at all, and given
 * its top-3 after the search. Equal words mean equal values against every column, and
 * a top-3 is a function of the values and the column indices (the candidates are the
 * chain's members, the same for every row of the chain), so each such row gets what
 * its own search would find. The first row of a group (in row order) is searched. */
static void row_dedupe(run_ctx *r)
{
    for (int64_t i0 = 0, i1; i0 < r->nrows; i0 = i1) {
        const int64_t sl = r->rows[i0].slot;
        for (i1 = i0 + 1; i1 < r->nrows && r->rows[i1].slot == sl; i1++)
            ;
        for (int64_t i = i0; i < i1; i++)
            r->dup[i] = -1;
        if (sl < 0 || i1 - i0 < 2 || (r->grids && r->grids[sl].on) ||
            (r->memo_done && r->memo_done[sl]))
            continue;
        const fpr_chain_view *cv = &r->views[sl];
        const int64_t nr = i1 - i0;
        int64_t tn = 16;
        while (tn < 2 * nr)
            tn *= 2; /* (≤ ktab_n: sized for the longest chain's rows) */
        for (int64_t k = 0; k < tn; k++)
            r->ktab[k] = -1;
        int nk0 = -1;
        for (int64_t i = i0; i < i1; i++) {
            uint32_t *key = r->keys[i - i0];
            memset(key, 0, 8 * sizeof *key);
            const int nk = r->b->row_key(r->b, r->cfg, cv, r->rows[i].pos, key);
            if (nk <= 0 || nk > 8 || (nk0 >= 0 && nk != nk0)) {
                for (int64_t j = i0; j < i1; j++)
                    r->dup[j] = -1; /* no key for this chain: every row searched */
                break;
            }
            nk0 = nk;
            uint64_t h = 1469598103934665603ull; /* FNV-1a over the words */
            for (int w = 0; w < nk; w++) {
                h ^= key[w];
                h *= 1099511628211ull;
            }
            h ^= h >> 29;
            for (int64_t slot = (int64_t)(h & (uint64_t)(tn - 1));;
                 slot = (slot + 1) & (tn - 1)) {
                const int32_t o = r->ktab[slot];
                if (o < 0) {
                    r->ktab[slot] = (int32_t)(i - i0);
                    break;
                }
                if (!memcmp(r->keys[o], key, 8 * sizeof *key)) {
                    r->dup[i] = i0 + o;
                    break;
                }
            }
        }
    }
}

static int run_block(const run_ctx *r, int64_t blk, void *scratch, void *vbuf, int64_t *qbuf,
                     grid_work *gw)
{
    int64_t r0 = r->blocks[blk], r1 = r->blocks[blk + 1];
    int64_t slot = r->rows[r0].slot;
    if (slot >= 0 && r->memo_done && r->memo_done[slot])
        return FPR_OK; /* filled from the memo */
    if (slot < 0) { /* start atom absent: no candidates at all */
        for (int64_t i = r0; i < r1; i++) {
            fpr_top3_init(&r->top[i]);
            if (r->extra) { /* no picks of its own: ties and margins undefined */
                r->extra[i].tie1 = r->extra[i].tie2 = 0;
                r->extra[i].margin1 = r->extra[i].margin2 = NAN;
            }
        }
        return FPR_OK;
    }
    const fpr_chain_view *cv = &r->views[slot];
    if (r->grids && r->grids[slot].on) {
        const grid *g = &r->grids[slot];
        for (int64_t i = r0; i < r1; i++) {
            int64_t q = r->rows[i].pos;
            int rc = r->b->eval_f32 || r->b->eval_f64
                         ? grid_row_eval(r, g, gw, scratch, vbuf, cv, q, &r->top[i])
                         : grid_row_cands(r, g, gw, scratch, cv, q, &r->top[i],
                                          r->extra ? &r->extra[i] : NULL);
            if (rc)
                return rc;
        }
        return FPR_OK;
    }
    if (r->b->block_top3) {
        for (int64_t i = r0; i < r1; i++)
            qbuf[i - r0] = r->rows[i].pos;
        return r->b->block_top3(r->b, r->cfg, scratch, cv, qbuf, r1 - r0, &r->top[r0],
                                r->extra ? &r->extra[r0] : NULL);
    }
    rows_top3_eval(r, scratch, vbuf, cv, r0, r1);
    return FPR_OK;
}

/* Fills a row with fewer than three candidates from the `inf` columns: those all
 * tie, so the tie rule takes the smallest atom indices outside the row's pairs. */
static void fill_from_inf(const fpr_case *c, const fpr_chains *ch, int32_t row_atom,
                          double inf_value, fpr_top3 *t)
{
    int present = c->atom_mask[row_atom] != 0;
    int32_t chain = ch->chain_of_atom[row_atom];
    for (int64_t j = 0; j < c->n_atom && t->n < 3; j++) {
        int paired = present && c->atom_mask[j] && ch->chain_of_atom[j] == chain;
        if (!paired) {
            t->idx[t->n] = (int32_t)j;
            t->val[t->n] = inf_value;
            t->n++;
        }
    }
}

static void assemble_token(const fpr_case *c, const fpr_chains *ch, int64_t s, int64_t t,
                           const int32_t top_idx[3], int angle_stage, fpr_frames *f,
                           int64_t o)
{
    int32_t st = c->start_atom_index[t];
    int32_t idx[3];
    int has = 0;
    int tm = c->token_mask[t];
    if (c->is_atomized[t]) {
        idx[0] = top_idx[1];
        idx[1] = st;
        idx[2] = top_idx[2];
        has = 1;
    } else if ((c->is_protein[t] || c->is_rna[t] || c->is_dna[t])) {
        for (int w = 0; w < 3; w++)
            idx[w] = st + (tm ? fpr_frame_atom_offset(c->restype[t], w) : 0);
        has = tm; /* the reference multiplies its one-hot restype by the token mask */
    } else {
        idx[0] = idx[1] = idx[2] = 0;
        has = 0;
    }
    const float *xs = c->x + (size_t)s * (size_t)c->n_atom * 3;
    const float *p[3];
    int m = tm && has;
    for (int w = 0; w < 3; w++) {
        p[w] = xs + (size_t)idx[w] * 3;
        m = m && c->atom_mask[idx[w]];
        for (int k = 0; k < 3; k++)
            f->phi[o * 9 + w * 3 + k] = p[w][k];
    }
    int angle_ok = 1;
    if (c->is_atomized[t]) {
        int fragile = 0;
        switch (angle_stage) {
        case FPR_ANGLE_F32:
            angle_ok = fpr_angle_valid_f32(p[0], p[1], p[2], c->eps, c->angle_threshold);
            break;
        case FPR_ANGLE_F64:
            angle_ok = fpr_angle_valid_f64(p[0], p[1], p[2], c->eps, c->angle_threshold);
            break;
        default:
            angle_ok = fpr_angle_valid_exact(p[0], p[1], p[2], c->eps, c->angle_threshold,
                                             &fragile);
            break;
        }
        if (f->fragile_angle)
            f->fragile_angle[o] = (uint8_t)fragile;
    }
    const int32_t *chain = ch->chain_of_atom;
    int valid = angle_ok && tm && m && chain[idx[0]] == chain[idx[1]] &&
                chain[idx[1]] == chain[idx[2]];
    f->a_index[o] = idx[0];
    f->b_index[o] = idx[1];
    f->c_index[o] = idx[2];
    f->valid_frame_mask[o] = (uint8_t)valid;
}

/* Sample s's coordinates of the chains' members, in member order: x, then y, then z. */
static void fill_soa(const fpr_case *c, const fpr_chains *ch, int64_t s, float *soa, int jobs)
{
    int64_t np = ch->start[ch->n_chains];
    const float *xs = c->x + (size_t)s * (size_t)c->n_atom * 3;
#pragma omp parallel for schedule(static) num_threads(jobs) if (np > 65536)
    for (int64_t k = 0; k < np; k++) {
        const float *p = xs + (size_t)ch->members[k] * 3;
        soa[k] = p[0];
        soa[np + k] = p[1];
        soa[2 * np + k] = p[2];
    }
}

/* Per-chain steps run over the chains in parallel (each writes only its own chain's
 * structures); the error reported is that of the lowest failing chain, as a serial
 * loop would report it. */
typedef struct chain_err {
    int64_t slot; /* lowest failing chain so far (n_chains: none) */
    int rc;
    char msg[512];
} chain_err;

static void chain_err_init(chain_err *e, int64_t n_chains)
{
    e->slot = n_chains;
    e->rc = FPR_OK;
    e->msg[0] = 0;
}

static void chain_err_set(chain_err *e, int64_t sl, int rc)
{
#pragma omp critical(fpr_driver_chain_err)
    {
        if (sl < e->slot) {
            e->slot = sl;
            e->rc = rc;
            snprintf(e->msg, sizeof e->msg, "%s", fpr_errmsg());
        }
    }
}

static int chain_err_done(const chain_err *e)
{
    return e->rc ? fpr_error(e->rc, "%s", e->msg) : FPR_OK;
}

/* Parallel over chains only where there is work to share (no thread start-up for a
 * small case). */
static int chains_parallel(const fpr_chains *ch)
{
    return ch->n_chains > 1 && ch->start[ch->n_chains] > 8192;
}

static int build_views(const fpr_case *c, const fpr_backend *b, const void *cfg,
                       const fpr_chains *ch, int64_t s, float *soa, char *aux,
                       const size_t *aux_off, fpr_chain_view *views, int jobs)
{
    int64_t np = ch->start[ch->n_chains];
    fill_soa(c, ch, s, soa, jobs);
    chain_err err;
    chain_err_init(&err, ch->n_chains);
#pragma omp parallel for schedule(dynamic, 1) num_threads(jobs) if (chains_parallel(ch))
    for (int64_t sl = 0; sl < ch->n_chains; sl++) {
        fpr_chain_view *v = &views[sl];
        int64_t a = ch->start[sl];
        v->n = ch->start[sl + 1] - a;
        v->idx = ch->members + a;
        v->x = soa + a;
        v->y = soa + np + a;
        v->z = soa + 2 * np + a;
        v->chain = ch->chain_ids[sl];
        v->eps = c->eps;
        v->aux = aux ? aux + aux_off[sl] : NULL;
        int rc = b->prepare_chain ? b->prepare_chain(b, cfg, v) : FPR_OK;
        if (rc)
            chain_err_set(&err, sl, rc);
    }
    return chain_err_done(&err);
}

/* ------------------------------------------------------------------ the memo */
/* Which members are rows (start atoms of atomized tokens), in member order [np]. */
static uint8_t *member_rows(const fpr_case *c, const fpr_chains *ch)
{
    uint8_t *is_row = fpr_calloc((size_t)ch->start[ch->n_chains] + 1, 1);
    if (!is_row)
        return NULL;
    for (int64_t t = 0; t < c->n_token; t++) {
        if (!c->is_atomized[t])
            continue;
        int32_t sa = c->start_atom_index[t];
        int64_t sl = ch->chain_slot[sa];
        if (sl >= 0)
            is_row[ch->start[sl] + ch->pos_in_chain[sa]] = 1;
    }
    return is_row;
}

/* Chain sl's content in sample s (its coordinates in soa, as fill_soa lays them out). */
static void chain_content(const fpr_case *c, const fpr_chains *ch, const float *soa,
                          const uint8_t *is_row, int64_t sl, uint8_t out[32])
{
    const int64_t np = ch->start[ch->n_chains], a = ch->start[sl];
    fpr_memo_content(soa + a, soa + np + a, soa + 2 * np + a, is_row + a,
                     ch->start[sl + 1] - a, c->eps, out);
}

static int chain_has_rows(const fpr_chains *ch, const uint8_t *is_row, int64_t sl)
{
    for (int64_t k = ch->start[sl]; k < ch->start[sl + 1]; k++)
        if (is_row[k])
            return 1;
    return 0;
}

int fpr_chain_memo_plan(fpr_chain_memo *m, const fpr_case *c)
{
    fpr_chains ch;
    int rc = fpr_chains_build(c, &ch);
    if (rc)
        return rc;
    uint8_t *is_row = member_rows(c, &ch);
    float *soa = fpr_malloc_n((size_t)ch.start[ch.n_chains] * 3 + 1, sizeof(float));
    uint8_t(*content)[32] = fpr_malloc_n((size_t)(c->S * ch.n_chains) + 1, 32);
    size_t n = 0;
    if (!is_row || !soa || !content)
        rc = FPR_ENOMEM;
    for (int64_t s = 0; s < c->S && !rc; s++) {
        fill_soa(c, &ch, s, soa, 1);
        for (int64_t sl = 0; sl < ch.n_chains; sl++)
            if (chain_has_rows(&ch, is_row, sl))
                chain_content(c, &ch, soa, is_row, sl, content[n++]);
    }
    /* the hashing above runs in any number of threads; the table is one at a time */
#pragma omp critical(fpr_chain_memo_plan)
    for (size_t k = 0; k < n && !rc; k++)
        rc = fpr_chain_memo_plan_content(m, content[k]);
    free(content);
    free(soa);
    free(is_row);
    fpr_chains_free(&ch);
    return rc;
}

/* The memo's state of one chain in one sample. */
typedef struct memo_slot {
    int64_t r0, r1;   /* its rows: r.rows[r0 .. r1) (contiguous: rows are by slot) */
    int64_t planned;  /* uses of its content in the study's plan */
    uint8_t key[32];
} memo_slot;

/* Fills the rows of chain sl from the kept search m (positions back to atom indices
 * through this case's chain). */
static int memo_fill(run_ctx *r, const fpr_memo_rows *m, const memo_slot *ms, int64_t sl)
{
    const fpr_chains *ch = r->ch;
    const int32_t *mem = ch->members + ch->start[sl];
    FPR_CHECK(m->n == ms->r1 - ms->r0 && (m->extra != NULL) == (r->extra != NULL));
    for (int64_t i = ms->r0; i < ms->r1; i++) {
        const int32_t pos = (int32_t)r->rows[i].pos;
        int64_t lo = 0, hi = m->n - 1; /* m->pos ascends */
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (m->pos[mid] < pos)
                lo = mid + 1;
            else
                hi = mid;
        }
        FPR_CHECK(m->pos[lo] == pos);
        fpr_top3 *t = &r->top[i];
        fpr_top3_init(t);
        t->n = m->top[lo].n;
        t->eq3 = m->top[lo].eq3;
        for (int k = 0; k < 3; k++) {
            t->val[k] = m->top[lo].val[k];
            t->idx[k] = m->top[lo].idx[k] < 0 ? m->top[lo].idx[k] : mem[m->top[lo].idx[k]];
        }
        if (r->extra)
            r->extra[i] = m->extra[lo];
    }
    return FPR_OK;
}

/* The rows of chain sl just searched, as the memo keeps them (ascending position,
 * indices as positions). */
static int memo_rows_of(const run_ctx *r, const memo_slot *ms, int64_t sl, fpr_memo_rows *m)
{
    const fpr_chains *ch = r->ch;
    const int64_t n = ms->r1 - ms->r0, nchain = ch->start[sl + 1] - ch->start[sl];
    memset(m, 0, sizeof *m);
    int64_t *at = fpr_malloc_n((size_t)nchain + 1, sizeof(int64_t));
    m->n = n;
    m->pos = fpr_malloc_n((size_t)n + 1, sizeof(int32_t));
    m->top = fpr_malloc_n((size_t)n + 1, sizeof(fpr_top3));
    if (r->extra)
        m->extra = fpr_malloc_n((size_t)n + 1, sizeof(fpr_row_extra));
    if (!at || !m->pos || !m->top || (r->extra && !m->extra)) {
        free(at);
        free(m->pos);
        free(m->top);
        free(m->extra);
        memset(m, 0, sizeof *m);
        return FPR_ENOMEM;
    }
    for (int64_t p = 0; p < nchain; p++)
        at[p] = -1;
    for (int64_t i = ms->r0; i < ms->r1; i++)
        at[r->rows[i].pos] = i;
    int64_t k = 0;
    int ok = 1;
    for (int64_t p = 0; p < nchain; p++) {
        const int64_t i = at[p];
        if (i < 0)
            continue;
        m->pos[k] = (int32_t)p;
        m->top[k] = r->top[i];
        for (int w = 0; w < 3; w++) {
            const int32_t a = r->top[i].idx[w];
            if (a >= 0) { /* a member of this chain: the search never leaves it */
                ok &= ch->chain_slot[a] == sl;
                m->top[k].idx[w] = (int32_t)ch->pos_in_chain[a];
            }
        }
        if (r->extra)
            m->extra[k] = r->extra[i];
        k++;
    }
    free(at);
    if (!ok || k != n) {
        free(m->pos);
        free(m->top);
        free(m->extra);
        memset(m, 0, sizeof *m);
        return fpr_error(FPR_EINTERNAL, "internal check failed: a search of chain slot "
                         "%lld left its chain (%s:%d)", (long long)sl, __FILE__, __LINE__);
    }
    return FPR_OK;
}

int fpr_frames_compute(const fpr_case *c, const fpr_backend *b, const fpr_run_opts *opts,
                       fpr_frames **out)
{
    *out = NULL;
    fpr_run_opts defaults;
    if (!opts) {
        fpr_run_opts_init(&defaults);
        opts = &defaults;
    }
    if (!b->block_top3 && !b->eval_f32 && !b->eval_f64)
        return fpr_error(FPR_EINTERNAL, "backend %s has no evaluation method", b->name);
    int angle = opts->angle;
    if (angle == FPR_ANGLE_BACKEND)
        angle = b->precision == FPR_PREC_F32 ? FPR_ANGLE_F32
              : b->precision == FPR_PREC_F64 ? FPR_ANGLE_F64 : FPR_ANGLE_EXACT;
    if (angle < FPR_ANGLE_F32 || angle > FPR_ANGLE_EXACT)
        return fpr_error(FPR_EUSAGE, "unknown angle stage %d", opts->angle);

    double t0 = fpr_now();
    void *cfg = NULL;
    if (b->configure) {
        int rc = b->configure(b, opts->params, &cfg);
        if (rc)
            return rc;
    } else if (opts->params && opts->params[0]) {
        return fpr_error(FPR_EUSAGE, "backend %s takes no options (got '%s')", b->name,
                         opts->params);
    }

    int rc = FPR_OK;
    fpr_frames *f = NULL;
    fpr_chains ch;
    memset(&ch, 0, sizeof ch);
    run_ctx r;
    memset(&r, 0, sizeof r);
    float *soa = NULL;
    char *aux = NULL;
    size_t *aux_off = NULL;
    int jobs = opts->jobs > 0 ? opts->jobs : 1;
    int64_t row_block = opts->row_block > 0 ? opts->row_block : DEFAULT_ROW_BLOCK;
    void **scratch = NULL, **vbuf = NULL;
    int64_t **qbuf = NULL;
    grid_work *gw = NULL;
    fpr_chain_memo *memo = opts->memo;
    uint8_t *is_row = NULL, *memo_done = NULL;
    memo_slot *mslot = NULL;
    fpr_memo_how how;
    if (opts->search != FPR_SEARCH_GRID && opts->search != FPR_SEARCH_BRUTE)
        return fpr_error(FPR_EUSAGE, "unknown search %d (grid or brute)", opts->search);
    /* the grid needs per-column values (eval_*) or an exact ranking of a candidate set */
    int use_grid = opts->search == FPR_SEARCH_GRID &&
                   (b->eval_f32 || b->eval_f64 || b->cands_top3);

    if ((rc = fpr_frames_new(c->S, c->n_token, b->precision == FPR_PREC_EXACT, &f)))
        goto done;
    f->backend = fpr_strdup(b->name);
    f->first_index = fpr_calloc((size_t)(c->S * c->n_token), sizeof(int32_t));
    if (!f->first_index) {
        rc = FPR_ENOMEM;
        goto done;
    }
    f->tie3 = fpr_calloc((size_t)(c->S * c->n_token), sizeof(int32_t));
    if (!f->tie3) {
        rc = FPR_ENOMEM;
        goto done;
    }
    for (int64_t k = 0; k < c->S * c->n_token; k++)
        f->first_index[k] = f->tie3[k] = -1;
    f->case_name = fpr_strdup(c->name ? c->name : "");
    if (opts->chains) { /* the caller's (read only here; not freed) */
        if (opts->chains->of != c) {
            rc = fpr_error(FPR_EINTERNAL, "internal check failed: chains of another case");
            goto done;
        }
        ch = *opts->chains;
    } else if ((rc = fpr_chains_build(c, &ch))) {
        goto done;
    }

    /* Rows: the start atoms of atomized tokens, grouped by chain (a token's rows are
     * the same in every sample; only coordinates change). */
    int64_t nrows = 0;
    for (int64_t t = 0; t < c->n_token; t++)
        nrows += c->is_atomized[t] != 0;
    r.rows = fpr_calloc((size_t)nrows, sizeof(row_item));
    r.top = fpr_calloc((size_t)nrows, sizeof(fpr_top3));
    r.blocks = fpr_calloc((size_t)nrows + 1, sizeof(int64_t));
    if (f->tie1)
        r.extra = fpr_calloc((size_t)nrows, sizeof(fpr_row_extra));
    if (!r.rows || !r.top || !r.blocks || (f->tie1 && !r.extra)) {
        rc = FPR_ENOMEM;
        goto done;
    }
    int64_t k = 0;
    for (int64_t t = 0; t < c->n_token; t++) {
        if (!c->is_atomized[t])
            continue;
        int32_t sa = c->start_atom_index[t];
        r.rows[k].token = (int32_t)t;
        r.rows[k].slot = ch.chain_slot[sa];
        r.rows[k].pos = ch.pos_in_chain[sa];
        k++;
    }
    if ((rc = sort_rows(r.rows, nrows, ch.n_chains)))
        goto done;
    r.nrows = nrows;
    /* Work items: runs of at most row_block rows of one chain. */
    for (int64_t i = 0; i < nrows; i++)
        if (i == 0 || r.rows[i].slot != r.rows[i - 1].slot ||
            i - r.blocks[r.nblocks - 1] >= row_block)
            r.blocks[r.nblocks++] = i;
    r.blocks[r.nblocks] = nrows;

    int64_t np = ch.start[ch.n_chains];
    soa = fpr_malloc_n((size_t)np * 3 + 1, sizeof(float)); /* every element: fill_soa */
    aux_off = fpr_calloc((size_t)ch.n_chains + 1, sizeof(size_t));
    r.views = fpr_calloc((size_t)ch.n_chains, sizeof(fpr_chain_view));
    if (!soa || !aux_off || !r.views) {
        rc = FPR_ENOMEM;
        goto done;
    }
    if (b->chain_aux_bytes) {
        size_t tot = 0;
        for (int64_t sl = 0; sl < ch.n_chains; sl++) {
            aux_off[sl] = tot;
            size_t nb = b->chain_aux_bytes(b, ch.start[sl + 1] - ch.start[sl]);
            tot += (nb + 63) & ~(size_t)63;
        }
        if (!(aux = fpr_calloc(tot, 1))) {
            rc = FPR_ENOMEM;
            goto done;
        }
    }
    if (use_grid) { /* chains with rows and enough atoms to be worth a cell list */
        r.grids = fpr_calloc((size_t)ch.n_chains, sizeof(grid));
        r.rows_tmp = fpr_malloc_n((size_t)nrows + 1, sizeof(row_item));
        if (!r.grids || !r.rows_tmp) {
            rc = FPR_ENOMEM;
            goto done;
        }
        for (int64_t i = 0; i < nrows; i++) {
            int64_t sl = r.rows[i].slot;
            int64_t n = sl < 0 ? 0 : ch.start[sl + 1] - ch.start[sl];
            if (sl < 0 || r.grids[sl].n || n < g_grid_min_atoms)
                continue;
            if ((rc = grid_alloc(&r.grids[sl], b, n)))
                goto done;
        }
    }
    scratch = fpr_calloc((size_t)jobs, sizeof(void *));
    vbuf = fpr_calloc((size_t)jobs, sizeof(void *));
    qbuf = fpr_calloc((size_t)jobs, sizeof(int64_t *));
    gw = fpr_calloc((size_t)jobs, sizeof(grid_work));
    if (!scratch || !vbuf || !qbuf || !gw) {
        rc = FPR_ENOMEM;
        goto done;
    }
    for (int j = 0; j < jobs; j++) {
        scratch[j] = fpr_calloc(b->scratch_bytes ? b->scratch_bytes : 1, 1);
        vbuf[j] = fpr_calloc(COL_BLOCK, sizeof(double));
        qbuf[j] = fpr_calloc((size_t)row_block, sizeof(int64_t));
        if (!scratch[j] || !vbuf[j] || !qbuf[j]) {
            rc = FPR_ENOMEM;
            goto done;
        }
    }
    if (b->row_key && g_dedupe && nrows > 1) { /* brute force's row groups (row_dedupe) */
        int64_t most = 1;
        for (int64_t i0 = 0, i1; i0 < nrows; i0 = i1) {
            for (i1 = i0 + 1; i1 < nrows && r.rows[i1].slot == r.rows[i0].slot; i1++)
                ;
            most = i1 - i0 > most ? i1 - i0 : most;
        }
        r.ktab_n = 16;
        while (r.ktab_n < 2 * most)
            r.ktab_n *= 2;
        r.dup = fpr_malloc_n((size_t)nrows, sizeof *r.dup);
        r.keys = fpr_malloc_n((size_t)most, sizeof *r.keys);
        r.ktab = fpr_malloc_n((size_t)r.ktab_n, sizeof *r.ktab);
        if (!r.dup || !r.keys || !r.ktab) {
            rc = FPR_ENOMEM;
            goto done;
        }
    }
    r.c = c;
    r.b = b;
    { /* FRAMEPREC_FUSED=0: the plain eval + scan path (same bits; for benchmarks) */
        const char *fe = getenv("FRAMEPREC_FUSED");
        int off = fe && strcmp(fe, "0") == 0;
        r.fused = b->scan_f32 && !off;
        r.sq = b->eval_sq_f32 && !off;
    }
    r.cfg = cfg;
    r.ch = &ch;
    if (memo) {
        is_row = member_rows(c, &ch);
        memo_done = fpr_calloc((size_t)ch.n_chains + 1, 1);
        mslot = fpr_calloc((size_t)ch.n_chains + 1, sizeof *mslot);
        if (!is_row || !memo_done || !mslot) {
            rc = FPR_ENOMEM;
            goto done;
        }
        for (int64_t sl = 0; sl < ch.n_chains; sl++)
            mslot[sl].r0 = mslot[sl].r1 = -1;
        for (int64_t i = 0; i < nrows; i++) {
            int64_t sl = r.rows[i].slot;
            if (sl < 0)
                continue;
            if (mslot[sl].r0 < 0)
                mslot[sl].r0 = i;
            mslot[sl].r1 = i + 1;
        }
        memset(&how, 0, sizeof how);
        how.backend = b;
        how.params = opts->params;
        how.search = opts->search;
        how.fused = r.fused;
        how.sq = r.sq;
        how.simd = fpr_simd_level();
        how.row_block = row_block;
        how.grid_slack = g_grid_slack;
        how.grid_min_atoms = g_grid_min_atoms;
        how.grid_force = g_grid_force;
        how.grid_noseed = g_grid_noseed;
        how.dedupe = r.dup != NULL;
        r.memo_done = memo_done;
    }

    float inf_f = (float)c->inf;
    double inf_value = b->precision == FPR_PREC_F32 ? (double)inf_f : c->inf;
    /* Brute-force pairs of one sample's search: below g_serial_pairs the search runs on
     * the calling thread (waking a sleeping thread costs more than the search). The
     * threads change nothing in the result, only the time. */
    double search_pairs = 0;
    for (int64_t i = 0; i < nrows; i++)
        if (r.rows[i].slot >= 0)
            search_pairs += (double)(ch.start[r.rows[i].slot + 1] - ch.start[r.rows[i].slot]);
    for (int64_t s = 0; s < c->S && rc == FPR_OK; s++) {
        if ((rc = build_views(c, b, cfg, &ch, s, soa, aux, aux_off, r.views, jobs)))
            break;
        /* chains whose search the memo holds: filled below, not searched (the memo is
         * only read here) */
        if (memo) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(jobs) if (chains_parallel(&ch))
            for (int64_t sl = 0; sl < ch.n_chains; sl++) {
                memo_slot *ms = &mslot[sl];
                memo_done[sl] = 0;
                ms->planned = 0;
                if (ms->r0 < 0)
                    continue;
                uint8_t content[32];
                chain_content(c, &ch, soa, is_row, sl, content);
                if ((ms->planned = fpr_chain_memo_planned(memo, content)) < 2)
                    continue;
                fpr_memo_key(content, &how, ms->key);
                memo_done[sl] = fpr_chain_memo_find(memo, ms->key) != NULL;
            }
        }
        if (r.grids) {
            chain_err gerr;
            chain_err_init(&gerr, ch.n_chains);
#pragma omp parallel for schedule(dynamic, 1) num_threads(jobs) if (chains_parallel(&ch))
            for (int64_t sl = 0; sl < ch.n_chains; sl++) {
                if (!r.grids[sl].n || (memo_done && memo_done[sl]))
                    continue;
                int grc = grid_build(&r.grids[sl], b, cfg, &r.views[sl]);
                if (grc)
                    chain_err_set(&gerr, sl, grc);
            }
            if ((rc = chain_err_done(&gerr)))
                break;
        }
        if (r.rows_tmp)
            grid_row_order(&r);
        if (r.dup)
            row_dedupe(&r);
        int err = FPR_OK;
        char errmsg[512] = "";
#pragma omp parallel for schedule(dynamic, 1) num_threads(jobs) if (search_pairs > g_serial_pairs)
        for (int64_t blk = 0; blk < r.nblocks; blk++) {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            int e;
#pragma omp atomic read
            e = err;
            if (e)
                continue;
            int brc = run_block(&r, blk, scratch[tid], vbuf[tid], qbuf[tid], &gw[tid]);
            if (brc) {
#pragma omp critical(fpr_driver_err)
                {
                    if (!err) {
                        err = brc;
                        snprintf(errmsg, sizeof errmsg, "%s", fpr_errmsg());
                    }
                }
            }
        }
        if (err) {
            rc = fpr_error(err, "%s", errmsg);
            break;
        }
        if (r.dup) { /* each grouped row gets its group's top-3 (row_dedupe) */
            int64_t given = 0;
            for (int64_t i = 0; i < nrows; i++)
                if (r.dup[i] >= 0) {
                    r.top[i] = r.top[r.dup[i]];
                    given++;
                }
#pragma omp atomic
            g_dedupe_rows += given;
        }
        /* the memo: rows of held chains filled, chains planned again kept */
        for (int64_t sl = 0; memo && sl < ch.n_chains && !rc; sl++) {
            const memo_slot *ms = &mslot[sl];
            if (memo_done[sl]) {
                const fpr_memo_rows *m = fpr_chain_memo_find(memo, ms->key);
                if (!m) {
                    rc = fpr_error(FPR_EINTERNAL, "internal check failed: memo entry gone");
                    break;
                }
                if ((rc = memo_fill(&r, m, ms, sl)))
                    break;
                fpr_chain_memo_used(memo, ms->key, ms->r1 - ms->r0);
                f->memo_rows += ms->r1 - ms->r0;
            } else if (ms->planned >= 2) {
                fpr_memo_rows m;
                if (!(rc = memo_rows_of(&r, ms, sl, &m)))
                    rc = fpr_chain_memo_put(memo, ms->key, ms->planned - 1, &m);
            }
        }
        if (rc)
            break;
        /* Fillers, values and truth extras per row, then every token's frame: each row
         * and token writes only its own entries, so the threads change nothing. */
#pragma omp parallel for schedule(static) num_threads(jobs) if (nrows > 4096)
        for (int64_t i = 0; i < nrows; i++) {
            int64_t t = r.rows[i].token;
            int64_t o = s * c->n_token + t;
            fpr_top3 *tp = &r.top[i];
            if (tp->n < 3)
                fill_from_inf(c, &ch, c->start_atom_index[t], inf_value, tp);
            for (int w = 0; w < 3; w++)
                f->top_value[o * 3 + w] = tp->val[w];
            if (r.extra) {
                f->tie1[o] = r.extra[i].tie1;
                f->tie2[o] = r.extra[i].tie2;
                f->margin1[o] = r.extra[i].margin1;
                f->margin2[o] = r.extra[i].margin2;
            }
        }
        /* Scatter each row's top-3 to its token, then assemble every token. */
#pragma omp parallel for schedule(static) num_threads(jobs) if (nrows > 4096)
        for (int64_t q = 0; q < nrows; q++) {
            int64_t t = r.rows[q].token;
            int64_t o = s * c->n_token + t;
            f->a_index[o] = r.top[q].idx[0];
            f->b_index[o] = r.top[q].idx[1];
            f->c_index[o] = r.top[q].idx[2];
            f->first_index[o] = r.top[q].idx[0];
            /* the truth ranks exact values and keeps its own tie facts (tie1, tie2) */
            f->tie3[o] = b->precision == FPR_PREC_EXACT || r.top[q].n < 3 ? -1 : r.top[q].eq3;
        }
#pragma omp parallel for schedule(static) num_threads(jobs) if (c->n_token > 4096)
        for (int64_t t = 0; t < c->n_token; t++) {
            int64_t o = s * c->n_token + t;
            int32_t ti[3] = {f->a_index[o], f->b_index[o], f->c_index[o]};
            assemble_token(c, &ch, s, t, ti, angle, f, o);
        }
    }
done:
    if (scratch)
        for (int j = 0; j < jobs; j++)
            free(scratch[j]);
    if (vbuf)
        for (int j = 0; j < jobs; j++)
            free(vbuf[j]);
    if (qbuf)
        for (int j = 0; j < jobs; j++)
            free(qbuf[j]);
    free(scratch);
    free(vbuf);
    free(qbuf);
    if (gw)
        for (int j = 0; j < jobs; j++)
            grid_work_free(&gw[j]);
    free(gw);
    if (r.grids)
        for (int64_t sl = 0; sl < ch.n_chains; sl++)
            grid_free(&r.grids[sl]);
    free(r.grids);
    free(soa);
    free(aux);
    free(aux_off);
    free(r.views);
    free(r.rows);
    free(r.rows_tmp);
    free(r.top);
    free(r.blocks);
    free(r.extra);
    free(r.dup);
    free(r.keys);
    free(r.ktab);
    free(is_row);
    free(memo_done);
    free(mslot);
    if (!opts->chains)
        fpr_chains_free(&ch);
    if (cfg && b->cfg_free)
        b->cfg_free(cfg);
    if (rc) {
        fpr_frames_free(f);
        return rc;
    }
    f->seconds = fpr_now() - t0;
    *out = f;
    return FPR_OK;
}
