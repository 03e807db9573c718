/* compare.c — SPEC §5: one backend's frames against the truth's, token by token.
 *
 * A pick equals the truth when its exact D² equals the truth pick's (same tie group,
 * decided with GMP). A mismatch is explained by the inverted pair(s): at each rank
 * where the picks differ, order the two atoms by exact D² (lo < hi); the backend
 * inverted them when it ranks hi before lo by its own values. Its cause is
 * `rounded_tie` when its values are equal (the tie rule chose), `reordered` when
 * strictly wrong; and it is explained when the true gap D²(hi) − D²(lo) is within
 * bound(lo) + bound(hi). A mismatch with no inversion (the backend's top-3
 * contradicts its own pairwise values) is `inconsistent`: always a bug. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "study/study.h"

/* ------------------------------------------------------------------ metric table */
#define F(n, i, a, h) {#n, offsetof(fpr_metrics, n), i, a, h}
const fpr_metric_field fpr_metric_fields[] = {
    F(tokens, 1, 0, "atomized tokens x samples compared"),
    F(mismatch, 1, 0, "picks (a, c) outside the truth's tie groups"),
    F(m_self, 1, 0, "mismatch: query atom not ranked first"),
    F(m_swapped, 1, 0, "mismatch: a and c swapped"),
    F(m_one, 1, 0, "mismatch: one of a, c differs"),
    F(m_both, 1, 0, "mismatch: both differ"),
    F(tie_alt, 1, 0, "another atom of the same exact tie group (not a mismatch)"),
    F(degenerate, 1, 0, "atomized tokens whose a or c is the token's own atom b (zero-extent frame)"),
    F(degenerate_valid, 1, 0, "degenerate frames marked valid (garbage geometry accepted)"),
    F(rounded_tie, 1, 0, "cause: equal computed values, tie rule chose"),
    F(reordered, 1, 0, "cause: computed values strictly in the wrong order"),
    F(inconsistent, 1, 0, "cause: top-3 contradicts the backend's own values (bug)"),
    F(cause_unknown, 1, 0, "cause: backend not evaluable pairwise"),
    F(explained, 1, 0, "mismatches within the backend's error bound"),
    F(unexplained, 1, 0, "mismatches outside the bound (bug)"),
    F(phi_changed, 1, 0, "tokens whose phi differs from the truth's"),
    F(phi_max_change, 0, 1, "largest coordinate change of phi (A)"),
    F(flip_01, 1, 0, "valid_frame_mask 0 -> 1"),
    F(flip_10, 1, 0, "valid_frame_mask 1 -> 0"),
    F(flip_pick, 1, 0, "valid flips because a pick changed"),
    F(flip_angle, 1, 0, "valid flips with the same picks (angle near threshold)"),
    F(tie_order, 1, 0, "tokens whose own computed values tie at a rank boundary (top-k order decides)"),
    F(disp_n, 1, 0, "changed frame atoms (a or c outside the truth's tie group)"),
    F(disp_max, 0, 1, "largest distance from a changed frame atom to the true one (A)"),
    F(disp_sum, 0, 0, "sum of those distances (A)"),
    F(err_n, 1, 0, "picked values measured"),
    F(err_bound_max, 0, 1, "max |d2hat - D2| / bound"),
    F(err_bound_sum, 0, 0, "sum of |d2hat - D2| / bound"),
    F(err_ulp_max, 0, 1, "max |d2hat - D2| in float32 ulps of D2"),
    F(err_ulp_sum, 0, 0, "sum of the ulp errors"),
    F(ident_diff, 1, 2, "tokens differing from the bit-identity partner (-1: no contract)"),
    F(orig_changed, 1, 2, "tokens whose frame atoms or phi differ from original's (exact_diff; -1: not run)"),
    F(orig_flips, 1, 2, "tokens whose valid_frame_mask differs from original's (-1: not run)"),
    F(seconds, 0, 0, "wall time of the backend's runs (s)"),
    F(rss_peak, 0, 1, "peak RSS during the run (bytes)"),
    F(rss_delta, 0, 1, "peak RSS minus RSS before the run (bytes)"),
    F(torch_bytes, 0, 1, "PyTorch memory model at the case's size (bytes)"),
    F(torch_bytes_42k, 0, 1, "PyTorch memory model at 42,000 atoms (bytes)"),
};
#undef F
const size_t fpr_metric_nfields = sizeof fpr_metric_fields / sizeof fpr_metric_fields[0];

double fpr_metric_get(const fpr_metrics *m, size_t k)
{
    const char *p = (const char *)m + fpr_metric_fields[k].offset;
    return fpr_metric_fields[k].is_int ? (double)*(const int64_t *)p : *(const double *)p;
}

void fpr_metric_set(fpr_metrics *m, size_t k, double v)
{
    char *p = (char *)m + fpr_metric_fields[k].offset;
    if (fpr_metric_fields[k].is_int)
        *(int64_t *)p = (int64_t)v;
    else
        *(double *)p = v;
}

void fpr_metrics_init(fpr_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->ident_diff = -1;
    m->orig_changed = m->orig_flips = -1;
}

void fpr_metrics_add(fpr_metrics *acc, const fpr_metrics *m)
{
    for (size_t k = 0; k < fpr_metric_nfields; k++) {
        double a = fpr_metric_get(acc, k), v = fpr_metric_get(m, k);
        if (fpr_metric_fields[k].agg == 2)
            fpr_metric_set(acc, k, a < 0 ? v : v < 0 ? a : a + v);
        else if (fpr_metric_fields[k].agg == 1)
            fpr_metric_set(acc, k, v > a ? v : a);
        else
            fpr_metric_set(acc, k, a + v);
    }
}

/* The bin of v > 0 is floor((log10(v) − LO)/W), clamped to the bins. Taken from the
 * edges 10^(LO + kW) instead, except within a relative 2^-30 of an edge, where the
 * formula itself decides: the formula's step from bin k−1 to k lies where log10(v)
 * + 17 crosses LO + kW + 17 (one rounding, and libm's log10 within a few ulps: a
 * relative shift of v below 1e-13), far inside that band, so both give the same bin
 * for every v. tests/test_study.c checks them against each other around every edge. */
static double g_hist_edge[FPR_HIST_BINS]; /* [0] unused */
static pthread_once_t g_hist_once = PTHREAD_ONCE_INIT;

static void hist_edges(void)
{
    for (int k = 1; k < FPR_HIST_BINS; k++)
        g_hist_edge[k] = pow(10.0, FPR_HIST_LO + k * FPR_HIST_W);
}

int fpr_hist_bin_of(double v)
{
    double k = floor((log10(v) - FPR_HIST_LO) / FPR_HIST_W);
    if (k < 0)
        k = 0;
    if (k > FPR_HIST_BINS - 1)
        k = FPR_HIST_BINS - 1;
    return (int)k;
}

void fpr_hist_add(fpr_hist *h, double v)
{
    if (!(v > 0)) {
        if (v == 0)
            h->zero++;
        return;
    }
    pthread_once(&g_hist_once, hist_edges);
    int lo = 0, hi = FPR_HIST_BINS - 1; /* the last k with k = 0 or edge[k] <= v */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (g_hist_edge[mid] <= v)
            lo = mid;
        else
            hi = mid - 1;
    }
    int k = lo;
    if ((k > 0 && v < g_hist_edge[k] * (1 + 0x1p-30)) ||
        (k + 1 < FPR_HIST_BINS && v > g_hist_edge[k + 1] * (1 - 0x1p-30)))
        k = fpr_hist_bin_of(v);
    h->bin[k]++;
}

void fpr_disp_hist_add(fpr_disp_hist *h, double v)
{
    if (!(v >= 0))
        return;
    double k = floor(v / FPR_DISP_W);
    h->bin[k > FPR_DISP_BINS - 1 ? FPR_DISP_BINS - 1 : (int)k]++;
}

double fpr_disp_hist_median(const fpr_disp_hist *h)
{
    int64_t n = 0, acc = 0;
    for (int k = 0; k < FPR_DISP_BINS; k++)
        n += h->bin[k];
    if (n == 0)
        return NAN;
    for (int k = 0; k < FPR_DISP_BINS; k++) {
        acc += h->bin[k];
        if (2 * acc >= n)
            return (k + 0.5) * FPR_DISP_W;
    }
    return NAN;
}

/* ------------------------------------------------------------------ identity contracts */
static const struct { const char *backend, *partner; } identities[] = {
    {"chunked_fp32", "exact_diff"},
};

const char *fpr_study_identity_partner(const char *backend)
{
    for (size_t i = 0; i < sizeof identities / sizeof identities[0]; i++)
        if (strcmp(backend, identities[i].backend) == 0)
            return identities[i].partner;
    return NULL;
}

void fpr_token_results_free(fpr_token_results *t)
{
    if (!t)
        return;
    free(t->kind);
    free(t->cause);
    free(t->explained);
    free(t->valid_flip);
    free(t->flip_cause);
    free(t->phi_change);
    free(t->err_bound);
    free(t->err_ulp);
    free(t->degenerate);
    free(t->tie_order);
    free(t->disp_a);
    free(t->disp_c);
    free(t);
}

fpr_token_results *fpr_token_results_new(int64_t S, int64_t nt)
{
    fpr_token_results *t = fpr_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t n = (size_t)(S * nt) + 1;
    t->S = S;
    t->n_token = nt;
    t->kind = fpr_calloc(n, 1);
    t->cause = fpr_calloc(n, 1);
    t->explained = fpr_calloc(n, 1);
    t->valid_flip = fpr_calloc(n, 1);
    t->flip_cause = fpr_calloc(n, 1);
    t->phi_change = fpr_calloc(n, sizeof(float));
    t->err_bound = fpr_calloc(n, sizeof(float));
    t->err_ulp = fpr_calloc(n, sizeof(float));
    t->degenerate = fpr_calloc(n, 1);
    t->tie_order = fpr_calloc(n, 1);
    t->disp_a = fpr_calloc(n, sizeof(float));
    t->disp_c = fpr_calloc(n, sizeof(float));
    if (!t->kind || !t->cause || !t->explained || !t->valid_flip || !t->flip_cause ||
        !t->phi_change || !t->err_bound || !t->err_ulp || !t->degenerate || !t->tie_order ||
        !t->disp_a || !t->disp_c) {
        fpr_token_results_free(t);
        return NULL;
    }
    return t;
}

/* ------------------------------------------------------------------ comparison */
typedef struct cmp_ctx {
    const fpr_case *c;
    const fpr_backend *b;
    const void *cfg;
    const fpr_chains *ch;
    const float *xs;     /* sample coordinates */
    const double *absmax; /* [n_chains] max |x| of the chain in this sample */
    fpr_exact *ex;
    fpr_paireval *pe;
    int any_tie_order; /* FPR_CMP_ANY_TIE_ORDER: equal values may rank in any index order */
    struct cmp_row *row; /* the exact row of the current token (fpr_exact_row_set) */
} cmp_ctx;

/* The atoms whose exact D² to the token's atom `st` the current row holds. */
typedef struct cmp_row {
    int32_t st, atom[FPR_EXACT_ROW];
    int n;
    /* per atom of the row, once asked: the backend's bound and its computed value */
    uint8_t have_bound[FPR_EXACT_ROW], have_value[FPR_EXACT_ROW];
    double bnd[FPR_EXACT_ROW], val[FPR_EXACT_ROW];
} cmp_row;

static const float *X(const cmp_ctx *k, int32_t i) { return k->xs + (size_t)i * 3; }

/* Starts the row of st: the distinct atoms of a[0..n-1] that index the case, in order
 * (q: their coordinates), nothing asked yet. */
static void row_atoms(const cmp_ctx *k, int32_t st, const int32_t *a, int n, const float **q)
{
    cmp_row *r = k->row;
    r->st = st;
    r->n = 0;
    memset(r->have_bound, 0, sizeof r->have_bound);
    memset(r->have_value, 0, sizeof r->have_value);
    for (int i = 0; i < n; i++) {
        int dup = a[i] < 0 || a[i] >= k->c->n_atom;
        for (int j = 0; j < r->n && !dup; j++)
            dup = r->atom[j] == a[i];
        if (!dup && r->n < FPR_EXACT_ROW) {
            q[r->n] = X(k, a[i]);
            r->atom[r->n++] = a[i];
        }
    }
}

/* Sets the row of st to the distinct atoms of a[0..n-1] that index the case. */
static void row_begin(const cmp_ctx *k, int32_t st, const int32_t *a, int n)
{
    const float *q[FPR_EXACT_ROW];
    row_atoms(k, st, a, n, q);
    fpr_exact_row_set(k->ex, X(k, st), q, k->row->n);
}

/* The row of st as row_begin(st, {a, c}) makes it, its exact values from the shared
 * part (saved from that row_begin). */
static int row_load(const cmp_ctx *k, int32_t st, int32_t a, int32_t c,
                    const fpr_exact_saved *sv)
{
    const float *q[FPR_EXACT_ROW];
    const int32_t picks[2] = {a, c};
    row_atoms(k, st, picks, 2, q);
    return fpr_exact_row_load(k->ex, X(k, st), q, k->row->n, sv);
}

static int row_slot(const cmp_ctx *k, int32_t st, int32_t a)
{
    const cmp_row *r = k->row;
    if (r->st != st)
        return -1;
    for (int j = 0; j < r->n; j++)
        if (r->atom[j] == a)
            return j;
    return -1;
}

/* fpr_exact_cmp / _gap / _err of st's pairs, from the row where it holds them. */
static int xcmp(const cmp_ctx *k, int32_t st, int32_t q1, int32_t q2)
{
    int a = row_slot(k, st, q1), b = row_slot(k, st, q2);
    if (a >= 0 && b >= 0)
        return fpr_exact_row_cmp(k->ex, a, b);
    return fpr_exact_cmp(k->ex, X(k, st), X(k, q1), X(k, q2));
}

static double xgap(const cmp_ctx *k, int32_t st, int32_t q1, int32_t q2)
{
    int a = row_slot(k, st, q1), b = row_slot(k, st, q2);
    if (a >= 0 && b >= 0)
        return fpr_exact_row_gap(k->ex, a, b);
    return fpr_exact_gap(k->ex, X(k, st), X(k, q1), X(k, q2));
}

static double xerr(const cmp_ctx *k, int32_t st, int32_t p, double d2hat, double *d2)
{
    int a = row_slot(k, st, p);
    if (a >= 0)
        return fpr_exact_row_err(k->ex, a, d2hat, d2);
    return fpr_exact_err(k->ex, X(k, st), X(k, p), d2hat, d2);
}

/* Is j a real candidate of row i (present, same chain)? */
static int candidate(const cmp_ctx *k, int32_t i, int32_t j)
{
    return j >= 0 && j < k->c->n_atom && k->c->atom_mask[i] && k->c->atom_mask[j] &&
           k->ch->chain_of_atom[i] == k->ch->chain_of_atom[j];
}

static int same_pick(const cmp_ctx *k, int32_t st, int32_t pb, int32_t pt)
{
    if (pb == pt)
        return 1;
    /* two inf fillers of a short row: equal values, so for another program's top-k
     * (any tie order) either is the same pick */
    if (k->any_tie_order && !candidate(k, st, pb) && !candidate(k, st, pt) && pb >= 0 &&
        pt >= 0)
        return 1;
    if (!candidate(k, st, pb) || !candidate(k, st, pt))
        return 0;
    return xcmp(k, st, pb, pt) == 0;
}

static double bound(const cmp_ctx *k, int32_t i, int32_t j)
{
    if (!k->b->d2_error_bound)
        return 0;
    int a = row_slot(k, i, j);
    if (a >= 0 && k->row->have_bound[a])
        return k->row->bnd[a];
    double v = k->b->d2_error_bound(k->b, k->cfg, X(k, i), X(k, j),
                                    k->absmax[k->ch->chain_slot[i]]);
    if (a >= 0) {
        k->row->bnd[a] = v;
        k->row->have_bound[a] = 1;
    }
    return v;
}

/* The backend's computed value of (st, j), through the row where it holds j. */
static double value_of(const cmp_ctx *k, int32_t st, int32_t j)
{
    int a = row_slot(k, st, j);
    if (a >= 0 && k->row->have_value[a])
        return k->row->val[a];
    double v = fpr_paireval_value(k->pe, st, j);
    if (a >= 0) {
        k->row->val[a] = v;
        k->row->have_value[a] = 1;
    }
    return v;
}

static int ranks_before(double v1, int32_t i1, double v2, int32_t i2)
{
    return v1 < v2 || (v1 == v2 && i1 < i2);
}

/* The largest |a_q − b_q| of a frame's 9 coordinates, +inf where two differ without a
 * positive difference (a NaN). Each d is +0 or above and never NaN, so the largest is
 * taken on the encodings, which order non-negative floats as their values do: the
 * same value as a running float max, in a loop the compiler vectorises. */
static float phi_change(const float *restrict a, const float *restrict b)
{
    uint32_t m = 0;
    for (int q = 0; q < 9; q++) {
        float d = fabsf(a[q] - b[q]);
        d = a[q] != b[q] && !(d > 0) ? INFINITY : d;
        uint32_t u;
        memcpy(&u, &d, sizeof u);
        m = u > m ? u : m;
    }
    float r;
    memcpy(&r, &m, sizeof r);
    return r;
}

/* The atom ranked first in a row: the query atom itself unless it sits at rank 1 or 2
 * or (for the backend) its value is not the ranked-first value; then the smallest index
 * of the chain whose value (backend) or exact D² = 0 (truth) matches, excluding the
 * other two picks. -1 when not found (the backend is inconsistent) or not evaluable. */
static int32_t first_atom(const cmp_ctx *k, int32_t st, int32_t p1, int32_t p2, double v0,
                          int truth, int32_t known)
{
    /* Truth: D²(st) = 0 is the least, so st is first unless it is a pick (exact
     * duplicates of lower index rank before it; three or more are not resolved). The
     * backend: no shortcut, as its own value may tie with lower indices. */
    if (truth && p1 != st && p2 != st)
        return st;
    if (!truth && !fpr_paireval_ok(k->pe))
        return -1;
    int64_t sl = k->ch->chain_slot[st];
    if (sl < 0)
        return -1;
    /* The driver's own closest[0] is by definition that atom (smallest value, then
     * smallest index; never a pick): no scan of the chain (O(N) per mismatch). */
    if (!truth && known >= 0 && known != p1 && known != p2 &&
        k->ch->chain_slot[known] == sl && fpr_paireval_value(k->pe, st, known) == v0)
        return known;
    for (int64_t q = k->ch->start[sl]; q < k->ch->start[sl + 1]; q++) {
        int32_t j = k->ch->members[q];
        if (j == p1 || j == p2)
            continue;
        if (truth ? fpr_exact_cmp(k->ex, X(k, st), X(k, st), X(k, j)) == 0
                  : fpr_paireval_value(k->pe, st, j) == v0)
            return j;
    }
    return -1;
}

/* Cause of a mismatching row from its inversions. B = the backend's ranked top-3,
 * T = the truth's. An inversion is a truth atom Tj ranked by the backend after one of
 * its picks Bi although D²(Tj) < D²(Bi) exactly; its cause is the backend's values of
 * the two (equal: rounded tie; strictly wrong: reordered), and it is explained when
 * D²(Bi) − D²(Tj) ≤ bound(Tj) + bound(Bi). Sets *expl. */
static int row_cause(const cmp_ctx *k, int32_t st, const int32_t T[3], const int32_t B[3],
                     int *expl)
{
    int cause = FPR_CAUSE_NONE, any = 0, pe_ok = fpr_paireval_ok(k->pe);
    *expl = 1;
    for (int i = 0; i < 3; i++) {
        if (B[i] < 0) {
            if (!pe_ok) { /* the backend's first atom is unknown: judge by the bound */
                cause = FPR_CAUSE_UNKNOWN;
                continue;
            }
            *expl = 0;
            return FPR_CAUSE_INCONSISTENT;
        }
        if (!candidate(k, st, B[i]))
            continue; /* an inf filler: both lists have the same ones */
        for (int j = 0; j < 3; j++) {
            if (T[j] < 0 || !candidate(k, st, T[j]))
                continue;
            int before = 0; /* Tj at a backend rank <= i */
            for (int q = 0; q <= i; q++)
                before |= B[q] == T[j];
            if (before || xcmp(k, st, T[j], B[i]) >= 0)
                continue;
            /* the backend ranked B[i] before T[j] although T[j] is truly nearer */
            any = 1;
            double gap = xgap(k, st, T[j], B[i]);
            /* the gap is rounded once to double: a relative 2^-53 the bounds' slack covers */
            if (!(gap <= bound(k, st, T[j]) + bound(k, st, B[i])))
                *expl = 0;
            if (!pe_ok) {
                cause = FPR_CAUSE_UNKNOWN;
                continue;
            }
            double vb = value_of(k, st, B[i]);
            double vt = value_of(k, st, T[j]);
            if (!ranks_before(vb, B[i], vt, T[j]) && !(k->any_tie_order && vb == vt)) {
                *expl = 0; /* its top-3 contradicts its own values */
                return FPR_CAUSE_INCONSISTENT;
            }
            int c = vb == vt ? FPR_CAUSE_TIE : FPR_CAUSE_REORDERED;
            if (cause != FPR_CAUSE_UNKNOWN && c > cause)
                cause = c;
        }
    }
    if (!any && cause != FPR_CAUSE_UNKNOWN) {
        *expl = 0;
        return FPR_CAUSE_INCONSISTENT;
    }
    return cause;
}

/* The pair evaluator for sample s, built on first need: it is asked only about
 * mismatches and (frames read from a file) tie counts, so a run whose backend picks
 * what the truth picks never builds it (its setup prepares every chain). */
static int pe_for(cmp_ctx *k, fpr_paireval **owner, const char *params, int64_t s,
                  int64_t *pe_s)
{
    int rc;
    if (!*owner && (rc = fpr_paireval_new(k->c, k->b, params, owner)))
        return rc;
    k->pe = *owner;
    if (*pe_s != s) {
        if ((rc = fpr_paireval_sample(k->pe, s)))
            return rc;
        *pe_s = s;
    }
    return FPR_OK;
}

static double ulp_f32(double x)
{
    if (!(x >= 0x1p-126))
        return 0x1p-149;
    if (!(x < INFINITY)) { /* (not reached: exact D² are finite) */
        int e;
        frexp(x, &e);
        return ldexp(1.0, e - 24);
    }
    uint64_t u; /* x = m·2^e, m in [0.5, 1): frexp's e, from the (normal) exponent field */
    memcpy(&u, &x, sizeof u);
    const int e = (int)((u >> 52) & 0x7ff) - 1022;
    return fpr_pow2(e - 24);
}

/* ------------------------------------------------------------------ shared per run */
struct fpr_cmp_shared {
    const fpr_case *c; /* what it was built from (checked by each comparison) */
    const fpr_frames *tr;
    fpr_chains ch;
    double *absmax;           /* [S][n_chains] */
    fpr_exact_saved *truth_row; /* [S][n_token] the row of (a, c) of the truth (atomized) */
};

/* Chain facts for the bounds: half the largest coordinate span of each chain in sample
 * s, so every coordinate difference inside it is at most 2R (translation-invariant). */
static void chain_absmax(const fpr_case *c, const fpr_chains *ch, int64_t s, double *absmax)
{
    const float *xs = c->x + (size_t)s * (size_t)c->n_atom * 3;
    for (int64_t sl = 0; sl < ch->n_chains; sl++) {
        double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
        for (int64_t q = ch->start[sl]; q < ch->start[sl + 1]; q++) {
            const float *p = xs + (size_t)ch->members[q] * 3;
            for (int w = 0; w < 3; w++) {
                lo[w] = fmin(lo[w], (double)p[w]);
                hi[w] = fmax(hi[w], (double)p[w]);
            }
        }
        double mx = 0;
        for (int w = 0; w < 3; w++)
            mx = fmax(mx, 0.5 * (hi[w] - lo[w]));
        absmax[sl] = mx;
    }
}

void fpr_cmp_shared_free(fpr_cmp_shared *sh)
{
    if (!sh)
        return;
    fpr_chains_free(&sh->ch);
    free(sh->absmax);
    free(sh->truth_row);
    free(sh);
}

int fpr_cmp_shared_new(const fpr_case *c, const fpr_frames *tr, int jobs, fpr_cmp_shared **out)
{
    *out = NULL;
    FPR_CHECK(tr->S == c->S && tr->n_token == c->n_token);
    fpr_cmp_shared *sh = fpr_calloc(1, sizeof *sh);
    if (!sh)
        return FPR_ENOMEM;
    sh->c = c;
    sh->tr = tr;
    int rc = fpr_chains_build(c, &sh->ch);
    if (rc) {
        free(sh);
        return rc;
    }
    const int64_t S = c->S, nt = c->n_token, nc = sh->ch.n_chains;
    sh->absmax = fpr_malloc_n((size_t)(S * nc) + 1, sizeof(double));
    sh->truth_row = fpr_malloc_n((size_t)(S * nt) + 1, sizeof(fpr_exact_saved));
    if (!sh->absmax || !sh->truth_row) {
        fpr_cmp_shared_free(sh);
        return FPR_ENOMEM;
    }
    int err = FPR_OK;
    if (jobs < 1)
        jobs = 1;
#pragma omp parallel num_threads(jobs)
    {
        fpr_exact *ex = fpr_exact_new();
        cmp_row row;
        memset(&row, 0, sizeof row);
        cmp_ctx k;
        memset(&k, 0, sizeof k);
        k.c = c;
        k.ch = &sh->ch;
        k.ex = ex;
        k.row = &row;
        if (!ex) {
#pragma omp atomic write
            err = FPR_ENOMEM;
        }
#pragma omp for schedule(static)
        for (int64_t s = 0; s < S; s++)
            chain_absmax(c, &sh->ch, s, sh->absmax + s * nc);
#pragma omp for schedule(static)
        for (int64_t o = 0; o < S * nt; o++) {
            const int64_t t = o % nt;
            if (!ex || !c->is_atomized[t])
                continue;
            k.xs = c->x + (size_t)(o / nt) * (size_t)c->n_atom * 3;
            /* as row_begin of (aB, cB, aT, cT) makes it when the backend's picks are
             * the truth's: the distinct picks that index the case, in this order */
            const int32_t picks[2] = {tr->a_index[o], tr->c_index[o]};
            row_begin(&k, c->start_atom_index[t], picks, 2);
            if (fpr_exact_row_save(ex, &sh->truth_row[o])) {
#pragma omp atomic write
                err = FPR_EINTERNAL;
            }
        }
        fpr_exact_free(ex);
    }
    if (err) {
        fpr_cmp_shared_free(sh);
        return err == FPR_ENOMEM ? FPR_ENOMEM : fpr_error(err, "internal check failed: shared row");
    }
    *out = sh;
    return FPR_OK;
}

static int compare_impl(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                        const fpr_backend *b, const char *params, int flags,
                        const fpr_cmp_shared *sh, fpr_metrics *m, fpr_token_results **tok_out,
                        fpr_hist *bhist);

int fpr_study_compare(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                      const fpr_backend *b, const char *params, int jobs, fpr_metrics *m,
                      fpr_token_results **tok_out, fpr_hist *bhist)
{
    return fpr_study_compare_flags(c, tr, f, b, params, jobs, 0, m, tok_out, bhist);
}

int fpr_study_compare_flags(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                            const fpr_backend *b, const char *params, int jobs, int flags,
                            fpr_metrics *m, fpr_token_results **tok_out, fpr_hist *bhist)
{
    (void)jobs; /* the comparison is serial: its sums are then identical for any jobs */
    return compare_impl(c, tr, f, b, params, flags, NULL, m, tok_out, bhist);
}

int fpr_study_compare_shared(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                             const fpr_backend *b, const char *params,
                             const fpr_cmp_shared *sh, fpr_metrics *m,
                             fpr_token_results **tok_out, fpr_hist *bhist)
{
    /* a stale or foreign shared part would answer for other coordinates or picks */
    FPR_CHECK(sh && sh->c == c && sh->tr == tr);
    return compare_impl(c, tr, f, b, params, 0, sh, m, tok_out, bhist);
}

static int compare_impl(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                        const fpr_backend *b, const char *params, int flags,
                        const fpr_cmp_shared *sh, fpr_metrics *m, fpr_token_results **tok_out,
                        fpr_hist *bhist)
{
    if (tok_out)
        *tok_out = NULL;
    FPR_CHECK(tr->S == c->S && tr->n_token == c->n_token && f->S == c->S &&
              f->n_token == c->n_token);
    int rc = FPR_OK;
    void *cfg = NULL;
    fpr_chains own;
    memset(&own, 0, sizeof own);
    const fpr_chains *ch = sh ? &sh->ch : &own;
    fpr_paireval *pe = NULL;
    fpr_exact *ex = fpr_exact_new();
    double *absmax = NULL;
    fpr_token_results *tok = fpr_token_results_new(c->S, c->n_token);
    if (!ex || !tok) {
        rc = FPR_ENOMEM;
        goto done;
    }
    if (b->configure && (rc = b->configure(b, params, &cfg)))
        goto done;
    if (!sh && (rc = fpr_chains_build(c, &own)))
        goto done;
    if (!sh && !(absmax = fpr_calloc((size_t)ch->n_chains + 1, sizeof(double)))) {
        rc = FPR_ENOMEM;
        goto done;
    }
    cmp_row row;
    memset(&row, 0, sizeof row);
    row.st = -1;
    cmp_ctx k = {c,  b,  cfg, ch, NULL, absmax, ex, NULL, (flags & FPR_CMP_ANY_TIE_ORDER) != 0,
                 &row};
    int64_t pe_s = -1; /* the sample k.pe holds */

    for (int64_t s = 0; s < c->S; s++) {
        k.xs = c->x + (size_t)s * (size_t)c->n_atom * 3;
        if (sh)
            k.absmax = sh->absmax + s * ch->n_chains;
        else
            chain_absmax(c, ch, s, absmax);
        for (int64_t t = 0; t < c->n_token; t++) {
            int64_t o = s * c->n_token + t;
            /* phi and the valid mask, every token */
            float dmax = phi_change(f->phi + o * 9, tr->phi + o * 9);
            tok->phi_change[o] = dmax;
            if (dmax > 0) {
                m->phi_changed++;
                if (dmax > m->phi_max_change)
                    m->phi_max_change = dmax;
            }
            int tv = tr->valid_frame_mask[o], bv = f->valid_frame_mask[o];
            int32_t aT = tr->a_index[o], cT = tr->c_index[o];
            int32_t aB = f->a_index[o], cB = f->c_index[o];
            if (tv != bv) {
                tok->valid_flip[o] = (int8_t)(bv ? 1 : -1);
                if (bv)
                    m->flip_01++;
                else
                    m->flip_10++;
                int pick = aB != aT || cB != cT;
                tok->flip_cause[o] = (uint8_t)(pick ? 1 : 2);
                if (pick)
                    m->flip_pick++;
                else
                    m->flip_angle++;
            }
            tok->err_bound[o] = tok->err_ulp[o] = NAN;
            if (!c->is_atomized[t]) {
                tok->kind[o] = FPR_KIND_NONE;
                continue;
            }
            m->tokens++;
            int32_t st = c->start_atom_index[t];
            if (sh && aB == aT && cB == cT) {
                if (row_load(&k, st, aT, cT, &sh->truth_row[o])) {
                    rc = fpr_error(FPR_EINTERNAL, "internal check failed: shared row of "
                                   "token %lld", (long long)t);
                    goto done;
                }
            } else {
                const int32_t picks[4] = {aB, cB, aT, cT};
                row_begin(&k, st, picks, 4);
            }
            /* error of the values that decided the picks */
            if (b->d2_error_bound) {
                double bsum = 0, d2c = 0;
                for (int r = 1; r <= 2; r++) {
                    int32_t p = r == 1 ? aB : cB;
                    double v = f->top_value[o * 3 + r];
                    if (!candidate(&k, st, p) || !isfinite(v))
                        continue;
                    double d2hat = b->value_to_d2 ? b->value_to_d2(b, cfg, v) : v, d2;
                    double err = xerr(&k, st, p, d2hat, &d2);
                    double bd = bound(&k, st, p);
                    bsum += bd;
                    if (r == 2)
                        d2c = d2;
                    double eb = bd > 0 ? err / bd : (err > 0 ? INFINITY : 0);
                    /* ulps of D² mean nothing at D² = 0 (a duplicate or the atom itself) */
                    double eu = d2 > 0 ? err / ulp_f32(d2) : 0;
                    m->err_n++;
                    m->err_bound_sum += eb;
                    m->err_ulp_sum += eu;
                    if (eb > m->err_bound_max)
                        m->err_bound_max = eb;
                    if (eu > m->err_ulp_max)
                        m->err_ulp_max = eu;
                    if (!(eb <= tok->err_bound[o]))
                        tok->err_bound[o] = (float)eb;
                    if (!(eu <= tok->err_ulp[o]))
                        tok->err_ulp[o] = (float)eu;
                }
                if (bhist && d2c > 0)
                    fpr_hist_add(bhist, bsum / d2c);
            }
            /* severity 1: a zero-extent frame (the token's own atom as a or c; b as the
             * frames file has it, which for an imported file is recovered from phi) */
            if (aB == f->b_index[o] || cB == f->b_index[o]) {
                m->degenerate++;
                tok->degenerate[o] = 1;
                if (bv) {
                    m->degenerate_valid++;
                    tok->degenerate[o] = 2;
                }
            }
            /* severity 4: the backend's own values tie at a rank boundary, so top-k's
             * order of equal values decides (bit 4: an unpicked member equals the
             * third value; the driver counted them during its search, which offers
             * every candidate that can equal the third — fpr_top3.eq3 — else, for
             * frames read from a file, the row is scanned with the driver's blocks) */
            {
                const double *v = &f->top_value[o * 3];
                unsigned to = 0;
                if (isfinite(v[1]) && v[0] == v[1])
                    to |= 1;
                if (isfinite(v[2]) && v[1] == v[2])
                    to |= 2;
                if (!to && isfinite(v[2])) {
                    int32_t n3 = f->tie3 ? f->tie3[o] : -1;
                    if (n3 < 0 && (rc = pe_for(&k, &pe, params, s, &pe_s)))
                        goto done;
                    if (n3 < 0 && fpr_paireval_ok(k.pe))
                        n3 = (int32_t)(fpr_paireval_count_equal(k.pe, st, v[2]) - 1);
                    if (n3 > 0)
                        to |= 4;
                }
                tok->tie_order[o] = (uint8_t)to;
                if (to)
                    m->tie_order++;
            }
            int eqA = same_pick(&k, st, aB, aT), eqC = same_pick(&k, st, cB, cT);
            /* severity 3: how far a changed frame atom moved */
            for (int r = 0; r < 2; r++) {
                int32_t pb = r ? cB : aB, pt = r ? cT : aT;
                if ((r ? eqC : eqA) || pb < 0 || pt < 0 || pb >= c->n_atom || pt >= c->n_atom)
                    continue;
                double d2 = 0;
                for (int w = 0; w < 3; w++) {
                    double d = (double)X(&k, pb)[w] - (double)X(&k, pt)[w];
                    d2 += d * d;
                }
                double dd = sqrt(d2);
                (r ? tok->disp_c : tok->disp_a)[o] = (float)dd;
                m->disp_n++;
                m->disp_sum += dd;
                if (dd > m->disp_max)
                    m->disp_max = dd;
            }
            if (eqA && eqC) {
                tok->kind[o] = FPR_KIND_EQUAL;
                if (aB != aT || cB != cT)
                    m->tie_alt++;
                continue;
            }
            m->mismatch++;
            if ((rc = pe_for(&k, &pe, params, s, &pe_s)))
                goto done;
            int32_t T[3] = {first_atom(&k, st, aT, cT, 0, 1, -1), aT, cT};
            int32_t B[3] = {first_atom(&k, st, aB, cB, f->top_value[o * 3], 0,
                                       f->first_index ? f->first_index[o] : -1), aB, cB};
            { /* the row: every atom the cause is about */
                const int32_t atoms[7] = {aB, cB, aT, cT, T[0], B[0], st};
                row_begin(&k, st, atoms, 7);
            }
            int truth_self = T[0] == st;
            int self_out = truth_self && (fpr_paireval_ok(k.pe) ? B[0] != st : (aB == st || cB == st));
            int kind;
            if (self_out)
                kind = FPR_KIND_SELF, m->m_self++;
            else if (same_pick(&k, st, aB, cT) && same_pick(&k, st, cB, aT))
                kind = FPR_KIND_SWAPPED, m->m_swapped++;
            else if (eqA || eqC)
                kind = FPR_KIND_ONE, m->m_one++;
            else
                kind = FPR_KIND_BOTH, m->m_both++;
            tok->kind[o] = (uint8_t)kind;
            int expl;
            int cause = row_cause(&k, st, T, B, &expl);
            tok->cause[o] = (uint8_t)cause;
            tok->explained[o] = (uint8_t)expl;
            switch (cause) {
            case FPR_CAUSE_TIE: m->rounded_tie++; break;
            case FPR_CAUSE_REORDERED: m->reordered++; break;
            case FPR_CAUSE_UNKNOWN: m->cause_unknown++; break;
            default: m->inconsistent++; break;
            }
            if (expl)
                m->explained++;
            else
                m->unexplained++;
        }
    }
    if (!rc)
        rc = fpr_paireval_status(pe); /* (a chain whose preparation failed gave NaN) */
done:
    if (cfg && b->cfg_free)
        b->cfg_free(cfg);
    fpr_paireval_free(pe);
    fpr_exact_free(ex);
    fpr_chains_free(&own);
    free(absmax);
    if (rc) {
        fpr_token_results_free(tok);
        return rc;
    }
    if (tok_out)
        *tok_out = tok;
    else
        fpr_token_results_free(tok);
    return FPR_OK;
}
