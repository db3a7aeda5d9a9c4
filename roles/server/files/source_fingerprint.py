"""Print the SHA-256 of the files the collection's Python package (oscar_cluster) is built from.

Run on the controller by the server role: the commands on the head are rebuilt
and reinstalled only when this fingerprint differs from the one recorded with
them, so that a run with unchanged sources changes nothing on the head.
Usage: source_fingerprint.py ROOT PART... (files or directories under ROOT).
"""

import hashlib
import os
import sys


def files_under(root, part):
    path = os.path.join(root, part)
    if os.path.isfile(path):
        yield part
        return
    for directory, subdirectories, names in os.walk(path):
        subdirectories[:] = sorted(name for name in subdirectories if name != "__pycache__")
        for name in sorted(names):
            if not name.endswith((".pyc", ".pyo")):
                yield os.path.relpath(os.path.join(directory, name), root)


def fingerprint(root, parts):
    digest = hashlib.sha256()
    for part in parts:
        if not os.path.exists(os.path.join(root, part)):
            raise SystemExit("%s: no %s; not the collection's root" % (root, part))
        for relative in files_under(root, part):
            with open(os.path.join(root, relative), "rb") as handle:
                content = handle.read()
            digest.update(("%s\0%d\0" % (relative, len(content))).encode())
            digest.update(content)
    return digest.hexdigest()


if __name__ == "__main__":
    print(fingerprint(sys.argv[1], sys.argv[2:]))
