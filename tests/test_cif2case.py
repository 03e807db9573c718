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


# Hand-written expectations for mini.cif (OpenFold3 cleanup and tokens, see the
# header of scripts/cif2case.py): MSE becomes a MET token with SE renamed SD; PSU and
# 5CM (non-canonical residues of polymer chains) are atomized with restype UNK and their
# chain's flag; SO4 and ZN are ligands (no flag, UNK); the water goes.
ALA = ["N", "CA", "C", "O", "CB"]
MET = ["N", "CA", "C", "O", "CB", "CG", "SD", "CE"]
SER = ["N", "CA", "C", "O", "CB", "OG"]
GLY = ["N", "CA", "C", "O"]
U = ["P", "OP1", "OP2", "O5'", "C5'", "C4'", "O4'", "C3'", "O3'", "C2'", "O2'", "C1'",
     "N1", "C2", "O2", "N3", "C4", "O4", "C5", "C6"]
DA = ["P", "OP1", "OP2", "O5'", "C5'", "C4'", "O4'", "C3'", "O3'", "C2'", "C1'",
      "N9", "C8", "N7", "C5", "C6", "N6", "N1", "C2", "N3", "C4"]
SO4 = ["S", "O1", "O2", "O3", "O4"]
ATOM_NAMES = ALA + MET + SER + GLY + U + ["P"] + DA + ["C1'"] + SO4 + ["ZN"]
# ALA lacks CB; U lacks O2; DA has only C1', C3', C4', N9.
MASK = ([1, 1, 1, 1, 0] + [1] * 8 + [1] * 6 + [1] * 4
        + [0 if n == "O2" else 1 for n in U] + [1]
        + [1 if n in ("C1'", "C3'", "C4'", "N9") else 0 for n in DA] + [1]
        + [1] * 5 + [1])
N_ATOM = 5 + 8 + 6 + 4 + 20 + 1 + 21 + 1 + 5 + 1           # 72
# tokens: ALA, MET, SER, GLY, U, PSU atom, DA, 5CM atom, 5 x SO4 atom, ZN  -> 14
N_TOK = 14
NUM = [5, 8, 6, 4, 20, 1, 21, 1] + [1] * 5 + [1]
START = [0, 5, 13, 19, 23, 43, 44, 65, 66, 67, 68, 69, 70, 71]
RESTYPE = [0, 12, 15, 7, 24, 20, 26, 20] + [20] * 5 + [20]   # ALA MET SER GLY U UNK DA UNK
ATOMIZED = [0, 0, 0, 0, 0, 1, 0, 1] + [1] * 6
IS_PROTEIN = [1] * 4 + [0] * 10
IS_RNA = [0] * 4 + [1, 1] + [0] * 8
IS_DNA = [0] * 6 + [1, 1] + [0] * 6
ASYM = [1] * 4 + [2, 2] + [3, 3] + [4] * 5 + [5]
RES_NAME = ["ALA", "MET", "SER", "GLY", "U", "PSU", "DA", "5CM"] + ["SO4"] * 5 + ["ZN"]
CHAIN = ["A"] * 4 + ["B", "B", "C", "C"] + ["D"] * 5 + ["E"]


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
    eq("atom order (canonical; OXT and H dropped; altloc B gone; MSE SE -> MET SD)",
       [s.decode() for s in d["atom_name"]], ATOM_NAMES)
    eq("atom_mask (ALA CB, U O2, most of DA absent)", d["atom_mask"], MASK)
    eq("num_atoms_per_token", d["num_atoms_per_token"], NUM)
    eq("start_atom_index", d["start_atom_index"], START)
    eq("restype (MSE -> MET token; PSU, 5CM, ligand, ion -> UNK)", d["restype"], RESTYPE)
    eq("is_atomized (PSU, 5CM, SO4, ZN)", d["is_atomized"], ATOMIZED)
    eq("is_protein", d["is_protein"], IS_PROTEIN)
    eq("is_rna (incl. atomized PSU: the chain's molecule type)", d["is_rna"], IS_RNA)
    eq("is_dna (incl. atomized 5CM)", d["is_dna"], IS_DNA)
    eq("token_mask", d["token_mask"], [1] * N_TOK)
    eq("asym_id from label_asym_id (water dropped)", d["asym_id"], ASYM)
    eq("res_name", [s.decode() for s in d["res_name"]], RES_NAME)
    eq("chain_label", [s.decode() for s in d["chain_label"]], CHAIN)
    x = d["x"][0]
    eq("ALA N at (1,2,3)", x[0], [1.0, 2.0, 3.0])
    eq("ALA C before O although the file lists O first", [x[2][0], x[3][0]],
       [3.0, np.float32(3.1).item()])
    eq("absent ALA CB at 0", x[4], [0.0, 0.0, 0.0])
    eq("SER CB, OG from altloc A", [x[17], x[18]], [[8.0, 3.0, 4.0], [8.0, 4.0, 5.0]])
    eq("MET SD (the MSE selenium) at MET offset 6", x[START[1] + 6], [5.0, 3.0, 8.0])
    eq("ZN last", x[71], [45.0, 5.0, 5.0])
    eq("x is the float32 rounding of the text", x[START[9]].tolist(),
       np.array([41.4, 0.0, 0.0], dtype=np.float32).tolist())
    # Frame atoms per SPEC §1 offsets: protein N=0 CA=1 C=2; RNA C3'=7 C1'=11 C4'=5;
    # DNA C3'=7 C1'=10 C4'=5.
    eq("U token: C3', C1', C4' at offsets 7, 11, 5",
       [d["atom_name"][START[4] + k].decode() for k in (7, 11, 5)], ["C3'", "C1'", "C4'"])
    eq("DA token: C3', C1', C4' at offsets 7, 10, 5",
       [d["atom_name"][START[6] + k].decode() for k in (7, 10, 5)], ["C3'", "C1'", "C4'"])
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
    # 4 ALA + 8 MET + 6 SER + 4 GLY protein, 19 U + 1 PSU rna, 4 DA + 1 5CM dna, 6 ligand
    eq("flags kept per residue", [int(d["is_protein"].sum()), int(d["is_rna"].sum()),
                                  int(d["is_dna"].sum())], [22, 20, 5])
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
    eq("copy 2 chains are new asym_ids", sorted(set(d["asym_id"][N_TOK:].tolist())),
       [6, 7, 8, 9, 10])
    eq("copy 2 chain labels", d["chain_label"][N_TOK].decode(), "A-1")
    eq("start_atom_index continues", int(d["start_atom_index"][N_TOK]), N_ATOM)


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


def run_converter(*args):
    return subprocess.run([sys.executable, CONVERTER, *args], capture_output=True, text=True)


def one_line_error(what, r, *words):
    """A refused conversion: exit 1, exactly one line on stderr naming the file and
    saying the words, no traceback."""
    lines = r.stderr.strip().splitlines()
    check(what, r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr
          and all(w in r.stderr for w in words), f"rc={r.returncode} stderr={r.stderr!r}")


def mini_text():
    return open(MINI).read()


def atom_lines(text):
    return [l for l in text.splitlines() if l.startswith(("ATOM", "HETATM"))]


def test_no_occupancy(tmp):
    print("mmCIF without occupancy and B_iso_or_equiv columns")
    lines, cols, out = mini_text().splitlines(), [], []
    for l in lines:
        if l.startswith("_atom_site."):
            cols.append(l)
            if l in ("_atom_site.occupancy", "_atom_site.B_iso_or_equiv"):
                continue
        elif l.startswith(("ATOM", "HETATM")):
            drop = {cols.index("_atom_site.occupancy"), cols.index("_atom_site.B_iso_or_equiv")}
            l = " ".join(f for i, f in enumerate(l.split()) if i not in drop)
        out.append(l)
    src = os.path.join(tmp, "noocc.cif")
    open(src, "w").write("\n".join(out) + "\n")
    h5 = os.path.join(tmp, "noocc.h5")
    check("converts (gemmi 0.5.7 alone reads 0 models)", convert(src, h5) == 0)
    d, attrs, _ = load(h5)
    eq("same atoms as with the columns", [s.decode() for s in d["atom_name"]], ATOM_NAMES)
    eq("same atom_mask (occupancy 1 assumed)", d["atom_mask"], MASK)
    # every occupancy is 1: SER's altlocs A and B tie at 2.0, A (first sorted) wins
    eq("altloc tie -> A", d["x"][0][17].tolist(), [8.0, 3.0, 4.0])
    check("source says occupancy 1 was assumed", "occupancy 1 assumed" in attrs["source"].decode())


def with_ser_altlocs(occ, order="AB"):
    """mini.cif with SER's CB/OG altloc occupancies replaced: occ = {(atom, alt): value};
    order 'BA' lists altloc B before A."""
    text = mini_text()
    lines = text.splitlines()
    ser = [i for i, l in enumerate(lines) if l.startswith("ATOM") and " SER " in l
           and l.split()[4] in "AB"]
    rows = []
    for i in ser:
        f = lines[i].split()
        f[12] = f"{occ[(f[3], f[4])]:.2f}"
        rows.append((f[4], " ".join(f)))
    if order == "BA":
        rows.sort(key=lambda r: r[0] != "B")
    for i, (_, l) in zip(ser, rows):
        lines[i] = l
    return "\n".join(lines) + "\n"


def test_altloc(tmp):
    print("alternate locations: highest summed occupancy per residue (biotite, OpenFold3)")
    cases = [
        # A has the higher CB (0.6 > 0.4) but B the higher sum (0.4 + 0.9 > 0.6 + 0.1)
        ("B by summed occupancy", {("CB", "A"): 0.6, ("OG", "A"): 0.1,
                                   ("CB", "B"): 0.4, ("OG", "B"): 0.9}, "AB", "B"),
        ("tie -> A, the first in sorted order", {("CB", "A"): 0.5, ("OG", "A"): 0.5,
                                                 ("CB", "B"): 0.5, ("OG", "B"): 0.5}, "AB", "A"),
        ("tie with B listed first -> still A", {("CB", "A"): 0.5, ("OG", "A"): 0.5,
                                                ("CB", "B"): 0.5, ("OG", "B"): 0.5}, "BA", "A"),
    ]
    want = {"A": [[8.0, 3.0, 4.0], [8.0, 4.0, 5.0]], "B": [[8.0, 1.0, 4.0], [8.0, 0.0, 5.0]]}
    for k, (what, occ, order, pick) in enumerate(cases):
        src = os.path.join(tmp, f"alt{k}.cif")
        open(src, "w").write(with_ser_altlocs(occ, order))
        h5 = os.path.join(tmp, f"alt{k}.h5")
        check(f"{what}: converts", convert(src, h5) == 0)
        d, _, _ = load(h5)
        eq(f"{what}: SER CB, OG", d["x"][0][17:19].tolist(), want[pick])


def test_xray_aids(tmp):
    print("crystallization aids of an X-ray entry (AF3 SI Table 9)")
    src = os.path.join(tmp, "xray.cif")
    open(src, "w").write(mini_text().replace("_entry.id MINI",
                                             "_entry.id MINI\n_exptl.method 'X-RAY DIFFRACTION'"))
    h5 = os.path.join(tmp, "xray.h5")
    check("converts", convert(src, h5) == 0)
    d, _, _ = load(h5)
    eq("SO4 removed, everything else kept", [s.decode() for s in d["res_name"]],
       [n for n in RES_NAME if n != "SO4"])


def pdb_atom(serial, name, resn, chain, num, x, y, z, el, rec="ATOM", occ=1.0, alt=" "):
    nm = name if len(name) == 4 else " " + name
    return (f"{rec:<6}{serial:>5} {nm:<4}{alt}{resn:<4}{chain}{num:>4}    "
            f"{x:8.3f}{y:8.3f}{z:8.3f}{occ:6.2f}{10.0:6.2f}          {el:>2}")


def pdb_link(a1, a2):
    (n1, r1, c1, s1), (n2, r2, c2, s2) = a1, a2
    f = lambda n: n if len(n) == 4 else " " + n  # noqa: E731
    return f"LINK        {f(n1):<4} {r1:>3} {c1}{s1:>4}                {f(n2):<4} {r2:>3} {c2}{s2:>4}"


def protein_atoms(chain, start_serial=1, x0=0.0):
    """GLY ASN GLY GLY (4 residues, so no short-polymer removal), backbone + ASN side chain."""
    out, serial = [], start_serial
    for k, resn in enumerate(("GLY", "ASN", "GLY", "GLY")):
        names = ["N", "CA", "C", "O"] + (["CB", "CG", "OD1", "ND2"] if resn == "ASN" else [])
        for j, n in enumerate(names):
            out.append((serial, n, resn, chain, k + 1, x0 + 3.8 * k + 0.5 * j, 1.0 + 0.3 * j,
                        0.2 * j, n[0]))
            serial += 1
    return out


def test_simulation_solvent(tmp):
    print("simulation file: waters SOL/TIP3/WAT, lipids, ions (classes from component types)")
    atoms = protein_atoms("A")
    serial = len(atoms) + 1
    het = []
    # waters under simulation names, each with hydrogens
    for k, (resn, names) in enumerate((("TIP3", ("OH2", "H1", "H2")), ("SOL", ("OW", "HW1", "HW2")),
                                       ("WAT", ("O",)))):
        for j, n in enumerate(names):
            het.append((serial, n, resn, "W", k + 1, 30.0 + k, 0.5 * j, 0.0, n[0]))
            serial += 1
    # a CHARMM POPC (one residue) and an AMBER Lipid17 lipid (PA + PC + OL residues)
    for j, n in enumerate(("N", "P", "C1", "C2", "O11")):
        het.append((serial, n, "POPC", "L", 1, 40.0, 0.7 * j, 0.0, n[0]))
        serial += 1
    for k, resn in enumerate(("PA", "PC", "OL")):
        for j, n in enumerate(("C1", "C2")):
            het.append((serial, n, resn, "M", k + 1, 50.0 + k, 0.7 * j, 0.0, "C"))
            serial += 1
    het.append((serial, "CLA", "CLA", "I", 1, 60.0, 0.0, 0.0, "CL"))
    lines = [pdb_atom(*a) for a in atoms + het] + ["END"]
    src = os.path.join(tmp, "sim.pdb")
    open(src, "w").write("\n".join(lines) + "\n")
    h5 = os.path.join(tmp, "sim.h5")
    check("converts", convert(src, h5) == 0)
    d, _, _ = load(h5)
    names = [s.decode() for s in d["res_name"]]
    check("no water left (TIP3, SOL, WAT removed)",
          not any(n in ("TIP3", "SOL", "WAT") for n in names), names)
    lipid = [i for i, n in enumerate(names) if n in ("POPC", "PA", "PC", "OL")]
    eq("lipid atoms: one atomized token each", [len(lipid), int(d["is_atomized"][lipid].min())],
       [11, 1])
    eq("lipid tokens carry no polymer flag (not RNA, not protein)",
       [int(d[k][lipid].sum()) for k in ("is_protein", "is_rna", "is_dna")], [0, 0, 0])
    ion = names.index("CLA")
    eq("CLA ion: atomized ligand", [int(d["is_atomized"][ion]), int(d["is_protein"][ion])], [1, 0])
    eq("protein: 4 standard tokens", [names[:4], d["is_protein"][:4].tolist(),
                                      d["is_atomized"][:4].tolist()],
       [["GLY", "ASN", "GLY", "GLY"], [1] * 4, [0] * 4])


def glycan_pdb():
    atoms = protein_atoms("A")
    serial = len(atoms) + 1
    nag = [("C1", 101, 8.6, 4.0, 1.0), ("C2", 101, 9.5, 4.5, 1.2), ("O4", 101, 10.2, 5.2, 1.3),
           ("C1", 102, 11.0, 5.8, 1.5), ("C2", 102, 12.0, 6.0, 1.6)]
    het = []
    for n, num, x, y, z in nag:
        het.append((serial, n, "NAG", "A", num, x, y, z, n[0]))
        serial += 1
    links = [pdb_link(("ND2", "ASN", "A", 2), ("C1", "NAG", "A", 101)),
             pdb_link(("O4", "NAG", "A", 101), ("C1", "NAG", "A", 102))]
    body = [pdb_atom(*a) for a in atoms] + ["TER"] + [pdb_atom(*a, rec="HETATM") for a in het]
    return "\n".join(links + body + ["END"]) + "\n", atoms, nag


def glycan_cif(atoms, nag):
    rows = []
    for serial, n, resn, chain, num, x, y, z, el in atoms:
        rows.append(f"ATOM {serial} {el} {n} . {resn} A 1 {num} {x:.3f} {y:.3f} {z:.3f} "
                    f"1.00 10.0 {num} A 1")
    serial = len(atoms) + 1
    for n, num, x, y, z in nag:
        rows.append(f"HETATM {serial} {n[0]} {n} . NAG B 2 . {x:.3f} {y:.3f} {z:.3f} "
                    f"1.00 10.0 {num} A 1")
        serial += 1
    return "\n".join([
        "data_GLYC", "_entry.id GLYC",
        "loop_", "_entity.id", "_entity.type", "1 polymer", "2 branched",
        "loop_", "_chem_comp.id", "_chem_comp.type", "GLY 'peptide linking'",
        "ASN 'L-peptide linking'", "NAG 'D-saccharide, beta linking'",
        "loop_", "_struct_conn.id", "_struct_conn.conn_type_id",
        "_struct_conn.ptnr1_label_asym_id", "_struct_conn.ptnr1_label_comp_id",
        "_struct_conn.ptnr1_label_seq_id", "_struct_conn.ptnr1_label_atom_id",
        "_struct_conn.ptnr1_auth_seq_id",
        "_struct_conn.ptnr2_label_asym_id", "_struct_conn.ptnr2_label_comp_id",
        "_struct_conn.ptnr2_label_seq_id", "_struct_conn.ptnr2_label_atom_id",
        "_struct_conn.ptnr2_auth_seq_id",
        "covale1 covale A ASN 2 ND2 2 B NAG . C1 101",
        "covale2 covale_sugar B NAG . O4 101 B NAG . C1 102",
        "loop_"] + [f"_atom_site.{c}" for c in (
            "group_PDB", "id", "type_symbol", "label_atom_id", "label_alt_id",
            "label_comp_id", "label_asym_id", "label_entity_id", "label_seq_id", "Cartn_x",
            "Cartn_y", "Cartn_z", "occupancy", "B_iso_or_equiv", "auth_seq_id",
            "auth_asym_id", "pdbx_PDB_model_num")] + rows) + "\n"


def test_glycan_chains(tmp):
    print("branched glycan: PDB and mmCIF of one entry give the same chains and tokens")
    pdb, atoms, nag = glycan_pdb()
    res = {}
    for ext, text in (("pdb", pdb), ("cif", glycan_cif(atoms, nag))):
        src = os.path.join(tmp, f"glyc.{ext}")
        open(src, "w").write(text)
        h5 = os.path.join(tmp, f"glyc-{ext}.h5")
        check(f"{ext}: converts", convert(src, h5) == 0)
        res[ext], _, _ = load(h5)
    for ext, d in res.items():
        names = [s.decode() for s in d["res_name"]]
        eq(f"{ext}: 2 chains (protein; the NAG-NAG tree is one chain)",
           len(set(d["asym_id"].tolist())), 2)
        asn = [i for i, n in enumerate(names) if n == "ASN"]
        eq(f"{ext}: ASN bonded to NAG is atomized (8 one-atom tokens, protein flag)",
           [len(asn), int(d["is_atomized"][asn].min()), int(d["is_protein"][asn].min()),
            int(d["restype"][asn[0]])], [8, 1, 1, 2])
    eq("pdb and cif: identical tokens", [res["pdb"][k].tolist() for k in
                                         ("restype", "asym_id", "is_atomized", "is_protein",
                                          "num_atoms_per_token")],
       [res["cif"][k].tolist() for k in ("restype", "asym_id", "is_atomized", "is_protein",
                                         "num_atoms_per_token")])


def test_refusals(tmp):
    print("refusals: one line naming the file, exit 1, nothing written")
    out = os.path.join(tmp, "refused.h5")
    bcif = os.path.join(tmp, "entry.bcif")
    # a MessagePack map {"encoder": "x", "version": "0.3.0", "dataBlocks": []}
    open(bcif, "wb").write(b"\x83\xa7encoder\xa1x\xa7version\xa50.3.0\xaadataBlocks\x90")
    r = run_converter(bcif, "-o", out)
    one_line_error("BinaryCIF refused with a message saying so", r, "entry.bcif", "BinaryCIF")
    r = run_converter(MINI, "-o", out, "--chains", "Z")
    one_line_error("--chains Z (missing) says so", r, "mini.cif", "no chain Z")
    r = run_converter(MINI, "-o", os.path.join(tmp, "no-such-dir", "x.h5"))
    one_line_error("output folder that does not exist", r, "mini.cif", "does not exist")
    if os.geteuid() != 0:
        ro = os.path.join(tmp, "readonly")
        os.mkdir(ro, 0o555)
        r = run_converter(MINI, "-o", os.path.join(ro, "x.h5"))
        one_line_error("unwritable folder", r, "mini.cif", "not writable")
    # root may write anywhere chmod forbids; /proc refuses new files even to root
    r = run_converter(MINI, "-o", "/proc/frameprec-test.h5")
    one_line_error("unwritable folder (/proc)", r, "mini.cif", "cannot write")
    bad = os.path.join(tmp, "garbage.cif")
    open(bad, "w").write("data_X\nloop_\n_atom_site.id\n_atom_site.Cartn_x\n1\n")
    r = run_converter(bad, "-o", out)
    one_line_error("malformed mmCIF: one line, no traceback", r, "garbage.cif")
    check("nothing written by any refusal", not os.path.exists(out))
    check("no temporary file left", not [f for f in os.listdir(tmp) if f.endswith(".tmp")])


def test_temp_and_names(tmp):
    print("unique temporary names; default case names per option set")
    out = os.path.join(tmp, "named.h5")
    os.mkdir(out + ".tmp")          # the old fixed temporary name, occupied
    r = run_converter(MINI, "-o", out, "-q")
    check("a folder at OUT.tmp does not stop the conversion", r.returncode == 0, r.stderr)
    check("OUT.tmp left untouched", os.path.isdir(out + ".tmp"))
    d, attrs, _ = load(out)
    eq("default name: the input's base name", attrs["name"], b"mini")
    out2 = os.path.join(tmp, "named-all.h5")
    run_converter(MINI, "-o", out2, "-q", "--atomize-all")
    eq("--atomize-all appends +all", load(out2)[1]["name"], b"mini+all")
    out3 = os.path.join(tmp, "named-b.h5")
    run_converter(MINI, "-o", out3, "-q", "--chains", "B")
    eq("--chains appends +chains=...", load(out3)[1]["name"], b"mini+chains=B")
    # two conversions to one output at once: both succeed, the result is whole
    outp = os.path.join(tmp, "parallel.h5")
    procs = [subprocess.Popen([sys.executable, CONVERTER, MINI, "-o", outp, "-q"] + extra,
                              stderr=subprocess.PIPE) for extra in ([], ["--atomize-all"])]
    rcs = [p.wait() for p in procs]
    eq("two simultaneous conversions to one output both succeed", rcs, [0, 0])
    check("the output is one whole case", load(outp)[1]["name"] in (b"mini", b"mini+all"))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        first = test_default(tmp)
        test_reproducible(tmp, first)
        test_atomize_all(tmp)
        test_models(tmp)
        test_unit_cell(tmp)
        test_bad_input(tmp)
        test_no_occupancy(tmp)
        test_altloc(tmp)
        test_xray_aids(tmp)
        test_simulation_solvent(tmp)
        test_glycan_chains(tmp)
        test_refusals(tmp)
        test_temp_and_names(tmp)
    print(f"cif2case: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
