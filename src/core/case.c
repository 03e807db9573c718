/* case.c — the in-memory structure case: allocation, validation (SPEC §7),
 * the atomize-all and translation transforms, the memory limit. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"

/* Coordinates beyond this are refused: the PDB format stops at ±9999 Å, and the
 * bound keeps every squared distance far below the `inf` filler and float32 overflow. */
#define FPR_MAX_ABS_COORD 1.0e6

static uint64_t max_memory = 0;

void fpr_set_max_memory(uint64_t bytes) { max_memory = bytes; }
uint64_t fpr_get_max_memory(void) { return max_memory; }

uint64_t fpr_effective_memory_limit(void)
{
    if (max_memory)
        return max_memory;
    /* No limit set: a case larger than the machine's memory can never be loaded, so
     * refuse it before asking calloc (and before a sanitizer aborts on the request). */
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : UINT64_MAX;
}

uint64_t fpr_case_working_set(int64_t S, int64_t n_atom, int64_t n_token)
{
    double s = (double)S, na = (double)n_atom, nt = (double)n_token;
    /* case: x + atom arrays + token arrays; driver: chain tables + one SoA copy per
     * thread; frames: indices, phi, mask, values (+ truth extras). */
    double bytes = s * na * 12.0 + na * 8.0 + nt * 24.0  /* case */
                 + na * 40.0 + na * 16.0 * 2.0           /* chains, SoA (2 threads) */
                 + s * nt * (12.0 + 36.0 + 1.0 + 24.0 + 33.0);
    /* That sum is what the arrays take; the peak RSS of `frames` measured 1.6-1.8x it
     * plus ~15 MB for the process (read/convert buffers, row tables, HDF5's caches:
     * 100,000 atoms all atomized, truth 57 MB, fp64 51 MB; 200,000 fp64 88 MB; -j 8
     * adds < 1 MB). So --max-memory is a bound: twice the sum plus 24 MiB, plus the
     * grid search's own arrays (allocated as counted, no overhead to double; measured
     * without it: matmul_bf16x3 on 6ZU5 all-atomized peaked at 113 MB over 99 MB). */
    bytes = 2.0 * bytes + 24.0 * 1048576.0 + na * FPR_GRID_BYTES_PER_ATOM;
    return bytes > 1.8e19 ? UINT64_MAX : (uint64_t)bytes;
}

int fpr_case_new(int64_t S, int64_t n_atom, int64_t n_token, fpr_case **out)
{
    *out = NULL;
    if (S < 1 || n_atom < 1 || n_token < 0 || n_atom > INT32_MAX || n_token > INT32_MAX ||
        S > INT32_MAX)
        return fpr_error(FPR_EINVAL, "case size out of range (S=%lld, N_atom=%lld, N_token=%lld)",
                         (long long)S, (long long)n_atom, (long long)n_token);
    uint64_t need = fpr_case_working_set(S, n_atom, n_token);
    uint64_t limit = fpr_effective_memory_limit();
    if (need > limit)
        return fpr_error(FPR_ETOOBIG,
                         "case needs about %llu bytes (S=%lld, N_atom=%lld, N_token=%lld), "
                         "over the %s of %llu bytes%s",
                         (unsigned long long)need, (long long)S, (long long)n_atom,
                         (long long)n_token, max_memory ? "memory limit" : "physical memory",
                         (unsigned long long)limit, max_memory ? " (--max-memory)" : "");
    fpr_case *c = fpr_calloc(1, sizeof *c);
    if (!c)
        return FPR_ENOMEM;
    c->S = S;
    c->n_atom = n_atom;
    c->n_token = n_token;
    c->angle_threshold = 25.0;
    c->eps = 1e-8;
    c->inf = 1e9;
    size_t na = (size_t)n_atom, nt = (size_t)n_token;
    c->x = fpr_calloc((size_t)S * na * 3, sizeof(float));
    c->atom_mask = fpr_calloc(na, 1);
    c->restype = fpr_calloc(nt, sizeof(int32_t));
    c->asym_id = fpr_calloc(nt, sizeof(int32_t));
    c->start_atom_index = fpr_calloc(nt, sizeof(int32_t));
    c->num_atoms_per_token = fpr_calloc(nt, sizeof(int32_t));
    c->is_protein = fpr_calloc(nt, 1);
    c->is_rna = fpr_calloc(nt, 1);
    c->is_dna = fpr_calloc(nt, 1);
    c->is_atomized = fpr_calloc(nt, 1);
    c->token_mask = fpr_calloc(nt, 1);
    if (!c->x || !c->atom_mask || !c->restype || !c->asym_id || !c->start_atom_index ||
        !c->num_atoms_per_token || !c->is_protein || !c->is_rna || !c->is_dna ||
        !c->is_atomized || !c->token_mask) {
        fpr_case_free(c);
        return FPR_ENOMEM;
    }
    *out = c;
    return FPR_OK;
}

static void free_strings(char **s, int64_t n)
{
    if (!s)
        return;
    for (int64_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void fpr_case_free(fpr_case *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->source);
    free(c->path);
    free(c->x);
    free(c->atom_mask);
    free(c->restype);
    free(c->asym_id);
    free(c->start_atom_index);
    free(c->num_atoms_per_token);
    free(c->is_protein);
    free(c->is_rna);
    free(c->is_dna);
    free(c->is_atomized);
    free(c->token_mask);
    free_strings(c->atom_name, c->n_atom);
    free_strings(c->res_name, c->n_token);
    free_strings(c->chain_label, c->n_token);
    free(c);
}

/* Heap bytes of n label strings: the pointer array and each string's malloc block
 * (its length + 1 and glibc's 8-byte header, rounded up to 16, at least 32). */
static double strings_bytes(char *const *s, int64_t n)
{
    if (!s)
        return 0;
    double b = (double)n * sizeof(char *) + 16;
    for (int64_t i = 0; i < n; i++)
        if (s[i]) {
            size_t k = (strlen(s[i]) + 1 + 8 + 15) & ~(size_t)15;
            b += (double)(k < 32 ? 32 : k);
        }
    return b;
}

uint64_t fpr_case_bytes(const fpr_case *c)
{
    const double s = (double)c->S, na = (double)c->n_atom, nt = (double)c->n_token;
    /* x; atom_mask; 4 int32 and 5 flag arrays per token; 16 bytes of header a block */
    double b = (double)sizeof *c + s * na * 12.0 + na + nt * (4 * 4 + 5) + 14 * 16.0;
    b += strings_bytes(c->atom_name, c->n_atom) + strings_bytes(c->res_name, c->n_token) +
         strings_bytes(c->chain_label, c->n_token);
    const char *one[3] = {c->name, c->source, c->path};
    for (int k = 0; k < 3; k++)
        b += one[k] ? (double)strlen(one[k]) + 32 : 0;
    return (uint64_t)b;
}

static char **clone_strings(char *const *s, int64_t n, int *ok)
{
    if (!s)
        return NULL;
    char **d = fpr_calloc((size_t)n, sizeof(char *));
    if (!d) {
        *ok = 0;
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (s[i] && !(d[i] = fpr_strdup(s[i])))
            *ok = 0;
    return d;
}

int fpr_case_clone(const fpr_case *c, fpr_case **out)
{
    fpr_case *d;
    int rc = fpr_case_new(c->S, c->n_atom, c->n_token, &d);
    if (rc)
        return rc;
    size_t na = (size_t)c->n_atom, nt = (size_t)c->n_token;
    memcpy(d->x, c->x, (size_t)c->S * na * 3 * sizeof(float));
    memcpy(d->atom_mask, c->atom_mask, na);
    memcpy(d->restype, c->restype, nt * sizeof(int32_t));
    memcpy(d->asym_id, c->asym_id, nt * sizeof(int32_t));
    memcpy(d->start_atom_index, c->start_atom_index, nt * sizeof(int32_t));
    memcpy(d->num_atoms_per_token, c->num_atoms_per_token, nt * sizeof(int32_t));
    memcpy(d->is_protein, c->is_protein, nt);
    memcpy(d->is_rna, c->is_rna, nt);
    memcpy(d->is_dna, c->is_dna, nt);
    memcpy(d->is_atomized, c->is_atomized, nt);
    memcpy(d->token_mask, c->token_mask, nt);
    d->angle_threshold = c->angle_threshold;
    d->eps = c->eps;
    d->inf = c->inf;
    int ok = 1;
    d->name = fpr_strdup(c->name);
    d->source = fpr_strdup(c->source);
    d->path = fpr_strdup(c->path);
    d->atom_name = clone_strings(c->atom_name, c->n_atom, &ok);
    d->res_name = clone_strings(c->res_name, c->n_token, &ok);
    d->chain_label = clone_strings(c->chain_label, c->n_token, &ok);
    if (!ok || (c->name && !d->name) || (c->source && !d->source) || (c->path && !d->path)) {
        fpr_case_free(d);
        return FPR_ENOMEM;
    }
    *out = d;
    return FPR_OK;
}

#define BAD(...) fpr_error(FPR_EINVAL, __VA_ARGS__)

static int check_flag(const uint8_t *v, int64_t n, const char *f, const char *ds)
{
    for (int64_t t = 0; t < n; t++)
        if (v[t] > 1)
            return BAD("%s: dataset '%s': index %lld has value %u, expected 0 or 1", f, ds,
                       (long long)t, (unsigned)v[t]);
    return FPR_OK;
}

/* The domain of SPEC §2 at translation `offset` (SPEC §7). The driver and the truth rank
 * masked pairs (value `inf`) after every in-chain pair; that is the reference's answer
 * only when `inf` exceeds every in-chain value d = sqrt(Σ(eps + dx²)) a backend can
 * compute. Bound: per axis the extent E_c of the present atoms over all samples and the
 * largest magnitude M_c after translation; d² ≤ 3·eps + ΣE_c², and a float32 backend's
 * value can exceed that by its rounding, which for the matrix-product identity in
 * bfloat16 (relative 2^-8 on |x|², the worst registered) stays below ΣM_c²/8. inf must
 * exceed twice the square root of the sum (a factor 2 of headroom), in float32 (the
 * value float32 backends compare). Coordinates stay within ±FPR_MAX_ABS_COORD. */
static int check_domain(const fpr_case *c, double offset, const char *f, const char *what)
{
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (int64_t s = 0; s < c->S; s++)
        for (int64_t a = 0; a < c->n_atom; a++) {
            if (!c->atom_mask[a])
                continue;
            const float *x = c->x + (s * c->n_atom + a) * 3;
            for (int d = 0; d < 3; d++) {
                double v = (double)x[d];
                lo[d] = v < lo[d] ? v : lo[d];
                hi[d] = v > hi[d] ? v : hi[d];
            }
        }
    if (!(lo[0] <= hi[0])) /* no present atom: nothing is ranked */
        return FPR_OK;
    double ext2 = 0, mag2 = 0, mag = 0;
    for (int d = 0; d < 3; d++) {
        double m = fmax(fabs(lo[d] + offset), fabs(hi[d] + offset));
        ext2 += (hi[d] - lo[d]) * (hi[d] - lo[d]);
        mag2 += m * m;
        mag = fmax(mag, m);
    }
    if (what && mag > FPR_MAX_ABS_COORD)
        return fpr_error(FPR_EUSAGE, "%s %g: coordinates of %s would reach %g Å, beyond the supported range of "
                   "±%g Å", what, offset, f, mag, FPR_MAX_ABS_COORD);
    double eps3 = 3.0 * c->eps, dmax = sqrt(eps3 + ext2 + mag2 / 8.0);
    double inf32 = (double)(float)c->inf;
    if (!(inf32 > 2.0 * dmax)) {
        char at[96] = "";
        if (what)
            snprintf(at, sizeof at, " at %s %g", what, offset);
        if (eps3 > ext2 + mag2 / 8.0)
            return BAD("%s: attribute 'eps' = %g is so large that in-chain distances "
                       "(sqrt(3·eps) = %.3g) reach inf = %g%s: the driver and the truth rank "
                       "masked pairs last, which the reference would not (SPEC §7); use a "
                       "smaller eps (default 1e-8) or inf above %.3g",
                       f, c->eps, sqrt(eps3), c->inf, at, 2.0 * dmax);
        return BAD("%s: attribute 'inf' = %g does not exceed the in-chain distances this case "
                   "can produce%s (up to about %.3g Å with rounding): the driver and the truth "
                   "rank masked pairs last, which the reference would not (SPEC §7); use inf "
                   "above %.3g (default 1e9)", f, c->inf, at, dmax, 2.0 * dmax);
    }
    return FPR_OK;
}

int fpr_case_check_offset(const fpr_case *c, double offset, const char *what)
{
    if (!isfinite(offset))
        return fpr_error(FPR_EUSAGE, "%s %g: the translation must be a finite number", what,
                         offset);
    if (fabs(offset) > FPR_MAX_ABS_COORD)
        return fpr_error(FPR_EUSAGE, "%s %g: beyond the supported coordinate range of ±%g Å",
                         what, offset, FPR_MAX_ABS_COORD);
    return check_domain(c, offset, c->path ? c->path : "<case>", what);
}

int fpr_case_validate(const fpr_case *c, const char *file)
{
    const char *f = file ? file : (c->path ? c->path : "<case>");
    if (c->S < 1)
        return BAD("%s: dataset 'x': S = %lld samples, expected at least 1", f, (long long)c->S);
    if (c->n_atom < 1)
        return BAD("%s: dataset 'x': N_atom = %lld, expected at least 1", f, (long long)c->n_atom);
    if (c->n_token < 1)
        return BAD("%s: dataset 'restype': N_token = %lld, expected at least 1", f,
                   (long long)c->n_token);
    if (!isfinite(c->angle_threshold) || c->angle_threshold <= 0 || c->angle_threshold >= 90)
        return BAD("%s: attribute 'angle_threshold' = %g, expected a value in (0, 90) degrees",
                   f, c->angle_threshold);
    if (!isfinite(c->eps) || c->eps < 0)
        return BAD("%s: attribute 'eps' = %g, expected a finite value >= 0", f, c->eps);
    if (!isfinite(c->inf) || c->inf <= 0 || c->inf > 3.0e38)
        return BAD("%s: attribute 'inf' = %g, expected a positive float32 value", f, c->inf);

    int64_t nx = c->S * c->n_atom * 3;
    for (int64_t k = 0; k < nx; k++) {
        float v = c->x[k];
        int64_t s = k / (c->n_atom * 3), a = (k / 3) % c->n_atom, d = k % 3;
        if (!isfinite(v))
            return BAD("%s: dataset 'x': sample %lld atom %lld coordinate %lld is %s", f,
                       (long long)s, (long long)a, (long long)d,
                       isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
        if (fabs((double)v) > FPR_MAX_ABS_COORD)
            return BAD("%s: dataset 'x': sample %lld atom %lld coordinate %lld = %g is beyond "
                       "the supported range of ±%g Å",
                       f, (long long)s, (long long)a, (long long)d, (double)v, FPR_MAX_ABS_COORD);
    }
    /* names reach summary.json and the baseline: UTF-8 as jansson defines it */
    const char *texts[2] = {c->name, c->source}, *tnames[2] = {"name", "source"};
    for (int k = 0; k < 2; k++) {
        json_t *j = texts[k] ? json_string(texts[k]) : NULL;
        if (texts[k] && !j)
            return BAD("%s: root attribute '%s' is not valid UTF-8", f, tnames[k]);
        json_decref(j);
    }
    int rc;
    if ((rc = check_flag(c->atom_mask, c->n_atom, f, "atom_mask")) ||
        (rc = check_domain(c, 0.0, f, NULL)) ||
        (rc = check_flag(c->is_protein, c->n_token, f, "is_protein")) ||
        (rc = check_flag(c->is_rna, c->n_token, f, "is_rna")) ||
        (rc = check_flag(c->is_dna, c->n_token, f, "is_dna")) ||
        (rc = check_flag(c->is_atomized, c->n_token, f, "is_atomized")) ||
        (rc = check_flag(c->token_mask, c->n_token, f, "token_mask")))
        return rc;

    int64_t prev_end = 0, prev_tok = -1, walked = 0, n_atomized = 0;
    for (int64_t t = 0; t < c->n_token; t++) {
        int32_t r = c->restype[t];
        if (r < 0 || r >= FPR_NUM_RESTYPES)
            return BAD("%s: dataset 'restype': index %lld has value %d, expected 0..31", f,
                       (long long)t, r);
        int nflags = c->is_protein[t] + c->is_rna[t] + c->is_dna[t];
        if (nflags > 1) {
            const char *set[3];
            int k = 0;
            if (c->is_protein[t]) set[k++] = "is_protein";
            if (c->is_rna[t]) set[k++] = "is_rna";
            if (c->is_dna[t]) set[k++] = "is_dna";
            return BAD("%s: datasets 'is_protein'/'is_rna'/'is_dna': token %lld has %s %s%s%s "
                       "set together; a token has at most one molecule type",
                       f, (long long)t, set[0], set[1], k > 2 ? " " : "", k > 2 ? set[2] : "");
        }
        int64_t st = c->start_atom_index[t], num = c->num_atoms_per_token[t];
        if (num < 0)
            return BAD("%s: dataset 'num_atoms_per_token': index %lld has value %lld, expected >= 0",
                       f, (long long)t, (long long)num);
        if (st < 0 || st >= c->n_atom)
            return BAD("%s: dataset 'start_atom_index': index %lld has value %lld, outside the "
                       "atom array 0..%lld",
                       f, (long long)t, (long long)st, (long long)c->n_atom - 1);
        if (st + num > c->n_atom)
            return BAD("%s: dataset 'num_atoms_per_token': token %lld covers atoms %lld..%lld, "
                       "past the end of the atom array (N_atom = %lld)",
                       f, (long long)t, (long long)st, (long long)(st + num - 1),
                       (long long)c->n_atom);
        if (num > 0) {
            if (st < prev_end)
                return BAD("%s: dataset 'start_atom_index': token %lld (atoms %lld..%lld) overlaps "
                           "token %lld (atoms ..%lld) or is out of atom order",
                           f, (long long)t, (long long)st, (long long)(st + num - 1),
                           (long long)prev_tok, (long long)(prev_end - 1));
            prev_end = st + num;
            prev_tok = t;
        }
        if (c->token_mask[t])
            walked += num;
        if (c->is_atomized[t]) {
            n_atomized++;
            if (num > 1 || (c->token_mask[t] && num != 1))
                return BAD("%s: dataset 'num_atoms_per_token': atomized token %lld has %lld atoms, "
                           "expected exactly 1",
                           f, (long long)t, (long long)num);
        } else if (nflags && c->token_mask[t]) {
            int want = c->is_protein[t] ? 1 : c->is_rna[t] ? 2 : 3;
            if (fpr_restype_class(r) != want)
                return BAD("%s: dataset 'restype': standard token %lld has restype %d (%s) but "
                           "flag %s; the type does not match the flag",
                           f, (long long)t, r, fpr_restype_name(r),
                           want == 1 ? "is_protein" : want == 2 ? "is_rna" : "is_dna");
            for (int w = 0; w < 3; w++) {
                int off = fpr_frame_atom_offset(r, w);
                if (off < 0 || off >= num)
                    return BAD("%s: dataset 'num_atoms_per_token': standard token %lld (%s) has "
                               "%lld atoms, too few for its frame atom at offset %d",
                               f, (long long)t, fpr_restype_name(r), (long long)num, off);
            }
        }
    }
    if (walked > c->n_atom)
        return BAD("%s: dataset 'num_atoms_per_token': unmasked tokens hold %lld atoms, more "
                   "than N_atom = %lld",
                   f, (long long)walked, (long long)c->n_atom);
    if (n_atomized > 0 && c->n_atom < 3)
        return BAD("%s: dataset 'x': N_atom = %lld, but the top-3 search of atomized tokens "
                   "needs at least 3 atoms",
                   f, (long long)c->n_atom);
    if (max_memory) {
        uint64_t need = fpr_case_working_set(c->S, c->n_atom, c->n_token);
        if (need > max_memory)
            return fpr_error(FPR_ETOOBIG, "%s: case needs about %llu bytes, over the memory "
                             "limit of %llu bytes (--max-memory)",
                             f, (unsigned long long)need, (unsigned long long)max_memory);
    }
    return FPR_OK;
}

int fpr_case_atomize_all(const fpr_case *c, fpr_case **out)
{
    *out = NULL;
    int64_t nt = 0;
    for (int64_t t = 0; t < c->n_token; t++)
        if (c->token_mask[t])
            nt += c->num_atoms_per_token[t];
    if (nt == 0)
        return fpr_error(FPR_EINVAL, "%s: atomize-all: no atoms in unmasked tokens",
                         c->path ? c->path : "<case>");
    fpr_case *d;
    int rc = fpr_case_new(c->S, c->n_atom, nt, &d);
    if (rc)
        return rc;
    memcpy(d->x, c->x, (size_t)(c->S * c->n_atom * 3) * sizeof(float));
    memcpy(d->atom_mask, c->atom_mask, (size_t)c->n_atom);
    d->angle_threshold = c->angle_threshold;
    d->eps = c->eps;
    d->inf = c->inf;
    int ok = 1;
    if (c->res_name && !(d->res_name = fpr_calloc((size_t)nt, sizeof(char *))))
        ok = 0;
    if (c->chain_label && !(d->chain_label = fpr_calloc((size_t)nt, sizeof(char *))))
        ok = 0;
    int64_t k = 0;
    for (int64_t t = 0; t < c->n_token && ok; t++) {
        if (!c->token_mask[t])
            continue;
        for (int32_t i = 0; i < c->num_atoms_per_token[t]; i++, k++) {
            d->restype[k] = c->restype[t];
            d->asym_id[k] = c->asym_id[t];
            d->start_atom_index[k] = c->start_atom_index[t] + i;
            d->num_atoms_per_token[k] = 1;
            d->is_protein[k] = c->is_protein[t];
            d->is_rna[k] = c->is_rna[t];
            d->is_dna[k] = c->is_dna[t];
            d->is_atomized[k] = 1;
            d->token_mask[k] = 1;
            if (d->res_name && c->res_name[t] && !(d->res_name[k] = fpr_strdup(c->res_name[t])))
                ok = 0;
            if (d->chain_label && c->chain_label[t] &&
                !(d->chain_label[k] = fpr_strdup(c->chain_label[t])))
                ok = 0;
        }
    }
    d->atom_name = clone_strings(c->atom_name, c->n_atom, &ok);
    size_t nl = (c->name ? strlen(c->name) : 4) + 16;
    d->name = fpr_calloc(nl, 1);
    if (d->name)
        snprintf(d->name, nl, "%s+atomize_all", c->name ? c->name : "case");
    d->source = fpr_strdup(c->source);
    d->path = fpr_strdup(c->path);
    if (!ok || !d->name) {
        fpr_case_free(d);
        return FPR_ENOMEM;
    }
    *out = d;
    return FPR_OK;
}

void fpr_case_translate(fpr_case *c, double offset)
{
    int64_t n = c->S * c->n_atom * 3;
    for (int64_t k = 0; k < n; k++)
        c->x[k] = (float)((double)c->x[k] + offset);
}
