/* restype.c — residue types, their canonical atom lists and frame-atom offsets
 * (SPEC §1 and Appendix A). */
#include <string.h>

#include "internal.h"

static const char *const restype_names[FPR_NUM_RESTYPES] = {
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE", "LEU",
    "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL", "UNK",
    "A", "G", "C", "U", "N", "DA", "DG", "DC", "DT", "DN", "GAP",
};

#define PROT_BB "N", "CA", "C", "O"
#define RNA_BB "P", "OP1", "OP2", "O5'", "C5'", "C4'", "O4'", "C3'", "O3'", "C2'", "O2'", "C1'"
#define DNA_BB "P", "OP1", "OP2", "O5'", "C5'", "C4'", "O4'", "C3'", "O3'", "C2'", "C1'"

static const char *const a_ALA[] = {PROT_BB, "CB", NULL};
static const char *const a_ARG[] = {PROT_BB, "CB", "CG", "CD", "NE", "CZ", "NH1", "NH2", NULL};
static const char *const a_ASN[] = {PROT_BB, "CB", "CG", "OD1", "ND2", NULL};
static const char *const a_ASP[] = {PROT_BB, "CB", "CG", "OD1", "OD2", NULL};
static const char *const a_CYS[] = {PROT_BB, "CB", "SG", NULL};
static const char *const a_GLN[] = {PROT_BB, "CB", "CG", "CD", "OE1", "NE2", NULL};
static const char *const a_GLU[] = {PROT_BB, "CB", "CG", "CD", "OE1", "OE2", NULL};
static const char *const a_GLY[] = {PROT_BB, NULL};
static const char *const a_HIS[] = {PROT_BB, "CB", "CG", "ND1", "CD2", "CE1", "NE2", NULL};
static const char *const a_ILE[] = {PROT_BB, "CB", "CG1", "CG2", "CD1", NULL};
static const char *const a_LEU[] = {PROT_BB, "CB", "CG", "CD1", "CD2", NULL};
static const char *const a_LYS[] = {PROT_BB, "CB", "CG", "CD", "CE", "NZ", NULL};
static const char *const a_MET[] = {PROT_BB, "CB", "CG", "SD", "CE", NULL};
static const char *const a_PHE[] = {PROT_BB, "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", NULL};
static const char *const a_PRO[] = {PROT_BB, "CB", "CG", "CD", NULL};
static const char *const a_SER[] = {PROT_BB, "CB", "OG", NULL};
static const char *const a_THR[] = {PROT_BB, "CB", "OG1", "CG2", NULL};
static const char *const a_TRP[] = {PROT_BB, "CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3",
                                    "CZ2", "CZ3", "CH2", NULL};
static const char *const a_TYR[] = {PROT_BB, "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ",
                                    "OH", NULL};
static const char *const a_VAL[] = {PROT_BB, "CB", "CG1", "CG2", NULL};
static const char *const a_UNK[] = {PROT_BB, "CB", "CG", NULL};
static const char *const a_A[] = {RNA_BB, "N9", "C8", "N7", "C5", "C6", "N6", "N1", "C2", "N3", "C4", NULL};
static const char *const a_G[] = {RNA_BB, "N9", "C8", "N7", "C5", "C6", "O6", "N1", "C2", "N2", "N3", "C4", NULL};
static const char *const a_C[] = {RNA_BB, "N1", "C2", "O2", "N3", "C4", "N4", "C5", "C6", NULL};
static const char *const a_U[] = {RNA_BB, "N1", "C2", "O2", "N3", "C4", "O4", "C5", "C6", NULL};
static const char *const a_N[] = {RNA_BB, NULL};
static const char *const a_DA[] = {DNA_BB, "N9", "C8", "N7", "C5", "C6", "N6", "N1", "C2", "N3", "C4", NULL};
static const char *const a_DG[] = {DNA_BB, "N9", "C8", "N7", "C5", "C6", "O6", "N1", "C2", "N2", "N3", "C4", NULL};
static const char *const a_DC[] = {DNA_BB, "N1", "C2", "O2", "N3", "C4", "N4", "C5", "C6", NULL};
static const char *const a_DT[] = {DNA_BB, "N1", "C2", "O2", "N3", "C4", "O4", "C5", "C7", "C6", NULL};
static const char *const a_DN[] = {DNA_BB, NULL};

static const char *const *const restype_atoms[FPR_NUM_RESTYPES] = {
    a_ALA, a_ARG, a_ASN, a_ASP, a_CYS, a_GLN, a_GLU, a_GLY, a_HIS, a_ILE, a_LEU,
    a_LYS, a_MET, a_PHE, a_PRO, a_SER, a_THR, a_TRP, a_TYR, a_VAL, a_UNK,
    a_A, a_G, a_C, a_U, a_N, a_DA, a_DG, a_DC, a_DT, a_DN, NULL,
};

const char *fpr_restype_name(int r)
{
    return (r >= 0 && r < FPR_NUM_RESTYPES) ? restype_names[r] : "?";
}

int fpr_restype_class(int r)
{
    if (r >= 0 && r <= 20)
        return 1;
    if (r >= 21 && r <= 25)
        return 2;
    if (r >= 26 && r <= 30)
        return 3;
    return 0;
}

const char *const *fpr_restype_atoms(int r)
{
    return (r >= 0 && r < FPR_NUM_RESTYPES) ? restype_atoms[r] : NULL;
}

/* The frame atoms are named, and their offsets looked up in the canonical list, so
 * the table of Appendix A is the only source of truth. */
int fpr_frame_atom_offset(int restype, int which)
{
    static const char *const prot[3] = {"N", "CA", "C"};
    static const char *const nuc[3] = {"C3'", "C1'", "C4'"};
    int cls = fpr_restype_class(restype);
    if (cls == 0 || which < 0 || which > 2)
        return -1;
    const char *want = cls == 1 ? prot[which] : nuc[which];
    const char *const *atoms = restype_atoms[restype];
    for (int i = 0; atoms[i]; i++)
        if (strcmp(atoms[i], want) == 0)
            return i;
    return -1;
}
