#!/usr/bin/python3
"""tf32_numpy.py — an independent TF32 emulation of PyTorch's cdist, in numpy (issue 14).

What it emulates: torch.cdist's matrix-product path (_euclidean_dist in ATen's
Distance.cpp): x_norm = x.pow(2).sum(-1); A = cat([-2x, x_norm, 1]); B = cat([x, 1, x_norm]);
result = A @ B.T; clamp_min(0); sqrt — run by a GPU under TF32: both GEMM operands
reduced to TF32 (11 significant bits) and the products accumulated in float32. Debian's
PyTorch 1.13 returns 0 on cdist's diagonal for exactly representable points, i.e. the
clamp is at 0. Written from that description with numpy's IEEE float32 arithmetic and
bit masks on the float32 encoding, sharing no code with frameprec's C backend.

  tf32_numpy.py CASE.h5 FRAMES.h5 [--round nearest_away|nearest_even|zero] [--acc f32|tc]
                [--translate A]

For every sample and atomized token, ranks the start atom's row (present atoms of the
same chain; other columns +inf) by (value, index) and takes ranks 1 and 2 as the picks
a and c; compares them with FRAMES.h5 (a frames file made by `frameprec frames`).
Prints one JSON line {"tokens": T, "differ": D, "first": [...]}; exit 0 when D == 0.
"""
import argparse
import json
import sys

import h5py
import numpy as np

F32 = np.float32


def to_tf32(v, mode):
    """float32 array -> TF32 values (float32 with the low 13 mantissa bits zero)."""
    u = np.ascontiguousarray(v, dtype=F32).view(np.uint32).astype(np.uint64)
    if mode == "nearest_away":      # add half a TF32 ulp, drop the bits (cvt.rna)
        u = u + 0x1000
    elif mode == "nearest_even":    # add just under half, plus the kept lsb
        u = u + 0xFFF + ((u >> 13) & 1)
    elif mode != "zero":
        raise SystemExit("bad --round " + mode)
    u = (u & 0xFFFFE000).astype(np.uint32)
    return u.view(F32)


def tc_block(c, terms):
    """Tensor-core block (Fasi et al. 2021 as SPEC §3 states it): terms aligned to the
    largest exponent, truncated toward zero to 24 bits there, added exactly, the sum
    truncated to float32. c and terms: float64 arrays holding float32 values."""
    allt = np.stack([c] + list(terms))
    amax = np.max(np.abs(allt), axis=0)
    _, e = np.frexp(amax)
    q = np.ldexp(1.0, e - 24)
    s = np.sum(np.trunc(allt / q) * q, axis=0)
    s = np.where(amax == 0, 0.0, s)
    f = s.astype(F32)
    over = np.abs(f.astype(np.float64)) > np.abs(s)
    f = np.where(over, np.nextafter(f, F32(0)), f)
    return f


def row_values(x, q, cols, mode, acc):
    """The cdist value of atom q against atoms `cols` (float32 array [n])."""
    xq = x[q]
    xc = x[cols]
    nq = (xq[0] * xq[0] + xq[1] * xq[1]) + xq[2] * xq[2]
    nc = (xc[:, 0] * xc[:, 0] + xc[:, 1] * xc[:, 1]) + xc[:, 2] * xc[:, 2]
    a = to_tf32(np.array([F32(-2) * xq[0], F32(-2) * xq[1], F32(-2) * xq[2], nq, F32(1)],
                         dtype=F32), mode)
    ones = np.ones(len(cols), dtype=F32)
    b = [to_tf32(xc[:, 0], mode), to_tf32(xc[:, 1], mode), to_tf32(xc[:, 2], mode),
         to_tf32(ones, mode), to_tf32(nc, mode)]
    p = [a[k] * b[k] for k in range(5)]  # exact: 11 x 11 bits fit float32
    if acc == "f32":
        s = p[0]
        for k in range(1, 5):
            s = s + p[k]  # float32, rounded to nearest (fma(a,b,s) = s + a*b: exact a*b)
    else:
        z = np.zeros(len(cols))
        s1 = tc_block(z, [t.astype(np.float64) for t in p[:4]])
        s = tc_block(s1.astype(np.float64), [p[4].astype(np.float64)])
    s = np.where(s > 0, s, F32(0)).astype(F32)
    return np.sqrt(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("frames")
    ap.add_argument("--round", default="nearest_away")
    ap.add_argument("--acc", default="f32", choices=("f32", "tc"))
    ap.add_argument("--translate", type=float, default=0.0)
    a = ap.parse_args()
    with h5py.File(a.case, "r") as h:
        X = np.asarray(h["x"][()], dtype=F32)
        if X.ndim == 2:
            X = X[None]
        am = np.asarray(h["atom_mask"][()]) != 0
        asym = np.asarray(h["asym_id"][()]).astype(np.int64)
        start = np.asarray(h["start_atom_index"][()]).astype(np.int64)
        nat = np.asarray(h["num_atoms_per_token"][()]).astype(np.int64)
        tmask = np.asarray(h["token_mask"][()]) != 0
        atomized = np.asarray(h["is_atomized"][()]) != 0
    with h5py.File(a.frames, "r") as h:
        fa = np.asarray(h["a_index"][()])
        fc = np.asarray(h["c_index"][()])
    X = (X + F32(a.translate)).astype(F32) if a.translate else X
    S, N = X.shape[0], X.shape[1]
    # SPEC §2 step 1: each unmasked token hands its asym_id to its atoms in order;
    # atoms left over get chain 0.
    walk = np.repeat(np.where(tmask, asym, 0), np.where(tmask, nat, 0))[:N]
    chain = np.zeros(N, dtype=np.int64)
    chain[: len(walk)] = walk
    tokens = differ = 0
    first = []
    for s in range(S):
        x = X[s]
        for t in np.nonzero(atomized)[0]:
            st = int(start[t])
            cand = np.nonzero(am & (chain == chain[st]))[0] if am[st] else np.zeros(0, int)
            vals = np.full(N, np.inf)
            if len(cand):
                vals[cand] = row_values(x, st, cand, a.round, a.acc).astype(np.float64)
            order = np.lexsort((np.arange(N), vals))  # by value, then index
            pa, pc = int(order[1]), int(order[2])
            tokens += 1
            if pa != int(fa[s, t]) or pc != int(fc[s, t]):
                differ += 1
                if len(first) < 5:
                    first.append({"sample": s, "token": int(t), "numpy": [pa, pc],
                                  "frameprec": [int(fa[s, t]), int(fc[s, t])]})
    print(json.dumps({"tokens": tokens, "differ": differ, "round": a.round, "acc": a.acc,
                      "translate": a.translate, "first": first}))
    sys.exit(0 if differ == 0 else 1)


if __name__ == "__main__":
    main()
