/* study.h — the precision study (issue 6, SPEC §5–§6): every backend over every case and
 * sweep, compared with the exact truth; results.h5 / summary.json, merge, the CI gate.
 * Internal to the library and the CLI (src/study, src/report, src/cli). */
#ifndef FRAMEPREC_STUDY_H
#define FRAMEPREC_STUDY_H

#include <stdint.h>
#include <stdio.h>

#include "internal.h"

/* ------------------------------------------------------------------ per-token codes */
/* Kind of a pick mismatch (SPEC §5), checked in this order. */
enum {
    FPR_KIND_EQUAL = 0,   /* (a, c) inside the truth's tie groups */
    FPR_KIND_SELF = 1,    /* the query atom itself not ranked first */
    FPR_KIND_SWAPPED = 2, /* a and c swapped */
    FPR_KIND_ONE = 3,     /* one of a, c differs */
    FPR_KIND_BOTH = 4,    /* both differ */
    FPR_KIND_NONE = 255   /* token not atomized: no search */
};
enum { FPR_EXAMPLES = 3 };
/* Cause of a mismatch: the backend's own values of the inverted pair. */
enum {
    FPR_CAUSE_NONE = 0,
    FPR_CAUSE_TIE = 1,          /* equal computed values, the tie rule chose */
    FPR_CAUSE_REORDERED = 2,    /* computed values strictly in the wrong order */
    FPR_CAUSE_INCONSISTENT = 3, /* the backend's top-3 contradicts its own values: a bug */
    FPR_CAUSE_UNKNOWN = 4       /* the backend cannot be evaluated pairwise */
};

/* ------------------------------------------------------------------ metrics */
/* Counters and statistics of one backend on one run (case × atomization × offset),
 * summed over samples. Every field is listed in fpr_metric_fields, which drives the
 * HDF5 attributes, summary.json, merging and sums: add a field there and it flows. */
typedef struct fpr_metrics {
    int64_t tokens;          /* atomized tokens × samples compared */
    int64_t mismatch;        /* (a, c) differ from the truth beyond its tie groups */
    int64_t m_self, m_swapped, m_one, m_both;
    int64_t tie_alt;         /* a different atom of the same exact tie group (not a mismatch) */
    int64_t degenerate;      /* a or c is the token's own atom b (SPEC §5 severity 1) */
    int64_t degenerate_valid; /* ... and marked valid */
    int64_t rounded_tie, reordered, inconsistent, cause_unknown;
    int64_t explained, unexplained;
    int64_t phi_changed;     /* all tokens: phi differs from the truth's */
    double phi_max_change;   /* Å */
    int64_t flip_01, flip_10; /* valid_frame_mask 0→1, 1→0 against the truth */
    int64_t flip_pick, flip_angle; /* by cause */
    /* Severity (SPEC §5), atomized tokens (degenerate, degenerate_valid above): */
    int64_t tie_order;       /* the backend's own values tie at a rank boundary */
    int64_t disp_n;          /* changed frame atoms (a or c outside the truth's tie group) */
    double disp_max, disp_sum; /* their distance to the true atom (Å) */
    int64_t err_n;           /* picked values measured */
    double err_bound_max, err_bound_sum; /* |d̂² − D²| / bound */
    double err_ulp_max, err_ulp_sum;     /* |d̂² − D²| / ulp_f32(D²) */
    int64_t ident_diff;      /* tokens differing from the identity partner (-1: none) */
    /* Against `original` (exact_diff, OpenFold3 today) on the same run, every token:
     * (a, b, c) or phi differ / valid_frame_mask differs. -1: exact_diff not run. */
    int64_t orig_changed, orig_flips;
    double seconds;          /* wall time of the backend's run */
    double rss_peak;         /* peak RSS of the process during the run (bytes) */
    double rss_delta;        /* that peak minus the RSS before the run */
    double torch_bytes;      /* PyTorch memory model at this case's size */
    double torch_bytes_42k;  /* ... at 42,000 atoms, every atom a token, S = 1 */
} fpr_metrics;

typedef struct fpr_metric_field {
    const char *name;
    size_t offset;
    int is_int; /* int64 counter (else double) */
    int agg;    /* how runs combine: 0 sum, 1 max, 2 sum where known (-1: not measured) */
    const char *help;
} fpr_metric_field;
extern const fpr_metric_field fpr_metric_fields[];
extern const size_t fpr_metric_nfields;
void fpr_metrics_init(fpr_metrics *m);
void fpr_metrics_add(fpr_metrics *acc, const fpr_metrics *m);
double fpr_metric_get(const fpr_metrics *m, size_t field);
void fpr_metric_set(fpr_metrics *m, size_t field, double v);

/* Histograms of log10 relative quantities, for the margin plot. Bin k covers
 * [LO + k·W, LO + (k+1)·W); bin 0 also takes everything below, incl. exact zeros
 * which are counted apart in `zero`. */
enum { FPR_HIST_BINS = 68 };
#define FPR_HIST_LO (-17.0)
#define FPR_HIST_W (0.25)
typedef struct fpr_hist {
    int64_t zero;
    int64_t bin[FPR_HIST_BINS];
} fpr_hist;
void fpr_hist_add(fpr_hist *h, double v);
/* The bin fpr_hist_add gives v > 0: floor((log10(v) − FPR_HIST_LO) / FPR_HIST_W), clamped. */
int fpr_hist_bin_of(double v);
/* Displacements (Å) of changed frame atoms in bins of 1/100 Å; the last bin takes
 * everything from 40.95 Å up. The median the report prints is read from it. */
enum { FPR_DISP_BINS = 4096 };
#define FPR_DISP_W (0.01)
typedef struct fpr_disp_hist {
    int64_t bin[FPR_DISP_BINS];
} fpr_disp_hist;
void fpr_disp_hist_add(fpr_disp_hist *h, double v);
/* Median (centre of the median bin) of h, NaN when empty. */
double fpr_disp_hist_median(const fpr_disp_hist *h);

/* ------------------------------------------------------------------ pair evaluation */
/* A backend's computed value for given (row atom, column atom) pairs of one sample,
 * with the same chain views the driver builds. Backends with only block_top3 are
 * evaluated through their declared equivalent (chunked_fp32 → exact_diff); when there
 * is none, fpr_paireval_ok() is 0. */
typedef struct fpr_paireval fpr_paireval;
int fpr_paireval_new(const fpr_case *c, const fpr_backend *b, const char *params,
                     fpr_paireval **out);
int fpr_paireval_ok(const fpr_paireval *p);
int fpr_paireval_sample(fpr_paireval *p, int64_t s); /* sample s (its chains prepared when asked) */
/* FPR_OK, or the error of a chain's preparation since fpr_paireval_new (its values were
 * NaN): a caller checks it before it trusts what it computed. */
int fpr_paireval_status(const fpr_paireval *p);
/* Value of pair (i, j) (atoms of one chain, both present); NaN when not evaluable. */
double fpr_paireval_value(fpr_paireval *p, int32_t i, int32_t j);
/* How many members j of i's chain (i itself included) have value(i, j) == v exactly;
 * -1 when not evaluable or v is not finite. */
int64_t fpr_paireval_count_equal(fpr_paireval *p, int32_t i, double v);
void fpr_paireval_free(fpr_paireval *p);
/* The backend whose eval gives the same values as `b` (b itself when it has eval). */
const fpr_backend *fpr_study_equivalent(const fpr_backend *b);

/* ------------------------------------------------------------------ exact D² (GMP) */
typedef struct fpr_exact fpr_exact;
fpr_exact *fpr_exact_new(void);
void fpr_exact_free(fpr_exact *e);
/* Compares exact D²(p, q1) with D²(p, q2): −1, 0, +1. */
int fpr_exact_cmp(fpr_exact *e, const float p[3], const float q1[3], const float q2[3]);
/* Exact D²(p, q2) − D²(p, q1), rounded to double. */
double fpr_exact_gap(fpr_exact *e, const float p[3], const float q1[3], const float q2[3]);
/* |d2hat − D²(p, q)| rounded to double, and D²(p, q) rounded to double. */
double fpr_exact_err(fpr_exact *e, const float p[3], const float q[3], double d2hat,
                     double *d2_out);
/* TEST HOOK: 1 = every call takes the GMP path (the reference for the fast path). */
/* A row: D² from p to q[0..n-1] (n ≤ FPR_EXACT_ROW) computed once, then the same
 * answers as fpr_exact_cmp(p, q[a], q[b]), fpr_exact_gap(p, q[a], q[b]) and
 * fpr_exact_err(p, q[a], …). The pointers must stay valid while the row is used. */
enum { FPR_EXACT_ROW = 8 };
int fpr_exact_row_set(fpr_exact *e, const float p[3], const float *const q[], int n);
int fpr_exact_row_cmp(fpr_exact *e, int a, int b);
double fpr_exact_row_gap(fpr_exact *e, int a, int b);
double fpr_exact_row_err(fpr_exact *e, int a, double d2hat, double *d2_out);
/* A row of at most FPR_EXACT_SAVED points kept for later (the exact values, on their
 * scale, and D² rounded to double): fpr_exact_row_load sets a row with the same
 * points from it, with the same answers as fpr_exact_row_set gives, without the
 * arithmetic. */
enum { FPR_EXACT_SAVED = 2 };
typedef struct fpr_exact_saved {
    __int128 S[FPR_EXACT_SAVED];
    double d2[FPR_EXACT_SAVED];
    int32_t emin;
    int8_t n, fast;
    uint8_t d2_ok;
} fpr_exact_saved;
int fpr_exact_row_save(fpr_exact *e, fpr_exact_saved *out);
int fpr_exact_row_load(fpr_exact *e, const float p[3], const float *const q[], int n,
                       const fpr_exact_saved *sv);
void fpr_exact_test_force_gmp(int on);
/* Calls of e answered without GMP so far (tests: the fast path is exercised). */
int64_t fpr_exact_fast_calls(const fpr_exact *e);

/* ------------------------------------------------------------------ comparison */
/* Per-token results of one backend against the truth on one run, [S][n_token]. */
typedef struct fpr_token_results {
    int64_t S, n_token;
    uint8_t *kind, *cause, *explained; /* explained: 1 yes, 0 no (mismatches only) */
    int8_t *valid_flip;                /* +1: 0→1, −1: 1→0 */
    uint8_t *flip_cause;               /* 1 pick changed, 2 angle decided differently */
    float *phi_change;                 /* max |Δ coordinate| (Å) */
    float *err_bound, *err_ulp;        /* max over the two picks; NaN: not measured */
    uint8_t *degenerate;               /* 1: a or c is b; 2: and valid */
    uint8_t *tie_order;                /* bits: 1 ranks 0|1, 2 ranks 1|2, 4 ranks 2|3 tie;
                                        * 8 (imported rows): pick differs from the
                                        * declared arithmetic only in tie order */
    float *disp_a, *disp_c;            /* |x_picked − x_true| (Å) of a changed a / c; 0: same */
} fpr_token_results;
/* Zeroed per-token arrays for S samples of nt tokens (NULL: out of memory). */
fpr_token_results *fpr_token_results_new(int64_t S, int64_t nt);
void fpr_token_results_free(fpr_token_results *t);

/* Compares backend frames `f` (backend b, params) with truth frames `tr` of case c.
 * Fills metrics (tokens … err_*), per-token results (may be NULL), and the histogram
 * of relative bounds of the picks (may be NULL). jobs threads; results identical. */
int fpr_study_compare(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                      const fpr_backend *b, const char *params, int jobs, fpr_metrics *m,
                      fpr_token_results **tok, fpr_hist *bound_hist);

/* The same with flags: FPR_CMP_ANY_TIE_ORDER for frames of another program, whose top-k
 * may order equal values in any index order (an inversion with equal values of the
 * declared arithmetic is then a rounded tie, not an inconsistency). */
enum { FPR_CMP_ANY_TIE_ORDER = 1 };
int fpr_study_compare_flags(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                            const fpr_backend *b, const char *params, int jobs, int flags,
                            fpr_metrics *m, fpr_token_results **tok, fpr_hist *bound_hist);

/* What the comparisons of every backend of one run share (fpr_study_compare_shared):
 * the chains, each chain's half coordinate span per sample (for the bounds), and for
 * each atomized token the exact row of the truth's picks a and c, which is the row
 * of every backend that picks what the truth picks. Built once per run, for case c and
 * truth frames tr, which must not change while it is used. */
typedef struct fpr_cmp_shared fpr_cmp_shared;
int fpr_cmp_shared_new(const fpr_case *c, const fpr_frames *tr, int jobs, fpr_cmp_shared **out);
void fpr_cmp_shared_free(fpr_cmp_shared *sh);
/* fpr_study_compare with what sh holds (the same results; sh from the same c and tr) */
int fpr_study_compare_shared(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                             const fpr_backend *b, const char *params,
                             const fpr_cmp_shared *sh, fpr_metrics *m,
                             fpr_token_results **tok, fpr_hist *bound_hist);

/* ------------------------------------------------------------------ scoring (SPEC §11) */
/* Fills the -1 indices of frames `f` (from fpr_frames_read_external) by matching each
 * phi coordinate triple exactly against the sample's atoms: identical coordinates are
 * indistinguishable, so the truth's atom is preferred, then the token's atom b, then a
 * present atom of b's chain, then the smallest index. Counts tokens with a slot matched
 * by several atoms (*ambiguous) and slots matched by none (*unmatched; index -1). */
int fpr_score_recover(const fpr_case *c, const fpr_frames *truth, fpr_frames *f,
                      int64_t *ambiguous, int64_t *unmatched);

/* Frames that carry indices: every phi row must be the coordinates of its index's atom
 * (else the file and the case disagree: wrong case, offset or atomization); refused with
 * a message naming the file, dataset, sample and token. */
int fpr_score_check_indices(const fpr_case *c, const fpr_frames *f, const char *path);

/* Per-token flags of a score. */
enum {
    FPR_SCORE_CHANGED = 1,    /* frame or valid mask differs from the truth (tie order aside) */
    FPR_SCORE_DEGENERATE = 2, /* a or c is b */
    FPR_SCORE_FLIP = 4,       /* valid_frame_mask differs from the truth's */
    FPR_SCORE_TIE_ORDER = 8   /* picks differ from the declared arithmetic's only in tie order */
};
typedef struct fpr_score {
    fpr_metrics m;          /* §5 metrics against the truth (fpr_study_compare_flags) */
    fpr_token_results *tr;  /* per token, as the study's */
    uint8_t *flag;          /* [S][n_token] FPR_SCORE_* */
    int64_t changed;        /* tokens flagged CHANGED */
    int64_t tie_order;      /* atomized tokens flagged TIE_ORDER */
    int64_t vs_declared;    /* tokens differing from the declared arithmetic's frames
                               (indices, phi or valid mask), tie-order tokens excepted */
} fpr_score;
/* Scores frames `f` (indices filled) of case c against the truth's, as an
 * implementation of backend `as` (params) whose own frames on c are `decl`. Sets
 * f->top_value (rank 0: as's value of the query atom itself; ranks 1, 2 NaN). */
int fpr_score_run(const fpr_case *c, const fpr_frames *truth, fpr_frames *f,
                  const fpr_frames *decl, const fpr_backend *as, const char *params, int jobs,
                  fpr_score **out);
void fpr_score_free(fpr_score *s);

/* Bit-identity contracts: backend → partner it must equal bit for bit. */
const char *fpr_study_identity_partner(const char *backend);

/* ------------------------------------------------------------------ the run set */
typedef struct fpr_study_backend {
    char *name;
    fpr_metrics m;
    fpr_hist bound_hist; /* log10((bound(a)+bound(c)) / D²(c)) over tokens */
    fpr_disp_hist disp_hist; /* displacement of every changed frame atom */
    /* Up to FPR_EXAMPLES changed tokens a reviewer can check by hand, one per line
     * (case, chain, residue, atom names, picked vs true atoms, distances, margin,
     * displacement); "" when none. Owned by the struct. */
    char *examples;
    /* Rows of the run answered from the chain memo (identical chains searched earlier
     * in the study, the same bits): its time is then less than a full search's. */
    int64_t memo_rows;
} fpr_study_backend;

typedef struct fpr_study_run {
    char *key;        /* group name in results.h5: case@mode@offset */
    char *case_name, *case_path;
    char *mode;       /* "native" or "all" */
    double offset;
    int64_t S, n_atom, n_token, n_atomized;
    double truth_seconds;
    int64_t truth_memo_rows; /* the truth's rows answered from the chain memo */
    char *case_sha256; /* SHA-256 of the case file's bytes (NULL/"" in older files) */
    char *work_key;    /* what a resumed study must match to reuse this run (study.c) */
    fpr_hist margin_hist; /* truth margins (both ranks) */
    size_t nb;
    fpr_study_backend *b;
} fpr_study_run;

typedef struct fpr_study_results {
    char *version, *compiler, *flags, *machine, *reference, *created;
    char *notes;      /* free text: e.g. reference fallback, skipped runs */
    char *plan;       /* the study's plan (options, program, every case's hash): shards of
                       * one study have the same plan (NULL/"" in older files) */
    char *shard;      /* "I/N" of the study that wrote the file ("0/1": the whole study) */
    size_t nruns;
    fpr_study_run *runs;
} fpr_study_results;
void fpr_study_results_free(fpr_study_results *r);
/* Runs in the order fpr_results_read gives them (case, native before all, offset). */
void fpr_study_results_sort(fpr_study_results *r);
/* A deep copy of a run as fpr_results_read would give it back from its file (absent
 * strings as "", an empty displacement histogram as zeros); clear frees one. */
int fpr_study_run_copy(fpr_study_run *dst, const fpr_study_run *src);
void fpr_study_run_clear(fpr_study_run *run);

/* Build facts recorded in every report. */
const char *fpr_study_compiler(void);
const char *fpr_study_flags(void);
void fpr_study_machine(char *buf, size_t n);

/* ------------------------------------------------------------------ options & run */
typedef struct fpr_study_opts {
    const char *const *cases; size_t ncases;
    const char *outdir;
    const char *backends;   /* comma list or NULL = all registered */
    const double *offsets; size_t noffsets;
    int native, atomize_all; /* which atomization modes */
    int64_t atomize_all_max_atoms; /* skip atomize-all above this many atoms (0: no cap) */
    int jobs;
    int search;             /* FPR_SEARCH_* for every driver run (default grid) */
    int quiet;
    int shard_i, shard_n;
    const char *inject_fault; /* test hook: corrupt this backend's values */
    int keep_work;
    int no_report;
    int no_chain_memo;      /* search every chain (no reuse of identical chains' searches) */
    const char *reference;  /* default "truth" */
    /* --import NAME=DIR (SPEC §11): frames of another program, one file per run in DIR,
     * become row NAME beside the backends. */
    const char *const *imports; size_t nimports;
} fpr_study_opts;
void fpr_study_opts_init(fpr_study_opts *o);
int fpr_study_run_all(const fpr_study_opts *o);

/* Returns a wrapper of b whose values are deliberately corrupted (test hook). */
const fpr_backend *fpr_study_faulty(const fpr_backend *b);

/* ------------------------------------------------------------------ results files */
/* One run's results file in DIR/.work (atomic), read back with fpr_results_read. */
int fpr_results_write_run(const char *path, const fpr_study_results *hdr,
                          const fpr_study_run *run, fpr_token_results *const *tok,
                          const fpr_frames *truth, const fpr_case *c);
/* The same piece by piece (results.c): open writes the header, the run's attributes and
 * the truth's datasets; backend writes row i's group (in order, run->b[i] with its
 * per-token results t or NULL); close commits, abort removes the temporary file. Each
 * frees the writer except backend. Not thread-safe: one thread calls them at a time. */
typedef struct fpr_run_writer fpr_run_writer;
/* A backend's per-token arrays with their chunks filtered (shuffle + deflate) ahead of
 * the write, so the threads that compare do what the writer's HDF5 pipeline would:
 * fpr_results_pack needs no HDF5 call and may run in any thread; the groups written
 * with it hold the same data, stored the same way. pack may be NULL. */
typedef struct fpr_packed fpr_packed;
int fpr_results_pack(const fpr_token_results *t, fpr_packed **out);
/* The same for the truth's arrays of a run (tie1, tie2, margin1, margin2,
 * fragile_angle); *out = NULL for a truth without them. For fpr_results_run_open*. */
int fpr_results_pack_truth(const fpr_frames *truth, fpr_packed **out);
void fpr_packed_free(fpr_packed *p);
int fpr_results_run_open(const char *path, const fpr_study_results *hdr,
                         const fpr_study_run *run, const fpr_frames *truth,
                         const fpr_packed *tpack, fpr_run_writer **out);
int fpr_results_run_backend(fpr_run_writer *w, const fpr_study_backend *sb,
                            const fpr_token_results *t, const fpr_packed *pack);
int fpr_results_run_close(fpr_run_writer *w);
void fpr_results_run_abort(fpr_run_writer *w);
/* A results.h5 filled input by input (each input's run groups copied; a run met twice
 * is refused): open writes the header, commit renames it into place, abort removes it.
 * Not thread-safe, like every HDF5 call here. */
typedef struct fpr_results_out fpr_results_out;
int fpr_results_out_open(const char *out, const fpr_study_results *hdr, fpr_results_out **r);
int fpr_results_out_add(fpr_results_out *r, const char *input);
/* A run written straight into r (no run file of its own: fpr_results_run_backend for
 * its groups, then fpr_results_run_close, which commits nothing; r is committed or
 * aborted by its owner). */
int fpr_results_run_open_in(fpr_results_out *r, const fpr_study_run *run,
                            const fpr_frames *truth, const fpr_packed *tpack,
                            fpr_run_writer **out);
int fpr_results_out_commit(fpr_results_out *r);
void fpr_results_out_abort(fpr_results_out *r);
/* Joins run files (or results.h5 files) into one results.h5, copying every run group. */
int fpr_results_join(const char *const *inputs, size_t n, const fpr_study_results *hdr,
                     const char *out);
/* Reads the run headers and metrics (not per-token data) of a results.h5 (or DIR). */
int fpr_results_read(const char *path, fpr_study_results **out);
int fpr_summary_write(const fpr_study_results *r, const char *path);
/* RESULTS argument: a directory (→ DIR/results.h5) or a file. Caller frees. */
char *fpr_results_path(const char *arg);

/* ------------------------------------------------------------------ candidates (SPEC §10) */
/* A PyTorch formulation a maintainer could merge: arithmetic (backend), rows computed,
 * the oracle's name for it (scripts/torch_oracle.py --form), and its memory model. */
typedef struct fpr_candidate {
    const char *name, *backend, *rows, *oracle_form, *note;
    /* bytes alive at the peak: n_atom, n_token, n_atomized, S, chunk rows */
    double (*torch_peak)(double N, double T, double A, double S, double C);
} fpr_candidate;
/* The seed's two sizes: the 42k-atom monomer that ran out of memory (~5,000 tokens,
 * none atomized) and the same atoms all atomized (the stress test). */
#define FPR_SEED_N_ATOM 42000.0
#define FPR_SEED_N_TOKEN 5000.0
#define FPR_CANDIDATE_CHUNK 1024.0
size_t fpr_candidate_count(void);
const fpr_candidate *fpr_candidate_at(size_t i);
const fpr_candidate *fpr_candidate_find(const char *name); /* NULL when unknown */
double fpr_candidate_bytes(const fpr_candidate *k, double n_atom, double n_token,
                           double n_atomized, double S);
/* At the seed's sizes (S = 1): all_atomized 0 → 42,000 atoms / 5,000 tokens / none
 * atomized; 1 → 42,000 atoms, every atom an atomized token. */
double fpr_candidate_bytes_seed(const fpr_candidate *k, int all_atomized);
/* A candidate against `original` over every run of a study: runs where its backend ran,
 * runs where the comparison with exact_diff was made, and the sums of orig_changed and
 * orig_flips. identical = compared on every run of the study and nothing differs. */
typedef struct fpr_candidate_result {
    int runs, compared;
    int64_t changed, flips;
    int identical;
} fpr_candidate_result;
struct fpr_study_results;
void fpr_candidate_against_original(const struct fpr_study_results *r, const fpr_candidate *k,
                                    fpr_candidate_result *out);
/* The verdict's pick (SPEC §10): among candidates identical to `original` on every run,
 * the least memory at the seed's monomer size, then at 42k atoms all atomized. NULL when
 * none is (exact_diff not run). */
const fpr_candidate *fpr_candidate_recommended(const struct fpr_study_results *r);

/* ------------------------------------------------------------------ report, check */
int fpr_report_write(const fpr_study_results *r, const char *outdir);
int fpr_report_markdown(const fpr_study_results *r, FILE *out);
int fpr_report_html(const fpr_study_results *r, FILE *out);

int fpr_baseline_write(const fpr_study_results *r, const char *path);
/* Returns 0 pass, 1 fail (printing what got worse on `out`), <0 error. The gate fails
 * when it compared nothing, and on any result the baseline lacks unless allow_new. */
int fpr_check(const fpr_study_results *r, const char *baseline, FILE *out);
int fpr_check_ex(const fpr_study_results *r, const char *baseline, int allow_new, FILE *out);

/* Writes text to path atomically (path.tmp.<pid>, rename). */
int fpr_write_file_atomic(const char *path, const char *text, size_t len);

/* Aggregates: the metrics of backend `name` over runs matching mode (NULL: any) and
 * offset (NAN: any). Returns how many runs matched. */
int fpr_study_aggregate(const fpr_study_results *r, const char *name, const char *mode,
                        double offset, fpr_metrics *out);
/* Distinct backend names in order of first appearance. */
size_t fpr_study_backend_names(const fpr_study_results *r, const char **names, size_t max);

#endif
