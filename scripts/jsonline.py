#!/usr/bin/python3
"""jsonline.py KEY=VALUE ... — print one JSON object (the scripts' .jsonl records).

Written by Python's json module so a file name with a quote or a backslash cannot break
the record (no hand-written escaping in the shell scripts). A key suffix sets the type:
KEY:n=V a number (empty or "null" -> null), KEY:i=V an integer; plain KEY=V a string.
"""
import json
import sys


def main(argv):
    rec = {}
    for arg in argv:
        key, sep, val = arg.partition("=")
        if not sep:
            sys.exit("jsonline.py: argument %r is not KEY=VALUE" % arg)
        if key.endswith(":n"):
            key, val = key[:-2], (None if val in ("", "null") else float(val))
        elif key.endswith(":i"):
            key, val = key[:-2], int(val)
        rec[key] = val
    print(json.dumps(rec))


if __name__ == "__main__":
    main(sys.argv[1:])
