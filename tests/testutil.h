/* testutil.h — shared helpers for the cmocka suites: seeds, random numbers,
 * temporary files, small hand-built cases. */
#ifndef FRAMEPREC_TESTUTIL_H
#define FRAMEPREC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "frameprec.h"

/* The suite's seed: FRAMEPREC_SEED from the environment, else `dflt`. Printed once. */
uint64_t tu_seed(uint64_t dflt);
/* splitmix64 generator: deterministic across platforms. */
typedef struct tu_rng { uint64_t s; } tu_rng;
uint64_t tu_next(tu_rng *r);
double tu_uniform(tu_rng *r);            /* [0, 1) */
float tu_uniform_f(tu_rng *r, float lo, float hi);

/* A path in a fresh per-process temporary directory (removed at exit). */
const char *tu_tmp(const char *name);
int tu_file_exists(const char *path);

/* One chain of n atomized single-atom tokens (asym_id `chain`), all present, S samples,
 * coordinates zero: fill c->x yourself. */
fpr_case *tu_atomized_case(int64_t S, int64_t n, int32_t chain);

/* Run the driver with a named backend; asserts success. */
fpr_frames *tu_run(const fpr_case *c, const char *backend);

#endif
