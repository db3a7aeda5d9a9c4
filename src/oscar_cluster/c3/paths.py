"""Where the C3 commands keep their files: the inventory cache, and the connection daemon's socket."""

import os

CACHE_ENV = "OSCAR_C3_CACHE"


def cache_dir():
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "oscar-c3")


def runtime_dir():
    """The daemon's directory (socket, lock, log), made on first use, entered by its user only."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = os.path.join(base, "oscar-c3") if base else cache_dir()
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path
