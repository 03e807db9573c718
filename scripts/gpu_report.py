#!/usr/bin/python3
"""gpu_report.py — reports/GPU.md from the GPU runs of `make oracle-gpu` (issue 14).

  gpu_report.py --bin build/frameprec --work WORK -o reports/GPU.md RUN_LABEL=DIR ...

Each DIR was written by scripts/torch_frames.py on a CUDA device (one file per case,
atomization mode and offset; provenance in its attributes). For every file, frameprec
computes the same case with every emulation a reviewer might think the GPU follows —
exact_diff; matmul with fma=1/0 and orders seq/rev/pairwise; matmul_tf32 with every
round (nearest_away, nearest_even, zero) and acc (f32, tc) option — and the exact truth,
and counts the tokens (× samples) whose frame or valid mask differs from the GPU's beyond
tie order (`frameprec score --as EMULATION`: vs_declared; for the truth: changed), token
by token. The emulation with the fewest differences is the one the hardware follows; 0
means it reproduces the GPU pick for pick. WORK/study/summary.json (the study with the
runs imported) adds the SPEC §5 scores of each GPU run, when present.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import subprocess
import sys

import h5py
import numpy as np

EMULATIONS = [
    ("exact_diff", ""),
    ("matmul", ""), ("matmul", "fma=0"), ("matmul", "order=rev"), ("matmul", "order=pairwise"),
] + [("matmul_tf32", "round=%s,acc=%s" % (r, a))
     for r in ("nearest_away", "nearest_even", "zero") for a in ("f32", "tc")] + [("truth", "")]


def label(b, p):
    return b + ("(" + p + ")" if p else "")


def attr(h, k, default=""):
    v = h.attrs.get(k, default)
    return v.decode() if isinstance(v, bytes) else v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("runs", nargs="+", help="LABEL=DIR")
    a = ap.parse_args()
    runs = [r.split("=", 1) for r in a.runs]
    emu_dir = os.path.join(a.work, "emu")
    os.makedirs(emu_dir, exist_ok=True)
    rows = []      # (run, file key, tokens, {emulation: differing})
    prov = {}
    totals = {r: {label(*e): 0 for e in EMULATIONS} for r, _ in runs}
    ntok = {r: 0 for r, _ in runs}
    jobs = []  # (run, key, n-holder, emulation label, command, json path)
    for run, d in runs:
        for f in sorted(glob.glob(os.path.join(d, "*.h5"))):
            with h5py.File(f, "r") as h:
                case_file = attr(h, "case_file")
                mode = attr(h, "mode")
                off = float(h.attrs.get("offset", 0.0))
                prov[run] = {k: str(attr(h, k)) for k in ("function", "device_name", "torch_version",
                                                            "matmul_precision", "allow_tf32")}
            key = os.path.basename(f)[:-3]
            for b, p in EMULATIONS:
                if b == "truth":
                    continue
                js = os.path.join(emu_dir, "%s.%s.%s.json" % (run, key, label(b, p).replace("=", "-").replace(",", "_")))
                cmd = [a.bin, "score", "-q", case_file, f, "--as", b, "--json", js,
                       "--translate", repr(off)]
                if p:
                    cmd += ["--params", p]
                if mode == "all":
                    cmd.append("--atomize-all")
                jobs.append((run, key, label(b, p), cmd, js))
    # each score is independent: run them on every core
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        for r in ex.map(lambda j: subprocess.run(j[3], capture_output=True, text=True), jobs):
            if r.returncode not in (0,):
                raise SystemExit("gpu_report: %s failed: %s" % (" ".join(r.args), r.stderr.strip()))
    per = {}
    for run, key, lab, cmd, js in jobs:
        d = json.load(open(js))
        e = per.setdefault((run, key), {"n": 0, "diffs": {}})
        # tokens whose frame or valid mask differs from this emulation's own, beyond tie
        # order (another atom of exactly equal computed value)
        e["diffs"][lab] = d["vs_declared"]
        e["n"] = d["metrics"]["tokens"]
        if lab == "exact_diff":
            e["diffs"]["truth"] = d["changed"]  # vs the exact truth, tie order aside
    for (run, key), e in per.items():
        rows.append((run, key, e["n"], e["diffs"]))
        ntok[run] += e["n"]
        for k, v in e["diffs"].items():
            totals[run][k] += v
    study = os.path.join(a.work, "study", "summary.json")
    scores = {}
    if os.path.exists(study):
        s = json.load(open(study))
        for r in s.get("runs", []):
            bs = r.get("backends", {})
            items = bs.items() if isinstance(bs, dict) else [(b.get("name", b.get("backend")), b) for b in bs]
            for name, m in items:
                m = m.get("metrics", m)
                if name in totals:
                    acc = scores.setdefault(name, {"tokens": 0, "mismatch": 0, "unexplained": 0,
                                                   "flips": 0, "ident_diff": 0})
                    acc["tokens"] += m.get("tokens", 0)
                    acc["mismatch"] += m.get("mismatch", 0)
                    acc["unexplained"] += m.get("unexplained", 0)
                    acc["flips"] += m.get("flip_01", 0) + m.get("flip_10", 0)
                    acc["ident_diff"] += max(0, m.get("ident_diff", 0))
    names = [label(*e) for e in EMULATIONS]
    L = []
    L.append("# frameprec on a real GPU: which emulation does the hardware follow?\n")
    L.append("Written by `make oracle-gpu` (scripts/oracle_gpu.sh, scripts/gpu_report.py). Each GPU run "
             "is OpenFold3's frame-atom function run by scripts/torch_frames.py on CUDA; each cell "
             "counts the tokens × samples whose frame or valid mask differs from that frameprec "
             "emulation beyond tie order (`frameprec score --as EMULATION`, vs_declared; 0: the "
             "emulation reproduces the GPU pick for pick up to topk's order of exactly equal values). "
             "`truth`: tokens whose frame differs from the exact truth's (tie order aside). "
             "`tokens`: atomized tokens × samples compared.\n")
    if any(p.get("device_name") == "cpu" for p in prov.values()):
        L.append("**DRY RUN ON THE CPU (GPU_DEVICE=cpu): no GPU was used; this only tests the "
                 "pipeline.**\n")
    L.append("| run | function | device | torch | matmul precision | allow_tf32 |")
    L.append("|---|---|---|---|---|---|")
    for r, _ in runs:
        p = prov.get(r, {})
        L.append("| %s | %s | %s | %s | %s | %s |" % (r, p.get("function", "?"), p.get("device_name", "?"),
                                                   p.get("torch_version", "?"), p.get("matmul_precision", "?"),
                                                   p.get("allow_tf32", "?")))
    L.append("\n## Totals over every case, mode and offset\n")
    L.append("| run | tokens | " + " | ".join("`%s`" % n for n in names) + " | closest |")
    L.append("|---|---:|" + "---:|" * len(names) + "---|")
    for r, _ in runs:
        t = totals[r]
        best = min((v, k) for k, v in t.items() if k != "truth")[1]
        L.append("| %s | %d | %s | `%s` |" % (r, ntok[r], " | ".join(str(t[n]) for n in names), best))
    if scores:
        L.append("\n## SPEC §5 scores of the imported GPU runs (frameprec study --import)\n")
        L.append("| run | tokens | pick mismatches vs truth | unexplained | valid flips | differing from the declared arithmetic beyond tie order |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for r, _ in runs:
            if r in scores:
                s = scores[r]
                L.append("| %s | %d | %d | %d | %d | %d |" % (r, s["tokens"], s["mismatch"], s["unexplained"],
                                                           s["flips"], s["ident_diff"]))
    L.append("\n## Per case\n")
    L.append("| run | case@mode@offset | tokens | " + " | ".join("`%s`" % n for n in names) + " |")
    L.append("|---|---|---:|" + "---:|" * len(names))
    for r, key, n, d in rows:
        L.append("| %s | %s | %d | %s |" % (r, key, n, " | ".join(str(d[x]) for x in names)))
    text = "\n".join(L) + "\n"
    tmp = a.output + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.output)
    print("gpu_report: %s (%d files compared)" % (a.output, len(rows)))


if __name__ == "__main__":
    sys.exit(main())
