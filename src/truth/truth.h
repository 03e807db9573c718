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

#endif
