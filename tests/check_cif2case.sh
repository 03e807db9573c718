#!/bin/bash
# Converter test: scripts/cif2case.py on the hand-written tests/data/mini.cif, checked
# against hand-written expectations (tests/test_cif2case.py). Run by `make test`.
# Needs Debian's python3-gemmi, python3-h5py, python3-numpy: installed when missing and
# we are root, otherwise the test says SKIPPED (exit 0).
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
if ! $PY -c 'import gemmi, h5py, numpy' 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        echo "check_cif2case: installing python3-gemmi python3-h5py python3-numpy"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq python3-gemmi python3-h5py python3-numpy >/dev/null
    fi
    if ! $PY -c 'import gemmi, h5py, numpy' 2>/dev/null; then
        echo "check_cif2case: SKIPPED (python3-gemmi/h5py/numpy missing and not root;" \
             "run: sudo apt-get install -y python3-gemmi python3-h5py python3-numpy)"
        exit 0
    fi
fi
if $PY tests/test_cif2case.py; then
    echo "check_cif2case: PASS"
else
    echo "check_cif2case: FAIL"
    exit 1
fi
