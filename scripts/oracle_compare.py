#!/usr/bin/python3
"""oracle_compare.py — compare two frames files (SPEC §8) of one case token by token.

  oracle_compare.py CASE REF.h5 OTHER.h5 [--ties diff|values|none] [--label L] [--list N]

A token differs when any of a_index, b_index, c_index, phi (bitwise) or
valid_frame_mask differs. For each differing token the script decides whether the
difference lies inside an *exact computed tie*: the two runs picked different atoms
that have bitwise-equal computed values at the same rank, so the top-k was free to
return either (torch.topk leaves the order of equal values unspecified).
  --ties diff    recompute the value of every pick with the float32 difference formula
                 (SPEC §3 exact_diff: numpy float32, each operation rounded, masked
                 pairs = float32(inf)), independent of both files; use it for
                 exact_diff vs torch's difference-formula variants.
  --ties values  use each file's own top_value dataset (the value its arithmetic
                 gave): counted as "in ties" when both files rank bitwise-equal values
                 at ranks 1 and 2 with different atoms (consistent with a tie, not a
                 proof of one: each side's values come from its own arithmetic). Use
                 it for matmul vs torch.cdist.
  --ties none    every difference counts (bit-for-bit claims).
Prints one JSON object: counts and the first --list differences with their values.
Exit status 0 always (the caller decides what is a failure).
"""
import argparse
import json

import h5py
import numpy as np


def load_frames(p):
    with h5py.File(p, "r") as h:
        f = {k: np.asarray(h[k][()]) for k in ("a_index", "b_index", "c_index", "phi",
                                               "valid_frame_mask")}
        f["top_value"] = np.asarray(h["top_value"][()]) if "top_value" in h else None
        f["backend"] = h.attrs.get("backend", "")
        if isinstance(f["backend"], bytes):
            f["backend"] = f["backend"].decode()
    return f


def load_case(p):
    with h5py.File(p, "r") as h:
        c = {k: np.asarray(h[k][()]) for k in ("x", "atom_mask", "asym_id", "token_mask",
                                               "num_atoms_per_token", "start_atom_index",
                                               "is_atomized")}
        c["eps"] = float(h.attrs.get("eps", 1e-8))
        c["inf"] = float(h.attrs.get("inf", 1e9))
    c["x"] = c["x"].astype(np.float32)
    n = c["x"].shape[1]
    chain = np.zeros(n, dtype=np.int64)
    a = 0
    for t in range(len(c["asym_id"])):  # SPEC §2 step 1
        if not c["token_mask"][t]:
            continue
        k = min(int(c["num_atoms_per_token"][t]), n - a)
        chain[a : a + k] = int(c["asym_id"][t])
        a += k
    c["chain"] = chain
    return c


def diff_value(c, s, i, j):
    """exact_diff's float32 value of pair (i, j) in sample s, masked pairs = inf."""
    am = c["atom_mask"]
    if not (am[i] and am[j] and c["chain"][i] == c["chain"][j]):
        return float(np.float32(c["inf"]))
    e = np.float32(c["eps"])
    xi, xj = c["x"][s, i], c["x"][s, j]
    t = [e + (np.float32(xi[k] - xj[k]) * np.float32(xi[k] - xj[k])) for k in range(3)]
    return float(np.sqrt(np.float32(np.float32(t[0] + t[1]) + t[2])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("ref")
    ap.add_argument("other")
    ap.add_argument("--ties", choices=("diff", "values", "none"), default="none")
    ap.add_argument("--label", default="")
    ap.add_argument("--list", type=int, default=20)
    a = ap.parse_args()
    c = load_case(a.case)
    r, o = load_frames(a.ref), load_frames(a.other)
    if r["a_index"].shape != o["a_index"].shape:
        print(json.dumps({"label": a.label, "error": "shape mismatch %s vs %s"
                          % (r["a_index"].shape, o["a_index"].shape)}))
        return
    S, T = r["a_index"].shape
    atomized = c["is_atomized"].astype(bool)
    differs = np.zeros((S, T), dtype=bool)
    for k in ("a_index", "b_index", "c_index", "valid_frame_mask"):
        differs |= r[k] != o[k]
    differs |= np.any(r["phi"].view(np.uint32).reshape(S, T, 9)
                      != o["phi"].view(np.uint32).reshape(S, T, 9), axis=-1)
    pick = (r["a_index"] != o["a_index"]) | (r["c_index"] != o["c_index"])
    tv_equal = None
    if r["top_value"] is not None and o["top_value"] is not None:
        rv, ov = r["top_value"][:, atomized], o["top_value"][:, atomized]
        same = (rv == ov) | (np.isnan(rv) & np.isnan(ov))
        tv_equal = int(np.all(same, axis=-1).sum())
    ties, other, listed = 0, 0, []
    for s, t in zip(*np.nonzero(differs)):
        s, t = int(s), int(t)
        ent = {"sample": s, "token": t, "ref": [int(r["a_index"][s, t]), int(r["c_index"][s, t])],
               "other": [int(o["a_index"][s, t]), int(o["c_index"][s, t])],
               "valid": [int(r["valid_frame_mask"][s, t]), int(o["valid_frame_mask"][s, t])]}
        tie = False
        if atomized[t] and a.ties == "diff":
            st = int(c["start_atom_index"][t])
            vr = [diff_value(c, s, st, j) for j in ent["ref"]]
            vo = [diff_value(c, s, st, j) for j in ent["other"]]
            ent["values_ref"], ent["values_other"] = vr, vo
            tie = vr == vo
        elif atomized[t] and a.ties == "values":
            vr = [float(v) for v in r["top_value"][s, t, 1:]]
            vo = [float(v) for v in o["top_value"][s, t, 1:]]
            ent["values_ref"], ent["values_other"] = vr, vo
            # equal ranked values on both sides, different atoms: consistent with a
            # tie (each side's own arithmetic gave the same values at ranks 1 and 2)
            tie = vr == vo
        ent["tie"] = bool(tie)
        if tie:
            ties += 1
        else:
            other += 1
        if len(listed) < a.list:
            listed.append(ent)
    out = {"label": a.label, "ref": r["backend"], "other": o["backend"], "samples": S,
           "tokens": T, "atomized_tokens": int(atomized.sum()) * S,
           "differ": int(differs.sum()), "differ_pick": int(pick.sum()),
           "differ_valid": int((r["valid_frame_mask"] != o["valid_frame_mask"]).sum()),
           "in_exact_ties": ties, "not_ties": other,
           "top_values_bitwise_equal": tv_equal, "ties_mode": a.ties, "listed": listed}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
