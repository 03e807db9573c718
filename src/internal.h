/* internal.h — helpers shared inside the library; never included by users. */
#ifndef FRAMEPREC_INTERNAL_H
#define FRAMEPREC_INTERNAL_H

#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#include "frameprec.h"

_Static_assert(FLT_EVAL_METHOD == 0, "frameprec needs float arithmetic evaluated in float");

/* Always-on invariant check guarding data: reports and returns FPR_EINTERNAL. */
#define FPR_CHECK(cond)                                                              \
    do {                                                                             \
        if (!(cond))                                                                 \
            return fpr_error(FPR_EINTERNAL, "internal check failed: %s (%s:%d)", #cond, \
                             __FILE__, __LINE__);                                    \
    } while (0)

/* Allocation helpers: zeroed, overflow-checked; NULL on failure (message set). */
void *fpr_calloc(size_t n, size_t size);
/* As fpr_calloc without the zeroing: for arrays the caller fills before reading. */
void *fpr_malloc_n(size_t n, size_t size);
char *fpr_strdup(const char *s);

/* The eps of SPEC §2 as the float32 value PyTorch adds (a Python float cast to the
 * tensor dtype). */
static inline float fpr_eps_f32(double eps) { return (float)eps; }

/* 2^k for −1022 ≤ k ≤ 1023, built from its bits: x · fpr_pow2(k) is then ldexp(x, k)
 * (one correctly rounded multiplication by an exact power of two), without the call. */
static inline double fpr_pow2(int k)
{
    uint64_t b = (uint64_t)(k + 1023) << 52;
    double d;
    __builtin_memcpy(&d, &b, sizeof d);
    return d;
}

/* Bounds of the angle test: cos(theta) and cos(180 - theta), computed in binary64
 * as OpenFold3's Python writes them: math.cos(theta * math.pi / 180). */
void fpr_angle_bounds_f64(double theta_deg, double *cos_hi, double *cos_lo);

/* Driver internals shared with the study: per-sample chain views of a case. */
typedef struct fpr_chains {
    int64_t n_chains;
    int32_t *chain_of_atom; /* [n_atom] walk result (SPEC §2 step 1) */
    int32_t *chain_ids;     /* [n_chains] distinct chain ids, ascending */
    int64_t *start;         /* [n_chains+1] offsets into members */
    int32_t *members;       /* present atoms grouped by chain, ascending index */
    int64_t *pos_in_chain;  /* [n_atom] position of a present atom in its chain, -1 if absent */
    int64_t *chain_slot;    /* [n_atom] index of the atom's chain in chain_ids, -1 if absent */
    const fpr_case *of;     /* the case they were built from (fpr_run_opts.chains is checked) */
} fpr_chains;

int fpr_chains_build(const fpr_case *c, fpr_chains *out);
void fpr_chains_free(fpr_chains *ch);

/* Vector level of the hot loops (src/core/simd.c): detected once from the CPU,
 * lowered by FRAMEPREC_SIMD=scalar|avx2|avx512. All levels give identical bits. */
enum { FPR_SIMD_SCALAR = 0, FPR_SIMD_AVX2 = 1, FPR_SIMD_AVX512 = 2 };
int fpr_simd_level(void);
/* FPR_EUSAGE (with a message) when FRAMEPREC_SIMD names no level: the CLI refuses it
 * rather than silently using the CPU's best. */
int fpr_simd_env_check(void);
const char *fpr_simd_name(int level);
#if defined(__GNUC__) && defined(__x86_64__)
#define FPR_HAVE_X86_SIMD 1
#endif
/* Streams n float32 values v (columns in ascending atom index idx) into a running
 * top-3 under the canonical tie rule; vectorised compare against the current third
 * (src/core/driver.c). Same result as inserting every value with fpr_top3_insert. */
void fpr_top3_scan_f32(fpr_top3 *t, const float *v, const int32_t *idx, int64_t n);
/* The same for values sqrtf(s[j]) given by their s (eval_sq_f32: s ≥ +0 or +inf): the
 * sums are compared with the third's limits, sqrtf is taken only of those that pass.
 * Same result as fpr_top3_scan_f32 on the sqrtf values. */
void fpr_top3_scan_sq_f32(fpr_top3 *t, const float *s, const int32_t *idx, int64_t n);
/* For a float32 v ≥ 0 (or +inf): *lo = the smallest float32 s ≥ 0 with sqrtf(s) ≥ v,
 * *hi = the largest with sqrtf(s) ≤ v (sqrtf is correctly rounded, so non-decreasing:
 * sqrtf(s) ≤ v ⟺ s ≤ *hi, and sqrtf(s) == v ⟺ *lo ≤ s ≤ *hi; *lo > *hi when v is
 * no sqrtf value, e.g. 0 < v < sqrtf(2^-149)). */
void fpr_sqrt_limits_f32(float v, float *lo, float *hi);
/* The limits for t's third value, from t's cache (recomputed when val[2] changed). */
static inline void fpr_top3_sq_limits(fpr_top3 *t, float *lo, float *hi)
{
    if (!(t->lim_of == t->val[2])) {
        fpr_sqrt_limits_f32((float)t->val[2], &t->lim_lo, &t->lim_hi);
        t->lim_of = t->val[2];
    }
    *lo = t->lim_lo;
    *hi = t->lim_hi;
}
/* Offers the value sqrtf(s) of column idx (a column already in t is skipped) under the
 * tie rule; returns 1 when the third value changed (the limits then change too). */
int fpr_top3_offer_sq(fpr_top3 *t, float s, int32_t idx);
/* A scan_f32 from the backend's eval_sq_f32: its sums in blocks through
 * fpr_top3_scan_sq_f32 (the fallback of a backend's own fused kernel). */
void fpr_scan_sq_blocks(const fpr_backend *b, const void *cfg, void *scratch,
                        const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, fpr_top3 *t);
/* Offers the lanes of mask m (bit k: column idx[k], sum s[k]) in order; 1 when the
 * third value changed. */
int fpr_top3_offer_lanes_sq(fpr_top3 *t, const float *s, const int32_t *idx, unsigned m);
/* eval_f32 of a backend that has eval_sq_f32: its sums, then sqrtf of each. */
void fpr_eval_f32_from_sq(const fpr_backend *b, const void *cfg, void *scratch,
                          const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, float *out);

/* --search grid's memory, per chain atom at most (src/core/driver.c): the cell arrays
 * (FPR_GRID_CELLS_PER_ATOM cells of 4 bytes, and row boxes of 24 bytes per row, at most
 * one row per cell), a box of 24 bytes per non-empty cell (at most one per atom), the
 * chain tables and cell-ordered coordinates (28 bytes), the rows' cell-order scratch
 * (28 bytes: a row item per row, at most one per atom, and a count per atom),
 * and the backend's per-atom data twice (the driver's view and the cell-ordered one;
 * at most 80 bytes each, matmul_bf16x3's 20 floats). fpr_case_working_set adds it. */
enum { FPR_GRID_CELLS_PER_ATOM = 8 };
#define FPR_GRID_BYTES_PER_ATOM (FPR_GRID_CELLS_PER_ATOM * (4.0 + 24.0) + 24.0 + 28.0 + 28.0 + 2 * 80.0)

/* Test hooks of --search grid (SPEC §12), for tests/test_driver.c only: scale of the
 * error-bound slack in the stopping rule (1 = the rigorous rule; 0 removes it, the
 * sabotage test) and the smallest chain the grid is used for (smaller chains are
 * searched by brute force; min_atoms > 0 also uses the grid where brute force would be
 * cheaper, so tests exercise it everywhere). Not thread-safe: set before
 * fpr_frames_compute. */
void fpr_grid_test_hooks(double slack_scale, int64_t min_atoms);
/* Tests only, likewise: seed blocks off (0) or on (1, the default), and the number of
 * rows whose search was answered by their seed block alone since the last call (which
 * resets it). */
void fpr_grid_test_seed_blocks(int on);
/* Test hooks of brute force's row groups (fpr_backend.row_key): on = 0 searches every
 * row itself; the rows given another row's top-3 since the last call. */
void fpr_driver_test_dedupe(int on);
int64_t fpr_driver_test_dedupe_rows(void);
int64_t fpr_grid_test_seed_rows(void);
/* Tests only, likewise: with always = 1 every search runs with the threads asked for,
 * also below the size that runs on the calling thread (so tests of small cases with
 * jobs = 2 still share the work between threads); 0 restores that size. */
void fpr_driver_test_threads(int always);

/* The study's memo of chain searches (src/core/memo.c). The rows of one chain and
 * sample, in ascending chain position: pos[n], and each row's top-3 with its indices
 * as chain positions (-1: none), plus the truth's extras (NULL for other backends). */
typedef struct fpr_memo_rows {
    int64_t n;
    int32_t *pos;
    fpr_top3 *top;
    fpr_row_extra *extra;
} fpr_memo_rows;
/* Everything besides the chain's content that decides a chain's search. */
typedef struct fpr_memo_how {
    const fpr_backend *backend;
    const char *params;
    int search, fused, sq, simd;
    int64_t row_block;
    double grid_slack;
    int64_t grid_min_atoms;
    int grid_force, grid_noseed;
    int dedupe; /* rows with equal operands searched once (fpr_backend.row_key) */
} fpr_memo_how;
/* SHA-256 of a chain's content: its n atoms' float32 coordinates (x, y, z in chain
 * order), which of them are rows (is_row[n], 0/1), and the case's eps. */
void fpr_memo_content(const float *x, const float *y, const float *z, const uint8_t *is_row,
                      int64_t n, double eps, uint8_t out[32]);
/* The key of a search: the content and the computation. */
void fpr_memo_key(const uint8_t content[32], const fpr_memo_how *how, uint8_t out[32]);
/* The plan: one more planned use of this content; how many there are. */
int fpr_chain_memo_plan_content(fpr_chain_memo *m, const uint8_t content[32]);
int64_t fpr_chain_memo_planned(const fpr_chain_memo *m, const uint8_t content[32]);
/* The kept rows of a key, or NULL. After filling a run from them, fpr_chain_memo_used
 * counts the use (rows answered) and drops the entry after its last planned use. */
const fpr_memo_rows *fpr_chain_memo_find(fpr_chain_memo *m, const uint8_t key[32]);
void fpr_chain_memo_used(fpr_chain_memo *m, const uint8_t key[32], int64_t rows);
/* Keeps *rows (ownership moves; *rows is emptied) for uses_left more uses; nothing is
 * kept when uses_left <= 0 or the key is held already. */
int fpr_chain_memo_put(fpr_chain_memo *m, const uint8_t key[32], int64_t uses_left,
                       fpr_memo_rows *rows);

/* The memory limit loaders enforce before allocating: fpr_set_max_memory's value, or
 * the machine's physical memory when none is set. */
uint64_t fpr_effective_memory_limit(void);

/* Nothing half-written (src/io/atomic.c). A temporary output file is registered while
 * it is written; on SIGINT, SIGTERM or SIGHUP every registered file is unlinked and the
 * process dies by the signal (handlers are installed on the first registration, and only
 * where the action is still the default). fpr_tmp_register returns a slot (-1 when
 * none is free: the file is then not removed on a signal); fpr_tmp_release frees it
 * after the rename or unlink. fpr_tmp_cleanup_now is async-signal-safe, for
 * applications that install their own handlers. */
int fpr_tmp_register(const char *path);
/* Call right after the registered file has been created: when our signal handler is
 * already running in another thread (it may have scanned the slot before the file
 * existed), removes the file and waits for the pending signal to end the process. */
void fpr_tmp_created(int slot);
void fpr_tmp_release(int slot);
/* mkdir -p: creates `path` and its missing parents. */
int fpr_mkdir_p(const char *path);
void fpr_tmp_cleanup_now(void);

/* Path safety (src/io/atomic.c, SPEC §7 trust rules).
 * fpr_input_regular refuses an input that is not a regular file (a FIFO would block
 * forever; a device or directory is no input); `what` names it in the message.
 * fpr_input_register records an input of this process (device and inode), so that no
 * output replaces it. fpr_output_check refuses an output path that is empty, a symbolic
 * link, a FIFO, a device, a socket or a directory, or one of the registered inputs:
 * the temporary-and-rename would replace any of them by a regular file. Every atomic
 * writer calls it; commands call it before computing, so a bad -o costs nothing.
 * fpr_output_dir_check refuses an empty directory path or one that exists and is not
 * a directory. */
int fpr_input_regular(const char *path, const char *what);
void fpr_input_register(const char *path);
int fpr_output_check(const char *path);
int fpr_output_dir_check(const char *dir);
/* Takes an exclusive lock on directory `dir` (flock on the directory itself, so
 * nothing is left behind; released at exit) for a writer of many files (study, merge):
 * a second writer is refused. Returns the descriptor in *fd (fpr_dir_unlock closes). */
int fpr_dir_lock(const char *dir, int *fd);
void fpr_dir_unlock(int fd);

/* Atomic text output (JSON, Markdown, CSV): write to `path`.tmp.<pid> through a->fp,
 * then commit renames it into place (or abort removes it). */
typedef struct fpr_atomic_file {
    FILE *fp;
    char *final_path;
    char *tmp_path;
    int slot;
} fpr_atomic_file;
int fpr_atomic_open(const char *path, fpr_atomic_file *a);
int fpr_atomic_commit(fpr_atomic_file *a);
void fpr_atomic_abort(fpr_atomic_file *a);

#endif
