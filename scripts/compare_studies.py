#!/usr/bin/python3
"""compare_studies.py A B — are two study results (DIR or results.h5) the same study?

Every run group and backend group of A/results.h5 and B/results.h5: the same runs, the
same backends, every per-token dataset byte for byte, every attribute equal except the
timings and memory figures (seconds, truth_seconds, rss_*), which differ from run to run,
and the chain memo's counts (memo_rows, truth_memo_rows: how many rows a study answered
from identical chains it searched before, with --no-chain-memo none).
Prints one JSON line {"identical": bool, "runs": n, "datasets": n, "attributes": n,
"differences": [first few]} and exits 0 when identical, 1 otherwise. Used by
scripts/bench.sh to prove `study --search grid` equals `study --search brute`."""
import json
import os
import sys

import h5py
import numpy as np

# work_key names the inputs and options of a run (search included), not its results;
# memo_rows say how a run was computed (the chain memo), not what it found
VOLATILE = ("seconds", "truth_seconds", "rss_peak", "rss_delta", "created", "machine", "work_key",
            "memo_rows", "truth_memo_rows")


def path_of(a):
    return os.path.join(a, "results.h5") if os.path.isdir(a) else a


def attrs_equal(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
        return True
    return x == y


def main():
    a, b = sys.argv[1:3]
    diffs = []
    nd = na = 0
    with h5py.File(path_of(a), "r") as fa, h5py.File(path_of(b), "r") as fb:
        ra, rb = fa["runs"], fb["runs"]
        if sorted(ra.keys()) != sorted(rb.keys()):
            diffs.append("run lists differ: %s" % sorted(set(ra.keys()) ^ set(rb.keys()))[:200])
        runs = sorted(set(ra.keys()) & set(rb.keys()))

        def walk(ga, gb, where):
            nonlocal nd, na
            for k in sorted(set(ga.attrs.keys()) | set(gb.attrs.keys())):
                if k in VOLATILE:
                    continue
                na += 1
                if k not in ga.attrs or k not in gb.attrs or not attrs_equal(ga.attrs[k], gb.attrs[k]):
                    diffs.append("%s attribute %s" % (where, k))
            if sorted(ga.keys()) != sorted(gb.keys()):
                diffs.append("%s members differ" % where)
            for k in sorted(set(ga.keys()) & set(gb.keys())):
                x, y = ga[k], gb[k]
                if isinstance(x, h5py.Group):
                    walk(x, y, where + "/" + k)
                else:
                    nd += 1
                    if x.shape != y.shape or x.dtype != y.dtype or x[()].tobytes() != y[()].tobytes():
                        diffs.append("%s/%s" % (where, k))

        for r in runs:
            walk(ra[r], rb[r], r)
    out = {"identical": not diffs, "runs": len(runs), "datasets": nd, "attributes": na,
           "differences": diffs[:20]}
    print(json.dumps(out))
    sys.exit(0 if not diffs else 1)


if __name__ == "__main__":
    main()
