/* memo.c — a study's memo of chain searches: the top-3 of every row of one chain and
 * sample, kept for a later run whose chain has the same content (a corpus case that is
 * a subset of another, 6ZU5's rRNA chains, say), so it is searched once.
 *
 * Why it is exact: a row's top-3 (indices, values, eq3, the truth's extras) is a
 * function of its chain's view alone — the chain's present atoms in ascending index
 * order with their float32 coordinates, the case's eps, which of them are rows — and
 * of the backend, its options and the search (the driver's blocks, grid, seed blocks
 * and views are all built per chain; SPEC §2: pairs never cross chains). The index of
 * an atom differs between two cases, its position in the chain does not, and the tie
 * rule's "smaller index first" is "smaller position first" inside a chain. So the memo
 * holds positions and maps them back through the reusing case's chain. What is filled
 * from the other chains (rows with fewer than three candidates: fill_from_inf) and the
 * frame assembly are not memoised; the driver does them every time.
 *
 * The key is SHA-256 (Nettle) of all of that: the content part (fpr_memo_content: every
 * coordinate's bits, eps's bits, the row flags) and the computation part (the backend's
 * descriptor and name, its option string, the search, the kernel path, the SIMD level,
 * the grid's test hooks). Nothing is keyed by an address of data.
 *
 * Memory: only content the study's plan has at least twice is kept (fpr_chain_memo_plan
 * counts it beforehand), an entry is dropped after its last planned use, and no more
 * than the cap is held (a chain that does not fit is searched again when met again). */
#include <nettle/sha2.h>
#include <string.h>

#include "internal.h"

typedef struct memo_count {
    uint8_t content[32];
    int64_t count; /* planned uses */
    struct memo_count *next;
} memo_count;

typedef struct memo_entry {
    uint8_t key[32];
    int64_t left; /* planned uses still to come */
    fpr_memo_rows rows;
    struct memo_entry *next;
} memo_entry;

enum { MEMO_BUCKETS = 4096 };

struct fpr_chain_memo {
    memo_count *counts[MEMO_BUCKETS];
    memo_entry *entries[MEMO_BUCKETS];
    int64_t hit_rows, hit_chains, kept_bytes, kept_peak;
    int64_t cap_bytes; /* kept at most (beyond it a chain is searched again) */
};

static size_t bucket(const uint8_t d[32])
{
    size_t h;
    memcpy(&h, d, sizeof h);
    return h % MEMO_BUCKETS;
}

int fpr_chain_memo_new(int64_t cap_bytes, fpr_chain_memo **out)
{
    *out = fpr_calloc(1, sizeof **out);
    if (!*out)
        return FPR_ENOMEM;
    (*out)->cap_bytes = cap_bytes;
    return FPR_OK;
}

static void rows_free(fpr_memo_rows *r)
{
    free(r->pos);
    free(r->top);
    free(r->extra);
    memset(r, 0, sizeof *r);
}

static int64_t rows_bytes(const fpr_memo_rows *r)
{
    return r->n * (int64_t)(sizeof(int32_t) + sizeof(fpr_top3) +
                            (r->extra ? sizeof(fpr_row_extra) : 0));
}

void fpr_chain_memo_free(fpr_chain_memo *m)
{
    if (!m)
        return;
    for (size_t b = 0; b < MEMO_BUCKETS; b++) {
        for (memo_count *c = m->counts[b], *nx; c; c = nx) {
            nx = c->next;
            free(c);
        }
        for (memo_entry *e = m->entries[b], *nx; e; e = nx) {
            nx = e->next;
            rows_free(&e->rows);
            free(e);
        }
    }
    free(m);
}

void fpr_chain_memo_stats(const fpr_chain_memo *m, int64_t *hit_rows, int64_t *hit_chains,
                          int64_t *peak_bytes)
{
    *hit_rows = m ? m->hit_rows : 0;
    *hit_chains = m ? m->hit_chains : 0;
    *peak_bytes = m ? m->kept_peak : 0;
}

/* ------------------------------------------------------------------ keys */
static void put_i64(struct sha256_ctx *h, int64_t v)
{
    uint8_t b[8];
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)((uint64_t)v >> (8 * k));
    sha256_update(h, sizeof b, b);
}

static void put_f64(struct sha256_ctx *h, double v)
{
    int64_t b;
    memcpy(&b, &v, sizeof b);
    put_i64(h, b);
}

static void put_str(struct sha256_ctx *h, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_i64(h, s ? (int64_t)n : -1); /* NULL and "" differ */
    sha256_update(h, n, (const uint8_t *)(s ? s : ""));
}

void fpr_memo_content(const float *x, const float *y, const float *z, const uint8_t *is_row,
                      int64_t n, double eps, uint8_t out[32])
{
    struct sha256_ctx h;
    sha256_init(&h);
    static const char tag[] = "frameprec chain content 1";
    sha256_update(&h, sizeof tag, (const uint8_t *)tag);
    put_i64(&h, n);
    put_f64(&h, eps);
    /* the bits of every float32 (its little-endian bytes on x86-64: bit for bit) */
    sha256_update(&h, (size_t)n * sizeof(float), (const uint8_t *)x);
    sha256_update(&h, (size_t)n * sizeof(float), (const uint8_t *)y);
    sha256_update(&h, (size_t)n * sizeof(float), (const uint8_t *)z);
    sha256_update(&h, (size_t)n, is_row);
    sha256_digest(&h, 32, out);
}

void fpr_memo_key(const uint8_t content[32], const fpr_memo_how *how, uint8_t out[32])
{
    struct sha256_ctx h;
    sha256_init(&h);
    static const char tag[] = "frameprec chain search 1";
    sha256_update(&h, sizeof tag, (const uint8_t *)tag);
    sha256_update(&h, 32, content);
    uintptr_t bp = (uintptr_t)how->backend; /* a descriptor is a constant of the program */
    put_i64(&h, (int64_t)bp);
    put_str(&h, how->backend->name);
    put_str(&h, how->params);
    put_i64(&h, how->search);
    put_i64(&h, how->fused);
    put_i64(&h, how->sq);
    put_i64(&h, how->simd);
    put_i64(&h, how->row_block);
    put_f64(&h, how->grid_slack);
    put_i64(&h, how->grid_min_atoms);
    put_i64(&h, how->grid_force);
    put_i64(&h, how->grid_noseed);
    put_i64(&h, how->dedupe);
    sha256_digest(&h, 32, out);
}

/* ------------------------------------------------------------------ the plan */
int fpr_chain_memo_plan_content(fpr_chain_memo *m, const uint8_t content[32])
{
    size_t b = bucket(content);
    for (memo_count *c = m->counts[b]; c; c = c->next)
        if (!memcmp(c->content, content, 32)) {
            c->count++;
            return FPR_OK;
        }
    memo_count *c = fpr_calloc(1, sizeof *c);
    if (!c)
        return FPR_ENOMEM;
    memcpy(c->content, content, 32);
    c->count = 1;
    c->next = m->counts[b];
    m->counts[b] = c;
    return FPR_OK;
}

int64_t fpr_chain_memo_planned(const fpr_chain_memo *m, const uint8_t content[32])
{
    for (const memo_count *c = m->counts[bucket(content)]; c; c = c->next)
        if (!memcmp(c->content, content, 32))
            return c->count;
    return 0;
}

/* ------------------------------------------------------------------ entries */
const fpr_memo_rows *fpr_chain_memo_find(fpr_chain_memo *m, const uint8_t key[32])
{
    for (memo_entry *e = m->entries[bucket(key)]; e; e = e->next)
        if (!memcmp(e->key, key, 32))
            return &e->rows;
    return NULL;
}

void fpr_chain_memo_used(fpr_chain_memo *m, const uint8_t key[32], int64_t rows)
{
    m->hit_rows += rows;
    m->hit_chains++;
    for (memo_entry **p = &m->entries[bucket(key)]; *p; p = &(*p)->next) {
        memo_entry *e = *p;
        if (memcmp(e->key, key, 32))
            continue;
        if (--e->left <= 0) { /* its last planned use */
            *p = e->next;
            m->kept_bytes -= rows_bytes(&e->rows);
            rows_free(&e->rows);
            free(e);
        }
        return;
    }
}

int fpr_chain_memo_put(fpr_chain_memo *m, const uint8_t key[32], int64_t uses_left,
                       fpr_memo_rows *rows)
{
    if (uses_left <= 0 || fpr_chain_memo_find(m, key) ||
        m->kept_bytes + rows_bytes(rows) > m->cap_bytes) {
        rows_free(rows);
        return FPR_OK;
    }
    memo_entry *e = fpr_calloc(1, sizeof *e);
    if (!e) {
        rows_free(rows);
        return FPR_ENOMEM;
    }
    memcpy(e->key, key, 32);
    e->left = uses_left;
    e->rows = *rows; /* ownership moves */
    memset(rows, 0, sizeof *rows);
    size_t b = bucket(key);
    e->next = m->entries[b];
    m->entries[b] = e;
    m->kept_bytes += rows_bytes(&e->rows);
    if (m->kept_bytes > m->kept_peak)
        m->kept_peak = m->kept_bytes;
    return FPR_OK;
}
