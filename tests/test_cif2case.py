#!/usr/bin/python3
"""Tests of scripts/cif2case.py on the hand-written tests/data/mini.cif.

Every expectation below is written out by hand from the file's atom list (see the
comment at the top of mini.cif), not computed by the converter. Prints one line per
check and a closing 'N passed, N failed'; exits non-zero on any failure."""
import hashlib
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONVERTER = os.path.join(ROOT, "scripts", "cif2case.py")
MINI = os.path.join(HERE, "data", "mini.cif")

passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"  ok    {what}")
    else:
        failed += 1
        print(f"  FAIL  {what} {detail}")


def plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [plain(e) for e in v]
    return v.item() if isinstance(v, np.generic) else v


def eq(what, got, want):
    got = plain(got)
    check(what, got == want, f"\n        got  {got}\n        want {want}")


def convert(src, out, *opts):
    r = subprocess.run([sys.executable, CONVERTER, src, "-o", out, "-q", *opts],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
    return r.returncode


def load(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}, dict(f.attrs), {k: f[k].dtype for k in f}


# Hand-written expectations for mini.cif.
ALA = ["N", "CA", "C", "O", "CB"]
MSE = ["N", "CA", "C", "O", "CB", "CG", "SE", "CE"]
SER = ["N", "CA", "C", "O", "CB", "OG"]
GLY = ["N", "CA", "C", "O"]
U = ["P", "OP1", "OP2", "O5'", "C5'", "C4'", "O4'", "C3'", "O3'", "C2'", "O2'", "C1'",
     "N1", "C2", "O2", "N3", "C4", "O4", "C5", "C6"]
DA = ["P", "OP1", "OP2", "O5'", "C5'", "C4'", "O4'", "C3'", "O3'", "C2'", "C1'",
      "N9", "C8", "N7", "C5", "C6", "N6", "N1", "C2", "N3", "C4"]
SO4 = ["S", "O1", "O2", "O3", "O4"]
ATOM_NAMES = ALA + MSE + SER + GLY + U + DA + SO4 + ["ZN"]
# ALA lacks CB; U lacks O2; DA has only C1', C3', C4', N9.
MASK = ([1, 1, 1, 1, 0] + [1] * 8 + [1] * 6 + [1] * 4
        + [0 if n == "O2" else 1 for n in U]
        + [1 if n in ("C1'", "C3'", "C4'", "N9") else 0 for n in DA]
        + [1] * 5 + [1])
N_ATOM = 5 + 8 + 6 + 4 + 20 + 21 + 5 + 1                 # 70
# tokens: ALA, 8 x MSE atom, SER, GLY, U, DA, 5 x SO4 atom, ZN  -> 19
NUM = [5] + [1] * 8 + [6, 4, 20, 21] + [1] * 5 + [1]
START = [0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 19, 23, 43, 64, 65, 66, 67, 68, 69]
RESTYPE = [0] + [12] * 8 + [15, 7, 24, 26] + [20] * 5 + [20]   # ALA MET.. SER GLY U DA UNK
ATOMIZED = [0] + [1] * 8 + [0, 0, 0, 0] + [1] * 6
IS_PROTEIN = [1] * 11 + [0] * 8
IS_RNA = [0] * 11 + [1] + [0] * 7
IS_DNA = [0] * 12 + [1] + [0] * 6
ASYM = [1] * 11 + [2, 3] + [4] * 5 + [5]
RES_NAME = ["ALA"] + ["MSE"] * 8 + ["SER", "GLY", "U", "DA"] + ["SO4"] * 5 + ["ZN"]
CHAIN = ["A"] * 11 + ["B", "C"] + ["D"] * 5 + ["E"]


def test_default(tmp):
    print("default conversion")
    out = os.path.join(tmp, "mini.h5")
    check("converter exits 0", convert(MINI, out) == 0)
    d, attrs, dt = load(out)
    eq("format attribute", attrs["format"], b"frameprec-case")
    eq("version attribute", int(attrs["version"]), 1)
    eq("name attribute", attrs["name"], b"mini")
    src = attrs["source"].decode()
    check("source names entry, file, options and models",
          "PDB entry MINI" in src and "mini.cif" in src and "options []" in src
          and "models: 1 of 1" in src, src)
    eq("x shape [S][N_atom][3]", list(d["x"].shape), [1, N_ATOM, 3])
    eq("dtypes", [str(dt[k]) for k in ("x", "atom_mask", "restype", "asym_id",
                                        "start_atom_index", "num_atoms_per_token",
                                        "is_protein", "is_rna", "is_dna",
                                        "is_atomized", "token_mask")],
       ["float32", "uint8", "int32", "int32", "int32", "int32",
        "uint8", "uint8", "uint8", "uint8", "uint8"])
    check("string datasets are fixed-length bytes",
          all(dt[k].kind == "S" for k in ("atom_name", "res_name", "chain_label")))
    eq("atom order (canonical; OXT and H dropped; altloc B gone)",
       [s.decode() for s in d["atom_name"]], ATOM_NAMES)
    eq("atom_mask (ALA CB, U O2, most of DA absent)", d["atom_mask"], MASK)
    eq("num_atoms_per_token", d["num_atoms_per_token"], NUM)
    eq("start_atom_index", d["start_atom_index"], START)
    eq("restype (MSE atoms -> MET, ligand/ion -> UNK)", d["restype"], RESTYPE)
    eq("is_atomized (MSE, SO4, ZN)", d["is_atomized"], ATOMIZED)
    eq("is_protein (incl. atomized MSE)", d["is_protein"], IS_PROTEIN)
    eq("is_rna", d["is_rna"], IS_RNA)
    eq("is_dna", d["is_dna"], IS_DNA)
    eq("token_mask", d["token_mask"], [1] * 19)
    eq("asym_id from label_asym_id (water dropped)", d["asym_id"], ASYM)
    eq("res_name", [s.decode() for s in d["res_name"]], RES_NAME)
    eq("chain_label", [s.decode() for s in d["chain_label"]], CHAIN)
    x = d["x"][0]
    eq("ALA N at (1,2,3)", x[0], [1.0, 2.0, 3.0])
    eq("ALA C before O although the file lists O first", [x[2][0], x[3][0]],
       [3.0, np.float32(3.1).item()])
    eq("absent ALA CB at 0", x[4], [0.0, 0.0, 0.0])
    eq("SER CB, OG from altloc A", [x[17], x[18]], [[8.0, 3.0, 4.0], [8.0, 4.0, 5.0]])
    eq("MSE SE atom (token 7)", x[START[7]], [5.0, 3.0, 8.0])
    eq("ZN last", x[69], [45.0, 5.0, 5.0])
    eq("x is the float32 rounding of the text", x[START[13] + 1].tolist(),
       np.array([41.4, 0.0, 0.0], dtype=np.float32).tolist())
    # Frame atoms per SPEC §1 offsets: protein N=0 CA=1 C=2; RNA C3'=7 C1'=11 C4'=5;
    # DNA C3'=7 C1'=10 C4'=5.
    eq("U token: C3', C1', C4' at offsets 7, 11, 5",
       [d["atom_name"][START[11] + k].decode() for k in (7, 11, 5)], ["C3'", "C1'", "C4'"])
    eq("DA token: C3', C1', C4' at offsets 7, 10, 5",
       [d["atom_name"][START[12] + k].decode() for k in (7, 10, 5)], ["C3'", "C1'", "C4'"])
    return out


def test_reproducible(tmp, first):
    print("byte reproducibility")
    second = os.path.join(tmp, "again.h5")
    convert(MINI, second)
    h = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (first, second)]
    eq("two conversions have the same sha256", h[0], h[1])


def test_atomize_all(tmp):
    print("--atomize-all")
    out = os.path.join(tmp, "all.h5")
    check("converter exits 0", convert(MINI, out, "--atomize-all") == 0)
    d, attrs, _ = load(out)
    present = [n for n, m in zip(ATOM_NAMES, MASK) if m]
    eq("one token per present atom", len(d["restype"]), len(present))
    eq("atoms are the present ones, same order", [s.decode() for s in d["atom_name"]],
       present)
    eq("all atomized, one atom each", [d["is_atomized"].min(), d["num_atoms_per_token"].max()],
       [1, 1])
    eq("atom_mask all 1", d["atom_mask"].min(), 1)
    # 4 ALA + 8 MSE + 6 SER + 4 GLY protein, 19 U rna, 4 DA dna, 6 ligand atoms
    eq("flags kept per residue", [int(d["is_protein"].sum()), int(d["is_rna"].sum()),
                                  int(d["is_dna"].sum())], [22, 19, 4])
    check("source records the option", "--atomize-all" in attrs["source"].decode())


def write_variant(path, second_model):
    """mini.cif plus a second model: the same atoms shifted by +1 in x, or one atom fewer."""
    lines = open(MINI).read().splitlines()
    atoms = [l for l in lines if l.startswith(("ATOM", "HETATM"))]
    extra = []
    for i, l in enumerate(atoms):
        f = l.split()
        if second_model == "missing" and f[3] == "CA" and f[5] == "GLY":
            continue
        f[1] = str(1000 + i)
        f[9] = f"{float(f[9]) + 1.0:.3f}"
        f[-1] = "2"
        extra.append(" ".join(f))
    open(path, "w").write("\n".join(lines + extra) + "\n")


def test_models(tmp):
    print("multi-model files")
    same = os.path.join(tmp, "two.cif")
    write_variant(same, "same")
    out = os.path.join(tmp, "two.h5")
    check("converter exits 0", convert(same, out) == 0)
    d, attrs, _ = load(out)
    eq("models sharing atoms -> S = 2", d["x"].shape[0], 2)
    x0, x1 = d["x"][0], d["x"][1]
    present = np.array(MASK, dtype=bool)
    eq("sample 2 = sample 1 + (1,0,0) on present atoms",
       bool(np.all(x1[present, 0] == (x0[present, 0].astype(np.float64) + 1.0)
                   .astype(np.float32))), True)
    eq("absent atoms 0 in sample 2", bool(np.all(x1[~present] == 0)), True)
    check("source says 2 of 2", "models: 2 of 2" in attrs["source"].decode())
    diff = os.path.join(tmp, "diff.cif")
    write_variant(diff, "missing")
    out = os.path.join(tmp, "diff.h5")
    check("converter exits 0", convert(diff, out) == 0)
    d, attrs, _ = load(out)
    eq("models differing in atoms -> first model only", d["x"].shape[0], 1)
    eq("first model's coordinates", d["x"][0][0].tolist(), [1.0, 2.0, 3.0])
    check("source says first of 2", "first of 2" in attrs["source"].decode())


def test_unit_cell(tmp):
    print("--unit-cell (P 1 21 1, a = b = c = 10)")
    out = os.path.join(tmp, "cell.h5")
    check("converter exits 0", convert(MINI, out, "--unit-cell") == 0)
    d, attrs, _ = load(out)
    eq("two copies of the atoms", d["x"].shape[1], 2 * N_ATOM)
    eq("copy 1 is the deposited model", d["x"][0][0].tolist(), [1.0, 2.0, 3.0])
    # operator -x, y+1/2, -z: (1,2,3) -> (-1, 7, -3)
    eq("copy 2 by -x, y+1/2, -z", d["x"][0][N_ATOM].tolist(), [-1.0, 7.0, -3.0])
    eq("absent atoms stay 0 in copy 2", d["x"][0][N_ATOM + 4].tolist(), [0.0, 0.0, 0.0])
    eq("copy 2 chains are new asym_ids", sorted(set(d["asym_id"][19:].tolist())),
       [6, 7, 8, 9, 10])
    eq("copy 2 chain labels", d["chain_label"][19].decode(), "A-1")
    eq("start_atom_index continues", int(d["start_atom_index"][19]), N_ATOM)


def test_bad_input(tmp):
    print("bad input")
    bad = os.path.join(tmp, "bad.cif")
    open(bad, "w").write("data_X\n_cell.length_a 1\n")
    out = os.path.join(tmp, "bad.h5")
    r = subprocess.run([sys.executable, CONVERTER, bad, "-o", out],
                       capture_output=True, text=True)
    check("file without atoms: non-zero exit and a message naming the file",
          r.returncode != 0 and "bad.cif" in r.stderr, r.stderr)
    check("nothing written", not os.path.exists(out) and not os.path.exists(out + ".tmp"))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        first = test_default(tmp)
        test_reproducible(tmp, first)
        test_atomize_all(tmp)
        test_models(tmp)
        test_unit_cell(tmp)
        test_bad_input(tmp)
    print(f"cif2case: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
