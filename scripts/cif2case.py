#!/usr/bin/python3
"""cif2case.py — convert a PDB/mmCIF entry into a frameprec case file (SPEC §1, §8).

Tokenization follows AlphaFold3 (and OpenFold3):
  * a standard residue of a polymer (the 20 amino acids and UNK, A G C U N, DA DG DC DT DN)
    is one token; its atoms are laid out in the canonical order of SPEC Appendix A, every
    canonical atom is present (atom_mask 0 and coordinates 0 when the file lacks it) and
    atoms outside the canonical list (OXT, OP3, ...) are dropped;
  * every other residue — a modified residue of a polymer, a ligand, a glycan, an ion — is
    atomized: one token per heavy atom, in the file's atom order;
  * waters and hydrogens are dropped; of alternate locations the first is kept;
  * chains are label_asym_id (gemmi's "subchain"; for a PDB file gemmi assigns them: one
    per polymer chain and one per ligand residue) and become asym_id 1, 2, ... in order
    of first appearance; every model becomes a sample when all models have the same
    atoms, else the first model alone is used.

Flags: a standard token has exactly the flag of its type (is_protein / is_rna / is_dna).
An atomized modified residue keeps the flag of its polymer chain and the restype of its
parent standard type when gemmi's residue table knows it (MSE -> MET, PSU -> U), else the
unknown type of its chain's kind (UNK, N or DN). Ligand, glycan and ion atoms have no
flag and restype UNK. token_mask is 1 for every token.

Options: --atomize-all makes every present atom an atomized token (the seed author's
stress test; same atoms as without it, absent ones left out); --unit-cell applies every
operator of the space group to the deposited coordinates (no re-centring, no wrapping
into the cell), each copy's chains becoming new asym_ids; --chains keeps the named
label_asym_ids only.

The output is byte-reproducible: fixed HDF5 format version, no timestamps, whole-dataset
chunks with shuffle + gzip 9, arithmetic without BLAS. Run with /usr/bin/python3 (Debian's
python3-gemmi, python3-h5py, python3-numpy).
"""
import argparse
import hashlib
import os
import sys

import gemmi
import h5py
import numpy as np

RESTYPES = ("ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP TYR "
            "VAL UNK A G C U N DA DG DC DT DN GAP").split()
RESTYPE_INDEX = {n: i for i, n in enumerate(RESTYPES)}
UNK, RNA_UNK, DNA_UNK = RESTYPE_INDEX["UNK"], RESTYPE_INDEX["N"], RESTYPE_INDEX["DN"]
PROTEIN_NAMES = set(RESTYPES[0:21])
RNA_NAMES = set(RESTYPES[21:26])
DNA_NAMES = set(RESTYPES[26:31])

# SPEC Appendix A: canonical heavy-atom order of every standard token type.
_RNA_BB = "P OP1 OP2 O5' C5' C4' O4' C3' O3' C2' O2' C1'"
_DNA_BB = "P OP1 OP2 O5' C5' C4' O4' C3' O3' C2' C1'"
CANON = {k: tuple(v.split()) for k, v in {
    "ALA": "N CA C O CB",
    "ARG": "N CA C O CB CG CD NE CZ NH1 NH2",
    "ASN": "N CA C O CB CG OD1 ND2",
    "ASP": "N CA C O CB CG OD1 OD2",
    "CYS": "N CA C O CB SG",
    "GLN": "N CA C O CB CG CD OE1 NE2",
    "GLU": "N CA C O CB CG CD OE1 OE2",
    "GLY": "N CA C O",
    "HIS": "N CA C O CB CG ND1 CD2 CE1 NE2",
    "ILE": "N CA C O CB CG1 CG2 CD1",
    "LEU": "N CA C O CB CG CD1 CD2",
    "LYS": "N CA C O CB CG CD CE NZ",
    "MET": "N CA C O CB CG SD CE",
    "PHE": "N CA C O CB CG CD1 CD2 CE1 CE2 CZ",
    "PRO": "N CA C O CB CG CD",
    "SER": "N CA C O CB OG",
    "THR": "N CA C O CB OG1 CG2",
    "TRP": "N CA C O CB CG CD1 CD2 NE1 CE2 CE3 CZ2 CZ3 CH2",
    "TYR": "N CA C O CB CG CD1 CD2 CE1 CE2 CZ OH",
    "VAL": "N CA C O CB CG1 CG2",
    "UNK": "N CA C O CB CG",
    "A": _RNA_BB + " N9 C8 N7 C5 C6 N6 N1 C2 N3 C4",
    "G": _RNA_BB + " N9 C8 N7 C5 C6 O6 N1 C2 N2 N3 C4",
    "C": _RNA_BB + " N1 C2 O2 N3 C4 N4 C5 C6",
    "U": _RNA_BB + " N1 C2 O2 N3 C4 O4 C5 C6",
    "N": _RNA_BB,
    "DA": _DNA_BB + " N9 C8 N7 C5 C6 N6 N1 C2 N3 C4",
    "DG": _DNA_BB + " N9 C8 N7 C5 C6 O6 N1 C2 N2 N3 C4",
    "DC": _DNA_BB + " N1 C2 O2 N3 C4 N4 C5 C6",
    "DT": _DNA_BB + " N1 C2 O2 N3 C4 O4 C5 C7 C6",
    "DN": _DNA_BB,
}.items()}

ONE_TO_THREE = {"A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "Q": "GLN",
                "E": "GLU", "G": "GLY", "H": "HIS", "I": "ILE", "L": "LEU", "K": "LYS",
                "M": "MET", "F": "PHE", "P": "PRO", "S": "SER", "T": "THR", "W": "TRP",
                "Y": "TYR", "V": "VAL"}

PROTEIN, RNA, DNA = "protein", "rna", "dna"
POLYMER_KIND = {
    gemmi.PolymerType.PeptideL: PROTEIN,
    gemmi.PolymerType.PeptideD: PROTEIN,
    gemmi.PolymerType.Rna: RNA,
    gemmi.PolymerType.Dna: DNA,
}


class ConvertError(Exception):
    pass


def name_kind(resname):
    if resname in PROTEIN_NAMES:
        return PROTEIN
    if resname in RNA_NAMES:
        return RNA
    if resname in DNA_NAMES:
        return DNA
    return None


def subchain_kinds(st, model):
    """Kind (protein/rna/dna/None) of every polymer subchain of the model."""
    kinds = {}
    for sub in model.subchains():
        sid = sub.subchain_id()
        if sid in kinds or len(sub) == 0 or sub[0].entity_type != gemmi.EntityType.Polymer:
            continue
        ent = st.get_entity_of(sub)
        kind = POLYMER_KIND.get(ent.polymer_type) if ent is not None else None
        if kind is None:
            # Hybrid, unknown or missing entity: the majority of the standard residue
            # names decides; a chain without any standard residue is no polymer for us.
            votes = {}
            for r in sub:
                k = name_kind(r.name)
                if k:
                    votes[k] = votes.get(k, 0) + 1
            kind = max(sorted(votes), key=lambda k: votes[k]) if votes else None
        kinds[sid] = kind
    return kinds


def parent_restype(resname, kind):
    """restype of an atomized modified residue of a chain of this kind."""
    info = gemmi.find_tabulated_residue(resname)
    letter = info.one_letter_code.upper() if info is not None else " "
    if kind == PROTEIN:
        return RESTYPE_INDEX[ONE_TO_THREE[letter]] if letter in ONE_TO_THREE else UNK
    if kind == RNA:
        return RESTYPE_INDEX[letter] if letter in "ACGU" else RNA_UNK
    if kind == DNA:
        return RESTYPE_INDEX["D" + letter] if letter in "ACGT" else DNA_UNK
    return UNK


def tokenize_model(st, model, kinds, atomize_all, chains):
    """Tokens of one model: a list of dicts (topology) and a list of xyz per atom.

    Every token: asym key, restype, kind (flag), atomized, res_name, chain_label, and
    atoms as (name, present); coordinates are kept apart so models can be compared."""
    tokens, xyz = [], []
    stats = {"dropped": {}, "missing": 0}
    for chain in model:
        for res in chain:
            sid = res.subchain
            if chains is not None and sid not in chains:
                continue
            if res.is_water():
                continue  # also removed beforehand; kept as a guard
            polymer = res.entity_type == gemmi.EntityType.Polymer and kinds.get(sid)
            kind = kinds.get(sid) if polymer else None
            standard = bool(polymer) and res.name in CANON and name_kind(res.name) is not None
            atoms = [a for a in res if not a.is_hydrogen()]
            if standard:
                kind = name_kind(res.name)  # the name is definitive for a standard residue
                rt = RESTYPE_INDEX[res.name]
                canon = CANON[res.name]
                by_name = {}
                for a in atoms:
                    if a.name in canon:
                        by_name.setdefault(a.name, a)
                    else:
                        key = f"{res.name}:{a.name}"
                        stats["dropped"][key] = stats["dropped"].get(key, 0) + 1
                layout = []
                for n in canon:
                    a = by_name.get(n)
                    layout.append((n, a))
                    if a is None:
                        stats["missing"] += 1
                if atomize_all:
                    for n, a in layout:
                        if a is not None:
                            tokens.append(dict(asym=sid, restype=rt, kind=kind, atomized=1,
                                               res_name=res.name, atoms=((n, 1),)))
                            xyz.append(a.pos.tolist())
                else:
                    tokens.append(dict(asym=sid, restype=rt, kind=kind, atomized=0,
                                       res_name=res.name,
                                       atoms=tuple((n, int(a is not None)) for n, a in layout)))
                    for n, a in layout:
                        xyz.append(a.pos.tolist() if a is not None else [0.0, 0.0, 0.0])
            else:
                rt = parent_restype(res.name, kind) if kind else UNK
                for a in atoms:
                    tokens.append(dict(asym=sid, restype=rt, kind=kind, atomized=1,
                                       res_name=res.name, atoms=((a.name, 1),)))
                    xyz.append(a.pos.tolist())
    return tokens, xyz, stats


def expand_unit_cell(st, tokens, xyz):
    """Apply every space-group operator to the coordinates, in fractional space.

    Copy 0 is the identity (the deposited model); copy k's chains get the label
    "<label_asym_id>-<k>". Done with element-wise numpy arithmetic in binary64 (never
    BLAS, whose summation order may depend on the CPU) so the result is reproducible."""
    sg = st.find_spacegroup()
    if sg is None or not st.cell.is_crystal():
        raise ConvertError("--unit-cell needs a crystal cell and a space group")
    ops = list(sg.operations())
    ops.sort(key=lambda op: (op.triplet() != "x,y,z", op.triplet()))
    frac = np.array(st.cell.frac.mat.tolist()), np.array(st.cell.frac.vec.tolist())
    orth = np.array(st.cell.orth.mat.tolist()), np.array(st.cell.orth.vec.tolist())
    x = np.asarray(xyz, dtype=np.float64)  # [S][N][3]

    def affine(m, v, p):
        return [((m[i][0] * p[..., 0] + m[i][1] * p[..., 1]) + m[i][2] * p[..., 2]) + v[i]
                for i in range(3)]

    f = np.stack(affine(frac[0], frac[1], x), axis=-1)
    copies_x, copies_t = [], []
    for k, op in enumerate(ops):
        rot = np.array(op.rot, dtype=np.float64) / gemmi.Op.DEN
        tran = np.array(op.tran, dtype=np.float64) / gemmi.Op.DEN
        g = np.stack(affine(rot, tran, f), axis=-1)
        o = np.stack(affine(orth[0], orth[1], g), axis=-1)
        copies_x.append(o)
        for t in tokens:
            t2 = dict(t)
            t2["asym"] = t["asym"] if k == 0 else f"{t['asym']}-{k}"
            copies_t.append(t2)
    xs = np.concatenate(copies_x, axis=1)
    # absent atoms stay at 0 in every copy
    present = np.array([p for t in tokens for _, p in t["atoms"]] * len(ops), dtype=bool)
    xs[:, ~present, :] = 0.0
    return copies_t, xs, [op.triplet() for op in ops]


def convert(path, atomize_all=False, unit_cell=False, chains=None):
    st = gemmi.read_structure(path)
    if len(st) == 0:
        raise ConvertError(f"{path}: no model")
    st.setup_entities()
    st.remove_alternative_conformations()
    st.remove_hydrogens()
    st.remove_waters()
    notes = []
    per_model = []
    for model in st:
        kinds = subchain_kinds(st, model)
        per_model.append(tokenize_model(st, model, kinds, atomize_all, chains))
    topo0 = [(t["asym"], t["restype"], t["kind"], t["atomized"], t["res_name"], t["atoms"])
             for t in per_model[0][0]]
    same = all([(t["asym"], t["restype"], t["kind"], t["atomized"], t["res_name"], t["atoms"])
                for t in pm[0]] == topo0 for pm in per_model[1:])
    if same:
        used = per_model
        notes.append(f"models: {len(st)} of {len(st)} as samples")
    else:
        used = per_model[:1]
        notes.append(f"models: first of {len(st)} (the models differ in atoms)")
    tokens, _, stats = used[0]
    if not tokens:
        raise ConvertError(f"{path}: no atoms left after dropping waters and hydrogens")
    xyz = [np.asarray(pm[1], dtype=np.float64) for pm in used]
    x = np.stack(xyz)
    ops = None
    if unit_cell:
        tokens, x, ops = expand_unit_cell(st, tokens, x)
        notes.append(f"unit cell: {len(ops)} operators of {st.find_spacegroup().hm} "
                     f"applied to the deposited coordinates, not re-centred or wrapped")
    return st, tokens, x, stats, notes


def build_arrays(tokens, x):
    asym_of = {}
    for t in tokens:
        asym_of.setdefault(t["asym"], len(asym_of) + 1)
    n_tok = len(tokens)
    counts = np.array([len(t["atoms"]) for t in tokens], dtype=np.int32)
    starts = np.zeros(n_tok, dtype=np.int32)
    if n_tok > 1:
        starts[1:] = np.cumsum(counts[:-1], dtype=np.int64).astype(np.int32)
    d = {
        "x": x.astype(np.float32),
        "atom_mask": np.array([p for t in tokens for _, p in t["atoms"]], dtype=np.uint8),
        "restype": np.array([t["restype"] for t in tokens], dtype=np.int32),
        "asym_id": np.array([asym_of[t["asym"]] for t in tokens], dtype=np.int32),
        "start_atom_index": starts,
        "num_atoms_per_token": counts,
        "is_protein": np.array([t["kind"] == PROTEIN for t in tokens], dtype=np.uint8),
        "is_rna": np.array([t["kind"] == RNA for t in tokens], dtype=np.uint8),
        "is_dna": np.array([t["kind"] == DNA for t in tokens], dtype=np.uint8),
        "is_atomized": np.array([t["atomized"] for t in tokens], dtype=np.uint8),
        "token_mask": np.ones(n_tok, dtype=np.uint8),
        "atom_name": np.array([n.encode("ascii") for t in tokens for n, _ in t["atoms"]],
                              dtype="S"),
        "res_name": np.array([t["res_name"].encode("ascii") for t in tokens], dtype="S"),
        "chain_label": np.array([t["asym"].encode("ascii") for t in tokens], dtype="S"),
    }
    if not np.all(np.isfinite(d["x"])):
        raise ConvertError("non-finite coordinate after conversion to float32")
    return d


DATASET_ORDER = ("x", "atom_mask", "restype", "asym_id", "start_atom_index",
                 "num_atoms_per_token", "is_protein", "is_rna", "is_dna", "is_atomized",
                 "token_mask", "atom_name", "res_name", "chain_label")


def write_case(out, name, source, d):
    """Write SPEC §8 format version 1, byte-reproducibly, via a temporary name."""
    tmp = out + ".tmp"
    try:
        with h5py.File(tmp, "w", libver=("earliest", "v110")) as f:
            f.attrs.create("format", np.bytes_("frameprec-case"))
            f.attrs.create("version", np.int32(1))
            f.attrs.create("name", np.bytes_(name))
            f.attrs.create("source", np.bytes_(source))
            for key in DATASET_ORDER:
                a = d[key]
                f.create_dataset(key, data=a, chunks=a.shape, compression="gzip",
                                 compression_opts=9, shuffle=True, track_times=False)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a PDB/mmCIF entry (optionally gzipped) "
                                 "to a frameprec case file (SPEC §1, §8).")
    ap.add_argument("input", help="PDB or mmCIF file (.gz accepted)")
    ap.add_argument("-o", "--output", required=True, help="case file to write (.h5)")
    ap.add_argument("--name", help="case name (default: the input's base name)")
    ap.add_argument("--entry", help="PDB entry id for the source attribute "
                    "(default: the file's own id)")
    ap.add_argument("--origin", help="where the file came from, for the source attribute "
                    "(default: the path given)")
    ap.add_argument("--atomize-all", action="store_true",
                    help="every present atom becomes an atomized token")
    ap.add_argument("--unit-cell", action="store_true",
                    help="expand to the crystal's unit cell with the space-group operators")
    ap.add_argument("--chains", help="comma-separated label_asym_ids to keep")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    chains = set(args.chains.split(",")) if args.chains else None
    try:
        st, tokens, x, stats, notes = convert(args.input, args.atomize_all, args.unit_cell,
                                              chains)
    except (ConvertError, RuntimeError, ValueError, OSError) as e:
        print(f"cif2case: {args.input}: {e}", file=sys.stderr)
        return 1
    d = build_arrays(tokens, x)
    base = os.path.basename(args.input)
    for ext in (".gz", ".cif", ".pdb", ".ent", ".mmcif"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    name = args.name or base
    entry = args.entry or (st.info["_entry.id"] if "_entry.id" in st.info else st.name)
    opts = []
    if args.atomize_all:
        opts.append("--atomize-all")
    if args.unit_cell:
        opts.append("--unit-cell")
    if args.chains:
        opts.append(f"--chains {args.chains}")
    source = (f"PDB entry {entry}; file {args.origin or args.input} "
              f"(sha256 {sha256_file(args.input)}); converted by scripts/cif2case.py "
              f"(gemmi {gemmi.__version__}) with options [{' '.join(opts)}]; "
              + "; ".join(notes))
    write_case(args.output, name, source, d)
    if not args.quiet:
        n_tok = len(tokens)
        n_atz = int(d["is_atomized"].sum())
        dropped = ", ".join(f"{k}x{v}" for k, v in sorted(stats["dropped"].items()))
        print(f"cif2case: {args.output}: S={x.shape[0]} atoms={x.shape[1]} "
              f"(absent {int((d['atom_mask'] == 0).sum())}) tokens={n_tok} "
              f"atomized={n_atz} chains={len(set(d['asym_id'].tolist()))}"
              + (f"; dropped non-canonical atoms: {dropped}" if dropped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
