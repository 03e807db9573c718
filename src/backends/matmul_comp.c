/* matmul_comp.c — the cdist identity with compensated float32 arithmetic only
 * (SPEC §3): the question it answers is whether a GEMM-shaped, float32-only kernel can
 * be as right as exact_diff.
 *
 * Arithmetic. Every product is split error-free by TwoProduct (p = a·b, e = fma(a,b,−p),
 * so p + e = a·b exactly):
 *   norm pieces per atom (prepare_chain): x_k² = P_k + Q_k, k = 0..2 — six floats whose
 *     exact sum is |x|²; no norm is ever rounded;
 *   cross pieces per pair: (−2x_ik)·x_jk = H_k + L_k.
 * The 18 floats [H0 L0 H1 L1 H2 L2 | P_i Q_i ×3 | P_j Q_j ×3] sum exactly to D² (the
 * identity is exact in real arithmetic). They are summed with SumK, K = 3 (Ogita, Rump,
 * Oishi 2005, Alg. 4.8): two error-free VecSum cascades, then a plain sum, run as a
 * pipeline (each TwoSum's error feeds the next cascade at once: σ1, σ2 running sums, ρ
 * the final one), which is the same computation as the three-pass algorithm. In GEMM
 * form it is DotK (K = 3) of the augmented rows
 *   A_i = [−2x_i, P_i0 Q_i0 P_i1 Q_i1 P_i2 Q_i2, 1 ×6],  B_j = [x_j, 1 ×6, P_j0 … Q_j2]
 * — "Dot2 or better": Dot2 would leave an error of γ²·|x|² (≈ 10 float32 ulps of a
 * bond length squared at 1000 Å); K = 3 leaves γ³·|x|², negligible.
 * value = sqrtf(max(0, res)), as cdist.
 *
 * Error bound (u = 2^-24, γk = ku/(1−ku), n = 19: the 18 pieces and the leading zero
 * the cascades start from; S = Σ|pieces|):
 *   ORO Prop. 4.10: |res − D²| ≤ (u + 3γ²_{n−1}) D² + γ³_{2n−2} S,   S ≤ (1+u)(2Σ|x_ik x_jk| + n_i + n_j)
 *   (valid with underflow for the sums; TwoProduct is exact unless a product is below
 *   2^-102 — covered by an absolute 2^-100 term), then clamp and sqrt as matmul:
 *   |v² − D²| ≤ E + (2u+u²)(D² + E)  ≈ 3u·D² + 3·10⁻¹⁷·(|x_i|² + |x_j|²).
 * Like exact_diff's bound it is relative to D², up to a term that stays below 10⁻¹⁰ Å²
 * at 1000 Å. The sqrt then makes values of D² within ~2 ulps collide (rounded ties).
 *
 * PyTorch memory: an elementwise PyTorch implementation streams the pieces through the
 * pipeline and holds σ1, σ2, ρ, the current piece pair (H, L) and two TwoSum temporaries:
 * 7 [S,N,N] float32, plus the boolean mask and the [S,N,15] augmented operands:
 * S·(28N² + 120N) + N². A fused kernel (one [N,N] result) would need what matmul needs. */
#include "backends/matmul_common.h"

/* aux: per atom the six norm pieces and the two GEMM operands' coordinates */
typedef struct comp_aux {
    int64_t n;
    float *m2x[3]; /* −2x_k */
    float *P[3], *Q[3];
} comp_aux;

static size_t aux_bytes(const fpr_backend *b, int64_t n)
{
    (void)b;
    return sizeof(comp_aux) + 64 + 9 * ((size_t)n * sizeof(float) + 64);
}

static int prepare(const fpr_backend *b, const void *cfg, fpr_chain_view *cv)
{
    (void)b;
    (void)cfg;
    comp_aux *m = cv->aux;
    size_t arr = ((size_t)cv->n * sizeof(float) + 63) & ~(size_t)63;
    char *p = (char *)(((uintptr_t)((char *)cv->aux + sizeof(comp_aux)) + 63) & ~(uintptr_t)63);
    m->n = cv->n;
    for (int k = 0; k < 3; k++) {
        m->m2x[k] = (float *)p, p += arr;
        m->P[k] = (float *)p, p += arr;
        m->Q[k] = (float *)p, p += arr;
    }
    const float *xs[3] = {cv->x, cv->y, cv->z};
    for (int k = 0; k < 3; k++)
        for (int64_t j = 0; j < cv->n; j++) {
            float v = xs[k][j];
            float pp = v * v;
            m->m2x[k][j] = -2.0f * v; /* exact */
            m->P[k][j] = pp;
            m->Q[k][j] = fmaf(v, v, -pp); /* TwoProduct: exact error of v·v */
        }
    return FPR_OK;
}

/* TwoSum (Knuth): s + e = a + b exactly, s = fl(a + b). */
#define TWO_SUM(a, b, s, e)                                                              \
    do {                                                                               \
        float s_ = (a) + (b);                                                          \
        float bb_ = s_ - (a);                                                          \
        (e) = ((a) - (s_ - bb_)) + ((b) - bb_);                                        \
        (s) = s_;                                                                      \
    } while (0)

/* One piece through the K = 3 pipeline: cascade 1 (σ1), its error through cascade 2
 * (σ2), that error into the plain sum ρ. */
#define PIPE(p)                                                                          \
    do {                                                                               \
        float e1_, e2_;                                                                \
        TWO_SUM(s1, (p), s1, e1_);                                                     \
        TWO_SUM(s2, e1_, s2, e2_);                                                     \
        r = r + e2_;                                                                   \
    } while (0)

static void eval_sq(const fpr_backend *b, const void *cfg, void *scratch,
                    const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, float *restrict out)
{
    (void)b;
    (void)cfg;
    (void)scratch;
    const comp_aux *m = cv->aux;
    const float a0 = m->m2x[0][q], a1 = m->m2x[1][q], a2 = m->m2x[2][q];
    const float Pi0 = m->P[0][q], Pi1 = m->P[1][q], Pi2 = m->P[2][q];
    const float Qi0 = m->Q[0][q], Qi1 = m->Q[1][q], Qi2 = m->Q[2][q];
    const float *restrict x0 = cv->x + j0, *restrict x1 = cv->y + j0, *restrict x2 = cv->z + j0;
    const float *restrict P0 = m->P[0] + j0, *restrict P1 = m->P[1] + j0,
                          *restrict P2 = m->P[2] + j0;
    const float *restrict Q0 = m->Q[0] + j0, *restrict Q1 = m->Q[1] + j0,
                          *restrict Q2 = m->Q[2] + j0;
    #pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        float H0 = a0 * x0[j], L0 = fmaf(a0, x0[j], -H0);
        float H1 = a1 * x1[j], L1 = fmaf(a1, x1[j], -H1);
        float H2 = a2 * x2[j], L2 = fmaf(a2, x2[j], -H2);
        /* σ1, σ2, ρ start at 0: TwoSum with a zero operand is exact with zero error,
         * so this is SumK on the 18 pieces exactly. */
        float s1 = 0.0f, s2 = 0.0f, r = 0.0f;
        PIPE(H0);
        PIPE(L0);
        PIPE(H1);
        PIPE(L1);
        PIPE(H2);
        PIPE(L2);
        PIPE(Pi0);
        PIPE(Qi0);
        PIPE(Pi1);
        PIPE(Qi1);
        PIPE(Pi2);
        PIPE(Qi2);
        PIPE(P0[j]);
        PIPE(Q0[j]);
        PIPE(P1[j]);
        PIPE(Q1[j]);
        PIPE(P2[j]);
        PIPE(Q2[j]);
        /* end of cascade 1: σ1 joins cascade 2; end of cascade 2: σ2 joins ρ */
        {
            float e2;
            TWO_SUM(s2, s1, s2, e2);
            r = r + e2;
        }
        float res = r + s2;
        out[j] = res > 0.0f ? res : 0.0f;
    }
}

static double bound(const fpr_backend *b, const void *cfg, const float xi[3], const float xj[3],
                    double chain_absmax)
{
    (void)b;
    (void)cfg;
    (void)chain_absmax;
    const double u = 0x1p-24;
    const int n = 19; /* 18 pieces and the zero the cascades start from */
    double g1 = mm_gamma(n - 1, u), g2 = mm_gamma(2 * n - 2, u);
    mm_pair p = mm_pair_facts(xi, xj);
    double S = (1 + u) * (2 * p.cross + p.ni + p.nj);
    double E = (u + 3 * g1 * g1) * p.d2 + g2 * g2 * g2 * S + 0x1p-100;
    double B = E + (2 * u + u * u) * (p.d2 + E);
    return B * (1 + 0x1p-40);
}

static double torch_peak(const fpr_backend *b, const void *cfg, double n_atom, double n_token,
                         double S)
{
    (void)b;
    (void)cfg;
    (void)n_token;
    double N = n_atom;
    return S * (28.0 * N * N + 120.0 * N) + N * N;
}

const fpr_backend fpr_backend_matmul_comp = {
    .version = 1,
    .name = "matmul_comp",
    .summary = "cdist identity, float32 only, error-free products + SumK (K=3) compensation",
    .precision = FPR_PREC_F32,
    .chain_aux_bytes = aux_bytes,
    .prepare_chain = prepare,
    .eval_f32 = fpr_eval_f32_from_sq,
    .eval_sq_f32 = eval_sq,
    .d2_error_bound = bound,
    .torch_peak_bytes = torch_peak,
    .value_to_d2 = mm_value_to_d2,
};
