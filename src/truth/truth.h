/* truth.h — internals of the exact ground truth (src/truth/), shared with its tests;
 * never included by users. */
#ifndef FRAMEPREC_TRUTH_H
#define FRAMEPREC_TRUTH_H

#include "frameprec.h"

/* The exact angle decision without the binary64 prefilter: always GMP/MPFR. Same
 * contract as fpr_angle_valid_exact (returns 1 when the angle test passes). */
int fpr_truth_angle_exact_mp(const float xa[3], const float xb[3], const float xc[3],
                             double eps, double theta_deg);

/* B32: the float32 reach of the angle test (see angle_exact.c): when the exact gap
 * between cos and a bound exceeds it, fpr_angle_valid_f32 cannot decide differently. */
double fpr_truth_angle_b32(void);

/* The truth's per-row search (the backend's block_top3) on rows q[0..nq-1] of a chain
 * view; force_mpz = 1 ranks the filter's survivors in GMP instead of __int128 (to test
 * both paths). `extra` may be NULL. */
int fpr_truth_block_top3(const fpr_chain_view *cv, const int64_t *q, int64_t nq,
                         fpr_top3 *out, fpr_row_extra *extra, int force_mpz);

/* Brute force: row q against every member of the chain, all in GMP, no filter; the
 * same outputs as the backend (exact D² rounded to binary64, ties, margins). */
int fpr_truth_row_brute(const fpr_chain_view *cv, int64_t q, fpr_top3 *t, fpr_row_extra *ex);

#endif
