#!/usr/bin/python3
"""cif2case.py — convert a PDB/mmCIF entry into a frameprec case file (SPEC §1, §8).

The structure is read and cleaned the way OpenFold3 prepares a PDB entry for training
(parse_mmcif in openfold3/core/data/io/structure/cif.py, cleanup_structure_af3 in
openfold3/core/data/pipelines/preprocessing/structure.py, the primitives of
openfold3/core/data/primitives/structure/{cleanup,labels,tokenization}.py, the tables of
openfold3/core/data/resources/residues.py, the features of
openfold3/core/data/pipelines/featurization/structure.py), then tokenized as its
tokenize_atom_array does. Every rule below names its source ("OF3 x" = that OpenFold3
function); rules OpenFold3 has but this converter does not apply are listed at the end.

Reading
  * mmCIF (text, .gz accepted) and PDB. OF3 parse_mmcif uses biotite with model=1,
    altloc="occupancy", use_author_fields=True, include_bonds=True; gemmi reads here.
  * mmCIF without _atom_site.occupancy / B_iso_or_equiv columns: gemmi 0.5.7 then builds
    0 models, so the missing columns are added before the model is built (occupancy 1, B
    0). BinaryCIF (OF3 reads .bcif with biotite's BinaryCIFFile) is refused with a message:
    gemmi 0.5.7 reads text mmCIF and PDB only.
  * Alternate locations: biotite's filter_highest_occupancy_altloc (biotite
    structure/filter.py), which altloc="occupancy" applies: per residue, among the altloc
    IDs that are letters, the one with the highest *sum* of occupancies; IDs are visited in
    sorted order and a later one must be strictly higher, so ties go to the first in sorted
    order. Atoms without altloc ('.', '?', ' ', '') are kept; atoms with a non-letter
    altloc are dropped (biotite keeps only the two sets above).
  * Every model is read the same way; the models become the case's samples when all give
    the same atoms and tokens, else the first model alone (OF3 parses model 1 only; the
    extra NMR models are samples of the same topology, SPEC §1).

Polymer or ligand (OF3 assign_molecule_type_ids, labels.py)
  * Chains are label_asym_id (OF3 update_author_to_pdb_labels sets chain_id =
    label_asym_id), numbered 1, 2, ... in order of appearance as asym_id (OF3
    assign_renumbered_chain_ids).
  * A component's molecule type comes from its _chem_comp.type through OF3's
    CHEM_COMP_TYPE_TO_MOLECULE_TYPE ('L-peptide linking' -> protein, 'RNA linking' ->
    RNA, 'saccharide' and 'non-polymer' -> ligand, ...; case-insensitive; a type missing
    from the table -> ligand); a component missing from _chem_comp -> ligand. A chain of
    one residue is a ligand; a longer chain takes the majority type of its atoms
    (np.argmax of a bincount, so ties go to protein, then RNA, then DNA), counted after
    the altloc choice and before hydrogens are removed, as in parse_mmcif.
  * Files without _chem_comp (PDB format, minimal mmCIF) carry no component types; then
    gemmi's built-in component table (derived from the CCD) gives them: amino acids (AA,
    AAD, PAA, MAA) -> protein, RNA, DNA, and everything else, including names the table
    does not know (simulation lipids, waters such as SOL or TIP3), -> ligand, as OF3 does
    for a component missing from _chem_comp. Residue names are never guessed from.
  * PDB files without chain IDs (simulation output: CHARMM/NAMD) get their chains from
    the segment ID (columns 73-76: PROA, SOLV, ...), so that waters and ions are not
    counted into the protein's molecule-type vote; force-field names of standard residues
    in PDB files (HSD HSE HSP HID HIE HIP -> HIS, CYX CYM -> CYS, ASH -> ASP, GLH -> GLU,
    LYN -> LYS) are read as the standard residue (an extension; atoms a force field names
    otherwise, such as CHARMM's ILE CD, are then absent from Appendix A's list and masked).
  * Branched entities (glycans): in mmCIF each oligosaccharide is one label_asym_id. A PDB
    file has no such label; gemmi gives every ligand residue its own chain, so here
    ligand residues joined by a covalent LINK where either is a saccharide (gemmi kind
    PYR/KET) are merged into one chain, so that the PDB and mmCIF files of one entry give
    the same chains.

Cleanup (OF3 cleanup_structure_af3, in its order)
  * MSE -> MET, its SE atom renamed SD (OF3 convert_MSE_to_MET, AF3 SI 2.1): selenomethionine
    becomes a standard MET token.
  * Arginine NH1/NH2 renamed so that NH1 is the one closer to CD (OF3 fix_arginine_naming).
  * Waters removed: HOH and DOD (OF3 remove_waters). Simulation files name water otherwise;
    WAT SOL TIP TIP3 TIP3P TIP4 TIP4P TIP5P SPC SPCE T3P T4P T5P H2O are removed as water too
    (an extension: OF3 only meets wwPDB files, where water is HOH/DOD).
  * Crystallization aids removed from X-ray entries (OF3 remove_crystallization_aids with
    its CRYSTALLIZATION_AIDS, AF3 SI Table 9: SO4 GOL EDO PO4 ACT PEG DMS TRS PGE PG4 FMT EPE
    MPD MES CD IOD), when _exptl.method / EXPDTA is X-RAY DIFFRACTION.
  * Hydrogens removed: element H or D (OF3 remove_hydrogens).
  * Polymer chains of at most 3 residues removed with the ligands bonded to them (OF3
    remove_small_polymers, remove_chain_and_attached_ligands); the length is that of the
    entity's full sequence (SEQRES / entity_poly_seq), else of the residues present.
  * Polymer chains whose residues are all UNK removed (OF3 remove_fully_unknown_polymers).
  * UNL (unknown ligand) removed: OF3 remove_non_CCD_atoms keeps no atom of it.
  * Protein chains with consecutive (res_id + 1) C-alpha atoms over 10 Å apart removed
    with their bonded ligands (OF3 remove_chains_with_CA_gaps).
  * Terminal OXT / OP3 of standard residues dropped (OF3 remove_std_residue_terminal_atoms);
    here every atom outside a standard residue's Appendix A list is dropped.
  * Atoms with occupancy 0 are kept but masked: OF3's ground-truth atom_resolved_mask is
    clamp(ceil(occupancy), 0, 1) (featurize_structure_af3); their coordinates become 0.

Tokens (OF3 tokenize_atom_array, tokenization.py)
  * A canonical residue (STANDARD_RESIDUES_3: the 20 amino acids and UNK, A G C U N, DA DG
    DC DT DN) in a chain that is not a ligand is one token, its atoms in Appendix A order
    (absent atoms masked, coordinates 0) — unless it is bonded to another residue or chain
    by a bond that is not a peptide bond (both atoms in N, C) or a phosphodiester bond
    (both in P, O3', O5'): such a residue (a disulfide cysteine, a glycosylated asparagine,
    a metal-coordinating residue) is atomized (OF3 find_modified_residue_atom_ids). The
    bonds are those biotite reads from struct_conn (biotite's PDBX_BOND_TYPE_ID_TO_TYPE:
    covale, covale_base, covale_phosphate, covale_sugar, disulf, modres, modres_link,
    metalc; not hydrog), or from LINK/SSBOND records of a PDB file, between atoms that
    survive the cleanup.
  * Every other residue (non-canonical residue of a polymer, ligand, glycan, ion, a
    canonical residue in a ligand chain) is atomized: one token per atom, in file order.
  * restype: the residue's own type when it is one of the 32 (so an atomized CYS keeps
    CYS), else UNK (OF3 get_with_unknown_3: PSU, HYP, ligands -> UNK). is_protein/is_rna/
    is_dna: the chain's molecule type (OF3 featurize_structure_af3); a ligand has none.
    One deviation: a standard token whose name belongs to another kind than its chain (DA
    in an RNA chain) takes the flag of its name, as SPEC §7 refuses a mismatched one.

Not applied (deliberately): OF3 remove_clashing_chains (chain pairs with > 30% of atoms
within 1.7 Å; needs an all-pairs contact search, rare in deposited entries);
remove_non_CCD_atoms beyond UNL and the standard residues (needs the full CCD, which no
Debian package ships); subset_large_structure (a random subset of 20 chains for
training, not a property of the structure); add_unresolved_atoms (adds unresolved
residues as atoms with NaN coordinates: masked atoms that never enter a search, so no
pick changes, but they would change N_atom and N_token); expand_bioassembly (OF3 training
expands assembly 1; the case is the deposited asymmetric unit, or --unit-cell).

Options: --atomize-all makes every present atom an atomized token (the seed author's
stress test; same atoms as without it, absent ones left out); --unit-cell applies every
operator of the space group to the deposited coordinates (no re-centring, no wrapping
into the cell), each copy's chains becoming new asym_ids; --chains keeps the named
label_asym_ids only (after the cleanup and tokenization of the whole entry). The default
case name is the input's base name, with "+all", "+cell" and "+chains=A,B" appended for
those options, so two conversions of one entry never share a case name.

The output is byte-reproducible: fixed HDF5 format version, no timestamps, whole-dataset
chunks with shuffle + gzip 9, arithmetic without BLAS; it is written to a unique
temporary name in the output's folder and renamed. Every error is one line naming the
input file, exit status 1. Run with /usr/bin/python3 (Debian's python3-gemmi,
python3-h5py, python3-numpy).
"""
import argparse
import gzip
import hashlib
import os
import stat
import sys
import tempfile

import gemmi
import h5py
import numpy as np

RESTYPES = ("ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP TYR "
            "VAL UNK A G C U N DA DG DC DT DN GAP").split()
RESTYPE_INDEX = {n: i for i, n in enumerate(RESTYPES)}
UNK = RESTYPE_INDEX["UNK"]
PROTEIN_NAMES = set(RESTYPES[0:21])
RNA_NAMES = set(RESTYPES[21:26])
DNA_NAMES = set(RESTYPES[26:31])
STANDARD_NAMES = PROTEIN_NAMES | RNA_NAMES | DNA_NAMES      # OF3 STANDARD_RESIDUES_3

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

# OF3 MoleculeType (resources/residues.py); the order matters for the majority vote.
PROTEIN, RNA, DNA, LIGAND = 0, 1, 2, 3
KIND_NAME = {PROTEIN: "protein", RNA: "rna", DNA: "dna", LIGAND: None}

# OF3 CHEM_COMP_TYPE_TO_MOLECULE_TYPE (resources/residues.py), keys upper case.
CHEM_COMP_TYPE = {t: PROTEIN for t in (
    "PEPTIDE LINKING", "PEPTIDE-LIKE", "D-PEPTIDE LINKING", "L-PEPTIDE LINKING",
    "D-BETA-PEPTIDE, C-GAMMA LINKING", "D-GAMMA-PEPTIDE, C-DELTA LINKING",
    "L-BETA-PEPTIDE, C-GAMMA LINKING", "L-GAMMA-PEPTIDE, C-DELTA LINKING",
    "D-PEPTIDE NH3 AMINO TERMINUS", "D-PEPTIDE COOH CARBOXY TERMINUS",
    "L-PEPTIDE NH3 AMINO TERMINUS", "L-PEPTIDE COOH CARBOXY TERMINUS")}
CHEM_COMP_TYPE.update({t: RNA for t in (
    "RNA LINKING", "L-RNA LINKING", "RNA OH 5 PRIME TERMINUS", "RNA OH 3 PRIME TERMINUS")})
CHEM_COMP_TYPE.update({t: DNA for t in (
    "DNA LINKING", "L-DNA LINKING", "DNA OH 5 PRIME TERMINUS", "DNA OH 3 PRIME TERMINUS")})
CHEM_COMP_TYPE.update({t: LIGAND for t in (
    "SACCHARIDE", "L-SACCHARIDE", "D-SACCHARIDE", "L-SACCHARIDE, ALPHA LINKING",
    "L-SACCHARIDE, BETA LINKING", "D-SACCHARIDE, ALPHA LINKING",
    "D-SACCHARIDE, BETA LINKING", "NON-POLYMER", "OTHER")})

_K = gemmi.ResidueInfoKind
GEMMI_KIND = {_K.AA: PROTEIN, _K.AAD: PROTEIN, _K.PAA: PROTEIN, _K.MAA: PROTEIN,
              _K.RNA: RNA, _K.DNA: DNA}
SACCHARIDE_KINDS = (_K.PYR, _K.KET)

# Simulation force fields' names of standard residues (protonation states, CHARMM/AMBER)
SIM_RESIDUE_ALIASES = {"HSD": "HIS", "HSE": "HIS", "HSP": "HIS", "HID": "HIS", "HIE": "HIS",
                       "HIP": "HIS", "CYX": "CYS", "CYM": "CYS", "ASH": "ASP", "GLH": "GLU",
                       "LYN": "LYS"}
WATER_NAMES = {"HOH", "DOD"}                                   # OF3 remove_waters
SIM_WATER_NAMES = set("WAT SOL TIP TIP3 TIP3P TIP4 TIP4P TIP5P SPC SPCE T3P T4P T5P "
                      "H2O".split())                           # extension, see header
CRYSTALLIZATION_AIDS = set("SO4 GOL EDO PO4 ACT PEG DMS TRS PGE PG4 FMT EPE MPD MES CD "
                           "IOD".split())                      # AF3 SI Table 9
BOND_TYPES = {"covale", "covale_base", "covale_phosphate", "covale_sugar", "disulf",
              "modres", "modres_link", "metalc"}               # biotite, struct_conn
PEPTIDE_BOND_ATOMS = {"N", "C"}                                # OF3 residues.py
PHOSPHODIESTER_BOND_ATOMS = {"P", "O3'", "O5'"}
NO_ALTLOC = {"", " ", ".", "?"}


class ConvertError(Exception):
    pass


# ------------------------------------------------------------------ reading

def _is_binary_cif(raw):
    """BinaryCIF is a MessagePack map holding 'dataBlocks' (a map starts 0x80-0x8f,
    0xde or 0xdf; text mmCIF and PDB start with printable ASCII)."""
    return len(raw) > 0 and (0x80 <= raw[0] <= 0x8f or raw[0] in (0xde, 0xdf)) \
        and b"dataBlocks" in raw[:4096]


def _looks_like_mmcif(text):
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        return s.lower().startswith("data_")
    return False


def _cif_str(v):
    return None if v is None or v in ("?", ".") else gemmi.cif.as_string(v)


class Source:
    """One input file, read: the gemmi Structure plus what gemmi does not keep."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as e:
                raise ConvertError(f"gzip: {e}")
        if _is_binary_cif(raw):
            raise ConvertError(f"BinaryCIF is not supported: gemmi {gemmi.__version__} reads "
                               "text mmCIF and PDB only; convert the file to text mmCIF first")
        text = raw.decode("latin-1")
        self.notes = []
        self.comp_type = None            # component -> molecule type, from _chem_comp
        self.bonds = []                  # ((chain, seqnum, icode, resname, atom, altloc), x2)
        self.full_seq_len = {}           # subchain -> length of its entity's full sequence
        if _looks_like_mmcif(text):
            self.format = "mmcif"
            self._read_mmcif(text)
        else:
            self.format = "pdb"
            self._read_pdb(text)
        if len(self.st) == 0 or self.st[0].count_atom_sites() == 0:
            raise ConvertError("no atoms (no model with atom records)")
        for ent in self.st.entities:
            for sub in ent.subchains:
                if ent.full_sequence:
                    self.full_seq_len[sub] = len(ent.full_sequence)

    def _read_mmcif(self, text):
        doc = gemmi.cif.read_string(text)
        if len(doc) == 0:
            raise ConvertError("no data block")
        block = doc[0]
        site = block.find_mmcif_category("_atom_site.")
        if len(site) == 0:
            raise ConvertError("no _atom_site records")
        tags = set(site.tags)
        missing = [t for t in ("occupancy", "B_iso_or_equiv") if "_atom_site." + t not in tags]
        if missing:
            # gemmi 0.5.7 builds no model without these columns; add them.
            cat = block.get_mmcif_category("_atom_site.", raw=True)
            n = len(next(iter(cat.values())))
            for t in missing:
                cat[t] = ["1" if t == "occupancy" else "0"] * n
            block.set_mmcif_category("_atom_site.", cat, raw=True)
            self.notes.append("no _atom_site." + " or ".join(missing)
                              + " column: occupancy 1 assumed")
        self.st = gemmi.make_structure_from_block(block)
        self.st.setup_entities()
        methods = [_cif_str(v) for v in block.find_values("_exptl.method")]
        self.methods = [m.upper() for m in methods if m]
        cc = block.find("_chem_comp.", ["id", "type"])
        if len(cc):
            self.comp_type = {}
            for row in cc:
                t = (_cif_str(row[1]) or "").upper()
                self.comp_type[_cif_str(row[0])] = CHEM_COMP_TYPE.get(t, LIGAND)
        cols = ["conn_type_id"]
        for p in ("1", "2"):
            cols += [f"ptnr{p}_label_asym_id", f"ptnr{p}_auth_seq_id",
                     f"?pdbx_ptnr{p}_PDB_ins_code", f"ptnr{p}_label_comp_id",
                     f"ptnr{p}_label_atom_id", f"?pdbx_ptnr{p}_label_alt_id"]
        sc = block.find("_struct_conn.", cols)
        for row in sc:
            if (_cif_str(row[0]) or "").lower() not in BOND_TYPES:
                continue
            ends = []
            for k in (1, 7):
                def val(j):
                    return _cif_str(row[k + j]) if row.has(k + j) else None
                try:
                    num = int(val(1))
                except (TypeError, ValueError):
                    ends = None
                    break
                ends.append((val(0), num, val(2) or " ", val(3), val(4), val(5) or ""))
            if ends:
                self.bonds.append(tuple(ends))

    def _read_pdb(self, text):
        # Simulation programs (CHARMM, NAMD) write 4-character residue names (TIP3,
        # POPC) into columns 18-21; column 21 is blank in the PDB format, and gemmi 0.5.7
        # reads it as part of the chain ID. Blank it for gemmi and restore the names.
        lines, self.names4 = [], {}
        seen = {}
        for line in text.splitlines():
            if line.startswith(("ATOM  ", "HETATM")) and len(line) > 26 and line[20] != " ":
                try:
                    num = int(line[22:26])
                except ValueError:
                    num = None
                if num is not None:
                    key = (line[21], num, line[26] if line[26] != " " else " ",
                           line[17:20].strip())
                    seen.setdefault(key, set()).add(line[17:21].strip())
                line = line[:20] + " " + line[21:]
            lines.append(line)
        self.names4 = {k: v.pop() for k, v in seen.items() if len(v) == 1}
        if self.names4:
            self.notes.append("4-character residue names in columns 18-21 read as such")
        self.st = gemmi.read_pdb_string("\n".join(lines) + "\n")
        self.st.setup_entities()
        m = self.st.info["_exptl.method"] if "_exptl.method" in self.st.info else ""
        self.methods = [s.strip().upper() for s in m.split(";") if s.strip()]
        # LINK/SSBOND: gemmi names partners by author chain; map to subchains below.
        self.pdb_connections = []
        for c in self.st.connections:
            if c.type == gemmi.ConnectionType.Hydrog:
                continue
            ends = []
            for p in (c.partner1, c.partner2):
                alt = p.altloc if p.altloc != "\x00" else ""
                ends.append((p.chain_name, p.res_id.seqid.num, p.res_id.seqid.icode,
                             p.res_id.name, p.atom_name, alt))
            self.pdb_connections.append(tuple(ends))

    def component_type(self, name):
        if self.comp_type is not None:
            return self.comp_type.get(name, LIGAND)     # OF3: missing -> LIGAND
        info = gemmi.find_tabulated_residue(name)
        return GEMMI_KIND.get(info.kind, LIGAND) if info is not None else LIGAND

    def is_xray(self):
        return "X-RAY DIFFRACTION" in self.methods


# ------------------------------------------------------------------ the atom model

class Atom:
    __slots__ = ("name", "element", "altloc", "occ", "pos")

    def __init__(self, a):
        self.name = a.name
        self.element = a.element.name.upper()
        self.altloc = a.altloc if a.altloc != "\x00" else ""
        self.occ = a.occ
        self.pos = (a.pos.x, a.pos.y, a.pos.z)


class Residue:
    __slots__ = ("chain", "auth_chain", "name", "file_name", "num", "icode", "res_id",
                 "atoms")

    def __init__(self, chain, auth_chain, r, names4):
        self.chain = r.subchain or chain
        self.auth_chain = auth_chain
        self.file_name = r.name          # as gemmi read it (what LINK records name)
        self.name = names4.get((auth_chain, r.seqid.num, r.seqid.icode, r.name), r.name)
        self.num = r.seqid.num
        self.icode = r.seqid.icode
        # OF3 res_id: label_seq_id where there is one, else the author number
        self.res_id = r.label_seq if r.label_seq is not None else r.seqid.num
        self.atoms = [Atom(a) for a in r]


def select_altloc(atoms):
    """biotite filter_highest_occupancy_altloc on one residue's atoms."""
    letters = sorted({a.altloc for a in atoms if a.altloc.isalpha()})
    best, best_sum = None, -1.0
    for alt in letters:
        s = float(np.sum(np.array([a.occ for a in atoms if a.altloc == alt],
                                  dtype=np.float32)))
        if s > best_sum:
            best, best_sum = alt, s
    return [a for a in atoms if a.altloc in NO_ALTLOC or a.altloc == best], len(letters) > 1


def read_model(src, model, stats):
    residues = []
    for ch in model:
        for r in ch:
            res = Residue(ch.name, ch.name, r, getattr(src, "names4", {}))
            if src.format == "pdb" and not ch.name.strip() and r.segment.strip():
                res.chain = r.segment.strip()      # simulation output: chain = segment
            alias = SIM_RESIDUE_ALIASES.get(res.name) if src.format == "pdb" else None
            if alias:
                res.name = alias
                stats["sim_aliases"] += 1
            res.atoms, had = select_altloc(res.atoms)
            stats["altloc_residues"] += int(had)
            residues.append(res)
    return residues


def merge_pdb_glycans(src, residues):
    """PDB files: one chain per covalently linked group of ligand residues that holds a
    saccharide (what mmCIF's branched entities give)."""
    ligand_keys = {}
    for r in residues:
        ligand_keys.setdefault(r.chain, []).append(r)
    by_addr = {(r.auth_chain, r.num, r.icode, r.file_name): r for r in residues}
    first = {}
    for i, r in enumerate(residues):
        first.setdefault(r.chain, i)
    parent = {}

    def find(k):
        while parent.get(k, k) != k:
            k = parent[k]
        return k
    for e1, e2 in src.pdb_connections:
        r1, r2 = by_addr.get(e1[:4]), by_addr.get(e2[:4])
        if r1 is None or r2 is None or r1.chain == r2.chain:
            continue
        if any(len(ligand_keys[r.chain]) != 1 or src.component_type(r.name) != LIGAND
               for r in (r1, r2)):
            continue          # only single-residue ligand chains are gemmi's doing
        kinds = [gemmi.find_tabulated_residue(r.name) for r in (r1, r2)]
        if not any(k is not None and k.kind in SACCHARIDE_KINDS for k in kinds):
            continue
        a, b = find(r1.chain), find(r2.chain)
        if a != b:
            parent[max(a, b, key=first.get)] = min(a, b, key=first.get)
    merged = 0
    for r in residues:
        root = find(r.chain)
        if root != r.chain:
            r.chain = root
            merged += 1
    return merged


def chain_groups(residues):
    groups = {}
    for r in residues:
        groups.setdefault(r.chain, []).append(r)
    return groups


def molecule_types(src, residues):
    """OF3 assign_molecule_type_ids: per chain, ligand if one residue, else the majority
    molecule type of its atoms (ties to the lowest MoleculeType)."""
    types = {}
    for key, rs in chain_groups(residues).items():
        if len(rs) <= 1:
            types[key] = LIGAND
            continue
        counts = np.zeros(4, dtype=np.int64)
        for r in rs:
            counts[src.component_type(r.name)] += len(r.atoms)
        types[key] = int(np.argmax(counts)) if counts.sum() else LIGAND
    return types


def bond_list(src, residues):
    """Inter-residue bonds as pairs of (residue index, atom name, altloc)."""
    out = []
    if src.format == "mmcif":
        index = {(r.chain, r.num, r.icode, r.file_name): i for i, r in enumerate(residues)}
        pairs = src.bonds
    else:
        index = {(r.auth_chain, r.num, r.icode, r.file_name): i
                 for i, r in enumerate(residues)}
        pairs = src.pdb_connections
    for e1, e2 in pairs:
        i, j = index.get(e1[:4]), index.get(e2[:4])
        if i is None or j is None:
            continue
        out.append(((i, e1[4], e1[5]), (j, e2[4], e2[5])))
    return out


def atom_survives(res, name, altloc):
    return any(a.name == name and (not altloc or not a.altloc or a.altloc == altloc)
               for a in res.atoms)


def remove_chains(residues, types, bonds, doomed):
    """OF3 remove_chain_and_attached_ligands for every chain in doomed: the chain and the
    ligand chains bonded to it."""
    doomed = set(doomed)
    extra = set()
    for (i, _, _), (j, _, _) in bonds:
        if residues[i] is None or residues[j] is None:
            continue
        ci, cj = residues[i].chain, residues[j].chain
        for a, b in ((ci, cj), (cj, ci)):
            if a in doomed and types.get(a) != LIGAND and types.get(b) == LIGAND:
                extra.add(b)
    gone = doomed | extra
    return [r if r is not None and r.chain not in gone else None for r in residues], len(gone)


def cleanup(src, residues, types, stats):
    """OF3 cleanup_structure_af3, in its order. Residues removed become None so bond
    indices stay valid."""
    bonds = bond_list(src, residues)
    for r in residues:
        if r.name == "MSE":                                  # convert_MSE_to_MET
            r.name = "MET"
            for a in r.atoms:
                if a.element == "SE":
                    a.element, a.name = "S", "SD"
            stats["mse"] += 1
    for r in residues:                                       # fix_arginine_naming
        if r.name == "ARG":
            by = {a.name: a for a in r.atoms}
            if all(k in by for k in ("NH1", "NH2", "CD")):
                cd = np.array(by["CD"].pos, dtype=np.float32)
                d1 = np.linalg.norm(np.array(by["NH1"].pos, dtype=np.float32) - cd)
                d2 = np.linalg.norm(np.array(by["NH2"].pos, dtype=np.float32) - cd)
                if d2 < d1:
                    by["NH1"].name, by["NH2"].name = "NH2", "NH1"
                    stats["arg_swapped"] += 1
    xray = src.is_xray()
    for i, r in enumerate(residues):
        if r.name in WATER_NAMES or r.name in SIM_WATER_NAMES:   # remove_waters
            stats["waters"] += 1
            residues[i] = None
        elif xray and r.name in CRYSTALLIZATION_AIDS:            # remove_crystallization_aids
            stats["aids"] += 1
            residues[i] = None
        elif r.name == "UNL":                                    # remove_non_CCD_atoms
            stats["unl"] += 1
            residues[i] = None
    for r in residues:                                           # remove_hydrogens
        if r is not None:
            n = len(r.atoms)
            r.atoms = [a for a in r.atoms if a.element not in ("H", "D")]
            stats["hydrogens"] += n - len(r.atoms)
    live = [r for r in residues if r is not None]
    groups = chain_groups(live)
    small = [k for k, rs in groups.items() if types[k] != LIGAND
             and src.full_seq_len.get(k, len(rs)) <= 3]          # remove_small_polymers
    unknown = [k for k, rs in groups.items() if types[k] != LIGAND
               and all(r.name == "UNK" for r in rs)]             # remove_fully_unknown_polymers
    gaps = []                                                    # remove_chains_with_CA_gaps
    for k, rs in groups.items():
        if types[k] != PROTEIN:
            continue
        ca = [(r.res_id, a.pos) for r in rs for a in r.atoms if a.name == "CA"]
        for (n0, p0), (n1, p1) in zip(ca, ca[1:]):
            d = np.linalg.norm(np.array(p1, dtype=np.float32) - np.array(p0, dtype=np.float32))
            if n1 - n0 == 1 and d > 10.0:
                gaps.append(k)
                break
    for what, doomed in (("small_polymers", small), ("unknown_polymers", unknown),
                         ("ca_gap_chains", gaps)):
        if doomed:
            residues, n = remove_chains(residues, types, bonds, doomed)
            stats[what] += n
    # bonds whose two atoms survived
    live_bonds = []
    for (i, n1, a1), (j, n2, a2) in bonds:
        if residues[i] is None or residues[j] is None:
            continue
        if atom_survives(residues[i], n1, a1) and atom_survives(residues[j], n2, a2):
            live_bonds.append(((i, n1), (j, n2)))
    return residues, live_bonds


def modified_residues(residues, bonds):
    """OF3 find_modified_residue_atom_ids: residues bonded to another residue or chain by
    a bond that is neither a peptide nor a phosphodiester bond."""
    out = set()
    for (i, n1), (j, n2) in bonds:
        ri, rj = residues[i], residues[j]
        if ri.chain == rj.chain and ri.res_id == rj.res_id:
            continue
        if n1 in PEPTIDE_BOND_ATOMS and n2 in PEPTIDE_BOND_ATOMS:
            continue
        if n1 in PHOSPHODIESTER_BOND_ATOMS and n2 in PHOSPHODIESTER_BOND_ATOMS:
            continue
        out.update((i, j))
    return out


def name_kind(name):
    return PROTEIN if name in PROTEIN_NAMES else RNA if name in RNA_NAMES else \
        DNA if name in DNA_NAMES else LIGAND


def tokenize(residues, types, modified, atomize_all, stats):
    """Tokens of one model: a list of dicts (topology) and a list of xyz per atom.
    modified: indices of the residues bonded by a non-canonical bond (of the whole entry,
    before any --chains selection)."""
    tokens, xyz = [], []
    for i, res in enumerate(residues):
        if res is None:
            continue
        kind = types[res.chain]
        standard = res.name in STANDARD_NAMES and kind != LIGAND and i not in modified
        if res.name in STANDARD_NAMES and kind != LIGAND and i in modified:
            stats["bonded_atomized"] += 1
        rt = RESTYPE_INDEX.get(res.name, UNK)
        if standard:
            kind = name_kind(res.name)   # deviation: SPEC §7 refuses a mismatched flag
            canon = CANON[res.name]
            by_name = {}
            for a in res.atoms:
                if a.name in canon:
                    by_name.setdefault(a.name, a)
                else:
                    key = f"{res.name}:{a.name}"
                    stats["dropped"][key] = stats["dropped"].get(key, 0) + 1
            layout = []
            for n in canon:
                a = by_name.get(n)
                if a is not None and a.occ <= 0:
                    a = None
                    stats["zero_occupancy"] += 1
                layout.append((n, a))
                if a is None:
                    stats["missing"] += 1
            if atomize_all:
                for n, a in layout:
                    if a is not None:
                        tokens.append(dict(asym=res.chain, restype=rt, kind=kind, atomized=1,
                                           res_name=res.name, atoms=((n, 1),)))
                        xyz.append(a.pos)
            else:
                tokens.append(dict(asym=res.chain, restype=rt, kind=kind, atomized=0,
                                   res_name=res.name,
                                   atoms=tuple((n, int(a is not None)) for n, a in layout)))
                for n, a in layout:
                    xyz.append(a.pos if a is not None else (0.0, 0.0, 0.0))
        else:
            for a in res.atoms:
                present = int(a.occ > 0)
                if not present:
                    stats["zero_occupancy"] += 1
                    if atomize_all:
                        continue
                tokens.append(dict(asym=res.chain, restype=rt, kind=kind, atomized=1,
                                   res_name=res.name, atoms=((a.name, present),)))
                xyz.append(a.pos if present else (0.0, 0.0, 0.0))
    return tokens, xyz


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


def new_stats():
    return {"dropped": {}, "missing": 0, "altloc_residues": 0, "mse": 0, "arg_swapped": 0,
            "waters": 0, "aids": 0, "unl": 0, "hydrogens": 0, "small_polymers": 0,
            "unknown_polymers": 0, "ca_gap_chains": 0, "bonded_atomized": 0,
            "zero_occupancy": 0, "glycan_merged": 0, "sim_aliases": 0}


def convert(path, atomize_all=False, unit_cell=False, chains=None):
    src = Source(path)
    st = src.st
    notes = list(src.notes)
    per_model = []
    stats0 = None
    for model in st:
        stats = new_stats()
        residues = read_model(src, model, stats)
        if src.format == "pdb":
            stats["glycan_merged"] = merge_pdb_glycans(src, residues)
        types = molecule_types(src, residues)
        residues, bonds = cleanup(src, residues, types, stats)
        if not any(a.occ > 0 for r in residues if r is not None for a in r.atoms):
            raise ConvertError("every atom has occupancy 0 (OpenFold3's parse_mmcif skips "
                               "such a structure)")
        modified = modified_residues(residues, bonds)
        if chains is not None:
            have = sorted({r.chain for r in residues if r is not None})
            absent = sorted(set(chains) - set(have))
            if absent:
                raise ConvertError(f"--chains: no chain {', '.join(absent)} after cleanup "
                                   f"(label_asym_ids present: {', '.join(have) or 'none'})")
            residues = [r if r is not None and r.chain in chains else None for r in residues]
        tokens, xyz = tokenize(residues, types, modified, atomize_all, stats)
        per_model.append((tokens, xyz))
        if stats0 is None:
            stats0 = stats
    topo = [[(t["asym"], t["restype"], t["kind"], t["atomized"], t["res_name"], t["atoms"])
             for t in pm[0]] for pm in per_model]
    if all(t == topo[0] for t in topo[1:]):
        used = per_model
        notes.append(f"models: {len(st)} of {len(st)} as samples")
    else:
        used = per_model[:1]
        notes.append(f"models: first of {len(st)} (the models differ in atoms)")
    tokens = used[0][0]
    if not tokens:
        raise ConvertError("no atoms left after the cleanup (waters, hydrogens, "
                           "crystallization aids and short or unknown polymers removed)")
    s = stats0
    src_kind = "_chem_comp.type" if src.comp_type is not None else "gemmi's component table"
    notes.append(f"OpenFold3 cleanup: altloc by summed occupancy in {s['altloc_residues']} "
                 f"residues, {s['mse']} MSE->MET, {s['arg_swapped']} ARG NH1/NH2 renamed, "
                 f"removed {s['waters']} waters, {s['aids']} crystallization aids, "
                 f"{s['unl']} UNL, {s['hydrogens']} H/D, {s['small_polymers']} chains for "
                 f"<= 3 residues, {s['unknown_polymers']} for all-UNK, {s['ca_gap_chains']} for "
                 f"CA gaps; {s['bonded_atomized']} bonded standard residues atomized; "
                 f"{s['zero_occupancy']} zero-occupancy atoms masked; "
                 + (f"{s['sim_aliases']} force-field residue names read as standard; "
                    if s["sim_aliases"] else "") + "molecule types from "
                 f"{src_kind}" + (f"; {s['glycan_merged']} glycan residues joined to their "
                                  "tree's chain" if s["glycan_merged"] else ""))
    x = np.stack([np.asarray(pm[1], dtype=np.float64) for pm in used])
    if unit_cell:
        tokens, x, ops = expand_unit_cell(st, tokens, x)
        notes.append(f"unit cell: {len(ops)} operators of {st.find_spacegroup().hm} "
                     f"applied to the deposited coordinates, not re-centred or wrapped")
    return st, tokens, x, s, notes


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
        "atom_name": np.array([n.encode("ascii", "replace") for t in tokens
                               for n, _ in t["atoms"]], dtype="S"),
        "res_name": np.array([t["res_name"].encode("ascii", "replace") for t in tokens],
                             dtype="S"),
        "chain_label": np.array([t["asym"].encode("ascii", "replace") for t in tokens],
                                dtype="S"),
    }
    if not np.all(np.isfinite(d["x"])):
        raise ConvertError("non-finite coordinate after conversion to float32")
    return d


DATASET_ORDER = ("x", "atom_mask", "restype", "asym_id", "start_atom_index",
                 "num_atoms_per_token", "is_protein", "is_rna", "is_dna", "is_atomized",
                 "token_mask", "atom_name", "res_name", "chain_label")


def check_output_path(out, inp):
    """Refuse an output that is the input, a symbolic link, or not a regular file."""
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise ConvertError(f"output {out} is a symbolic link; refusing to write through it")
        if not stat.S_ISREG(st.st_mode):
            raise ConvertError(f"output {out} is not a regular file")
        if os.path.samefile(out, inp):
            raise ConvertError(f"output {out} is the input file")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ConvertError(f"cannot write {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConvertError(f"cannot write {out}: folder {folder} is not writable")


def write_case(out, name, source, d):
    """Write SPEC §8 format version 1, byte-reproducibly, via a unique temporary name in
    the output's folder (two conversions to one output never share a temporary file)."""
    folder = os.path.dirname(os.path.abspath(out))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(out) + ".", suffix=".tmp",
                                   dir=folder)
    except OSError as e:
        raise ConvertError(f"cannot write {out}: {e.strerror or e}")
    os.close(fd)
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
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, out)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise ConvertError(f"cannot write {out}: {e.strerror or e}")
        raise


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_name(path, atomize_all, unit_cell, chains):
    base = os.path.basename(path)
    for ext in (".gz", ".cif", ".mmcif", ".pdb", ".ent", ".bcif"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    if atomize_all:
        base += "+all"
    if unit_cell:
        base += "+cell"
    if chains:
        base += "+chains=" + ",".join(chains)
    return base


def run(args):
    chains = [c for c in args.chains.split(",") if c] if args.chains else None
    if args.chains is not None and not chains:
        raise ConvertError("--chains needs at least one label_asym_id")
    check_output_path(args.output, args.input)
    st, tokens, x, stats, notes = convert(args.input, args.atomize_all, args.unit_cell,
                                          set(chains) if chains else None)
    d = build_arrays(tokens, x)
    name = args.name or default_name(args.input, args.atomize_all, args.unit_cell, chains)
    entry = args.entry or (st.info["_entry.id"] if "_entry.id" in st.info else st.name)
    opts = []
    if args.atomize_all:
        opts.append("--atomize-all")
    if args.unit_cell:
        opts.append("--unit-cell")
    if chains:
        opts.append(f"--chains {','.join(chains)}")
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


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a PDB/mmCIF entry (optionally gzipped) "
                                 "to a frameprec case file (SPEC §1, §8), cleaned and "
                                 "tokenized as OpenFold3 does.")
    ap.add_argument("input", help="PDB or mmCIF file (.gz accepted)")
    ap.add_argument("-o", "--output", required=True, help="case file to write (.h5)")
    ap.add_argument("--name", help="case name (default: the input's base name, + '+all', "
                    "'+cell', '+chains=...' for those options)")
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
    try:
        run(args)
    except KeyboardInterrupt:
        print(f"cif2case: {args.input}: interrupted; nothing written", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"cif2case: {args.input}: out of memory; nothing written", file=sys.stderr)
        return 1
    except Exception as e:   # every error is one line naming the file (never a traceback)
        msg = str(e) if isinstance(e, (ConvertError, OSError)) else f"{type(e).__name__}: {e}"
        if isinstance(e, OSError) and e.filename:
            msg = f"{e.strerror or e} ({e.filename})"
        print(f"cif2case: {args.input}: " + " ".join(msg.split()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
