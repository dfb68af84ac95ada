"""Small file primitives both the lake (etl.lake) and the warehouse (warehouse.db) write with, and the error both
raise when their storage cannot be used — neutral, so that neither imports the other for them."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


class StorageError(Exception):
    """The lake or the warehouse cannot be used: unwritable, bound to another lake, demo into a real lake. The
    message is a complete Chinese sentence naming the path (show it as is, without a traceback)."""


def _digest(path: Path, h, chunk: int = 1 << 20) -> str:
    with open(path, "rb") as fh:
        while b := fh.read(chunk):
            h.update(b)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    return _digest(path, hashlib.sha256())


def xxh3_file(path: Path) -> str:
    """The XXH3-128 checksum of a file (a published version's: 4× faster than sha256 on a version file)."""
    import xxhash

    return _digest(path, xxhash.xxh3_128())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: object) -> None:
    atomic_write_bytes(path, json.dumps(obj, ensure_ascii=False, indent=1, default=str).encode("utf-8"))
