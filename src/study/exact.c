/* exact.c — exact squared distances of float32 points, for the study's decisions on
 * specific pairs (tie groups, true gaps, error statistics).
 * A float32 is m·2^e with |m| < 2^24 and e ≥ −149, so x·2^149 is an integer; D² scaled
 * by 2^298 is then an exact mpz. Only pairs the comparison asks about are computed.
 *
 * The fast path gives the same bits without GMP (the comparison asks two questions per
 * atomized token and backend, some 3·10^6 per 6ZU5 all-atomized run): when the
 * nonzero coordinates involved have ulp exponents within 37 of each other (e ≥ emin,
 * e − emin ≤ 37) and none is below 2^-60 in magnitude, each scaled coordinate
 * m·2^(e−emin) is an integer below 2^61, differences below 2^62, squares below 2^124
 * and the sum of three below 2^126: exact in a signed 128-bit integer, D² = S·2^(2·emin).
 * Results are then rounded exactly as MPFR rounds them (to nearest, ties to even; to 64
 * bits first where the GMP path goes through a 64-bit mpfr_t, then to 53), by integer
 * bit arithmetic. Anything outside these ranges takes the GMP path. tests/test_exact.c
 * checks both paths bit for bit. */
#include <gmp.h>
#include <math.h>
#include <mpfr.h>
#include <string.h>

#include "study/study.h"

struct fpr_exact {
    mpz_t a, b, d, s1, s2;
    mpfr_t f1, f2;
    int64_t fast; /* calls answered by the fast path (tests) */
    /* the row (fpr_exact_row_set): its points, and their exact D² to p on one scale */
    const float *rp, *rq[FPR_EXACT_ROW];
    int rn, rfast, remin;
    __int128 rS[FPR_EXACT_ROW];
    double rd2[FPR_EXACT_ROW]; /* D² rounded to double, once asked (rd2_ok bit) */
    unsigned rd2_ok;
};

typedef __int128 i128;
typedef unsigned __int128 u128;

static int g_force_gmp = 0;

void fpr_exact_test_force_gmp(int on) { g_force_gmp = on; }

int64_t fpr_exact_fast_calls(const fpr_exact *e) { return e->fast; }

/* ------------------------------------------------------------------ fast path */
enum { SPREAD_MAX = 37, NONE_E = 100000 };

/* f = m·2^e exactly, |m| < 2^24 an integer; 0 for f = 0 (e = NONE_E). Returns 0 when
 * f is outside the fast path's range (tiny or not finite). */
static int split_f32(float f, int32_t *m, int *e)
{
    if (f == 0) {
        *m = 0;
        *e = NONE_E;
        return 1;
    }
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t be = (u >> 23) & 0xff; /* biased exponent: f = ±1.frac·2^(be−127) */
    if (be == 0xff || be < 127 - 60) /* not finite, or below 2^-60 (subnormals too) */
        return 0;
    int32_t mag = (int32_t)((u & 0x7fffff) | 0x800000);
    *m = u >> 31 ? -mag : mag; /* f = m·2^(be−150) exactly */
    *e = (int)be - 150;
    return 1;
}

enum { FAST_PTS = 1 + FPR_EXACT_ROW }; /* a row: its point and FPR_EXACT_ROW others */

typedef struct fast_pts {
    int32_t m[FAST_PTS * 3];
    int e[FAST_PTS * 3];
    int emin;
} fast_pts;

/* The n points' coordinates on one integer scale 2^emin; 0 when out of range. */
static int fast_prepare(fast_pts *fp, const float *const pts[], int n)
{
    if (g_force_gmp)
        return 0;
    int emin = NONE_E, emax = -NONE_E;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            int32_t m;
            int e;
            if (!split_f32(pts[i][k], &m, &e))
                return 0;
            fp->m[i * 3 + k] = m;
            fp->e[i * 3 + k] = e;
            if (m) {
                emin = e < emin ? e : emin;
                emax = e > emax ? e : emax;
            }
        }
    if (emin == NONE_E)
        emin = 0;
    else if (emax - emin > SPREAD_MAX)
        return 0;
    fp->emin = emin;
    return 1;
}

static int64_t scaled(const fast_pts *fp, int i)
{
    return fp->m[i] ? (int64_t)fp->m[i] * ((int64_t)1 << (fp->e[i] - fp->emin)) : 0;
}

/* D²(point a, point b)·2^(−2·emin), exact (< 2^126). */
static i128 fast_d2(const fast_pts *fp, int a, int b)
{
    i128 s = 0;
    for (int k = 0; k < 3; k++) {
        int64_t d = scaled(fp, a * 3 + k) - scaled(fp, b * 3 + k); /* |d| < 2^62 */
        s += (i128)d * d;
    }
    return s;
}

static int bitlen(u128 v)
{
    uint64_t hi = (uint64_t)(v >> 64), lo = (uint64_t)v;
    return hi ? 128 - __builtin_clzll(hi) : lo ? 64 - __builtin_clzll(lo) : 0;
}

/* v rounded to `bits` significant bits, to nearest, ties to even (MPFR_RNDN). */
static u128 round_bits(u128 v, int bits)
{
    int L = bitlen(v);
    if (L <= bits)
        return v;
    int sh = L - bits;
    u128 q = v >> sh, rem = v & (((u128)1 << sh) - 1), half = (u128)1 << (sh - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++;
    return q << sh;
}

/* RN53(RN_prec(v·2^k)) for a signed exact v, as a double (prec 64 or 53); 0 when the
 * result would leave the normal range (the caller then takes the GMP path). */
static int to_double(i128 v, int k, int prec, double *out)
{
    int neg = v < 0;
    u128 u = neg ? (u128)(-v) : (u128)v;
    u = round_bits(u, prec);
    u = round_bits(u, 53); /* ≤ 53 significant bits: the conversion below is exact */
    if (u && (bitlen(u) + k < -1000 || bitlen(u) + k > 1000))
        return 0;
    double d = (double)u;
    if (k >= -1022 && k <= 1023) { /* × 2^k: exact, the result normal */
        d *= fpr_pow2(k);
    } else {
        d = ldexp(d, k);
    }
    *out = neg ? -d : d;
    return 1;
}

fpr_exact *fpr_exact_new(void)
{
    fpr_exact *e = fpr_calloc(1, sizeof *e);
    if (!e)
        return NULL;
    mpz_inits(e->a, e->b, e->d, e->s1, e->s2, NULL);
    mpfr_init2(e->f1, 640); /* exact: scaled D² < 2^(2·(128+149)+2) */
    mpfr_init2(e->f2, 64);
    return e;
}

void fpr_exact_free(fpr_exact *e)
{
    if (!e)
        return;
    mpz_clears(e->a, e->b, e->d, e->s1, e->s2, NULL);
    mpfr_clears(e->f1, e->f2, NULL);
    free(e);
}

/* out = D²(p, q)·2^298, exact. */
static void d2z(fpr_exact *e, mpz_t out, const float p[3], const float q[3])
{
    mpz_set_ui(out, 0);
    for (int k = 0; k < 3; k++) {
        /* exact: ldexp only moves the exponent of a float32 value held in a double */
        mpz_set_d(e->a, ldexp((double)p[k], 149));
        mpz_set_d(e->b, ldexp((double)q[k], 149));
        mpz_sub(e->d, e->a, e->b);
        mpz_addmul(out, e->d, e->d);
    }
}

int fpr_exact_cmp(fpr_exact *e, const float p[3], const float q1[3], const float q2[3])
{
    fast_pts fp;
    const float *pts[3] = {p, q1, q2};
    if (fast_prepare(&fp, pts, 3)) {
        i128 a = fast_d2(&fp, 0, 1), b = fast_d2(&fp, 0, 2);
        e->fast++;
        return (a > b) - (a < b);
    }
    d2z(e, e->s1, p, q1);
    d2z(e, e->s2, p, q2);
    int c = mpz_cmp(e->s1, e->s2);
    return (c > 0) - (c < 0);
}

double fpr_exact_gap(fpr_exact *e, const float p[3], const float q1[3], const float q2[3])
{
    fast_pts fp;
    const float *pts[3] = {p, q1, q2};
    double r;
    /* the GMP path: the exact difference set into a 64-bit mpfr_t, then to double */
    if (fast_prepare(&fp, pts, 3) &&
        to_double(fast_d2(&fp, 0, 2) - fast_d2(&fp, 0, 1), 2 * fp.emin, 64, &r)) {
        e->fast++;
        return r;
    }
    d2z(e, e->s1, p, q1);
    d2z(e, e->s2, p, q2);
    mpz_sub(e->s2, e->s2, e->s1);
    mpfr_set_z_2exp(e->f2, e->s2, -298, MPFR_RNDN);
    return mpfr_get_d(e->f2, MPFR_RNDN);
}

/* |S·2^s − d2hat| the GMP path's way (one rounding to 64 bits, then to double); 0
 * when the exact difference does not fit the fast path. */
static int fast_err(i128 S, int s, double d2hat, double *out)
{
    int E;
    double fr = frexp(d2hat, &E); /* d2hat = M·2^(E−53), |M| < 2^53 */
    int64_t M = (int64_t)ldexp(fr, 53);
    E -= 53;
    if (M == 0)
        E = s;
    int k = s < E ? s : E;
    int sa = s - k, sb = E - k; /* left shifts onto the common scale 2^k */
    if (bitlen((u128)S) + sa > 124 || 54 + sb > 124)
        return 0;
    i128 A = S << sa; /* S ≥ 0 */
    i128 B = (i128)M * ((i128)1 << sb);
    double r;
    if (!to_double(A - B, k, 64, &r))
        return 0;
    *out = fabs(r);
    return 1;
}

double fpr_exact_err(fpr_exact *e, const float p[3], const float q[3], double d2hat,
                     double *d2_out)
{
    fast_pts fp;
    const float *pts[2] = {p, q};
    if (fast_prepare(&fp, pts, 2)) {
        i128 S = fast_d2(&fp, 0, 1);
        double d2, r;
        /* D² to double: the GMP path rounds the exact value once (640-bit mpfr_t) */
        if (to_double(S, 2 * fp.emin, 53, &d2)) {
            if (!isfinite(d2hat)) {
                if (d2_out)
                    *d2_out = d2;
                e->fast++;
                return INFINITY;
            }
            if (fast_err(S, 2 * fp.emin, d2hat, &r)) {
                if (d2_out)
                    *d2_out = d2;
                e->fast++;
                return r;
            }
        }
    }
    d2z(e, e->s1, p, q);
    mpfr_set_z_2exp(e->f1, e->s1, -298, MPFR_RNDN); /* exact at 640 bits */
    if (d2_out)
        *d2_out = mpfr_get_d(e->f1, MPFR_RNDN);
    if (!isfinite(d2hat))
        return INFINITY;
    mpfr_sub_d(e->f2, e->f1, d2hat, MPFR_RNDN); /* one rounding to 64 bits */
    return fabs(mpfr_get_d(e->f2, MPFR_RNDN));
}

/* ------------------------------------------------------------------ a row */
/* The questions of one comparison row all concern D² from one point p to a few others:
 * their exact values are computed once, on one integer scale, and the answers are those
 * of fpr_exact_cmp / _gap / _err: a sign of exact integers, or the same exact real
 * number rounded the same way (to_double rounds the exact value, whatever its scale).
 * Where the row does not fit the fast path, each question goes to those functions. */
int fpr_exact_row_set(fpr_exact *e, const float p[3], const float *const q[], int n)
{
    if (n > FPR_EXACT_ROW)
        return FPR_EINTERNAL;
    e->rp = p;
    e->rn = n;
    const float *pts[FAST_PTS];
    pts[0] = p;
    for (int i = 0; i < n; i++)
        e->rq[i] = pts[i + 1] = q[i];
    fast_pts fp;
    e->rd2_ok = 0;
    e->rfast = fast_prepare(&fp, pts, n + 1);
    if (e->rfast) {
        e->remin = fp.emin;
        for (int i = 0; i < n; i++)
            e->rS[i] = fast_d2(&fp, 0, i + 1);
    }
    return FPR_OK;
}

int fpr_exact_row_cmp(fpr_exact *e, int a, int b)
{
    if (e->rfast) {
        e->fast++;
        return (e->rS[a] > e->rS[b]) - (e->rS[a] < e->rS[b]);
    }
    return fpr_exact_cmp(e, e->rp, e->rq[a], e->rq[b]);
}

double fpr_exact_row_gap(fpr_exact *e, int a, int b)
{
    double r;
    if (e->rfast && to_double(e->rS[b] - e->rS[a], 2 * e->remin, 64, &r)) {
        e->fast++;
        return r;
    }
    return fpr_exact_gap(e, e->rp, e->rq[a], e->rq[b]);
}

/* D² of the row's point a rounded to double (fast path), kept for the next question. */
static int row_d2(fpr_exact *e, int a, double *d2)
{
    if (e->rd2_ok >> a & 1) {
        *d2 = e->rd2[a];
        return 1;
    }
    if (!e->rfast || !to_double(e->rS[a], 2 * e->remin, 53, d2))
        return 0;
    e->rd2[a] = *d2;
    e->rd2_ok |= 1u << a;
    return 1;
}

int fpr_exact_row_save(fpr_exact *e, fpr_exact_saved *sv)
{
    if (e->rn > FPR_EXACT_SAVED)
        return FPR_EINTERNAL;
    memset(sv, 0, sizeof *sv);
    sv->n = (int8_t)e->rn;
    sv->fast = (int8_t)e->rfast;
    sv->emin = e->remin;
    for (int i = 0; i < e->rn && e->rfast; i++) {
        double d2;
        sv->S[i] = e->rS[i];
        if (row_d2(e, i, &d2)) {
            sv->d2[i] = d2;
            sv->d2_ok |= (uint8_t)(1u << i);
        }
    }
    return FPR_OK;
}

int fpr_exact_row_load(fpr_exact *e, const float p[3], const float *const q[], int n,
                       const fpr_exact_saved *sv)
{
    if (n != sv->n || n > FPR_EXACT_SAVED)
        return FPR_EINTERNAL;
    e->rp = p;
    e->rn = n;
    for (int i = 0; i < n; i++)
        e->rq[i] = q[i];
    e->rfast = sv->fast;
    e->remin = sv->emin;
    e->rd2_ok = e->rfast ? sv->d2_ok : 0;
    for (int i = 0; i < n && e->rfast; i++) {
        e->rS[i] = sv->S[i];
        e->rd2[i] = sv->d2[i];
    }
    return FPR_OK;
}

double fpr_exact_row_err(fpr_exact *e, int a, double d2hat, double *d2_out)
{
    double d2, r;
    if (e->rfast && row_d2(e, a, &d2)) {
        if (!isfinite(d2hat)) {
            if (d2_out)
                *d2_out = d2;
            e->fast++;
            return INFINITY;
        }
        if (fast_err(e->rS[a], 2 * e->remin, d2hat, &r)) {
            if (d2_out)
                *d2_out = d2;
            e->fast++;
            return r;
        }
    }
    return fpr_exact_err(e, e->rp, e->rq[a], d2hat, d2_out);
}
