/* frameprec.h — the one public header: case data, frames, the backend interface,
 * the registry and the frame-atom driver (SPEC §1–§3, §8). */
#ifndef FRAMEPREC_H
#define FRAMEPREC_H

#include <stddef.h>
#include <stdint.h>

#define FPR_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- errors */
/* Every fallible function returns FPR_OK or a negative code; the detailed,
 * human-readable message (file, dataset, index) is kept per thread and read
 * with fpr_errmsg(). */
enum {
    FPR_OK = 0,
    FPR_ENOMEM = -1,   /* allocation failed */
    FPR_EIO = -2,      /* file could not be opened, read or written */
    FPR_EFORMAT = -3,  /* file is not a valid frameprec file (missing/misshaped data) */
    FPR_EINVAL = -4,   /* data present but invalid (SPEC §7) */
    FPR_EUSAGE = -5,   /* bad command line or option value */
    FPR_ETOOBIG = -6,  /* case exceeds the memory limit */
    FPR_EINTERNAL = -7 /* a checked invariant failed: a bug */
};
const char *fpr_strerror(int code);
/* Sets the thread's message (printf-style) and returns `code`. */
int fpr_error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
const char *fpr_errmsg(void);
void fpr_clear_error(void);

/* ---------------------------------------------------------------- residue types */
enum { FPR_NUM_RESTYPES = 32, FPR_RESTYPE_UNK = 20, FPR_RESTYPE_GAP = 31 };
/* Three-letter (or nucleotide) name of restype r, "?" when out of range. */
const char *fpr_restype_name(int r);
/* 1 for 0..20, 2 for RNA 21..25, 3 for DNA 26..30, 0 for GAP. */
int fpr_restype_class(int r);
/* Canonical atom list of a standard residue type (SPEC Appendix A), NULL-terminated;
 * NULL for GAP or out of range. */
const char *const *fpr_restype_atoms(int r);
/* Offsets of the frame atoms of a standard token (SPEC §1): returns the offset of
 * N/CA/C (protein) or C3'/C1'/C4' (nucleotide), or -1 when the type lacks it. */
enum { FPR_FRAME_A = 0, FPR_FRAME_B = 1, FPR_FRAME_C = 2 };
int fpr_frame_atom_offset(int restype, int which);

/* ---------------------------------------------------------------- a case (SPEC §1) */
typedef struct fpr_case {
    char *name;   /* root attribute `name` */
    char *source; /* root attribute `source` (provenance) */
    char *path;   /* file it was read from, or NULL */
    int64_t S, n_atom, n_token;
    float *x;            /* [S][n_atom][3] */
    uint8_t *atom_mask;  /* [n_atom], 0/1 */
    int32_t *restype;    /* [n_token], 0..31 */
    int32_t *asym_id;    /* [n_token] */
    int32_t *start_atom_index;    /* [n_token] */
    int32_t *num_atoms_per_token; /* [n_token] */
    uint8_t *is_protein, *is_rna, *is_dna, *is_atomized, *token_mask; /* [n_token], 0/1 */
    double angle_threshold; /* degrees, default 25 */
    double eps;             /* default 1e-8 */
    double inf;             /* default 1e9 */
    /* optional labels for reports (NULL when absent) */
    char **atom_name;   /* [n_atom] */
    char **res_name;    /* [n_token] */
    char **chain_label; /* [n_token] */
} fpr_case;

/* Allocates a case with all arrays zeroed, defaults for the parameters, and no labels. */
int fpr_case_new(int64_t S, int64_t n_atom, int64_t n_token, fpr_case **out);
void fpr_case_free(fpr_case *c);
/* Deep copy. */
int fpr_case_clone(const fpr_case *c, fpr_case **out);
/* Checks every rule of SPEC §7; `file` names the file in the message (may be NULL). */
int fpr_case_validate(const fpr_case *c, const char *file);
/* Makes every present atom an atomized token of its own (the seed's stress test):
 * tokens become atoms, asym_id from the chain walk, restype UNK, flags from the
 * covering token (protein/rna/dna kept so the chain keeps its kind), labels kept. */
int fpr_case_atomize_all(const fpr_case *c, fpr_case **out);
/* Adds `offset` Å to every coordinate of every sample (rounded to float32: the
 * translated case is itself the input, as a user's translated structure would be). */
void fpr_case_translate(fpr_case *c, double offset);
/* Checks, before translating, that c translated by `offset` stays in the domain:
 * coordinates within the supported ±1e6 Å and `inf` above every in-chain value (SPEC
 * §7). `what` names the option in the message ("--translate", "--offsets"). */
int fpr_case_check_offset(const fpr_case *c, double offset, const char *what);

/* Memory limit used by loaders and the driver (bytes; 0 = no limit). */
void fpr_set_max_memory(uint64_t bytes);
uint64_t fpr_get_max_memory(void);
/* Heap bytes the case itself holds (its arrays and labels, about). */
uint64_t fpr_case_bytes(const fpr_case *c);
/* Bytes of working set `frames` needs for a case of this size. */
uint64_t fpr_case_working_set(int64_t S, int64_t n_atom, int64_t n_token);

/* HDF5 case files (SPEC §8). The reader converts any numeric type, validates, and
 * names file, dataset and index in every message. The writer writes to a temporary
 * name and renames on success. `compress` > 0 enables deflate at that level. */
int fpr_case_read(const char *path, fpr_case **out);
int fpr_case_write(const fpr_case *c, const char *path, int compress);

/* ---------------------------------------------------------------- frames (SPEC §2, §8) */
typedef struct fpr_frames {
    int64_t S, n_token;
    int32_t *a_index, *b_index, *c_index; /* [S][n_token] */
    float *phi;                           /* [S][n_token][3][3], order a, b, c */
    uint8_t *valid_frame_mask;            /* [S][n_token] */
    /* Per-token search diagnostics, [S][n_token][3]: the computed values of
     * closest[s][0..2] for atomized tokens (the backend's own value: distance for
     * float backends, exact D² rounded to double for truth); NaN elsewhere. */
    double *top_value;
    /* closest[s][0] of atomized tokens ([S][n_token], -1 elsewhere): the atom the
     * backend ranked first, as the driver found it (in memory only, not in frames
     * files; NULL when not known, e.g. frames read from a file). */
    int32_t *first_index;
    /* Unpicked candidates whose value equals closest[s][2]'s exactly (fpr_top3.eq3 at
     * the end of the row's search), atomized tokens only; -1 elsewhere and where the
     * driver does not count them (the truth). In memory only, like first_index. */
    int32_t *tie3;
    /* Truth-only extras (NULL for other backends), [S][n_token]:
     * tie-group sizes at ranks 1 and 2 (the picks a and c), margins of SPEC §4,
     * and the fragile-angle flag (angle within float32 reach of a bound). */
    int32_t *tie1, *tie2;
    double *margin1, *margin2;
    uint8_t *fragile_angle;
    char *backend; /* name of the backend that made them */
    char *case_name;
    double seconds; /* wall time of the computation */
    int64_t memo_rows; /* rows answered from fpr_run_opts.memo (in memory only) */
} fpr_frames;

int fpr_frames_new(int64_t S, int64_t n_token, int with_truth_extras, fpr_frames **out);
void fpr_frames_free(fpr_frames *f);
int fpr_frames_write(const fpr_frames *f, const char *path);
int fpr_frames_read(const char *path, fpr_frames **out);
/* A frames file of another program (SPEC §11): phi [S][N_token][3][3] and
 * valid_frame_mask [S][N_token] required (a leading S may be absent when S = 1; masks
 * exactly 0 or 1), a_index/b_index/c_index all three or none (then *have_idx = 0 and
 * the indices are -1, for fpr_score_recover to fill). Shapes must be the case's. */
int fpr_frames_read_external(const char *path, int64_t S, int64_t n_token, fpr_frames **out,
                             int *have_idx);
/* A root string attribute of an HDF5 file (*out NULL when absent; caller frees). */
int fpr_frames_attr_string(const char *path, const char *name, char **out);
/* A root numeric attribute (*present 0 when absent). */
int fpr_frames_attr_double(const char *path, const char *name, int *present, double *out);

/* ---------------------------------------------------------------- backend interface (SPEC §3) */

/* One chain's present atoms, as the backend sees them: ascending atom index,
 * coordinates of one sample in structure-of-arrays float32. `aux` is the
 * backend's per-chain data (chain_aux_bytes(n) bytes, filled by prepare_chain). */
typedef struct fpr_chain_view {
    int64_t n;
    const int32_t *idx; /* [n] original atom indices (ascending unless base is set) */
    const float *x, *y, *z; /* [n] */
    int32_t chain;      /* chain id (asym_id of the walk) */
    double eps;         /* the case's eps (backends round it to their precision) */
    void *aux;
    /* NULL, or the driver's view of the same atoms in another order (the grid's cell
     * order), already prepared: prepare_chain must then take every chain-level constant
     * (a centroid, say) from base, so that a pair's value is the same in both views. */
    const struct fpr_chain_view *base;
} fpr_chain_view;

/* Running top-3 of one row: idx are original atom indices, val the ranked values
 * (double holds every float32 exactly), n = how many are filled (0..3). */
typedef struct fpr_top3 {
    int32_t idx[3];
    double val[3];
    int n;
    /* With n = 3: how many candidates offered so far, outside the top-3, have a value
     * exactly equal to val[2] (a tie at the rank-2 boundary that top-k's order of
     * equal values decides). Kept by fpr_top3_insert, which must therefore see every
     * candidate whose value is <= val[2], not only those that enter. */
    int32_t eq3;
    /* The sum scans' limits for val[2] (fpr_sqrt_limits_f32), kept while val[2] stays
     * lim_of (NaN after fpr_top3_init: none yet). */
    float lim_lo, lim_hi;
    double lim_of;
} fpr_top3;

/* Extra per-row facts a truth-like backend may report (optional). */
typedef struct fpr_row_extra {
    int32_t tie1, tie2;       /* tie-group sizes of the picks at ranks 1, 2 */
    double margin1, margin2;  /* SPEC §4 relative gaps; NaN when undefined */
} fpr_row_extra;

enum {
    FPR_PREC_F32 = 1,   /* values are float32 computations */
    FPR_PREC_F64 = 2,   /* binary64 */
    FPR_PREC_EXACT = 3  /* exact (truth) */
};

/* Angle stage of the driver (SPEC §2 step 7). BACKEND = follow the backend's precision. */
enum { FPR_ANGLE_BACKEND = 0, FPR_ANGLE_F32 = 1, FPR_ANGLE_F64 = 2, FPR_ANGLE_EXACT = 3 };

typedef struct fpr_backend fpr_backend;
struct fpr_backend {
    int version;          /* 1 */
    const char *name;
    const char *summary;  /* one line */
    int precision;        /* FPR_PREC_* : also the default angle stage */
    /* Bytes of per-thread scratch the backend needs (driver allocates, zeroed). */
    size_t scratch_bytes;
    /* Bytes of per-chain auxiliary data for a chain of n atoms (may be NULL: none). */
    size_t (*chain_aux_bytes)(const fpr_backend *b, int64_t n);
    /* Fills cv->aux from the chain's coordinates (may be NULL). */
    int (*prepare_chain)(const fpr_backend *b, const void *cfg, fpr_chain_view *cv);
    /* Values of row q (position in the chain) against chain members j0..j0+n-1.
     * float32 backends implement eval_f32, binary64 ones eval_f64. The value is what
     * the top-k ranks (a distance, or anything monotone the backend documents).
     * The value of a pair must not depend on j0 or n (how the columns are split into
     * calls): --search grid evaluates short runs of columns, brute force long blocks,
     * and the two must give the same bits (SPEC §12). */
    void (*eval_f32)(const fpr_backend *b, const void *cfg, void *scratch,
                     const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n,
                     float *out);
    void (*eval_f64)(const fpr_backend *b, const void *cfg, void *scratch,
                     const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n,
                     double *out);
    /* Optional, for a float32 backend whose value is the correctly rounded sqrtf of a
     * last float32 quantity s (clamped as the backend clamps it: s is +0 or above, or
     * +inf, never NaN): that s, so that eval_f32's value is sqrtf(s) bit for bit. The
     * driver then compares each s with the limit of the current third (sqrtf is
     * non-decreasing) and takes the sqrt only of the few that pass — the same values,
     * offered by the same rule, as eval_f32 followed by the scan. */
    void (*eval_sq_f32)(const fpr_backend *b, const void *cfg, void *scratch,
                        const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n,
                        float *out);
    /* Optional fused kernel of a float32 backend (brute force and grid): offers every
     * column j0..j0+n-1 of row q to the running top-3 t under the canonical tie rule,
     * skipping columns already in t (so a range may be offered twice); the same result
     * as eval_f32 followed by inserting each value, only faster. */
    void (*scan_f32)(const fpr_backend *b, const void *cfg, void *scratch,
                     const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, fpr_top3 *t);
    /* Optional: the whole top-3 of nq rows at once (row positions q[0..nq-1] in the
     * chain), for backends that block rows or decide exactly (chunked, truth). When
     * non-NULL the driver calls it instead of eval_* + its own top-3. `extra` may be
     * NULL. Must follow the canonical tie rule (ascending value, then index). */
    int (*block_top3)(const fpr_backend *b, const void *cfg, void *scratch,
                      const fpr_chain_view *cv, const int64_t *q, int64_t nq,
                      fpr_top3 *out, fpr_row_extra *extra);
    /* Optional, for --search grid when the backend has no eval_* (the truth): the
     * top-3 (and extras) of row q over the candidate positions pos[0..m-1] (distinct,
     * any order). The driver guarantees that pos holds every chain member whose exact
     * D² to q is at most the row's 4th smallest exact D² over the whole chain, so a
     * backend that ranks exactly gives what block_top3 gives on the whole chain. */
    int (*cands_top3)(const fpr_backend *b, const void *cfg, void *scratch,
                      const fpr_chain_view *cv, int64_t q, const int64_t *pos, int64_t m,
                      fpr_top3 *out, fpr_row_extra *extra);
    /* Options: parse "key=value,..." into a config (may be NULL: no options). */
    int (*configure)(const fpr_backend *b, const char *params, void **cfg);
    void (*cfg_free)(void *cfg);
    const char *params_help; /* one line per option, or NULL */
    /* A-priori bound on |computed D² − exact D²| for the pair (xi, xj) (float32
     * inputs, in Å²), with any chain-level quantity the bound needs (e.g. the chain's
     * max |x| for matmul_centered) taken from `chain_absmax`. NULL for exact.
     * --search grid needs the bound's maximum over a box of inputs and takes it over
     * the box's 64 corner pairs: a bound must therefore be convex in each of the six
     * coordinates separately (true of every positive combination of D², |x|²,
     * Σ|x_ik x_jk|, sqrt(D²) and constants, which is what the backends use). */
    double (*d2_error_bound)(const fpr_backend *b, const void *cfg, const float xi[3],
                             const float xj[3], double chain_absmax);
    /* Bytes alive at the peak in the equivalent PyTorch formulation (SPEC §6). */
    double (*torch_peak_bytes)(const fpr_backend *b, const void *cfg, double n_atom,
                               double n_token, double S);
    /* How the computed value maps to a squared distance, for error statistics:
     * given the ranked value v, return the backend's computed D² (e.g. v*v − 3·eps
     * for exact_diff, v*v for matmul). NULL: value is D² already. --search grid needs
     * it non-decreasing in v ≥ 0 and its binary64 evaluation within 2^-40·(v² + |result|)
     * of the real map the bound refers to. */
    double (*value_to_d2)(const fpr_backend *b, const void *cfg, double v);
    /* Optional: the words (at most 8; the count is returned, 0 = none) that row q's
     * values depend on in the prepared view cv, beside the columns' own data: two rows
     * of one view with equal words have the same value against every column. Brute
     * force then searches one row of each such group and gives the others its top-3
     * (a function of the values and the column indices alone, its count of ties at the
     * third included): matmul_bf16 far from the origin, where bfloat16 operands put
     * many atoms on one lattice point. */
    int (*row_key)(const fpr_backend *b, const void *cfg, const fpr_chain_view *cv, int64_t q,
                   uint32_t key[8]);
};

/* The registry: a static table (src/core/registry.c). */
size_t fpr_backend_count(void);
const fpr_backend *fpr_backend_at(size_t i);
/* Finds by name; on failure returns NULL and sets a message listing valid names. */
const fpr_backend *fpr_backend_find(const char *name);
/* Checks unique names and required methods; FPR_EINTERNAL on a bad table. */
int fpr_registry_check(void);

/* ---------------------------------------------------------------- the driver */
/* How the driver enumerates a row's candidates (SPEC §12). GRID is the default (0). */
enum { FPR_SEARCH_GRID = 0, FPR_SEARCH_BRUTE = 1 };
/* "grid" / "brute" -> FPR_SEARCH_*; -1 for anything else. */
int fpr_search_parse(const char *s);
const char *fpr_search_name(int search);

/* A memo of chain searches shared by the driver calls of one study (src/core/memo.c):
 * a chain whose content (coordinates, rows, eps) and computation (backend, options,
 * search) equal those of a chain searched before is answered from that search, the
 * same bits. Only content planned at least twice is kept (fpr_chain_memo_plan, for
 * every case variant the study will run, before the first run). Not thread-safe: one
 * driver call at a time uses a memo. */
typedef struct fpr_chain_memo fpr_chain_memo;
int fpr_chain_memo_new(int64_t cap_bytes, fpr_chain_memo **out); /* holds <= cap_bytes */
void fpr_chain_memo_free(fpr_chain_memo *m);
/* Counts the chain contents of every sample of a validated case (one planned run);
 * several threads may plan at once (not while a driver call uses the memo). */
int fpr_chain_memo_plan(fpr_chain_memo *m, const fpr_case *c);
/* Rows and chain searches answered from the memo so far, and the most bytes it held. */
void fpr_chain_memo_stats(const fpr_chain_memo *m, int64_t *hit_rows, int64_t *hit_chains,
                          int64_t *peak_bytes);

typedef struct fpr_run_opts {
    int angle;           /* FPR_ANGLE_* */
    int search;          /* FPR_SEARCH_* : same frames and top values either way */
    int jobs;            /* threads; <= 0 means 1 */
    const char *params;  /* backend options "k=v,..." or NULL */
    int64_t row_block;   /* rows per work item (0 = default) */
    fpr_chain_memo *memo; /* NULL, or a study's memo (above) */
    /* NULL, or this case's chains (fpr_chains_build of the same case object, which must
     * not change while they are used): a caller running many backends over one case
     * builds them once */
    const struct fpr_chains *chains;
} fpr_run_opts;

void fpr_run_opts_init(fpr_run_opts *o);

/* Runs SPEC §2 over every sample of a validated case with backend b.
 * Computes only the start-atom rows of atomized tokens, each against its own
 * chain's present atoms, with a running top-3: memory O(N_atom + N_token). */
int fpr_frames_compute(const fpr_case *c, const fpr_backend *b, const fpr_run_opts *o,
                       fpr_frames **out);

/* Chain of each atom by the walk of SPEC §2 step 1 ([n_atom], caller frees). */
int fpr_atom_chains(const fpr_case *c, int32_t **out);

/* Top-3 helpers (the canonical tie rule: ascending value, then smaller index). */
void fpr_top3_init(fpr_top3 *t);
void fpr_top3_insert(fpr_top3 *t, double v, int32_t idx);

/* Angle stages: float32 as PyTorch computes it, binary64, exact (truth module).
 * Return 1 when the angle test of step 7 passes (strictly inside the bounds). */
int fpr_angle_valid_f32(const float xa[3], const float xb[3], const float xc[3],
                        double eps, double theta_deg);
int fpr_angle_valid_f64(const float xa[3], const float xb[3], const float xc[3],
                        double eps, double theta_deg);
/* Exact angle decision (MPFR); *fragile set to 1 when the float32 computation could
 * decide differently. Provided by src/truth/. */
int fpr_angle_valid_exact(const float xa[3], const float xb[3], const float xc[3],
                          double eps, double theta_deg, int *fragile);

/* The SIMD level the kernels run at ("scalar", "avx2", "avx512"; FRAMEPREC_SIMD lowers
 * it; every level gives the same bits). */
const char *fpr_simd_active(void);

/* Wall clock in seconds (monotonic) and peak RSS in bytes of this process. */
double fpr_now(void);
uint64_t fpr_peak_rss(void);

#endif
