#!/usr/bin/python3
"""corpus_check.py — validate case files and summarise them for cases/MANIFEST.md.

  corpus_check.py check CASE.h5...            SPEC §7 rules + the converter's own
                                             invariants; one line per case; exit 1 if any fails
  corpus_check.py manifest TABLE VERSIONS DIR  print cases/MANIFEST.md for the cases of
                                             TABLE (scripts/corpus_cases.txt) found in DIR

Independent of the C reader on purpose: it re-derives every rule from SPEC §1/§7 and
Appendix A, so the corpus is checked even while the C binary is being written."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cif2case import CANON, RESTYPES  # noqa: E402  (the one copy of Appendix A)

TOKEN_DS = ("restype", "asym_id", "start_atom_index", "num_atoms_per_token",
            "is_protein", "is_rna", "is_dna", "is_atomized", "token_mask")
KIND_OF = {i: ("protein" if i <= 20 else "rna" if i <= 25 else "dna" if i <= 30 else None)
           for i in range(32)}


def check_case(path):
    """Returns (errors, stats)."""
    err = []
    st = {}
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        return [f"cannot open: {e}"], st
    with f:
        a = f.attrs
        def sattr(k):
            v = a.get(k)
            return v.decode() if isinstance(v, (bytes, np.bytes_)) else v
        if sattr("format") != "frameprec-case":
            err.append(f"root attribute 'format' is {sattr('format')!r}")
        if a.get("version") is None or int(a["version"]) != 1:
            err.append(f"root attribute 'version' is {a.get('version')!r}, expected 1")
        for k in ("name", "source"):
            if not sattr(k):
                err.append(f"root attribute '{k}' missing or empty")
        st["name"], st["source"] = sattr("name"), sattr("source")
        need = ("x", "atom_mask") + TOKEN_DS
        missing = [k for k in need if k not in f]
        if missing:
            return err + [f"dataset '{k}' is missing" for k in missing], st
        x = f["x"][()]
        mask = f["atom_mask"][()]
        t = {k: f[k][()] for k in TOKEN_DS}
        names = [s.decode() for s in f["atom_name"][()]] if "atom_name" in f else None
        labels = [s.decode() for s in f["chain_label"][()]] if "chain_label" in f else None
    if x.ndim != 3 or x.shape[2] != 3:
        return err + [f"dataset 'x' has shape {x.shape}, expected [S][N_atom][3]"], st
    S, N = x.shape[0], x.shape[1]
    if S == 0:
        err.append("S = 0")
    if N == 0:
        err.append("N_atom = 0")
    if mask.shape != (N,):
        err.append(f"dataset 'atom_mask' has shape {mask.shape}, expected [{N}]")
    T = t["restype"].shape[0]
    for k in TOKEN_DS:
        if t[k].shape != (T,):
            err.append(f"dataset '{k}' has shape {t[k].shape}, expected [{T}]")
    if err:
        return err, st
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        err.append(f"dataset 'x': non-finite value at {tuple(bad[0])}")
    for k in ("is_protein", "is_rna", "is_dna", "is_atomized", "token_mask"):
        b = np.nonzero((t[k] != 0) & (t[k] != 1))[0]
        if len(b):
            err.append(f"dataset '{k}': value {t[k][b[0]]} at token {b[0]} is not 0/1")
    b = np.nonzero((mask != 0) & (mask != 1))[0]
    if len(b):
        err.append(f"dataset 'atom_mask': value {mask[b[0]]} at atom {b[0]} is not 0/1")
    rt = t["restype"]
    b = np.nonzero((rt < 0) | (rt > 31))[0]
    if len(b):
        err.append(f"dataset 'restype': value {rt[b[0]]} at token {b[0]} outside 0..31")
    start, num = t["start_atom_index"].astype(np.int64), t["num_atoms_per_token"].astype(np.int64)
    b = np.nonzero((start < 0) | (num < 1) | (start + num > N))[0]
    if len(b):
        i = b[0]
        err.append(f"token {i}: atoms {start[i]}..{start[i] + num[i] - 1} leave 0..{N - 1}")
    expect = np.concatenate([[0], np.cumsum(num)[:-1]])
    b = np.nonzero(start != expect)[0]
    if len(b):
        err.append(f"token {b[0]}: start_atom_index {start[b[0]]}, expected {expect[b[0]]} "
                   "(tokens must be contiguous, in atom order)")
    if num.sum() != N:
        err.append(f"tokens cover {num.sum()} atoms of {N}")
    nflags = t["is_protein"].astype(int) + t["is_rna"] + t["is_dna"]
    b = np.nonzero(nflags > 1)[0]
    if len(b):
        err.append(f"token {b[0]}: more than one of is_protein/is_rna/is_dna")
    atz = t["is_atomized"] == 1
    b = np.nonzero(atz & (num != 1))[0]
    if len(b):
        err.append(f"token {b[0]}: atomized with {num[b[0]]} atoms")
    if np.any(t["token_mask"] != 1):
        err.append("a token with token_mask 0 (the converter writes real tokens only)")
    if np.any(t["asym_id"] < 1):
        err.append("asym_id < 1 (0 is the padding chain of SPEC §2)")
    for i in np.nonzero(~atz)[0]:
        kind = KIND_OF[int(rt[i])]
        flag = ("protein" if t["is_protein"][i] else "rna" if t["is_rna"][i]
                else "dna" if t["is_dna"][i] else None)
        if kind is None or flag != kind:
            err.append(f"token {i}: standard token of restype {rt[i]} ({RESTYPES[rt[i]]}) "
                       f"with flag {flag}")
            break
        canon = CANON[RESTYPES[rt[i]]]
        if num[i] != len(canon):
            err.append(f"token {i}: {RESTYPES[rt[i]]} has {num[i]} atoms, Appendix A "
                       f"lists {len(canon)}")
            break
        if names is not None and tuple(names[start[i]:start[i] + num[i]]) != canon:
            err.append(f"token {i}: atom names {names[start[i]:start[i] + num[i]]} "
                       f"are not Appendix A's {list(canon)}")
            break
    absent = mask == 0
    if np.any(x[:, absent, :] != 0):
        err.append("an absent atom (atom_mask 0) has non-zero coordinates")
    # An atomized token's atom may be absent: OpenFold3 masks atoms of occupancy 0
    # (atom_resolved_mask = ceil(occupancy)) and keeps their tokens.
    if labels is not None:
        pairs = set(zip(labels, t["asym_id"].tolist()))
        if len(pairs) != len(set(labels)) or len(pairs) != len(set(t["asym_id"].tolist())):
            err.append("chain_label and asym_id are not one-to-one")
    st.update(S=S, atoms=N, absent=int(absent.sum()), tokens=T, atomized=int(atz.sum()),
              chains=len(set(t["asym_id"].tolist())),
              protein=int(((t["is_protein"] == 1) & ~atz).sum()),
              rna=int(((t["is_rna"] == 1) & ~atz).sum()),
              dna=int(((t["is_dna"] == 1) & ~atz).sum()),
              max_abs=float(np.abs(x).max()) if x.size else 0.0)
    return err, st


def cmd_check(paths):
    bad = 0
    for p in paths:
        err, st = check_case(p)
        if err:
            bad += 1
            for e in err:
                print(f"corpus_check: {p}: {e}")
            print(f"corpus_check: FAIL {p}")
        else:
            print(f"corpus_check: ok   {p}: S={st['S']} atoms={st['atoms']} "
                  f"tokens={st['tokens']} atomized={st['atomized']} chains={st['chains']}")
    print(f"corpus_check: {len(paths) - bad} passed, {bad} failed")
    return 1 if bad else 0


def read_table(path):
    rows = []
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        f = line.split(None, 5)
        rows.append(dict(name=f[0], entry=f[1], package=f[2], path=f[3],
                         options="" if f[4] == "-" else " ".join(f[4].split(",")),
                         what=f[5].strip()))
    return rows


def cmd_manifest(table, versions_file, outdir):
    versions = dict(l.split() for l in open(versions_file) if l.strip())
    rows = read_table(table)
    out = []
    w = out.append
    w("# Case corpus\n")
    w("Real PDB entries taken from Debian packages and converted by `scripts/cif2case.py`; "
      "rebuilt bit for bit by `make cases` (`scripts/make_cases.sh`, recipe in "
      "`scripts/corpus_cases.txt`). This file is generated by the same run; "
      "`SHA256SUMS` lists the case files.\n")
    w("Conversion (`scripts/cif2case.py`, whose header cites the OpenFold3 source of every "
      "rule): the structure is read and cleaned as OpenFold3 prepares a PDB entry for "
      "training — alternate locations by the highest summed occupancy per residue "
      "(biotite's `altloc=\"occupancy\"`), molecule types from `_chem_comp.type` (chains of "
      "one residue are ligands), MSE→MET, waters, hydrogens and (X-ray) crystallization aids "
      "removed, polymers of ≤ 3 residues, all-UNK polymers and protein chains with C-alpha "
      "gaps over 10 Å removed, atoms of occupancy 0 masked — then tokenized as its "
      "`tokenize_atom_array`: a canonical residue of a polymer is one token with Appendix A's "
      "atom list (absent atoms masked) unless it is bonded to another residue by a bond "
      "that is neither peptide nor phosphodiester (disulfides, glycosylation, metal "
      "coordination from `struct_conn`/LINK/SSBOND), in which case it is atomized like every "
      "other residue (non-canonical residues, ligands, glycans, ions: one token per atom). "
      "Chains are label_asym_id; in PDB-format files gemmi assigns them and a covalently "
      "linked glycan tree is one chain, as in mmCIF. NMR models are samples.\n")
    w("Size coverage: the largest real single chain in Debian (bookworm main: `apt-file "
      "search` for `.cif/.mmcif/.pdb/.ent[.gz]` lists 13,436 files; every one of the 19 "
      "structural-biology packages among them was read with gemmi — apbs-data emboss-test "
      "freesasa mustang-testdata pymol-data python-biopython-doc python-mdtraj-doc "
      "python3-cctbx python3-cogent3 python3-csb python3-pdbfixer python3-prody-tests "
      "python3-sasview python3-simtk r-cran-bio3d raster3d rdkit-data t-coffee-examples "
      "theseus-examples; the rest are the refmac monomer library, small-molecule and "
      "mineral CIFs, and SGML `.ent` files) is the 25S rRNA of 6ZU5 (52,573 atoms, "
      "`6zu5-25s`); the "
      "second is its 18S rRNA (28,876 atoms, `6zu5-18s`): no other chain in the archive "
      "reaches 30,000 atoms (no protein chain exceeds 1,058 residues). The ~5,000-residue "
      "monomer regime of the seed is covered by these two chains, the 2,816-token 4JSV "
      "complex, the 49,092-atom 3O21 unit cell and the 166,793-atom 6ZU5 ribosome, and by "
      "`frameprec gen protein` chains up to 45k atoms in `make bench`. Far from the origin "
      "as deposited: the 6ZU5 chains (centroids 317–384 Å from the origin) and 1I10 chain E "
      "(222 Å).\n")
    w("Columns: S = samples (models); atoms = N_atom (incl. absent ones); absent = atoms "
      "with atom_mask 0; tokens = N_token; atomized = tokens with is_atomized = 1; "
      "prot/RNA/DNA = standard (non-atomized) tokens of each kind; chains = distinct "
      "asym_id; |x|max = largest coordinate magnitude (Å).\n")
    w("| case | entry | contents | S | atoms | absent | tokens | atomized | prot | RNA | DNA "
      "| chains | \\|x\\|max | KiB |")
    w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    total = 0
    srcs = []
    for r in rows:
        p = os.path.join(outdir, r["name"] + ".h5")
        err, st = check_case(p)
        if err:
            raise SystemExit(f"corpus_check: {p}: {err[0]}")
        size = os.path.getsize(p)
        total += size
        w(f"| `{r['name']}` | {r['entry']} | {r['what']} | {st['S']} | {st['atoms']:,} | "
          f"{st['absent']:,} | {st['tokens']:,} | {st['atomized']:,} | {st['protein']:,} | "
          f"{st['rna']:,} | {st['dna']:,} | {st['chains']} | {st['max_abs']:.1f} | "
          f"{size / 1024:.0f} |")
        srcs.append(f"- `{r['name']}`: `{r['package']}` {versions[r['package']]}, "
                    f"`/{r['path']}`" + (f", options `{r['options']}`" if r["options"] else ""))
    w(f"\n{len(rows)} cases, {total / 1048576:.1f} MiB in all.\n")
    w("## Sources\n")
    w("Debian package (version used), file inside it, converter options. The same facts, "
      "with the input file's sha256 and the gemmi version, are in each case's `source` "
      "attribute.\n")
    out.extend(srcs)
    print("\n".join(out))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "check":
        return cmd_check(argv[1:])
    if len(argv) == 4 and argv[0] == "manifest":
        return cmd_manifest(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
