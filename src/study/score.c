/* score.c — SPEC §11: frames made by another program, scored against the truth with
 * the study's own comparison (fpr_study_compare_flags, every §5 metric).
 *
 * The other program is judged as an implementation of a declared arithmetic (a
 * backend, default exact_diff = OpenFold3's original formula): that backend's error
 * bound tells explained from unexplained, and its own values tell a rounded tie from a
 * reordering. Its top-k may order equal values differently from frameprec's canonical
 * rule (PyTorch documents topk's tie order as unspecified), so a pick that differs from
 * the declared arithmetic's only between atoms with equal computed values is a
 * *tie-order* difference, counted apart and never "changed". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "study/study.h"

/* ------------------------------------------------------------------ index recovery */
typedef struct coord_key {
    float x, y, z;
    int32_t i;
} coord_key;

static int cmp_key(const void *pa, const void *pb)
{
    const coord_key *a = pa, *b = pb;
    if (a->x != b->x) return a->x < b->x ? -1 : 1;
    if (a->y != b->y) return a->y < b->y ? -1 : 1;
    if (a->z != b->z) return a->z < b->z ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* First key whose coordinates are >= p (lexicographic, index ignored). */
static size_t lower(const coord_key *k, size_t n, const float p[3])
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const coord_key *m = &k[mid];
        int less = m->x < p[0] || (m->x == p[0] && (m->y < p[1] || (m->y == p[1] && m->z < p[2])));
        if (less)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int same_xyz(const coord_key *k, const float p[3])
{
    return k->x == p[0] && k->y == p[1] && k->z == p[2];
}

int fpr_score_recover(const fpr_case *c, const fpr_frames *truth, fpr_frames *f,
                      int64_t *ambiguous, int64_t *unmatched)
{
    *ambiguous = *unmatched = 0;
    fpr_chains ch;
    memset(&ch, 0, sizeof ch);
    int rc = fpr_chains_build(c, &ch);
    coord_key *keys = fpr_calloc((size_t)c->n_atom + 1, sizeof *keys);
    if (!keys)
        rc = FPR_ENOMEM;
    for (int64_t s = 0; !rc && s < c->S; s++) {
        const float *xs = c->x + (size_t)s * (size_t)c->n_atom * 3;
        for (int64_t i = 0; i < c->n_atom; i++)
            keys[i] = (coord_key){xs[i * 3], xs[i * 3 + 1], xs[i * 3 + 2], (int32_t)i};
        qsort(keys, (size_t)c->n_atom, sizeof *keys, cmp_key);
        for (int64_t t = 0; t < c->n_token; t++) {
            int64_t o = s * c->n_token + t;
            int32_t *slot[3] = {&f->a_index[o], &f->b_index[o], &f->c_index[o]};
            const int32_t want[3] = {truth->a_index[o], truth->b_index[o], truth->c_index[o]};
            int32_t bt = truth->b_index[o];
            int32_t chain = bt >= 0 && bt < c->n_atom ? ch.chain_of_atom[bt] : -1;
            int amb = 0;
            for (int r = 0; r < 3; r++) {
                const float *p = f->phi + o * 9 + r * 3;
                size_t lo = lower(keys, (size_t)c->n_atom, p), hi = lo;
                while (hi < (size_t)c->n_atom && same_xyz(&keys[hi], p))
                    hi++;
                if (hi == lo) { /* no atom has these coordinates (NaN, or made up) */
                    *slot[r] = -1;
                    (*unmatched)++;
                    continue;
                }
                amb |= hi - lo > 1;
                /* identical coordinates are indistinguishable: prefer the truth's atom,
                 * then the token's own atom b, then a present atom of b's chain, then the
                 * smallest index (keys of equal coordinates are sorted by index) */
                int32_t pick = keys[lo].i, best = 3;
                for (size_t q = lo; q < hi && best > 0; q++) {
                    int32_t i = keys[q].i;
                    int rank = i == want[r] ? 0 : i == bt ? 1
                             : c->atom_mask[i] && ch.chain_of_atom[i] == chain ? 2 : 3;
                    if (rank < best) {
                        best = rank;
                        pick = i;
                    }
                }
                *slot[r] = pick;
            }
            *ambiguous += amb;
        }
    }
    free(keys);
    fpr_chains_free(&ch);
    return rc;
}

int fpr_score_check_indices(const fpr_case *c, const fpr_frames *f, const char *path)
{
    static const char *const ds[3] = {"a_index", "b_index", "c_index"};
    for (int64_t s = 0; s < c->S; s++) {
        const float *xs = c->x + (size_t)s * (size_t)c->n_atom * 3;
        for (int64_t t = 0; t < c->n_token; t++) {
            int64_t o = s * c->n_token + t;
            const int32_t idx[3] = {f->a_index[o], f->b_index[o], f->c_index[o]};
            for (int r = 0; r < 3; r++) {
                const float *p = f->phi + o * 9 + r * 3;
                if (idx[r] < 0 || idx[r] >= c->n_atom)
                    return fpr_error(FPR_EFORMAT, "%s: dataset '%s': sample %lld, token %lld "
                                     "holds atom %d, outside 0..%lld", path, ds[r], (long long)s,
                                     (long long)t, idx[r], (long long)c->n_atom - 1);
                const float *q = xs + (size_t)idx[r] * 3;
                if (!(p[0] == q[0] && p[1] == q[1] && p[2] == q[2]))
                    return fpr_error(FPR_EFORMAT, "%s: sample %lld, token %lld: phi[%d] = (%g, %g, "
                                     "%g) is not the coordinates of atom %d given by '%s' (%g, %g, "
                                     "%g): indices and phi disagree (wrong case, --translate or "
                                     "--atomize-all?)", path, (long long)s, (long long)t, r,
                                     p[0], p[1], p[2], idx[r], ds[r], q[0], q[1], q[2]);
            }
        }
    }
    return FPR_OK;
}

/* ------------------------------------------------------------------ scoring */
void fpr_score_free(fpr_score *s)
{
    if (!s)
        return;
    fpr_token_results_free(s->tr);
    free(s->flag);
    free(s);
}

/* Is j a candidate of row st (present, same chain)? */
static int cand(const fpr_case *c, const fpr_chains *ch, int32_t st, int32_t j)
{
    return j >= 0 && j < c->n_atom && c->atom_mask[st] && c->atom_mask[j] &&
           ch->chain_of_atom[st] == ch->chain_of_atom[j];
}

/* Value of the declared arithmetic for (st, j); +inf for a non-candidate (the inf
 * columns every formulation fills short rows from). */
static double decl_value(const fpr_case *c, const fpr_chains *ch, fpr_paireval *pe,
                         int32_t st, int32_t j)
{
    if (!cand(c, ch, st, j))
        return INFINITY;
    return fpr_paireval_value(pe, st, j);
}

int fpr_score_run(const fpr_case *c, const fpr_frames *truth, fpr_frames *f,
                  const fpr_frames *decl, const fpr_backend *as, const char *params, int jobs,
                  fpr_score **out)
{
    *out = NULL;
    FPR_CHECK(truth->S == c->S && truth->n_token == c->n_token && f->S == c->S &&
              f->n_token == c->n_token && decl->S == c->S && decl->n_token == c->n_token);
    fpr_score *sc = fpr_calloc(1, sizeof *sc);
    if (!sc)
        return FPR_ENOMEM;
    fpr_metrics_init(&sc->m);
    size_t n = (size_t)c->S * (size_t)c->n_token;
    fpr_chains ch;
    memset(&ch, 0, sizeof ch);
    fpr_paireval *pe = NULL;
    int rc = FPR_OK;
    if (!(sc->flag = fpr_calloc(n + 1, 1))) {
        rc = FPR_ENOMEM;
        goto done;
    }
    if ((rc = fpr_chains_build(c, &ch)) || (rc = fpr_paireval_new(c, as, params, &pe)))
        goto done;
    if (!fpr_paireval_ok(pe)) {
        rc = fpr_error(FPR_EUSAGE, "backend %s cannot be evaluated pairwise, so it cannot be "
                       "the declared arithmetic of a scored implementation", as->name);
        goto done;
    }
    /* The other program's values are unknown: rank 0 is taken to be what the declared
     * arithmetic computes for the query atom itself (so a frame whose a or c is b is
     * the self not ranked first), ranks 1 and 2 stay NaN (their error is not measured). */
    for (int64_t s = 0; s < c->S; s++) {
        if ((rc = fpr_paireval_sample(pe, s)))
            goto done;
        for (int64_t t = 0; t < c->n_token; t++) {
            size_t o = (size_t)(s * c->n_token + t);
            f->top_value[o * 3] = f->top_value[o * 3 + 1] = f->top_value[o * 3 + 2] = NAN;
            if (!c->is_atomized[t])
                continue;
            int32_t st = c->start_atom_index[t];
            f->top_value[o * 3] = decl_value(c, &ch, pe, st, st);
            /* tie order: the picks differ from the declared arithmetic's canonical ones,
             * but only between atoms it computes equal values for */
            int32_t aF = f->a_index[o], cF = f->c_index[o];
            int32_t aD = decl->a_index[o], cD = decl->c_index[o];
            if (aF == aD && cF == cD)
                continue;
            int same_vals = aF >= 0 && cF >= 0 && aF != cF &&
                            decl_value(c, &ch, pe, st, aF) == decl_value(c, &ch, pe, st, aD) &&
                            decl_value(c, &ch, pe, st, cF) == decl_value(c, &ch, pe, st, cD);
            if (same_vals) {
                sc->flag[o] |= FPR_SCORE_TIE_ORDER;
                sc->tie_order++;
            }
        }
    }
    if ((rc = fpr_paireval_status(pe))) /* (a chain whose preparation failed gave NaN) */
        goto done;
    if ((rc = fpr_study_compare_flags(c, truth, f, as, params, jobs, FPR_CMP_ANY_TIE_ORDER,
                                      &sc->m, &sc->tr, NULL)))
        goto done;
    for (int64_t s = 0; s < c->S; s++)
        for (int64_t t = 0; t < c->n_token; t++) {
            size_t o = (size_t)(s * c->n_token + t);
            uint8_t *fl = &sc->flag[o];
            int tie = (*fl & FPR_SCORE_TIE_ORDER) != 0;
            int kind = sc->tr->kind[o];
            if (c->is_atomized[t] && (f->a_index[o] == f->b_index[o] ||
                                      f->c_index[o] == f->b_index[o]))
                *fl |= FPR_SCORE_DEGENERATE;
            if (sc->tr->valid_flip[o])
                *fl |= FPR_SCORE_FLIP;
            int differs = kind == FPR_KIND_NONE ? sc->tr->phi_change[o] > 0
                                                : kind != FPR_KIND_EQUAL;
            if ((differs || sc->tr->valid_flip[o]) && !tie) {
                *fl |= FPR_SCORE_CHANGED;
                sc->changed++;
            }
            /* against the declared arithmetic: anything but tie order is a difference */
            int vs = f->a_index[o] != decl->a_index[o] || f->c_index[o] != decl->c_index[o] ||
                     f->valid_frame_mask[o] != decl->valid_frame_mask[o] ||
                     memcmp(f->phi + o * 9, decl->phi + o * 9, 9 * sizeof(float)) != 0;
            if (vs && !tie)
                sc->vs_declared++;
        }
done:
    fpr_paireval_free(pe);
    fpr_chains_free(&ch);
    if (rc) {
        fpr_score_free(sc);
        return rc;
    }
    *out = sc;
    return FPR_OK;
}
