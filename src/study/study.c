/* study.c — `frameprec study`: every backend over every case, sample and sweep (SPEC §5),
 * each compared with the exact truth. Runs (case × atomization × offset) are independent:
 * each one's results go to DIR/.work/<key>.h5 atomically, so an interrupted study keeps
 * what it finished and a rerun continues; the final files are renamed into place. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <pthread.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "io/jsonutil.h"
#include "study/study.h"

static char *make_examples(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                           const fpr_token_results *tok);

void fpr_study_opts_init(fpr_study_opts *o)
{
    static const double offsets[] = {0, 10, 100, 1000};
    memset(o, 0, sizeof *o);
    o->offsets = offsets;
    o->noffsets = 4;
    o->native = o->atomize_all = 1;
    o->atomize_all_max_atoms = 0; /* no cap: the grid search makes 6ZU5 all-atomized cheap */
    o->jobs = 1;
    o->shard_n = 1;
    o->reference = "truth";
}

/* ------------------------------------------------------------------ build facts */
const char *fpr_study_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown C compiler";
#endif
}

const char *fpr_study_flags(void)
{
#ifdef FPR_BUILD_FLAGS
    return FPR_BUILD_FLAGS;
#else
    /* The Makefile does not pass its flags in; report what the preprocessor sees. */
    return "-std=c11"
#ifdef __OPTIMIZE__
           " -O(>0)"
#else
           " -O0"
#endif
#ifdef __FAST_MATH__
           " -ffast-math(!)"
#endif
#ifdef __AVX512F__
           " avx512f"
#elif defined(__AVX2__)
           " avx2"
#endif
#ifdef __FMA__
           " fma"
#endif
#ifdef _OPENMP
           " -fopenmp"
#endif
#ifdef __SANITIZE_ADDRESS__
           " -fsanitize=address"
#endif
           " (flags inferred from predefined macros; numeric code built with "
           "-ffp-contract=off per STYLE)";
#endif
}

void fpr_study_machine(char *buf, size_t n)
{
    struct utsname u;
    char cpu[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ')
                        p++;
                    p[strcspn(p, "\n")] = 0;
                    snprintf(cpu, sizeof cpu, "%s", p);
                }
                break;
            }
        fclose(f);
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (uname(&u) == 0)
        snprintf(buf, n, "%s %s %s, %s, %ld CPUs, %.1f GiB", u.sysname, u.release, u.machine,
                 cpu, ncpu, mem / 1073741824.0);
    else
        snprintf(buf, n, "%s, %ld CPUs", cpu, ncpu);
}

/* ------------------------------------------------------------------ memory probes */
static double proc_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return NAN;
    char line[256];
    double v = NAN;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtod(line + kl + 1, NULL) * 1024.0;
            break;
        }
    fclose(f);
    return v;
}

/* Resets the kernel's peak-RSS mark (VmHWM) so each backend's peak is its own. */
static void reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* ------------------------------------------------------------------ fault injection */
/* Test hook (--inject-fault): a copy of a backend whose values are corrupted for every
 * fifth column atom (×(1 + 2^-6)), or whose block top-3 has ranks 1 and 2 exchanged on
 * every fifth row. The gate must catch both as unexplained mismatches. */
static const fpr_backend *fault_orig;
static fpr_backend fault_copy;
static char fault_name[128];

static void fault_eval_f32(const fpr_backend *b, const void *cfg, void *scratch,
                           const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, float *out)
{
    (void)b;
    fault_orig->eval_f32(fault_orig, cfg, scratch, cv, q, j0, n, out);
    for (int64_t j = 0; j < n; j++)
        if (cv->idx[j0 + j] % 5 == 0 && j0 + j != q)
            out[j] *= 1.015625f;
}

static void fault_eval_f64(const fpr_backend *b, const void *cfg, void *scratch,
                           const fpr_chain_view *cv, int64_t q, int64_t j0, int64_t n, double *out)
{
    (void)b;
    fault_orig->eval_f64(fault_orig, cfg, scratch, cv, q, j0, n, out);
    for (int64_t j = 0; j < n; j++)
        if (cv->idx[j0 + j] % 5 == 0 && j0 + j != q)
            out[j] *= 1.015625;
}

static int fault_block(const fpr_backend *b, const void *cfg, void *scratch,
                       const fpr_chain_view *cv, const int64_t *q, int64_t nq, fpr_top3 *out,
                       fpr_row_extra *extra)
{
    (void)b;
    int rc = fault_orig->block_top3(fault_orig, cfg, scratch, cv, q, nq, out, extra);
    for (int64_t i = 0; !rc && i < nq; i++)
        if (cv->idx[q[i]] % 5 == 0 && out[i].n == 3) {
            int32_t t = out[i].idx[1];
            out[i].idx[1] = out[i].idx[2];
            out[i].idx[2] = t;
        }
    return rc;
}

const fpr_backend *fpr_study_faulty(const fpr_backend *b)
{
    fault_orig = b;
    fault_copy = *b;
    snprintf(fault_name, sizeof fault_name, "%s", b->name); /* same name: the gate names it */
    fault_copy.name = fault_name;
    /* every method the driver may call (block_top3 for --search brute, eval_* for
     * the grid), so the fault shows whatever the search */
    if (b->block_top3)
        fault_copy.block_top3 = fault_block;
    if (b->eval_f32)
        fault_copy.eval_f32 = fault_eval_f32;
    if (b->eval_f64)
        fault_copy.eval_f64 = fault_eval_f64;
    return &fault_copy;
}

/* ------------------------------------------------------------------ helpers */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The built-in corpus: every cases/NAME.h5, sorted. */
static int default_cases(char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir("cases");
    if (!d)
        return fpr_error(FPR_EUSAGE, "no cases given and the built-in corpus cases/ is missing "
                                     "(run from the repository root, or `make cases`)");
    struct dirent *e;
    size_t cap = 0;
    char **v = NULL;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 3, ".h5") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        char p[4096];
        snprintf(p, sizeof p, "cases/%s", e->d_name);
        v[(*n)++] = fpr_strdup(p);
    }
    closedir(d);
    if (!*n) {
        free(v);
        return fpr_error(FPR_EUSAGE, "no cases given and cases/ holds no *.h5 case files "
                                     "(build the corpus with `make cases`, or name case files)");
    }
    qsort(v, *n, sizeof *v, cmp_str);
    *out = v;
    return FPR_OK;
}

static void key_of(char *buf, size_t n, const char *name, const char *mode, double off)
{
    snprintf(buf, n, "%s@%s@%g", name, mode, off);
    for (char *p = buf; *p; p++)
        if (*p == '/' || isspace((unsigned char)*p))
            *p = '_';
}

/* ------------------------------------------------------------------ identities */
/* SHA-256 (Nettle, Debian nettle-dev) in hex: of a file's bytes, and of a text. */
static void sha_hex(struct sha256_ctx *h, char hex[65])
{
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(h, sizeof d, d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static int file_sha256(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fpr_error(FPR_EIO, "%s: cannot read (%s)", path, strerror(errno));
    struct sha256_ctx h;
    sha256_init(&h);
    static _Thread_local uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(&h, n, buf);
    int err = ferror(f);
    fclose(f);
    if (err)
        return fpr_error(FPR_EIO, "%s: read error while hashing it", path);
    sha_hex(&h, hex);
    return FPR_OK;
}

static void text_sha256(const char *s, char hex[65])
{
    struct sha256_ctx h;
    sha256_init(&h);
    sha256_update(&h, strlen(s), (const uint8_t *)s);
    sha_hex(&h, hex);
}

/* The program in cache keys and plans: its version and the hash of its executable, so
 * a rebuilt frameprec never reuses another build's work (the version string alone does
 * not change with every commit). */
static const char *program_id(void)
{
    static char id[160];
    if (!id[0]) {
        char h[65];
        if (file_sha256("/proc/self/exe", h)) {
            fpr_clear_error();
            snprintf(h, sizeof h, "unhashed");
        }
        snprintf(id, sizeof id, "frameprec %s exe-sha256 %s", FPR_VERSION_STRING, h);
    }
    return id;
}

/* A growing text (open_memstream): the plan and the work keys. */
typedef struct text {
    char *p;
    size_t n;
    FILE *f;
} text;

static int text_open(text *t)
{
    memset(t, 0, sizeof *t);
    t->f = open_memstream(&t->p, &t->n);
    return t->f ? FPR_OK : fpr_error(FPR_ENOMEM, "out of memory (open_memstream)");
}

static char *text_close(text *t)
{
    if (t->f && fclose(t->f) != 0) {
        free(t->p);
        t->p = NULL;
    }
    t->f = NULL;
    return t->p;
}

/* The file name of a run's work file: the key, shortened with a hash when it would be
 * too long for a file name (NAME_MAX is 255 bytes). */
static void work_file(char *buf, size_t n, const char *workdir, const char *key)
{
    if (strlen(key) <= 160) {
        snprintf(buf, n, "%s/%s.h5", workdir, key);
        return;
    }
    char h[65];
    text_sha256(key, h);
    snprintf(buf, n, "%s/%.100s-%.16s.h5", workdir, key, h);
}

static char *join_names(const fpr_backend *const *bs, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(bs[i]->name) + 1;
    char *s = fpr_calloc(len, 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, bs[i]->name);
    }
    return s;
}

/* ------------------------------------------------------------------ one run */
typedef struct study_ctx {
    const fpr_study_opts *o;
    const fpr_backend *ref;
    const fpr_backend **bs;
    size_t nb;
    size_t nimp;          /* --import NAME=DIR: rows after the nb backends */
    char **imp_name, **imp_dir;
    fpr_study_results hdr;
    size_t done, total;
    double t0;
    fpr_chain_memo *memo; /* NULL with --no-chain-memo */
    /* results.h5 as it fills: each run file is copied in by the writer thread of the
     * next run (while that run's comparisons go on), the last ones at the end */
    fpr_results_out *res;
    const char **pending; /* run files not copied yet (work[] owns the strings) */
    size_t npending;
    /* the last run's file, complete but not yet closed: the next run's writer closes
     * (commits) it before copying it, so the close is not on the serial path either */
    fpr_run_writer *open_run;
    /* the writer of the finished runs' files (write_job, in a queue), working while the
     * next runs compute: the only thread that calls HDF5 while it works; drained
     * (writer_wait) before the study touches HDF5, results.h5 or the state above again */
    struct writer_q *wq; /* NULL until the first run handed to it */
} study_ctx;

static void progress(study_ctx *x, const char *key, const char *what)
{
    if (x->o->quiet || !isatty(2))
        return;
    fprintf(stderr, "\r\033[Kstudy [%zu/%zu] %.0fs  %s  %s", x->done + 1, x->total,
            fpr_now() - x->t0, key, what);
    fflush(stderr);
}

/* One imported row of a run: DIR/<key>.h5 written by another program (layout: README,
 * scripts/torch_frames.py), checked to be this run's (case name, mode, offset when the
 * file records them), indices recovered from phi when absent, then scored with the
 * study's comparison as the arithmetic the file declares (attribute `arithmetic`,
 * default exact_diff; `arithmetic_params`). Its contract: identical to that
 * arithmetic's own frames except tie-order tokens — ident_diff counts the rest, so the
 * gate fails on any other difference. */
static int import_one(study_ctx *x, const fpr_case *c, const fpr_case *base, const char *mode,
                      double offset, const char *key, const fpr_frames *truth,
                      fpr_frames *const *fr, size_t i, fpr_study_backend *sb,
                      fpr_token_results **tok)
{
    char path[4096 + 600];
    snprintf(path, sizeof path, "%s/%s.h5", x->imp_dir[i], key);
    if (access(path, R_OK) != 0)
        return fpr_error(FPR_EIO, "study --import %s=%s: %s is missing (one file per case, "
                         "atomization mode and offset: scripts/torch_frames.py writes them)",
                         x->imp_name[i], x->imp_dir[i], path);
    char *cn = NULL, *fm = NULL, *arith = NULL, *aparams = NULL;
    fpr_frames *f = NULL, *decl_own = NULL;
    fpr_score *sc = NULL;
    int have_idx = 0, rc;
    if ((rc = fpr_frames_attr_string(path, "case_name", &cn)) ||
        (rc = fpr_frames_attr_string(path, "mode", &fm)) ||
        (rc = fpr_frames_attr_string(path, "arithmetic", &arith)) ||
        (rc = fpr_frames_attr_string(path, "arithmetic_params", &aparams)))
        goto out;
    if ((cn && base->name && strcmp(cn, base->name) != 0) || (fm && strcmp(fm, mode) != 0)) {
        rc = fpr_error(FPR_EFORMAT, "study --import %s: %s records case '%s', mode '%s', but "
                       "is read for case '%s', mode '%s'", x->imp_name[i], path, cn ? cn : "?",
                       fm ? fm : "?", base->name ? base->name : "?", mode);
        goto out;
    }
    {
        double off_rec;
        int present = 0;
        if ((rc = fpr_frames_attr_double(path, "offset", &present, &off_rec)))
            goto out;
        if (present && off_rec != offset) {
            rc = fpr_error(FPR_EFORMAT, "study --import %s: %s records offset %g, read for %g",
                           x->imp_name[i], path, off_rec, offset);
            goto out;
        }
    }
    const char *an = arith && arith[0] ? arith : "exact_diff";
    const char *ap = aparams && aparams[0] ? aparams : NULL;
    const fpr_backend *as = fpr_backend_find(an);
    if (!as) {
        rc = FPR_EUSAGE;
        goto out;
    }
    if ((rc = fpr_frames_read_external(path, c->S, c->n_token, &f, &have_idx)))
        goto out;
    const fpr_frames *decl = NULL;
    for (size_t j = 0; !ap && j < x->nb; j++)
        if (x->bs[j] == as)
            decl = fr[j];
    if (!decl) {
        fpr_run_opts ro;
        fpr_run_opts_init(&ro);
        ro.jobs = x->o->jobs;
        ro.params = ap;
        if ((rc = fpr_frames_compute(c, as, &ro, &decl_own)))
            goto out;
        decl = decl_own;
    }
    int64_t amb = 0, unm = 0;
    if (!have_idx && (rc = fpr_score_recover(c, truth, f, &amb, &unm)))
        goto out;
    if (have_idx && (rc = fpr_score_check_indices(c, f, path)))
        goto out;
    if ((rc = fpr_score_run(c, truth, f, decl, as, ap, x->o->jobs, &sc)))
        goto out;
    sb->m = sc->m;
    sb->m.ident_diff = sc->vs_declared;
    /* severity 4 for another program: its own values are unknown, so tie order is where
     * its pick differs from the declared arithmetic's only between equal values */
    sb->m.tie_order = sc->tie_order;
    for (int64_t k = 0; k < c->S * c->n_token; k++)
        sc->tr->tie_order[k] = (uint8_t)((sc->flag[k] & FPR_SCORE_TIE_ORDER) ? 8 : 0);
    void *cfg = NULL;
    if (as->configure && (rc = as->configure(as, ap, &cfg)))
        goto out;
    sb->m.torch_bytes = as->torch_peak_bytes(as, cfg, (double)c->n_atom, (double)c->n_token,
                                             (double)c->S);
    sb->m.torch_bytes_42k = as->torch_peak_bytes(as, cfg, 42000.0, 42000.0, 1.0);
    if (cfg && as->cfg_free)
        as->cfg_free(cfg);
    *tok = sc->tr;
    sc->tr = NULL;
out:
    fpr_score_free(sc);
    fpr_frames_free(f);
    fpr_frames_free(decl_own);
    free(cn);
    free(fm);
    free(arith);
    free(aparams);
    return rc;
}

/* A run of this shard in the order the study computes it: larger cases first (size:
 * atoms × samples; 0 for all without the chain memo), then the plan's order. */
typedef struct exec_run {
    size_t plan, slot;
    double size;
} exec_run;

static int cmp_exec_run(const void *a, const void *b)
{
    const exec_run *p = a, *q = b;
    if (p->size != q->size)
        return p->size < q->size ? 1 : -1;
    return (p->slot > q->slot) - (p->slot < q->slot);
}

/* A run's comparisons (run_one): each thread takes the next one until none is left.
 * Each comparison is serial inside (its sums are the same for any thread count) and
 * touches only its own metrics, token arrays, examples and histograms. The run file is
 * written afterwards (write_job). */
typedef struct cmp_queue {
    study_ctx *x;
    const fpr_case *c;
    const fpr_frames *truth;
    fpr_frames **fr;
    const fpr_backend **cmp_b;
    fpr_token_results **tok;
    fpr_packed **pack;   /* [nb] each comparison's arrays filtered for the writer */
    fpr_packed *tpack;   /* the truth's arrays likewise (one more item of the queue) */
    fpr_study_run *run;
    const fpr_cmp_shared *sh; /* what the comparisons of the run share */
    pthread_mutex_t mu;
    size_t next;         /* the next comparison to take, in order[] (under mu) */
    size_t *order;       /* [nb] the comparisons, the costliest first */
    int err;             /* the first error (under mu): every thread stops */
    char errmsg[512];
} cmp_queue;

static void cmp_fail(cmp_queue *q, int rc)
{
    pthread_mutex_lock(&q->mu);
    if (!q->err) {
        q->err = rc;
        snprintf(q->errmsg, sizeof q->errmsg, "%s", fpr_errmsg());
    }
    pthread_mutex_unlock(&q->mu);
}

/* Takes and does one comparison; 0 when none is left or an error stopped the run. */
static int cmp_take(cmp_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t i = q->next <= q->x->nb && !q->err ? q->order[q->next++] : q->x->nb + 1;
    pthread_mutex_unlock(&q->mu);
    if (i > q->x->nb)
        return 0;
    if (i == q->x->nb) { /* the last item: the truth's arrays packed for the writer */
        int rc = fpr_results_pack_truth(q->truth, &q->tpack);
        if (rc) {
            cmp_fail(q, rc);
            return 0;
        }
        return 1;
    }
    fpr_study_backend *sb = &q->run->b[i];
    int rc = fpr_study_compare_shared(q->c, q->truth, q->fr[i], q->cmp_b[i], NULL, q->sh,
                                      &sb->m, &q->tok[i], &sb->bound_hist);
    if (!rc) {
        const fpr_token_results *t = q->tok[i];
        sb->examples = make_examples(q->c, q->truth, q->fr[i], t);
        for (int64_t k = 0; k < q->c->S * q->c->n_token; k++) {
            if (t->disp_a[k] > 0)
                fpr_disp_hist_add(&sb->disp_hist, t->disp_a[k]);
            if (t->disp_c[k] > 0)
                fpr_disp_hist_add(&sb->disp_hist, t->disp_c[k]);
        }
        rc = fpr_results_pack(t, &q->pack[i]);
    }
    if (rc) {
        cmp_fail(q, rc);
        return 0;
    }
    return 1;
}

/* The comparisons in the order they are taken: the costliest first (a comparison costs
 * about its tokens plus some 20 tokens' worth per token whose picks differ from the
 * truth's, whose cause is then worked out), so that the last one to finish is a short
 * one. Each comparison's results do not depend on the order. Sorted as the runs are
 * (exec_run: size descending, then index). */
static int cmp_order(const fpr_case *c, const fpr_frames *tr, fpr_frames *const *fr, size_t nb,
                     size_t **out)
{
    exec_run *cc = fpr_calloc(nb + 1, sizeof *cc);
    size_t *order = fpr_calloc(nb + 2, sizeof *order);
    if (!cc || !order) {
        free(cc);
        free(order);
        return FPR_ENOMEM;
    }
    const int64_t n = c->S * c->n_token;
    for (size_t i = 0; i < nb; i++) {
        int64_t diff = 0;
        for (int64_t k = 0; k < n; k++)
            diff += fr[i]->a_index[k] != tr->a_index[k] || fr[i]->c_index[k] != tr->c_index[k];
        cc[i].size = (double)n + 20.0 * (double)diff;
        cc[i].slot = i;
    }
    qsort(cc, nb, sizeof *cc, cmp_exec_run);
    for (size_t i = 0; i < nb; i++)
        order[i] = cc[i].slot;
    order[nb] = nb; /* then the truth's arrays (cmp_take) */
    free(cc);
    *out = order;
    return FPR_OK;
}

static void cmp_thread(cmp_queue *q)
{
    while (cmp_take(q))
        ;
}

/* ------------------------------------------------------------------ the writer */
/* Runs of at most this many atoms × samples are written straight into results.h5. */
static const double DIRECT_RUN_MAX = 20000;

/* A run's file: written after its comparisons, by a thread of its own while the next
 * run computes (on 2 cores the HDF5 writer, ~8 s of a corpus study, otherwise stood
 * alone on one core while the other waited: a small run's file takes longer to write
 * than the run to compute). The job owns what it writes. Before its own run it closes
 * (commits) the previous run's file and copies the finished ones into results.h5, in
 * the order the runs ran, as the serial study does. */
typedef struct write_job {
    study_ctx *x;
    fpr_study_run run;          /* a copy of the run */
    fpr_token_results **tok;    /* [x->nb] */
    fpr_packed **pack;          /* [x->nb] */
    fpr_packed *tpack;          /* the truth's arrays (fpr_results_pack_truth), or NULL */
    fpr_frames *truth;
    char *path;                 /* the run file */
    const char **pending;       /* run files to copy into results.h5 first */
    size_t npending;
    fpr_run_writer *w;          /* the run file, open, once written */
    int direct;                 /* written straight into results.h5 (no run file) */
    int rc;
    char msg[512];
} write_job;

static void write_job_free(write_job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->x->nb; i++) {
        if (j->tok)
            fpr_token_results_free(j->tok[i]);
        if (j->pack)
            fpr_packed_free(j->pack[i]);
    }
    free(j->tok);
    free(j->pack);
    fpr_packed_free(j->tpack);
    fpr_frames_free(j->truth);
    fpr_study_run_clear(&j->run);
    free(j->path);
    free(j->pending);
    free(j);
}

static void write_job_do(write_job *j)
{
    study_ctx *x = j->x;
    int rc = FPR_OK;
    if (x->open_run) {
        rc = fpr_results_run_close(x->open_run);
        x->open_run = NULL;
    }
    for (size_t k = 0; k < j->npending && !rc; k++)
        rc = fpr_results_out_add(x->res, j->pending[k]);
    fpr_run_writer *w = NULL;
    if (!rc)
        rc = j->direct ? fpr_results_run_open_in(x->res, &j->run, j->truth, j->tpack, &w)
                       : fpr_results_run_open(j->path, &x->hdr, &j->run, j->truth, j->tpack, &w);
    fpr_packed_free(j->tpack); /* written (or not at all) */
    j->tpack = NULL;
    for (size_t i = 0; i < x->nb && !rc; i++) {
        rc = fpr_results_run_backend(w, &j->run.b[i], j->tok[i], j->pack[i]);
        fpr_packed_free(j->pack[i]); /* written: its chunks are in the file */
        j->pack[i] = NULL;
    }
    if (!rc && j->direct) { /* complete in results.h5: nothing left open */
        rc = fpr_results_run_close(w);
        w = NULL;
    }
    if (rc) {
        fpr_results_run_abort(w);
        w = NULL;
        j->rc = rc;
        snprintf(j->msg, sizeof j->msg, "%s", fpr_errmsg()); /* (the message is per thread) */
    }
    j->w = w;
}

/* The queue of run files to write, in the order the runs finished; one thread writes
 * them one after the other. At most `cap` bytes of jobs wait (a larger one waits alone),
 * so a study that ran ahead holds a bounded amount. After an error nothing more is
 * written (the jobs left are dropped) and the error is the study's. */
typedef struct writer_q {
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct wq_item *head, *tail;
    size_t bytes, cap; /* of the jobs waiting or being written */
    int busy, stop, rc;
    char msg[512];
} writer_q;

typedef struct wq_item {
    write_job *job;
    size_t bytes;
    struct wq_item *next;
} wq_item;

static void *writer_main(void *arg)
{
    writer_q *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (!q->head)
            break;
        wq_item *it = q->head;
        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        q->busy = 1;
        int failed = q->rc != 0;
        pthread_mutex_unlock(&q->mu);
        write_job *j = it->job;
        if (!failed) {
            write_job_do(j);
            if (!j->rc && j->w) /* complete: closed by the next run's writer, or at the end */
                j->x->open_run = j->w;
        }
        pthread_mutex_lock(&q->mu);
        if (!failed && j->rc) {
            q->rc = j->rc;
            snprintf(q->msg, sizeof q->msg, "%s", j->msg);
        }
        q->bytes -= it->bytes;
        q->busy = 0;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        write_job_free(j);
        free(it);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Hands job j (about `bytes` of memory) to the writer thread, started on first use;
 * waits while the queue is full. j is the writer's then (freed by it, or here on an
 * error), except when no thread could be started: WQ_NO_THREAD, j not taken. */
enum { WQ_NO_THREAD = 1 }; /* (not an FPR_E* code) */
static int writer_submit(study_ctx *x, write_job *j, size_t bytes)
{
    if (!x->wq) {
        writer_q *q = fpr_calloc(1, sizeof *q);
        if (!q) {
            write_job_free(j);
            return FPR_ENOMEM;
        }
        uint64_t lim = fpr_effective_memory_limit();
        q->cap = (size_t)64 << 20 < lim / 16 ? (size_t)64 << 20 : (size_t)(lim / 16);
        pthread_mutex_init(&q->mu, NULL);
        pthread_cond_init(&q->cv, NULL);
        if (pthread_create(&q->thr, NULL, writer_main, q) != 0) {
            pthread_mutex_destroy(&q->mu);
            pthread_cond_destroy(&q->cv);
            free(q);
            return WQ_NO_THREAD;
        }
        x->wq = q;
    }
    writer_q *q = x->wq;
    wq_item *it = fpr_calloc(1, sizeof *it);
    if (!it) {
        write_job_free(j);
        return FPR_ENOMEM;
    }
    it->job = j;
    it->bytes = bytes;
    pthread_mutex_lock(&q->mu);
    while (!q->rc && (q->head || q->busy) && q->bytes + bytes > q->cap)
        pthread_cond_wait(&q->cv, &q->mu);
    int rc = q->rc;
    if (!rc) {
        if (q->tail)
            q->tail->next = it;
        else
            q->head = it;
        q->tail = it;
        q->bytes += bytes;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    if (rc) {
        free(it);
        write_job_free(j);
        return fpr_error(rc, "%s", q->msg);
    }
    return FPR_OK;
}

/* Waits until the writer has written every job handed to it; its error, if any. */
static int writer_wait(study_ctx *x)
{
    writer_q *q = x->wq;
    if (!q)
        return FPR_OK;
    pthread_mutex_lock(&q->mu);
    while (q->head || q->busy)
        pthread_cond_wait(&q->cv, &q->mu);
    int rc = q->rc;
    pthread_mutex_unlock(&q->mu);
    return rc ? fpr_error(rc, "%s", q->msg) : FPR_OK;
}

/* writer_wait, then the thread ends. */
static int writer_stop(study_ctx *x)
{
    writer_q *q = x->wq;
    if (!q)
        return FPR_OK;
    int rc = writer_wait(x);
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thr, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
    x->wq = NULL;
    return rc;
}

/* The case a run computes: the base atomized (mode "all") or not, translated. */
static int run_case(const fpr_case *base, const char *mode, double offset, fpr_case **out)
{
    fpr_case *c = NULL;
    int rc;
    *out = NULL;
    if (strcmp(mode, "all") == 0)
        rc = fpr_case_atomize_all(base, &c);
    else
        rc = fpr_case_clone(base, &c);
    if (rc)
        return rc;
    if (offset != 0) {
        fpr_case_translate(c, offset);
        if ((rc = fpr_case_validate(c, base->path))) {
            fpr_case_free(c);
            return rc;
        }
    }
    *out = c;
    return FPR_OK;
}

/* One run: computed, compared, written to its run file; what the summary and the report
 * need of it is copied into *keep (so they do not read results.h5 back). */
static int run_one(study_ctx *x, const fpr_case *base, const char *mode, double offset,
                   const char *key, const char *work_path, const char *work_key,
                   const char *case_sha, fpr_study_run *keep, int *direct)
{
    *direct = 0;
    const fpr_study_opts *o = x->o;
    fpr_case *c = NULL;
    int rc = run_case(base, mode, offset, &c);
    if (rc)
        return rc;
    fpr_study_run run;
    memset(&run, 0, sizeof run);
    char empty[1] = "", mbuf[16];
    char *kbuf = fpr_strdup(key), *wkey = fpr_strdup(work_key), *sha = fpr_strdup(case_sha);
    snprintf(mbuf, sizeof mbuf, "%s", mode);
    run.key = kbuf;
    run.work_key = wkey;
    run.case_sha256 = sha;
    run.case_name = base->name ? base->name : empty; /* not the atomized copy's */
    run.case_path = base->path ? base->path : empty;
    run.mode = mbuf;
    run.offset = offset;
    run.S = c->S;
    run.n_atom = c->n_atom;
    run.n_token = c->n_token;
    for (int64_t t = 0; t < c->n_token; t++)
        run.n_atomized += c->is_atomized[t] != 0;
    size_t nrow = x->nb + x->nimp;
    run.nb = nrow;
    run.b = fpr_calloc(nrow + 1, sizeof *run.b);
    char names[64][128];
    for (size_t i = 0; i < nrow && i < 64; i++)
        snprintf(names[i], sizeof names[i], "%s",
                 i < x->nb ? x->bs[i]->name : x->imp_name[i - x->nb]);
    fpr_frames **fr = fpr_calloc(nrow + 1, sizeof *fr);
    fpr_token_results **tok = fpr_calloc(nrow + 1, sizeof *tok);
    const fpr_backend **cmp_b = fpr_calloc(nrow + 1, sizeof *cmp_b);
    fpr_frames *truth = NULL;
    fpr_chains chains;
    memset(&chains, 0, sizeof chains);
    if (!run.b || !fr || !tok || !cmp_b || !kbuf || !wkey || !sha) {
        rc = FPR_ENOMEM;
        goto done;
    }
    fpr_run_opts ro;
    fpr_run_opts_init(&ro);
    ro.jobs = o->jobs;
    ro.search = o->search;
    ro.memo = x->memo;
    if ((rc = fpr_chains_build(c, &chains))) /* once for the truth and every backend */
        goto done;
    ro.chains = &chains;
    progress(x, key, x->ref->name);
    if ((rc = fpr_frames_compute(c, x->ref, &ro, &truth)))
        goto done;
    run.truth_seconds = truth->seconds;
    run.truth_memo_rows = truth->memo_rows;
    for (int64_t k = 0; k < c->S * c->n_token; k++) {
        if (!c->is_atomized[k % c->n_token])
            continue;
        if (truth->margin1) {
            fpr_hist_add(&run.margin_hist, truth->margin1[k]);
            fpr_hist_add(&run.margin_hist, truth->margin2[k]);
        } else { /* reference without margins (fp64 fallback): from its values */
            double v1 = truth->top_value[k * 3 + 1], v2 = truth->top_value[k * 3 + 2];
            if (isfinite(v1) && isfinite(v2) && v2 > 0)
                fpr_hist_add(&run.margin_hist, (v2 * v2 - v1 * v1) / (v2 * v2));
        }
    }
    for (size_t i = 0; i < x->nb; i++) {
        const fpr_backend *b = x->bs[i];
        if (o->inject_fault && strcmp(o->inject_fault, b->name) == 0)
            b = fpr_study_faulty(b);
        fpr_study_backend *sb = &run.b[i];
        sb->name = names[i];
        fpr_metrics_init(&sb->m);
        progress(x, key, b->name);
        double rss0 = proc_status_kb("VmRSS");
        reset_peak();
        if ((rc = fpr_frames_compute(c, b, &ro, &fr[i])))
            goto done;
        double hwm = proc_status_kb("VmHWM");
        sb->m.seconds = fr[i]->seconds;
        sb->memo_rows = fr[i]->memo_rows;
        sb->m.rss_peak = hwm;
        sb->m.rss_delta = hwm - rss0 > 0 ? hwm - rss0 : 0;
        void *cfg = NULL;
        if (b->configure && (rc = b->configure(b, NULL, &cfg)))
            goto done;
        sb->m.torch_bytes = b->torch_peak_bytes(b, cfg, (double)c->n_atom,
                                                (double)c->n_token, (double)c->S);
        sb->m.torch_bytes_42k = b->torch_peak_bytes(b, cfg, 42000.0, 42000.0, 1.0);
        if (cfg && b->cfg_free)
            b->cfg_free(cfg);
        cmp_b[i] = b;
    }
    /* Bit-identity contracts between backends of this run. */
    for (size_t i = 0; i < x->nb; i++) {
        const char *partner = fpr_study_identity_partner(x->bs[i]->name);
        for (size_t j = 0; partner && j < x->nb; j++) {
            if (strcmp(x->bs[j]->name, partner) != 0)
                continue;
            int64_t diff = 0;
            const fpr_frames *p = fr[i], *q = fr[j];
            for (int64_t k = 0; k < c->S * c->n_token; k++) {
                int d = p->a_index[k] != q->a_index[k] || p->c_index[k] != q->c_index[k] ||
                        p->valid_frame_mask[k] != q->valid_frame_mask[k] ||
                        memcmp(p->phi + k * 9, q->phi + k * 9, 9 * sizeof(float)) != 0;
                for (int w = 0; w < 3 && !d; w++) {
                    double u = p->top_value[k * 3 + w], v = q->top_value[k * 3 + w];
                    d = !(u == v || (isnan(u) && isnan(v)));
                }
                diff += d;
            }
            run.b[i].m.ident_diff = diff;
        }
    }
    /* Every backend against `original` (exact_diff): what merging it would change. */
    for (size_t j = 0; j < x->nb; j++) {
        if (strcmp(x->bs[j]->name, "exact_diff") != 0)
            continue;
        for (size_t i = 0; i < x->nb; i++) {
            const fpr_frames *p = fr[i], *q = fr[j];
            int64_t ch = 0, fl = 0;
            for (int64_t k = 0; k < c->S * c->n_token; k++) {
                ch += p->a_index[k] != q->a_index[k] || p->b_index[k] != q->b_index[k] ||
                      p->c_index[k] != q->c_index[k] ||
                      memcmp(p->phi + k * 9, q->phi + k * 9, 9 * sizeof(float)) != 0;
                fl += p->valid_frame_mask[k] != q->valid_frame_mask[k];
            }
            run.b[i].m.orig_changed = ch;
            run.b[i].m.orig_flips = fl;
        }
    }
    for (size_t i = 0; i < x->nimp; i++)
        run.b[x->nb + i].name = names[x->nb + i];
    write_job *wj = fpr_calloc(1, sizeof *wj);
    if (!wj) {
        rc = FPR_ENOMEM;
        goto done;
    }
    wj->x = x;
    {
        cmp_queue qu;
        memset(&qu, 0, sizeof qu);
        qu.x = x;
        qu.c = c;
        qu.truth = truth;
        qu.fr = fr;
        qu.cmp_b = cmp_b;
        qu.tok = tok;
        qu.run = &run;
        pthread_mutex_init(&qu.mu, NULL);
        int nthr = o->jobs > 0 ? o->jobs : 1;
        fpr_cmp_shared *sh = NULL;
        int src = fpr_cmp_shared_new(c, truth, nthr, &sh);
        if (src) {
            qu.err = src;
            snprintf(qu.errmsg, sizeof qu.errmsg, "%s", fpr_errmsg());
        }
        qu.sh = sh;
        if (!(qu.pack = fpr_calloc(x->nb + 1, sizeof *qu.pack)) ||
            cmp_order(c, truth, fr, x->nb, &qu.order))
            qu.err = FPR_ENOMEM;
        if (!qu.err) {
#pragma omp parallel num_threads(nthr)
            cmp_thread(&qu);
        }
        fpr_cmp_shared_free(sh);
        free(qu.order);
        wj->pack = qu.pack; /* the job's now (freed with it) */
        wj->tpack = qu.tpack;
        pthread_mutex_destroy(&qu.mu);
        if (qu.err) {
            rc = fpr_error(qu.err, "%s", qu.errmsg);
            write_job_free(wj);
            goto done;
        }
    }
    /* The job: this run's copy, its per-token results and its truth (moved), and the
     * run files finished before it that results.h5 does not hold yet. */
    wj->tok = fpr_calloc(x->nb + 1, sizeof *wj->tok);
    wj->path = fpr_strdup(work_path);
    wj->pending = fpr_calloc(x->npending + 1, sizeof *wj->pending);
    if (!wj->tok || !wj->path || !wj->pending || (rc = fpr_study_run_copy(&wj->run, &run))) {
        write_job_free(wj);
        rc = rc ? rc : FPR_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < x->nb; i++) {
        wj->tok[i] = tok[i];
        tok[i] = NULL;
    }
    wj->truth = truth;
    truth = NULL;
    memcpy(wj->pending, x->pending, x->npending * sizeof *x->pending);
    wj->npending = x->npending;
    x->npending = 0;
    /* per-token results, their packed chunks and the truth's frames, about */
    const size_t job_bytes = (size_t)(c->S * c->n_token) * (x->nb * 40 + 120);
    /* Alone (one job) or with imported rows (read and written after the groups, by
     * this thread), the file is written here; else by the writer thread. */
    int async = !x->nimp && o->jobs > 1;
    /* A small run goes straight into results.h5: no run file of its own to create,
     * commit and copy (most of its writing), so a study resumed after an interruption
     * computes it again (milliseconds). A larger one is kept in DIR/.work/ as before. */
    wj->direct = async && (double)c->S * (double)c->n_atom <= DIRECT_RUN_MAX;
    *direct = wj->direct;
    if (async && (rc = writer_submit(x, wj, job_bytes)) != WQ_NO_THREAD) {
        wj = NULL; /* the writer's now (freed by it, also on an error) */
        if (rc)
            goto done;
    } else {
        rc = FPR_OK;
        wj->direct = *direct = 0;
        if ((rc = writer_wait(x))) { /* (a run file follows the one before) */
            write_job_free(wj);
            goto done;
        }
        write_job_do(wj);
        fpr_run_writer *w = wj->w;
        wj->w = NULL;
        if (wj->rc)
            rc = fpr_error(wj->rc, "%s", wj->msg);
        /* the truth is the job's now: imports compare against its copy there */
        for (size_t i = 0; i < x->nimp && !rc; i++) {
            fpr_study_backend *sb = &run.b[x->nb + i];
            sb->name = names[x->nb + i];
            fpr_metrics_init(&sb->m);
            progress(x, key, sb->name);
            if ((rc = import_one(x, c, base, mode, offset, key, wj->truth, fr, i, sb,
                                 &tok[x->nb + i])) ||
                (rc = fpr_results_run_backend(w, sb, tok[x->nb + i], NULL))) {
                fpr_results_run_abort(w);
                w = NULL;
            }
        }
        write_job_free(wj);
        if (rc)
            goto done;
        x->open_run = w; /* complete: closed by the next run's writer, or at the end */
    }
    rc = fpr_study_run_copy(keep, &run);
done:
    for (size_t i = 0; i < nrow; i++) {
        if (fr)
            fpr_frames_free(fr[i]);
        if (tok)
            fpr_token_results_free(tok[i]);
    }
    free(fr);
    free(tok);
    free(cmp_b);
    for (size_t i = 0; run.b && i < nrow; i++)
        free(run.b[i].examples);
    free(run.b);
    free(kbuf);
    free(wkey);
    free(sha);
    fpr_frames_free(truth);
    fpr_chains_free(&chains);
    fpr_case_free(c);
    return rc;
}

/* Label helpers for examples: names from the case file, or indices when it has none. */
static const char *lab(char **names, int64_t i, char *buf, size_t n)
{
    if (names && names[i] && names[i][0])
        return names[i];
    snprintf(buf, n, "#%lld", (long long)i);
    return buf;
}

static double dist3(const float *a, const float *b)
{
    double s = 0;
    for (int w = 0; w < 3; w++) {
        double d = (double)a[w] - (double)b[w];
        s += d * d;
    }
    return sqrt(s);
}

/* Up to FPR_EXAMPLES changed tokens of one backend on one run, degenerate-and-valid
 * frames first, then by displacement (largest first, ties by token order): one line
 * each, every number recomputable from the case file by hand. Caller frees. */
static char *make_examples(const fpr_case *c, const fpr_frames *tr, const fpr_frames *f,
                           const fpr_token_results *tok)
{
    int64_t pick[FPR_EXAMPLES];
    double key[FPR_EXAMPLES];
    int np = 0;
    for (int64_t o = 0; o < c->S * c->n_token; o++) {
        uint8_t k = tok->kind[o];
        if (k == FPR_KIND_EQUAL || k == FPR_KIND_NONE)
            continue;
        double d = fmax(tok->disp_a[o], tok->disp_c[o]);
        double kv = (tok->degenerate[o] == 2 ? 1e6 : 0) + (isfinite(d) ? d : 0);
        int pos = np;
        while (pos > 0 && kv > key[pos - 1])
            pos--;
        if (pos >= FPR_EXAMPLES)
            continue;
        for (int q = (np < FPR_EXAMPLES ? np : FPR_EXAMPLES - 1); q > pos; q--) {
            pick[q] = pick[q - 1];
            key[q] = key[q - 1];
        }
        pick[pos] = o;
        key[pos] = kv;
        if (np < FPR_EXAMPLES)
            np++;
    }
    size_t cap = 1024 * (size_t)(np + 1), n = 0;
    char *out = fpr_calloc(cap, 1);
    if (!out)
        return NULL;
    for (int e = 0; e < np; e++) {
        int64_t o = pick[e], s = o / c->n_token, t = o % c->n_token;
        const float *xs = c->x + (size_t)s * (size_t)c->n_atom * 3;
        int32_t st = c->start_atom_index[t];
        char b0[32], b1[32], b2[32], b3[32], b4[32];
        const char *chain = c->chain_label && c->chain_label[t] ? c->chain_label[t] : "";
        int32_t pa = f->a_index[o], pc = f->c_index[o], ta = tr->a_index[o], tc = tr->c_index[o];
        int ok = pa >= 0 && pc >= 0 && ta >= 0 && tc >= 0 && pa < c->n_atom &&
                 pc < c->n_atom && ta < c->n_atom && tc < c->n_atom;
        if (!ok)
            continue;
        double m1 = tr->margin1 ? tr->margin1[o] : NAN, m2 = tr->margin2 ? tr->margin2[o] : NAN;
        n += (size_t)snprintf(
            out + n, cap - n,
            "%s%s sample %lld, chain %s, %s token %lld, atom %s: picked (a, c) = (%s, %s), "
            "true (%s, %s); d(b,a) %.6f vs true %.6f A, d(b,c) %.6f vs true %.6f A; true "
            "margins %.2g / %.2g; moved %.3f / %.3f A%s",
            e ? "\n" : "", c->name ? c->name : "?", (long long)s, chain[0] ? chain : "?",
            c->res_name && c->res_name[t] ? c->res_name[t] : "?", (long long)t,
            lab(c->atom_name, st, b0, sizeof b0), lab(c->atom_name, pa, b1, sizeof b1),
            lab(c->atom_name, pc, b2, sizeof b2), lab(c->atom_name, ta, b3, sizeof b3),
            lab(c->atom_name, tc, b4, sizeof b4), dist3(xs + st * 3, xs + pa * 3),
            dist3(xs + st * 3, xs + ta * 3), dist3(xs + st * 3, xs + pc * 3),
            dist3(xs + st * 3, xs + tc * 3), m1, m2, (double)tok->disp_a[o],
            (double)tok->disp_c[o],
            tok->degenerate[o] == 2 ? "; DEGENERATE (own atom picked) and marked valid"
            : tok->degenerate[o] ? "; degenerate (own atom picked)" : "");
        if (n >= cap)
            n = cap - 1;
    }
    return out;
}

/* A work file is reusable only when its work key matches: the hash of the case's bytes,
 * its path and name, the mode and offset, the reference and backend list, the fault
 * flag and the program (version and executable hash). Anything else is recomputed. */
/* Whether the run file at path holds this run (its key, program, reference, backends);
 * then its run moves into *keep. */
static int reusable(const char *path, const study_ctx *x, const char *work_key,
                    fpr_study_run *keep)
{
    if (access(path, R_OK) != 0)
        return 0;
    if (x->nimp) /* imported files can change under the same name: always score afresh */
        return 0;
    fpr_study_results *r = NULL;
    if (fpr_results_read(path, &r)) {
        fpr_clear_error();
        return 0;
    }
    int ok = r->nruns == 1 && strcmp(r->runs[0].work_key, work_key) == 0 &&
             strcmp(r->version, x->hdr.version) == 0 &&
             strcmp(r->reference, x->hdr.reference) == 0 && r->runs[0].nb == x->nb;
    for (size_t i = 0; ok && i < x->nb; i++)
        ok = strcmp(r->runs[0].b[i].name, x->bs[i]->name) == 0;
    if (ok) {
        *keep = r->runs[0];
        memset(&r->runs[0], 0, sizeof r->runs[0]);
    }
    fpr_study_results_free(r);
    return ok;
}

static void put_work_key(char hex[65], const study_ctx *x, const char *names, const char *sha,
                         const char *path, const char *name, const char *mode, double off)
{
    text t;
    if (text_open(&t)) {
        snprintf(hex, 65, "unavailable"); /* never matches a stored key */
        return;
    }
    fprintf(t.f, "frameprec-work 1\nprogram %s\nsimd %s\nsearch %s\nreference %s\n"
                 "backends %s\ninject_fault %s\ncase %s\npath %s\nname %s\nmode %s\n"
                 "offset %a\n",
            program_id(), fpr_simd_name(fpr_simd_level()), fpr_search_name(x->o->search),
            x->ref->name, names,
            x->o->inject_fault ? x->o->inject_fault : "-", sha, path, name, mode, off);
    char *p = text_close(&t);
    if (p)
        text_sha256(p, hex);
    else
        snprintf(hex, 65, "unavailable");
    free(p);
}

/* One planned run (before computing: the whole plan is validated first). */
typedef struct plan_run {
    char *key;
    size_t ci;
    int mi;
    size_t oi;
    size_t k; /* index in the full plan (the shard rule: k mod N) */
} plan_run;

typedef struct plan_case {
    char *name;
    char sha[65];
    int64_t S, n_atom, n_token, n_token_all; /* n_token_all: tokens of atomize-all */
} plan_case;

/* What one run holds at its peak (run_one), for --max-memory: the base case, the run's
 * copy with the driver's working set and one frames (fpr_case_working_set), the truth's
 * extras, and per backend its frames and per-token results (all kept until the
 * bit-identity check and the run file), plus one coordinate copy per thread beyond the
 * two the working set counts (the working set includes the process). Measured: 4,000
 * atoms atomized, 40 samples, 9 backends: peak RSS 171 MB, within the estimate. */
static double run_bytes(const plan_case *p, int all, size_t nb, int jobs)
{
    double s = (double)p->S, na = (double)p->n_atom;
    int64_t nt = all ? p->n_token_all : p->n_token;
    double n = s * (double)nt;
    return (double)fpr_case_working_set(p->S, p->n_atom, p->n_token) +
           (double)fpr_case_working_set(p->S, p->n_atom, nt) + n * 25.0 +
           (double)nb * n * (73.0 + 17.0) + (jobs > 2 ? (double)(jobs - 2) * na * 16.0 : 0.0);
}

static int cmp_plan_run(const void *a, const void *b)
{
    return strcmp(((const plan_run *)a)->key, ((const plan_run *)b)->key);
}

int fpr_study_run_all(const fpr_study_opts *o)
{
    int rc = FPR_OK;
    const char *const *cases = NULL;
    char **owned = NULL;
    size_t ncases = 0;
    study_ctx x;
    memset(&x, 0, sizeof x);
    x.o = o;
    x.t0 = fpr_now();
    char **work = NULL;
    fpr_study_run *kept = NULL; /* [nwork] the runs, for the summary and the report */
    fpr_case **kept_case = NULL; /* [ncases] cases read by the memo's plan, kept (or NULL) */
    size_t nwork = 0, nalloc = 0; /* nalloc: entries of work[] and kept[] */
    double max_need = 0;          /* the largest run's memory (run_bytes) */
    char *names = NULL;
    plan_case *pc = NULL;
    plan_run *plan = NULL;
    size_t nplan = 0;
    char *plan_text = NULL, shard[48];
    int lockfd = -1;
    char notes[8192] = "";
    char machine[512];
    char created[64];

    if ((rc = fpr_output_dir_check(o->outdir)))
        return rc;
    if (o->shard_n < 1 || o->shard_i < 0 || o->shard_i >= o->shard_n)
        return fpr_error(FPR_EUSAGE, "--shard I/N needs 0 <= I < N (got %d/%d)", o->shard_i,
                         o->shard_n);
    if (o->ncases) {
        cases = o->cases;
        ncases = o->ncases;
    } else {
        if ((rc = default_cases(&owned, &ncases)))
            return rc;
        cases = (const char *const *)owned;
    }
    /* the reference: the exact truth; fp64 only while truth is not registered */
    x.ref = fpr_backend_find(o->reference ? o->reference : "truth");
    if (!x.ref) {
        if (o->reference && strcmp(o->reference, "truth") != 0) {
            rc = FPR_EUSAGE;
            goto out;
        }
        fpr_clear_error();
        x.ref = fpr_backend_find("fp64");
        snprintf(notes, sizeof notes, "REFERENCE IS fp64, NOT THE EXACT TRUTH: the truth "
                                      "backend is not registered in this build. ");
        if (!o->quiet)
            fprintf(stderr, "frameprec study: warning: no 'truth' backend; comparing against "
                            "fp64 (not exact)\n");
    }
    /* backends: the registry (every one except the reference), or --backends */
    x.bs = fpr_calloc(fpr_backend_count() + 64, sizeof *x.bs);
    if (!x.bs) {
        rc = FPR_ENOMEM;
        goto out;
    }
    if (o->backends && o->backends[0]) {
        char *list = fpr_strdup(o->backends), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            const fpr_backend *b = fpr_backend_find(t);
            if (!b) {
                free(list);
                rc = FPR_EUSAGE;
                goto out;
            }
            for (size_t i = 0; i < x.nb; i++)
                if (x.bs[i] == b) {
                    rc = fpr_error(FPR_EUSAGE, "--backends lists '%s' twice", t);
                    break;
                }
            if (rc)
                break;
            if (b != x.ref && x.nb < fpr_backend_count())
                x.bs[x.nb++] = b;
        }
        free(list);
        if (rc)
            goto out;
    } else {
        for (size_t i = 0; i < fpr_backend_count(); i++)
            if (fpr_backend_at(i) != x.ref && fpr_backend_at(i)->precision != FPR_PREC_EXACT)
                x.bs[x.nb++] = fpr_backend_at(i);
    }
    if (x.nb == 0) {
        rc = fpr_error(FPR_EUSAGE, "no backend to study: --backends names only the reference "
                       "(%s), which every backend is compared with", x.ref->name);
        goto out;
    }
    if (o->inject_fault) {
        size_t i;
        for (i = 0; i < x.nb && strcmp(x.bs[i]->name, o->inject_fault) != 0; i++)
            ;
        if (i == x.nb) {
            rc = fpr_error(FPR_EUSAGE, "--inject-fault %s: not among the studied backends",
                           o->inject_fault);
            goto out;
        }
        size_t l = strlen(notes);
        snprintf(notes + l, sizeof notes - l, "TEST RUN: --inject-fault corrupted backend %s. ",
                 o->inject_fault);
    }
    if (o->nimports) {
        x.imp_name = fpr_calloc(o->nimports + 1, sizeof *x.imp_name);
        x.imp_dir = fpr_calloc(o->nimports + 1, sizeof *x.imp_dir);
        if (!x.imp_name || !x.imp_dir) {
            rc = FPR_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < o->nimports; i++) {
        const char *spec = o->imports[i], *eq = strchr(spec, '=');
        size_t nl = eq ? (size_t)(eq - spec) : 0;
        int ok = eq && nl > 0 && nl < 100 && eq[1];
        for (size_t q = 0; ok && q < nl; q++)
            ok = isalnum((unsigned char)spec[q]) || spec[q] == '_' || spec[q] == '-' ||
                 spec[q] == '.' || spec[q] == ':';
        if (!ok) {
            rc = fpr_error(FPR_EUSAGE, "--import '%s': expected NAME=DIR, NAME of letters, "
                           "digits, _ - . : (at most 99)", spec);
            goto out;
        }
        char nbuf[100];
        memcpy(nbuf, spec, nl);
        nbuf[nl] = 0;
        x.imp_name[i] = fpr_strdup(nbuf);
        x.imp_dir[i] = fpr_strdup(eq + 1);
        x.nimp = i + 1;
        if (!x.imp_name[i] || !x.imp_dir[i]) {
            rc = FPR_ENOMEM;
            goto out;
        }
        struct stat sd;
        if (stat(x.imp_dir[i], &sd) != 0 || !S_ISDIR(sd.st_mode)) {
            rc = fpr_error(FPR_EIO, "--import %s: %s is not a directory", x.imp_name[i],
                           x.imp_dir[i]);
            goto out;
        }
        int clash = fpr_backend_find(x.imp_name[i]) != NULL;
        fpr_clear_error();
        for (size_t j = 0; j < i; j++)
            clash |= strcmp(x.imp_name[j], x.imp_name[i]) == 0;
        if (clash) {
            rc = fpr_error(FPR_EUSAGE, "--import %s: the name is already a backend or another "
                           "import; choose another", x.imp_name[i]);
            goto out;
        }
        char mp[4200];
        snprintf(mp, sizeof mp, "%s/manifest.json", x.imp_dir[i]);
        const char *fn = "?", *dev = "?", *dn = "?", *tv = "?", *pr = "?", *ar = "?";
        json_t *man = NULL;
        if (access(mp, R_OK) == 0 && fpr_json_read_file(mp, &man) == FPR_OK) {
            const char *const keys[6] = {"function", "device", "device_name", "torch_version",
                                         "matmul_precision", "arithmetic"};
            const char **dst[6] = {&fn, &dev, &dn, &tv, &pr, &ar};
            for (int k = 0; k < 6; k++) {
                const json_t *v = json_object_get(man, keys[k]);
                if (json_is_string(v))
                    *dst[k] = json_string_value(v);
            }
        }
        fpr_clear_error();
        size_t l = strlen(notes);
        snprintf(notes + l, sizeof notes - l, "Imported row %s: frames of another program "
                 "from %s (function %s, device %s (%s), torch %s, matmul precision %s), scored "
                 "as %s. ", x.imp_name[i], x.imp_dir[i], fn, dev, dn, tv, pr, ar);
        json_decref(man);
    }
    if (x.nb + x.nimp > 64) {
        rc = fpr_error(FPR_EUSAGE, "study: at most 64 backends and imports together");
        goto out;
    }
    names = join_names(x.bs, x.nb);
    fpr_study_machine(machine, sizeof machine);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(created, sizeof created, "%Y-%m-%d %H:%M UTC", &tmv);
    char version[64], compiler[256], flags[512], refname[128];
    snprintf(version, sizeof version, "%s", FPR_VERSION_STRING);
    snprintf(compiler, sizeof compiler, "%s", fpr_study_compiler());
    snprintf(flags, sizeof flags, "%s", fpr_study_flags());
    snprintf(refname, sizeof refname, "%s", x.ref->name);
    x.hdr.version = version;
    x.hdr.compiler = compiler;
    x.hdr.flags = flags;
    x.hdr.machine = machine;
    x.hdr.reference = refname;
    x.hdr.created = created;
    x.hdr.notes = notes;

    /* ---- The plan, validated whole before the first computation: every case read and
     * checked (SPEC §7), at every offset; every run's name unique. */
    static const char *const modes[2] = {"native", "all"};
    size_t total = ncases * 2 * o->noffsets;
    pc = fpr_calloc(ncases + 1, sizeof *pc);
    plan = fpr_calloc(total + 1, sizeof *plan);
    work = fpr_calloc(total + 1, sizeof *work);
    kept = fpr_calloc(total + 1, sizeof *kept);
    nalloc = work && kept ? total + 1 : 0;
    if (!pc || !plan || !work || !kept) {
        rc = FPR_ENOMEM;
        goto out;
    }
    for (size_t ci = 0; ci < ncases && !rc; ci++) {
        fpr_case *base = NULL;
        fpr_input_register(cases[ci]); /* no output of the study may replace a case */
        if ((rc = fpr_case_read(cases[ci], &base)))
            break;
        for (size_t oi = 0; oi < o->noffsets && !rc; oi++)
            rc = fpr_case_check_offset(base, o->offsets[oi], "--offsets");
        if (!rc && !(pc[ci].name = fpr_strdup(base->name ? base->name : "case")))
            rc = FPR_ENOMEM;
        pc[ci].S = base->S;
        pc[ci].n_atom = base->n_atom;
        pc[ci].n_token = base->n_token;
        for (int64_t t = 0; t < base->n_token; t++)
            pc[ci].n_token_all += base->token_mask[t] ? base->num_atoms_per_token[t] : 0;
        fpr_case_free(base);
        if (!rc)
            rc = file_sha256(cases[ci], pc[ci].sha);
    }
    for (size_t ci = 0, k = 0; ci < ncases && !rc; ci++)
        for (int mi = 0; mi < 2 && !rc; mi++)
            for (size_t oi = 0; oi < o->noffsets && !rc; oi++, k++) {
                if (!(mi == 0 ? o->native : o->atomize_all))
                    continue;
                if (mi == 1 && o->atomize_all_max_atoms > 0 &&
                    pc[ci].n_atom > o->atomize_all_max_atoms) {
                    if (oi == 0) {
                        size_t l = strlen(notes);
                        snprintf(notes + l, sizeof notes - l,
                                 "%s: atomize-all skipped (%lld atoms > %lld). ", pc[ci].name,
                                 (long long)pc[ci].n_atom, (long long)o->atomize_all_max_atoms);
                    }
                    continue;
                }
                double need = run_bytes(&pc[ci], mi, x.nb, o->jobs);
                max_need = need > max_need ? need : max_need;
                uint64_t lim = fpr_get_max_memory();
                if (lim && need > (double)lim) {
                    rc = fpr_error(FPR_ETOOBIG, "%s: a study run (%s mode, %zu backends) needs "
                                   "about %.0f bytes, over the memory limit of %llu bytes "
                                   "(--max-memory)", cases[ci], modes[mi], x.nb, need,
                                   (unsigned long long)lim);
                    break;
                }
                size_t kl = strlen(pc[ci].name) + 64;
                plan_run *pr = &plan[nplan];
                if (!(pr->key = fpr_calloc(kl, 1))) {
                    rc = FPR_ENOMEM;
                    break;
                }
                key_of(pr->key, kl, pc[ci].name, modes[mi], o->offsets[oi]);
                pr->ci = ci;
                pr->mi = mi;
                pr->oi = oi;
                pr->k = k;
                nplan++;
            }
    if (rc)
        goto out;
    {
        plan_run *sorted = fpr_calloc(nplan + 1, sizeof *sorted);
        if (!sorted) {
            rc = FPR_ENOMEM;
            goto out;
        }
        memcpy(sorted, plan, nplan * sizeof *plan);
        qsort(sorted, nplan, sizeof *sorted, cmp_plan_run);
        for (size_t i = 1; i < nplan && !rc; i++) {
            const plan_run *p = &sorted[i - 1], *q = &sorted[i];
            if (strcmp(p->key, q->key) != 0)
                continue;
            if (p->ci == q->ci)
                rc = fpr_error(FPR_EUSAGE, "--offsets %.17g and %.17g give case %s the same "
                               "run name '%s': use offsets that differ in 6 significant digits",
                               o->offsets[p->oi], o->offsets[q->oi], cases[p->ci], p->key);
            else if (!strcmp(pc[p->ci].name, pc[q->ci].name))
                rc = fpr_error(FPR_EUSAGE, "cases %s and %s are both named '%s'%s: every case of "
                               "a study needs its own name (root attribute 'name')",
                               cases[p->ci < q->ci ? p->ci : q->ci],
                               cases[p->ci < q->ci ? q->ci : p->ci], pc[p->ci].name,
                               !strcmp(pc[p->ci].sha, pc[q->ci].sha) ? " (the same content: "
                               "one file given twice?)" : "");
            else
                rc = fpr_error(FPR_EUSAGE, "cases %s ('%s') and %s ('%s') give the same run "
                               "name '%s' (slashes and spaces become '_'): rename one",
                               cases[p->ci], pc[p->ci].name, cases[q->ci], pc[q->ci].name,
                               p->key);
        }
        free(sorted);
        if (rc)
            goto out;
    }
    /* the plan's record: shards of one study must have the same one (merge checks) */
    {
        text t;
        if ((rc = text_open(&t)))
            goto out;
        fprintf(t.f, "frameprec-plan 1\nprogram %s\nreference %s\nbackends %s\nmodes %s%s%s\n"
                     "offsets", program_id(), x.ref->name, names, o->native ? "native" : "",
                o->native && o->atomize_all ? "," : "", o->atomize_all ? "all" : "");
        for (size_t oi = 0; oi < o->noffsets; oi++)
            fprintf(t.f, "%s%.17g", oi ? "," : " ", o->offsets[oi]);
        fprintf(t.f, "\nmax_atomize_all %lld\ninject_fault %s\nsearch %s\nimports",
                (long long)o->atomize_all_max_atoms, o->inject_fault ? o->inject_fault : "-",
                fpr_search_name(o->search));
        for (size_t i = 0; i < x.nimp; i++)
            fprintf(t.f, " %s=%s", x.imp_name[i], x.imp_dir[i]);
        fprintf(t.f, "\nshards %d\n", o->shard_n);
        for (size_t ci = 0; ci < ncases; ci++)
            fprintf(t.f, "case %s %s\n", pc[ci].sha, pc[ci].name);
        if (!(plan_text = text_close(&t))) {
            rc = fpr_error(FPR_ENOMEM, "out of memory writing the plan");
            goto out;
        }
        snprintf(shard, sizeof shard, "%d/%d", o->shard_i, o->shard_n);
        x.hdr.plan = plan_text;
        x.hdr.shard = shard;
    }

    /* ---- One writer per directory (a lock), then the runs of this shard. */
    if ((rc = fpr_mkdir_p(o->outdir)) || (rc = fpr_dir_lock(o->outdir, &lockfd)))
        goto out;
    char workdir[4096];
    snprintf(workdir, sizeof workdir, "%s/.work", o->outdir);
    if ((rc = fpr_mkdir_p(workdir)))
        goto out;
    for (size_t k = 0; k < total; k++)
        if ((int)(k % (size_t)o->shard_n) == o->shard_i)
            x.total++;
    x.done = x.total;
    for (size_t i = 0; i < nplan; i++)
        if ((int)(plan[i].k % (size_t)o->shard_n) == o->shard_i)
            x.done--;
    fpr_case *base = NULL, *base_read = NULL; /* the run's case; the one read here (owned) */
    size_t base_ci = (size_t)-1;
    /* the cases the memo's plan read, kept for the runs: at most 64 MiB or 1/16 of the
     * memory limit in all (the corpus: some 30 MB) */
    kept_case = fpr_calloc(ncases + 1, sizeof *kept_case);
    if (!kept_case) {
        rc = FPR_ENOMEM;
        goto out;
    }
    size_t kept_case_bytes = 0;
    const size_t KEEP_CASES_MAX = (size_t)64 << 20 < fpr_effective_memory_limit() / 16
                                      ? (size_t)64 << 20
                                      : (size_t)(fpr_effective_memory_limit() / 16);
    /* The chain memo's plan: every chain content of every run of this shard, so that
     * only content met again is kept, and only until its last use. */
    /* at most 512 MiB (6ZU5's shared chains over every backend and offset need some
     * 270 MB when its case runs first), a quarter of the memory limit, and what the
     * limit leaves beside the largest run, so that a run and the memo together stay
     * within --max-memory (where the memo's cap is reached, a chain is searched again) */
    double memo_capd = (double)fpr_effective_memory_limit();
    memo_capd = memo_capd / 4 < memo_capd - max_need ? memo_capd / 4 : memo_capd - max_need;
    memo_capd = memo_capd < (double)((uint64_t)512 << 20) ? memo_capd : (double)((uint64_t)512 << 20);
    int64_t memo_cap = memo_capd > 0 ? (int64_t)memo_capd : 0;
    if (!o->no_chain_memo && !(rc = fpr_chain_memo_new(memo_cap, &x.memo))) {
        for (size_t i0 = 0, i1; i0 < nplan && !rc; i0 = i1) {
            /* a case's runs (the plan holds them together), in parallel */
            int mine = 0; /* any of them in this shard */
            for (i1 = i0; i1 < nplan && plan[i1].ci == plan[i0].ci; i1++)
                mine |= (int)(plan[i1].k % (size_t)o->shard_n) == o->shard_i;
            if (!mine)
                continue;
            if ((rc = fpr_case_read(cases[plan[i0].ci], &base)))
                break;
            /* what was read is the plan's file (else the run loop reads it again and
             * refuses it there) */
            char sha[65];
            if ((rc = file_sha256(cases[plan[i0].ci], sha))) {
                fpr_case_free(base);
                base = NULL;
                break;
            }
            int same = strcmp(sha, pc[plan[i0].ci].sha) == 0;
            int err = FPR_OK;
            char errmsg[512] = "";
#pragma omp parallel for schedule(dynamic, 1) num_threads(o->jobs > 0 ? o->jobs : 1)
            for (size_t i = i0; i < i1; i++) {
                const plan_run *pr = &plan[i];
                if ((int)(pr->k % (size_t)o->shard_n) != o->shard_i)
                    continue;
                fpr_case *c = NULL;
                int e = run_case(base, modes[pr->mi], o->offsets[pr->oi], &c);
                if (!e)
                    e = fpr_chain_memo_plan(x.memo, c);
                fpr_case_free(c);
                if (e) {
#pragma omp critical(fpr_study_plan_err)
                    if (!err) {
                        err = e;
                        snprintf(errmsg, sizeof errmsg, "%s", fpr_errmsg());
                    }
                }
            }
            /* kept for the runs (no second read, and no wait for the run-file writer
             * before one), while they take little memory */
            /* what the case holds (not a run's working set, fpr_case_working_set, which
             * adds the driver's arrays and 24 MiB a case: with it only one or two corpus
             * cases were kept, and each other was read again after waiting for the
             * writer thread, ~1 s of a corpus study with one core idle) */
            size_t cb = (size_t)fpr_case_bytes(base);
            if (same && kept_case_bytes + cb <= KEEP_CASES_MAX) {
                kept_case[plan[i0].ci] = base;
                kept_case_bytes += cb;
            } else {
                fpr_case_free(base);
            }
            base = NULL;
            if (err)
                rc = fpr_error(err, "%s", errmsg);
        }
    }
    /* This shard's runs: their slots in work[] and kept[] follow the plan (so results.h5,
     * summary.json and the report do not depend on the order they ran in), and with the
     * chain memo the largest cases run first, so that a case whose chains are a subset
     * of another's (6ZU5's rRNA cases) is the one answered from the memo, and the full
     * case's time and memory are a full search's. */
    exec_run *order = fpr_calloc(nplan + 1, sizeof *order);
    size_t nslot = 0;
    if (!rc && (!order || !(x.pending = fpr_calloc(nplan + 1, sizeof *x.pending))))
        rc = FPR_ENOMEM;
    char res[4096 + 32];
    snprintf(res, sizeof res, "%s/results.h5", o->outdir);
    if (!rc)
        rc = fpr_results_out_open(res, &x.hdr, &x.res);
    for (size_t i = 0; i < nplan && !rc; i++)
        if ((int)(plan[i].k % (size_t)o->shard_n) == o->shard_i) {
            order[nslot].plan = i;
            order[nslot].slot = nslot;
            order[nslot].size = x.memo ? (double)pc[plan[i].ci].n_atom * (double)pc[plan[i].ci].S : 0;
            nslot++;
        }
    if (!rc)
        qsort(order, nslot, sizeof *order, cmp_exec_run);
    for (size_t q = 0; q < nslot && !rc; q++) {
        const size_t slot = order[q].slot;
        const plan_run *pr = &plan[order[q].plan];
        if (base_ci != pr->ci) {
            fpr_case_free(base_read);
            base_read = NULL;
            base_ci = pr->ci;
            /* kept: read (and its SHA-256 checked) by the plan */
            base = kept_case[pr->ci];
        }
        if (!base) {
            char sha[65];
            if ((rc = writer_wait(&x)) || /* HDF5: one thread at a time */
                (rc = fpr_case_read(cases[pr->ci], &base_read)) ||
                (rc = file_sha256(cases[pr->ci], sha)))
                break;
            base = base_read;
            if (strcmp(sha, pc[pr->ci].sha) != 0) {
                rc = fpr_error(FPR_EINVAL, "%s: the file changed while the study ran (its "
                               "SHA-256 differs from the plan's); rerun the study", cases[pr->ci]);
                break;
            }
        }
        char wp[4096 + 600], wkey[65];
        work_file(wp, sizeof wp, workdir, pr->key);
        put_work_key(wkey, &x, names, pc[pr->ci].sha, cases[pr->ci], pc[pr->ci].name,
                     modes[pr->mi], o->offsets[pr->oi]);
        /* a run file kept from an interrupted study is read (HDF5) with no writer on */
        if (access(wp, R_OK) == 0)
            rc = writer_wait(&x);
        int direct = 0; /* written into results.h5 already (no run file to copy) */
        if (!rc && !reusable(wp, &x, wkey, &kept[slot]))
            rc = run_one(&x, base, modes[pr->mi], o->offsets[pr->oi], pr->key, wp, wkey,
                         pc[pr->ci].sha, &kept[slot], &direct);
        if (!rc && !(work[slot] = fpr_strdup(wp)))
            rc = FPR_ENOMEM;
        if (!rc && !direct)
            x.pending[x.npending++] = work[slot];
        x.done++;
    }
    free(order);
    fpr_case_free(base_read);
    base = base_read = NULL;
    {
        int wrc = writer_stop(&x); /* the last runs' files */
        rc = rc ? rc : wrc;
    }
    if (!rc)
        nwork = nslot;
    fpr_case_free(base);
    if (!o->quiet && isatty(2))
        fprintf(stderr, "\r\033[K");
    if (rc)
        goto out;
    if (!nwork) {
        rc = fpr_error(FPR_EUSAGE, "no runs selected (shard %d/%d, modes, sizes)", o->shard_i,
                       o->shard_n);
        goto out;
    }
    if (!rc && x.open_run) {
        rc = fpr_results_run_close(x.open_run);
        x.open_run = NULL;
    }
    for (size_t k = 0; k < x.npending && !rc; k++)
        rc = fpr_results_out_add(x.res, x.pending[k]);
    x.npending = 0;
    if (!rc) {
        rc = fpr_results_out_commit(x.res);
        x.res = NULL;
    }
    if (rc)
        goto out;
    /* the summary and the report from the runs held (what results.h5 now holds too;
     * tests/check_study.sh checks both give the same files) */
    fpr_study_results *r = fpr_calloc(1, sizeof *r);
    if (!r) {
        rc = FPR_ENOMEM;
        goto out;
    }
    r->version = fpr_strdup(x.hdr.version);
    r->compiler = fpr_strdup(x.hdr.compiler);
    r->flags = fpr_strdup(x.hdr.flags);
    r->machine = fpr_strdup(x.hdr.machine);
    r->reference = fpr_strdup(x.hdr.reference);
    r->created = fpr_strdup(x.hdr.created);
    r->notes = fpr_strdup(x.hdr.notes);
    r->plan = fpr_strdup(x.hdr.plan);
    r->shard = fpr_strdup(x.hdr.shard);
    r->runs = kept;
    r->nruns = nwork;
    kept = NULL;
    if (!r->version || !r->compiler || !r->flags || !r->machine || !r->reference ||
        !r->created || !r->notes || !r->plan || !r->shard) {
        fpr_study_results_free(r);
        rc = FPR_ENOMEM;
        goto out;
    }
    fpr_study_results_sort(r);
    char sp[4096 + 32];
    snprintf(sp, sizeof sp, "%s/summary.json", o->outdir);
    rc = fpr_summary_write(r, sp);
    if (!rc && !o->no_report)
        rc = fpr_report_write(r, o->outdir);
    fpr_study_results_free(r);
    if (!rc && !o->keep_work) {
        /* every work file goes, also stale ones of an older plan (the lock is ours) */
        DIR *d = opendir(workdir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 3 && !strcmp(e->d_name + l - 3, ".h5")) {
                char wp[4096 + 600];
                snprintf(wp, sizeof wp, "%s/%s", workdir, e->d_name);
                unlink(wp);
            }
        }
        if (d)
            closedir(d);
        rmdir(workdir);
    }
    if (!rc && !o->quiet) {
        int64_t hr = 0, hc = 0, peak = 0;
        fpr_chain_memo_stats(x.memo, &hr, &hc, &peak);
        fprintf(stderr, "frameprec study: %zu runs, %zu backends vs %s, %.1f s -> %s\n"
                        "  chain memo: %lld chain searches (%lld rows) answered from identical "
                        "chains searched before; it held at most %.1f MB%s\n",
                nwork, x.nb, x.ref->name, fpr_now() - x.t0, o->outdir, (long long)hc,
                (long long)hr, (double)peak / 1e6, x.memo ? "" : " (off: --no-chain-memo)");
    }
out:
    {
        int wrc = writer_stop(&x); /* (stopped above unless a step before failed) */
        rc = rc ? rc : wrc;
    }
    if (x.open_run) { /* a finished run's file: kept for a resumed study */
        int keep_rc = fpr_results_run_close(x.open_run);
        if (!rc)
            rc = keep_rc;
    }
    fpr_results_out_abort(x.res); /* (NULL once committed) */
    free(x.pending);
    fpr_chain_memo_free(x.memo);
    fpr_dir_unlock(lockfd);
    /* calloc: entries never filled are zero (runs fill slots out of order) */
    for (size_t i = 0; work && i < nalloc; i++)
        free(work[i]);
    free(work);
    for (size_t i = 0; kept && i < nalloc; i++)
        fpr_study_run_clear(&kept[i]);
    free(kept);
    for (size_t i = 0; plan && i < nplan; i++)
        free(plan[i].key);
    free(plan);
    for (size_t i = 0; pc && i < ncases; i++)
        free(pc[i].name);
    free(pc);
    free(plan_text);
    free(names);
    free(x.bs);
    for (size_t i = 0; i < x.nimp; i++) {
        free(x.imp_name[i]);
        free(x.imp_dir[i]);
    }
    for (size_t i = 0; kept_case && i < ncases; i++)
        fpr_case_free(kept_case[i]);
    free(kept_case);
    free(x.imp_name);
    free(x.imp_dir);
    if (owned) {
        for (size_t i = 0; i < ncases; i++)
            free(owned[i]);
        free(owned);
    }
    return rc;
}
