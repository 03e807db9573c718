/* gen.h — deterministic synthetic and adversarial case generators (`frameprec gen`). */
#ifndef FRAMEPREC_GEN_H
#define FRAMEPREC_GEN_H

#include "frameprec.h"

typedef struct fpr_gen_opts {
    uint64_t seed;
    int64_t atoms;      /* protein: target total atom count (exact) */
    int chains;         /* protein: number of chains (>= 1) */
    int samples;        /* S: sample 0 is the structure, others perturbed copies */
    double noise;       /* Å, standard deviation of the per-sample perturbation */
    int64_t ligand_atoms; /* protein: atoms of small ligands placed beside the chain */
    int atomize_all;    /* make every atom an atomized token */
    double missing;     /* fraction of atoms with atom_mask 0 (standard residues only) */
    int rna, dna;       /* nucleic: residues per RNA / DNA chain */
    double offset;      /* Å added to every coordinate */
} fpr_gen_opts;

void fpr_gen_opts_init(fpr_gen_opts *o);

/* Small molecules whose frames are known by construction. Tokens, in order, each
 * ligand its own chain (asym_id 1, 2, ...), all atomized:
 *   L1 "bent" 3 atoms (0,1,2): atom 0 bonded to 1 and 2 at 109.5°: every frame valid.
 *   L2 "line" 3 atoms (3,4,5) evenly spaced on a line (1.5 Å): frame of the middle
 *      atom 4 is outward colinear (180°, invalid); frames of the ends 3 and 5 are
 *      inward colinear (0°, invalid).
 *   L3 "pair" 2 atoms (6,7): the third pick is an `inf` filler from another chain
 *      (atom 0): chain-split, invalid.
 *   L4 "single" 1 atom (8): both picks are fillers (atoms 0, 1): invalid.
 *   L5 "duplicate" 3 atoms (9,10,11) with 9 and 10 at identical coordinates and 11
 *      at 1.4 Å: row 10 ranks atom 9 first (equal D² = 0, smaller index), so a = 10 = b.
 * A protein residue (ALA, chain 6) follows so mixed token kinds are present. */
int fpr_gen_ligands(const fpr_gen_opts *o, fpr_case **out);

/* Chains of standard residues with realistic backbone geometry (N–CA 1.458 Å,
 * CA–C 1.525 Å, C–N 1.329 Å, side chains at ~1.5 Å), exact atom count `atoms`,
 * optional ligand atoms (atomized, own chain), samples, atomize-all. */
int fpr_gen_protein(const fpr_gen_opts *o, fpr_case **out);

/* One RNA chain (A, G, C, U, N cycling) and one DNA chain (DA, DG, DC, DT, DN cycling),
 * canonical atom order of SPEC §1. */
int fpr_gen_nucleic(const fpr_gen_opts *o, fpr_case **out);

#endif
