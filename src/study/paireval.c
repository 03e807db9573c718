/* paireval.c — a backend's computed value for chosen (row, column) pairs, with the
 * same per-chain views (and prepare_chain data) the driver builds, so the study can
 * ask "what did this backend compute for the truth's pick and for its own?". */
#include <math.h>
#include <string.h>

#include "study/study.h"

/* Backends that only rank whole blocks (block_top3) and the eval backend whose values
 * they reproduce bit for bit (their documented contract). */
static const struct { const char *name, *equivalent; } equivalents[] = {
    {"chunked_fp32", "exact_diff"},
};

const fpr_backend *fpr_study_equivalent(const fpr_backend *b)
{
    if (b->eval_f32 || b->eval_f64)
        return b;
    for (size_t i = 0; i < sizeof equivalents / sizeof equivalents[0]; i++)
        if (strcmp(b->name, equivalents[i].name) == 0) {
            const fpr_backend *e = fpr_backend_find(equivalents[i].equivalent);
            fpr_clear_error();
            return e && (e->eval_f32 || e->eval_f64) ? e : NULL;
        }
    return NULL;
}

struct fpr_paireval {
    const fpr_case *c;
    const fpr_backend *b; /* the evaluating backend (b or its equivalent) */
    void *cfg;
    void *scratch;
    fpr_chains ch;
    fpr_chain_view *views;
    float *soa;
    char *aux;
    size_t *aux_off;
    int ok;
    /* A pair's value does not depend on how columns are split into calls (the eval
     * contract, which --search grid's identity with brute force rests on and
     * tests/test_search.c checks), so a single pair is one call with n = 1; a whole
     * row (fpr_paireval_count_equal) is evaluated in the driver's column blocks and
     * cached. */
    double *row;        /* [max chain length] values of row (row_slot, row_q) */
    uint8_t *have;      /* [blocks] block computed */
    float *fbuf;
    double *dbuf;
    int64_t row_slot, row_q;
    int whole_row; /* inside fpr_paireval_count_equal: fill the row's blocks */
    /* the sample's chains are prepared when first asked about (a comparison asks about
     * the chains of its mismatching tokens only) */
    const float *xs;    /* the sample's coordinates */
    uint8_t *prepared;  /* [n_chains] */
    int err;            /* a chain's preparation failed (fpr_paireval_status) */
    char errmsg[512];
};

enum { DRIVER_COL_BLOCK = 1024 };

int fpr_paireval_new(const fpr_case *c, const fpr_backend *b0, const char *params,
                     fpr_paireval **out)
{
    *out = NULL;
    fpr_paireval *p = fpr_calloc(1, sizeof *p);
    if (!p)
        return FPR_ENOMEM;
    p->c = c;
    const fpr_backend *b = fpr_study_equivalent(b0);
    if (!b) { /* not evaluable pairwise: causes become "unknown" */
        *out = p;
        return FPR_OK;
    }
    if (b != b0)
        params = NULL; /* the block parameters of b0 do not apply to its equivalent */
    p->b = b;
    int rc = FPR_OK;
    if (b->configure && (rc = b->configure(b, params, &p->cfg)))
        goto fail;
    if ((rc = fpr_chains_build(c, &p->ch)))
        goto fail;
    int64_t np = p->ch.start[p->ch.n_chains];
    p->soa = fpr_malloc_n((size_t)np * 3 + 1, sizeof(float)); /* a chain's: view_of */
    p->views = fpr_calloc((size_t)p->ch.n_chains + 1, sizeof(fpr_chain_view));
    p->aux_off = fpr_calloc((size_t)p->ch.n_chains + 1, sizeof(size_t));
    p->prepared = fpr_calloc((size_t)p->ch.n_chains + 1, 1);
    p->scratch = fpr_calloc(b->scratch_bytes ? b->scratch_bytes : 1, 1);
    if (!p->soa || !p->views || !p->aux_off || !p->scratch || !p->prepared) {
        rc = FPR_ENOMEM;
        goto fail;
    }
    if (b->chain_aux_bytes) {
        size_t tot = 0;
        for (int64_t sl = 0; sl < p->ch.n_chains; sl++) {
            p->aux_off[sl] = tot;
            tot += (b->chain_aux_bytes(b, p->ch.start[sl + 1] - p->ch.start[sl]) + 63) &
                   ~(size_t)63;
        }
        if (!(p->aux = fpr_calloc(tot ? tot : 1, 1))) {
            rc = FPR_ENOMEM;
            goto fail;
        }
    }
    int64_t maxn = 1;
    for (int64_t sl = 0; sl < p->ch.n_chains; sl++)
        if (p->ch.start[sl + 1] - p->ch.start[sl] > maxn)
            maxn = p->ch.start[sl + 1] - p->ch.start[sl];
    p->row = fpr_calloc((size_t)maxn, sizeof(double));
    p->have = fpr_calloc((size_t)(maxn / DRIVER_COL_BLOCK) + 2, 1);
    p->fbuf = fpr_calloc(DRIVER_COL_BLOCK, sizeof(float));
    p->dbuf = fpr_calloc(DRIVER_COL_BLOCK, sizeof(double));
    if (!p->row || !p->have || !p->fbuf || !p->dbuf) {
        rc = FPR_ENOMEM;
        goto fail;
    }
    p->row_slot = p->row_q = -1;
    p->ok = 1;
    *out = p;
    return FPR_OK;
fail:
    fpr_paireval_free(p);
    return rc;
}

int fpr_paireval_ok(const fpr_paireval *p) { return p && p->ok; }

int fpr_paireval_sample(fpr_paireval *p, int64_t s)
{
    if (!p->ok)
        return FPR_OK;
    p->xs = p->c->x + (size_t)s * (size_t)p->c->n_atom * 3;
    memset(p->prepared, 0, (size_t)p->ch.n_chains);
    p->row_slot = p->row_q = -1; /* new coordinates: drop the cached row */
    return FPR_OK;
}

/* Chain sl's view in the current sample, prepared on first use (the same view as one
 * prepared with all the others: a chain's preparation reads only its own atoms). */
static const fpr_chain_view *view_of(fpr_paireval *p, int64_t sl)
{
    fpr_chain_view *v = &p->views[sl];
    if (p->prepared[sl])
        return v;
    const fpr_chains *ch = &p->ch;
    const int64_t np = ch->start[ch->n_chains], a = ch->start[sl];
    v->n = ch->start[sl + 1] - a;
    for (int64_t k = a; k < a + v->n; k++) {
        const float *q = p->xs + (size_t)ch->members[k] * 3;
        p->soa[k] = q[0];
        p->soa[np + k] = q[1];
        p->soa[2 * np + k] = q[2];
    }
    v->idx = ch->members + a;
    v->x = p->soa + a;
    v->y = p->soa + np + a;
    v->z = p->soa + 2 * np + a;
    v->chain = ch->chain_ids[sl];
    v->eps = p->c->eps;
    v->aux = p->aux ? p->aux + p->aux_off[sl] : NULL;
    if (p->b->prepare_chain) {
        int rc = p->b->prepare_chain(p->b, p->cfg, v);
        if (rc && !p->err) {
            p->err = rc;
            snprintf(p->errmsg, sizeof p->errmsg, "%s", fpr_errmsg());
        }
    }
    p->prepared[sl] = 1;
    return v;
}

int fpr_paireval_status(const fpr_paireval *p)
{
    return p && p->err ? fpr_error(p->err, "%s", p->errmsg) : FPR_OK;
}

int64_t fpr_paireval_count_equal(fpr_paireval *p, int32_t i, double v)
{
    if (!p->ok || !p->xs || i < 0 || i >= p->c->n_atom || !isfinite(v))
        return -1;
    int64_t sl = p->ch.chain_slot[i];
    if (sl < 0)
        return -1;
    const fpr_chain_view *cv = view_of(p, sl);
    int64_t cnt = 0;
    /* every block through the cache */
    p->whole_row = 1;
    for (int64_t q = p->ch.start[sl]; q < p->ch.start[sl + 1]; q += DRIVER_COL_BLOCK) {
        (void)fpr_paireval_value(p, i, p->ch.members[q]);
        int64_t j0 = q - p->ch.start[sl];
        int64_t n = cv->n - j0 < DRIVER_COL_BLOCK ? cv->n - j0 : DRIVER_COL_BLOCK;
        for (int64_t t = 0; t < n; t++)
            cnt += p->row[j0 + t] == v;
    }
    p->whole_row = 0;
    return cnt;
}

double fpr_paireval_value(fpr_paireval *p, int32_t i, int32_t j)
{
    if (!p->ok || !p->xs || i < 0 || j < 0 || i >= p->c->n_atom || j >= p->c->n_atom)
        return NAN;
    int64_t sl = p->ch.chain_slot[i];
    if (sl < 0 || p->ch.chain_slot[j] != sl)
        return NAN;
    const fpr_chain_view *cv = view_of(p, sl);
    int64_t q = p->ch.pos_in_chain[i], col = p->ch.pos_in_chain[j];
    if (p->row_slot != sl || p->row_q != q) {
        p->row_slot = sl;
        p->row_q = q;
        memset(p->have, 0, (size_t)(cv->n / DRIVER_COL_BLOCK) + 1);
    }
    int64_t blk = col / DRIVER_COL_BLOCK;
    if (!p->have[blk] && !p->whole_row) { /* one pair: one column */
        if (p->b->eval_f32) {
            p->b->eval_f32(p->b, p->cfg, p->scratch, cv, q, col, 1, p->fbuf);
            return (double)p->fbuf[0];
        }
        p->b->eval_f64(p->b, p->cfg, p->scratch, cv, q, col, 1, p->dbuf);
        return p->dbuf[0];
    }
    if (!p->have[blk]) {
        int64_t j0 = blk * DRIVER_COL_BLOCK;
        int64_t n = cv->n - j0 < DRIVER_COL_BLOCK ? cv->n - j0 : DRIVER_COL_BLOCK;
        if (p->b->eval_f32) {
            p->b->eval_f32(p->b, p->cfg, p->scratch, cv, q, j0, n, p->fbuf);
            for (int64_t t = 0; t < n; t++)
                p->row[j0 + t] = (double)p->fbuf[t];
        } else {
            p->b->eval_f64(p->b, p->cfg, p->scratch, cv, q, j0, n, p->dbuf);
            for (int64_t t = 0; t < n; t++)
                p->row[j0 + t] = p->dbuf[t];
        }
        p->have[blk] = 1;
    }
    return p->row[col];
}

void fpr_paireval_free(fpr_paireval *p)
{
    if (!p)
        return;
    if (p->cfg && p->b && p->b->cfg_free)
        p->b->cfg_free(p->cfg);
    fpr_chains_free(&p->ch);
    free(p->views);
    free(p->prepared);
    free(p->soa);
    free(p->aux);
    free(p->aux_off);
    free(p->scratch);
    free(p->row);
    free(p->have);
    free(p->fbuf);
    free(p->dbuf);
    free(p);
}
