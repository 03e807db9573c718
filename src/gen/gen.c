/* gen.c — deterministic case generators: hand-built ligands with known frames,
 * proteins with realistic backbone geometry, RNA/DNA chains. Geometry is built in
 * binary64 with the NeRF construction and rounded once to float32. */
#include <math.h>
#include <string.h>

#include "gen/gen.h"
#include "internal.h"

void fpr_gen_opts_init(fpr_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->atoms = 1000;
    o->chains = 1;
    o->samples = 1;
    o->noise = 0.1;
    o->rna = 12;
    o->dna = 12;
}

/* ------------------------------------------------------------------ rng */
typedef struct rng { uint64_t s; } rng;
static uint64_t next64(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unif(rng *r) { return (double)(next64(r) >> 11) * 0x1p-53; }
static double gauss(rng *r)
{
    double u = unif(r), v = unif(r);
    return sqrt(-2.0 * log(u > 0 ? u : 0x1p-53)) * cos(6.283185307179586 * v);
}

/* ------------------------------------------------------------------ geometry */
typedef struct v3 { double x, y, z; } v3;
static v3 vsub(v3 a, v3 b) { return (v3){a.x - b.x, a.y - b.y, a.z - b.z}; }
static v3 vadd(v3 a, v3 b) { return (v3){a.x + b.x, a.y + b.y, a.z + b.z}; }
static v3 vscale(v3 a, double s) { return (v3){a.x * s, a.y * s, a.z * s}; }
static double vdot(v3 a, v3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static v3 vcross(v3 a, v3 b)
{
    return (v3){a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
static v3 vnorm(v3 a)
{
    double n = sqrt(vdot(a, a));
    return n > 0 ? vscale(a, 1.0 / n) : (v3){1, 0, 0};
}
static const double DEG = 3.141592653589793 / 180.0;

/* NeRF: the point D with |CD| = len, angle BCD = ang, torsion ABCD = tor (degrees). */
static v3 place(v3 a, v3 b, v3 c, double len, double ang, double tor)
{
    v3 bc = vnorm(vsub(c, b));
    v3 n = vnorm(vcross(vsub(b, a), bc));
    v3 m = vcross(n, bc);
    double A = ang * DEG, T = tor * DEG;
    v3 d = {-len * cos(A), len * sin(A) * cos(T), len * sin(A) * sin(T)};
    return vadd(c, vadd(vscale(bc, d.x), vadd(vscale(m, d.y), vscale(n, d.z))));
}

/* ------------------------------------------------------------------ builder */
typedef struct bld {
    v3 *xyz;
    uint8_t *amask;
    char **aname;
    int64_t na, cap_a;
    int32_t *restype, *asym, *start, *num;
    uint8_t *prot, *rna, *dna, *atomized;
    char **resname, **chainlabel;
    int64_t nt, cap_t;
    int err;
} bld;

static void *grow(void *p, int64_t cap, size_t sz)
{
    void *q = realloc(p, (size_t)cap * sz);
    return q;
}

static int reserve(bld *b)
{
    if (b->na >= b->cap_a) {
        int64_t c = b->cap_a ? b->cap_a * 2 : 256;
        v3 *x = grow(b->xyz, c, sizeof(v3));
        if (x) b->xyz = x;
        uint8_t *m = grow(b->amask, c, 1);
        if (m) b->amask = m;
        char **n = grow(b->aname, c, sizeof(char *));
        if (n) b->aname = n;
        if (!x || !m || !n)
            return b->err = FPR_ENOMEM;
        b->cap_a = c;
    }
    if (b->nt >= b->cap_t) {
        int64_t c = b->cap_t ? b->cap_t * 2 : 256;
        int ok = 1;
#define G(f, sz) do { void *q = grow(b->f, c, sz); if (q) b->f = q; else ok = 0; } while (0)
        G(restype, 4); G(asym, 4); G(start, 4); G(num, 4);
        G(prot, 1); G(rna, 1); G(dna, 1); G(atomized, 1);
        G(resname, sizeof(char *)); G(chainlabel, sizeof(char *));
#undef G
        if (!ok)
            return b->err = FPR_ENOMEM;
        b->cap_t = c;
    }
    return FPR_OK;
}

static int64_t add_atom(bld *b, const char *name, v3 p, int present)
{
    if (b->err || reserve(b))
        return -1;
    b->xyz[b->na] = p;
    b->amask[b->na] = (uint8_t)present;
    b->aname[b->na] = fpr_strdup(name);
    if (!b->aname[b->na])
        b->err = FPR_ENOMEM;
    return b->na++;
}

/* kind: 0 other/ligand, 1 protein, 2 rna, 3 dna */
static void add_token(bld *b, int restype, int asym, int64_t start, int64_t num, int kind,
                      int atomized, const char *resname)
{
    if (b->err || reserve(b))
        return;
    int64_t t = b->nt++;
    b->restype[t] = restype;
    b->asym[t] = asym;
    b->start[t] = (int32_t)start;
    b->num[t] = (int32_t)num;
    b->prot[t] = kind == 1;
    b->rna[t] = kind == 2;
    b->dna[t] = kind == 3;
    b->atomized[t] = (uint8_t)atomized;
    char lab[16];
    snprintf(lab, sizeof lab, "%c%d", 'A' + (asym - 1) % 26, (asym - 1) / 26);
    b->resname[t] = fpr_strdup(resname);
    b->chainlabel[t] = fpr_strdup(lab);
    if (!b->resname[t] || !b->chainlabel[t])
        b->err = FPR_ENOMEM;
}

static void bld_free(bld *b)
{
    for (int64_t i = 0; i < b->na; i++)
        free(b->aname[i]);
    for (int64_t t = 0; t < b->nt; t++) {
        free(b->resname[t]);
        free(b->chainlabel[t]);
    }
    free(b->xyz); free(b->amask); free(b->aname);
    free(b->restype); free(b->asym); free(b->start); free(b->num);
    free(b->prot); free(b->rna); free(b->dna); free(b->atomized);
    free(b->resname); free(b->chainlabel);
    memset(b, 0, sizeof *b);
}

/* Moves the builder into a case: S samples (sample 0 exact, the others with Gaussian
 * noise), translated by `offset`; names move over. */
static int finish(bld *b, const fpr_gen_opts *o, rng *r, const char *name, const char *what,
                  fpr_case **out)
{
    *out = NULL;
    if (b->err)
        return b->err;
    int S = o->samples > 0 ? o->samples : 1;
    fpr_case *c;
    int rc = fpr_case_new(S, b->na, b->nt, &c);
    if (rc)
        return rc;
    for (int s = 0; s < S; s++)
        for (int64_t i = 0; i < b->na; i++) {
            v3 p = b->xyz[i];
            if (s > 0 && b->amask[i])
                p = vadd(p, (v3){o->noise * gauss(r), o->noise * gauss(r), o->noise * gauss(r)});
            float *q = c->x + ((size_t)s * (size_t)b->na + (size_t)i) * 3;
            q[0] = (float)(p.x + o->offset);
            q[1] = (float)(p.y + o->offset);
            q[2] = (float)(p.z + o->offset);
        }
    memcpy(c->atom_mask, b->amask, (size_t)b->na);
    memcpy(c->restype, b->restype, (size_t)b->nt * 4);
    memcpy(c->asym_id, b->asym, (size_t)b->nt * 4);
    memcpy(c->start_atom_index, b->start, (size_t)b->nt * 4);
    memcpy(c->num_atoms_per_token, b->num, (size_t)b->nt * 4);
    memcpy(c->is_protein, b->prot, (size_t)b->nt);
    memcpy(c->is_rna, b->rna, (size_t)b->nt);
    memcpy(c->is_dna, b->dna, (size_t)b->nt);
    memcpy(c->is_atomized, b->atomized, (size_t)b->nt);
    memset(c->token_mask, 1, (size_t)b->nt);
    c->atom_name = b->aname;
    c->res_name = b->resname;
    c->chain_label = b->chainlabel;
    b->aname = b->resname = b->chainlabel = NULL;
    b->na = b->nt = 0; /* names now belong to the case */
    c->name = fpr_strdup(name);
    char src[256];
    snprintf(src, sizeof src, "frameprec %s gen %s (seed %llu, samples %d, noise %g A, offset %g A%s)",
             FPR_VERSION_STRING, what, (unsigned long long)o->seed, S, o->noise, o->offset,
             o->atomize_all ? ", atomize-all" : "");
    c->source = fpr_strdup(src);
    if (!c->name || !c->source) {
        fpr_case_free(c);
        return FPR_ENOMEM;
    }
    if (o->atomize_all) {
        fpr_case *d;
        if ((rc = fpr_case_atomize_all(c, &d))) {
            fpr_case_free(c);
            return rc;
        }
        fpr_case_free(c);
        c = d;
    }
    if ((rc = fpr_case_validate(c, "<generated>"))) {
        fpr_case_free(c);
        return rc;
    }
    *out = c;
    return FPR_OK;
}

/* ------------------------------------------------------------------ ligands */
static void ligand(bld *b, int asym, const v3 *pts, int n, const char *resname)
{
    static const char *const names[] = {"C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"};
    for (int i = 0; i < n; i++) {
        int64_t a = add_atom(b, names[i % 8], pts[i], 1);
        add_token(b, FPR_RESTYPE_UNK, asym, a, 1, 0, 1, resname);
    }
}

static void std_residue(bld *b, int restype, int asym, const v3 *pts, int kind)
{
    const char *const *names = fpr_restype_atoms(restype);
    int64_t first = b->na, n = 0;
    for (; names[n]; n++)
        add_atom(b, names[n], pts[n], 1);
    add_token(b, restype, asym, first, n, kind, 0, fpr_restype_name(restype));
}

int fpr_gen_ligands(const fpr_gen_opts *o, fpr_case **out)
{
    bld b;
    memset(&b, 0, sizeof b);
    rng r = {o->seed};
    /* L1 bent: atom 0 at the vertex, 1 and 2 at 1.5 Å and 1.6 Å, 109.5° apart. */
    double ang = 109.5 * DEG;
    v3 l1[3] = {{0, 0, 0}, {1.5, 0, 0}, {1.6 * cos(ang), 1.6 * sin(ang), 0}};
    ligand(&b, 1, l1, 3, "BNT");
    /* L2 line: 1.5 Å spacing along y, 20 Å away. */
    v3 l2[3] = {{20, 0, 0}, {20, 1.5, 0}, {20, 3.0, 0}};
    ligand(&b, 2, l2, 3, "LIN");
    v3 l3[2] = {{0, 20, 0}, {1.4, 20, 0}};
    ligand(&b, 3, l3, 2, "PAR");
    v3 l4[1] = {{0, 0, 20}};
    ligand(&b, 4, l4, 1, "ION");
    v3 l5[3] = {{20, 20, 0}, {20, 20, 0}, {21.4, 20, 0}};
    ligand(&b, 5, l5, 3, "DUP");
    /* an ALA residue (chain 6) built with ideal backbone geometry */
    v3 p[5];
    p[0] = (v3){-20, 0, 0};
    p[1] = (v3){-20 + 1.458, 0, 0};
    p[2] = place((v3){-20, 1, 0}, p[0], p[1], 1.525, 111.2, -60);
    p[3] = place(p[0], p[1], p[2], 1.231, 120.5, 140);
    p[4] = place(p[2], p[0], p[1], 1.53, 110.5, -122.5);
    std_residue(&b, 0, 6, p, 1);
    fpr_gen_opts oo = *o;
    oo.atomize_all = 0;
    int rc = finish(&b, &oo, &r, "gen-ligands", "ligands", out);
    bld_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ protein */
typedef struct grid {
    int64_t *head, *next;
    v3 *pts;
    int64_t n, cap, nb;
    double cell;
} grid;

static uint64_t cell_hash(int64_t i, int64_t j, int64_t k, int64_t nb)
{
    uint64_t h = (uint64_t)i * 73856093u ^ (uint64_t)j * 19349663u ^ (uint64_t)k * 83492791u;
    return h % (uint64_t)nb;
}

static int grid_add(grid *g, v3 p)
{
    if (g->n >= g->cap)
        return FPR_ENOMEM;
    int64_t i = (int64_t)floor(p.x / g->cell), j = (int64_t)floor(p.y / g->cell),
            k = (int64_t)floor(p.z / g->cell);
    uint64_t h = cell_hash(i, j, k, g->nb);
    g->pts[g->n] = p;
    g->next[g->n] = g->head[h];
    g->head[h] = g->n++;
    return FPR_OK;
}

/* Number of stored points within d of p. */
static int grid_near(const grid *g, v3 p, double d)
{
    int64_t i0 = (int64_t)floor(p.x / g->cell), j0 = (int64_t)floor(p.y / g->cell),
            k0 = (int64_t)floor(p.z / g->cell);
    int cnt = 0;
    for (int64_t i = i0 - 1; i <= i0 + 1; i++)
        for (int64_t j = j0 - 1; j <= j0 + 1; j++)
            for (int64_t k = k0 - 1; k <= k0 + 1; k++)
                for (int64_t q = g->head[cell_hash(i, j, k, g->nb)]; q >= 0; q = g->next[q]) {
                    v3 e = vsub(g->pts[q], p);
                    cnt += vdot(e, e) < d * d;
                }
    return cnt;
}

static int residue_size(int rt)
{
    const char *const *a = fpr_restype_atoms(rt);
    int n = 0;
    while (a[n])
        n++;
    return n;
}

/* Side chain atoms after CB: a zig-zag with 1.52 Å bonds at 112°, staggered torsions. */
static void side_chain(v3 *p, int n, rng *r)
{
    static const double rot[3] = {60, 180, -60};
    for (int k = 5; k < n; k++)
        p[k] = place(p[k - 3 < 0 ? 0 : k - 3], p[k - 2], p[k - 1], 1.52, 112.0,
                     rot[next64(r) % 3]);
}

int fpr_gen_protein(const fpr_gen_opts *o, fpr_case **out)
{
    *out = NULL;
    int64_t target = o->atoms - o->ligand_atoms;
    if (o->atoms < 4 || target < 4 || o->chains < 1 || o->atoms > 5000000)
        return fpr_error(FPR_EUSAGE, "gen protein: need --atoms >= 4 + ligand atoms (got %lld, "
                         "%lld ligand atoms) and --chains >= 1",
                         (long long)o->atoms, (long long)o->ligand_atoms);
    bld b;
    memset(&b, 0, sizeof b);
    rng r = {o->seed};
    /* Compact globule: about 130 Å^3 per residue (~16 Å^3 per heavy atom). */
    double R = cbrt(3.0 * (double)target * 16.0 / (4.0 * 3.141592653589793));
    grid g;
    memset(&g, 0, sizeof g);
    g.cap = target + 16;
    g.nb = g.cap * 2 + 1;
    g.cell = 4.0;
    g.head = malloc((size_t)g.nb * sizeof(int64_t));
    g.next = malloc((size_t)g.cap * sizeof(int64_t));
    g.pts = malloc((size_t)g.cap * sizeof(v3));
    if (!g.head || !g.next || !g.pts) {
        free(g.head); free(g.next); free(g.pts);
        return fpr_error(FPR_ENOMEM, "gen protein: out of memory");
    }
    for (int64_t i = 0; i < g.nb; i++)
        g.head[i] = -1;

    /* residue types: random, shrunk at the end so the count is exact */
    int64_t remaining = target;
    int chain = 1;
    int64_t per_chain = target / o->chains + 1, in_chain = 0;
    v3 N = {0}, CA = {0}, C = {0};
    int fresh = 1;
    while (remaining >= 4 && !b.err) {
        int rt = (int)(next64(&r) % 20);
        if (next64(&r) % 50 == 0)
            rt = FPR_RESTYPE_UNK;
        if (residue_size(rt) > remaining) {
            /* largest type that still fits (GLY has 4 atoms) */
            int best = 7;
            for (int t = 0; t <= 20; t++)
                if (residue_size(t) <= remaining && residue_size(t) > residue_size(best))
                    best = t;
            rt = best;
        }
        if (in_chain >= per_chain && chain < o->chains) {
            chain++;
            in_chain = 0;
            fresh = 1;
        }
        v3 p[16];
        if (fresh) {
            /* chain start: a random point inside the globule */
            v3 s;
            do {
                s = (v3){(2 * unif(&r) - 1) * R, (2 * unif(&r) - 1) * R, (2 * unif(&r) - 1) * R};
            } while (vdot(s, s) > R * R);
            p[0] = s;
            p[1] = vadd(s, (v3){1.458, 0, 0});
            p[2] = place(vadd(s, (v3){0, 1, 0}), p[0], p[1], 1.525, 111.2, -60);
            fresh = 0;
        } else {
            /* try Ramachandran-region torsions, keep the least clashing one that
             * stays in the globule */
            static const double rama[4][2] = {{-57, -47}, {-120, 130}, {-75, 145}, {-90, 0}};
            double best = INFINITY;
            for (int tries = 0; tries < 8; tries++) {
                const double *rm = rama[next64(&r) % 4];
                double phi = rm[0] + 15 * gauss(&r), psi = rm[1] + 15 * gauss(&r);
                v3 n2 = place(N, CA, C, 1.329, 116.2, psi);
                v3 ca2 = place(CA, C, n2, 1.458, 121.7, 180.0);
                v3 c2 = place(C, n2, ca2, 1.525, 111.2, phi);
                double score = grid_near(&g, ca2, 3.8) * 10.0 + grid_near(&g, c2, 3.0) * 10.0;
                double rr = sqrt(vdot(ca2, ca2));
                if (rr > R)
                    score += (rr - R);
                if (score < best) {
                    best = score;
                    p[0] = n2;
                    p[1] = ca2;
                    p[2] = c2;
                }
            }
        }
        p[3] = place(p[0], p[1], p[2], 1.231, 120.5, 140.0 + 20 * gauss(&r));
        p[4] = place(p[2], p[0], p[1], 1.53, 110.5, -122.5);
        int n = residue_size(rt);
        side_chain(p, n, &r);
        int64_t first = b.na;
        for (int k = 0; k < n; k++) {
            int present = !(o->missing > 0 && unif(&r) < o->missing);
            add_atom(&b, fpr_restype_atoms(rt)[k], p[k], present);
        }
        add_token(&b, rt, chain, first, n, 1, 0, fpr_restype_name(rt));
        if (grid_add(&g, p[1]) || grid_add(&g, p[2]))
            b.err = fpr_error(FPR_EINTERNAL, "gen protein: grid overflow");
        N = p[0];
        CA = p[1];
        C = p[2];
        remaining -= n;
        in_chain += n;
    }
    /* leftover (< 4 atoms) and requested ligand atoms: small ligands beside the chain */
    int64_t lig = o->ligand_atoms + remaining;
    int asym = o->chains + 1;
    while (lig > 0 && !b.err) {
        int n = lig >= 6 ? 3 + (int)(next64(&r) % 4) : (int)lig;
        v3 dir = vnorm((v3){gauss(&r), gauss(&r), gauss(&r)});
        v3 pts[8];
        pts[0] = vscale(dir, R + 4.0);
        pts[1] = vadd(pts[0], vscale(vnorm((v3){gauss(&r), gauss(&r), gauss(&r)}), 1.45));
        if (n > 2)
            pts[2] = place(vadd(pts[0], (v3){0.3, 0.7, 0.1}), pts[0], pts[1], 1.45, 115, 180);
        for (int k = 3; k < n; k++)
            pts[k] = place(pts[k - 3], pts[k - 2], pts[k - 1], 1.45, 115, 60 + 120 * (k % 2));
        ligand(&b, asym++, pts, n, "LIG");
        lig -= n;
    }
    free(g.head); free(g.next); free(g.pts);
    char what[96];
    snprintf(what, sizeof what, "protein --atoms %lld --chains %d", (long long)o->atoms,
             o->chains);
    char name[64];
    snprintf(name, sizeof name, "gen-protein-%lld", (long long)o->atoms);
    int rc = finish(&b, o, &r, name, what, out);
    bld_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ nucleic */
static void nucleic_chain(bld *b, rng *r, int asym, int n, int dna, v3 origin)
{
    static const int rtypes_rna[5] = {21, 22, 23, 24, 25};
    static const int rtypes_dna[5] = {26, 27, 28, 29, 30};
    v3 a = vadd(origin, (v3){-1.5, 1.0, 0}), bb = vadd(origin, (v3){-1.5, 0, 0}), c = origin;
    for (int i = 0; i < n; i++) {
        int rt = dna ? rtypes_dna[i % 5] : rtypes_rna[i % 5];
        int na = residue_size(rt);
        v3 p[24];
        /* a helical-ish zig-zag backbone, 1.5 Å bonds at 110°, then the base atoms */
        for (int k = 0; k < na; k++) {
            double tor = (k < 12 ? 50.0 + 40.0 * (k % 3) : 180.0) + 10 * gauss(r);
            p[k] = place(a, bb, c, k < 3 ? 1.48 : 1.50, 110.0, tor);
            a = bb;
            bb = c;
            c = p[k];
        }
        std_residue(b, rt, asym, p, dna ? 3 : 2);
    }
}

int fpr_gen_nucleic(const fpr_gen_opts *o, fpr_case **out)
{
    if (o->rna < 0 || o->dna < 0 || o->rna + o->dna == 0 || o->rna + o->dna > 100000)
        return fpr_error(FPR_EUSAGE, "gen nucleic: need --rna and --dna residue counts "
                         "(0..100000, not both 0)");
    bld b;
    memset(&b, 0, sizeof b);
    rng r = {o->seed};
    if (o->rna)
        nucleic_chain(&b, &r, 1, o->rna, 0, (v3){0, 0, 0});
    if (o->dna)
        nucleic_chain(&b, &r, 2, o->dna, 1, (v3){30, 0, 0});
    char what[64];
    snprintf(what, sizeof what, "nucleic --rna %d --dna %d", o->rna, o->dna);
    int rc = finish(&b, o, &r, "gen-nucleic", what, out);
    bld_free(&b);
    return rc;
}
