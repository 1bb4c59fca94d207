"""Atomic, checksummed, safe checkpoints.

`save` writes a nested dict/list/tuple of tensors, numpy arrays and plain Python values to a temp file in the
target directory, fsyncs it and `os.replace`s it onto the final path, so a crash mid-write never leaves a
truncated file at `path` and never destroys the previous checkpoint there.

File layout (format version 2): a fixed header (`MAGIC`, the SHA-256 of the payload, its length in bytes), then
the payload as written by `torch.save`. `load` hashes the payload before it unpickles anything and refuses a
file whose digest or length differs (a flipped byte, a truncated copy). The header is written last, into the
temp file, so a file that is renamed into place always carries the digest of its complete payload. Version-1
files (the bare `torch.save` zip that earlier code wrote, without a digest) still load, unchecked.

`load` always uses `torch.load(weights_only=True)`, which refuses arbitrary pickled objects (and numpy arrays).
Numpy arrays are therefore stored as a marker dict holding their raw bytes as a uint8 tensor plus dtype and
shape, and are rebuilt as numpy arrays of the same dtype on load. Every payload carries a format marker and
version, so a foreign or damaged file raises `CheckpointError` with a message naming the file and the fix.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dreamer_core.paths import atomic_file

FORMAT = "dreamer_core.checkpoint"
VERSION = 2  # 2: header with the payload's SHA-256; 1: the bare torch zip (no digest), still read
MAGIC = b"DREAMER-CKPT\x00v2\n"
_HEADER = struct.Struct(f"<{len(MAGIC)}s32sQ")  # magic, SHA-256 of the payload, payload length
_CHUNK = 16 << 20
SUFFIX = ".ckpt"
_NUMPY = "__dreamer_numpy__"  # marker key of an encoded numpy array or numpy scalar


class CheckpointError(Exception):
    """A checkpoint is missing, damaged, foreign or holds something that cannot be saved safely."""


# What a failed `save` raises: OSError from the file system, RuntimeError from torch's zip writer (a full disk
# reads "PytorchStreamWriter failed writing file"), CheckpointError for state that cannot be encoded.
SAVE_ERRORS = (OSError, RuntimeError, CheckpointError)


# ---------------------------------------------------------------------- numpy <-> tensor encoding


def _encode(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise CheckpointError(f"cannot save a numpy array of dtype object (shape {arr.shape}); "
                                  "convert it to a numeric array or plain Python values first")
        flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)  # raw bytes: works for every dtype
        # Share memory where possible: replay buffers can be gigabytes. torch needs a writeable array.
        raw = torch.from_numpy(flat if flat.flags.writeable else flat.copy())
        return {_NUMPY: True, "dtype": arr.dtype.str, "shape": list(arr.shape),
                "scalar": isinstance(value, np.generic), "bytes": raw}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_encode(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return value
    raise CheckpointError(f"cannot save a value of type {type(value).__name__}; a checkpoint holds only "
                          "dicts, lists, tuples, tensors, numpy arrays and plain Python scalars/strings")


def _decode(value: Any, device: torch.device) -> Any:
    """Rebuilds the numpy arrays from their bytes (loaded on the CPU) and moves every other tensor to `device`."""
    if isinstance(value, torch.Tensor):
        return value if device.type == "cpu" else value.to(device)
    if isinstance(value, dict):
        if value.get(_NUMPY) is True:
            raw = value["bytes"].numpy()
            arr = raw.view(np.dtype(value["dtype"])).reshape(value["shape"])  # shares the loaded bytes
            return arr[()] if value["scalar"] else arr
        return {k: _decode(v, device) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, device) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode(v, device) for v in value)
    return value


# ---------------------------------------------------------------------- save / load


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; best effort (not possible on every OS/filesystem)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _HashingWriter:
    """Passes writes through to `f` while hashing and counting them: the digest of exactly the bytes written."""

    def __init__(self, f) -> None:
        self._f, self.sha, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self._f.write(data)

    def __getattr__(self, name: str):  # flush, tell, ... of the underlying file
        return getattr(self._f, name)


class _Window(io.RawIOBase):
    """A read-only view of bytes [start, start + size) of `f`, as a file of its own (what torch.load reads)."""

    def __init__(self, f, start: int, size: int) -> None:
        super().__init__()
        self._f, self._start, self._size, self._pos = f, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = max(0, {0: 0, 1: self._pos, 2: self._size}[whence] + pos)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")[: max(0, self._size - self._pos)]
        self._f.seek(self._start + self._pos)
        n = self._f.readinto(view) or 0
        self._pos += n
        return n


def save(path: str | os.PathLike, state: dict) -> None:
    """Atomically write `state` to `path` (parent directories are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, "state": _encode(state)}
    # Temp name starts with "." and ends with ".tmp" so `latest` never picks up a half-written file.
    with atomic_file(path, prefix=f".{path.name}.", suffix=".tmp") as tmp, open(tmp, "wb") as f:
        f.write(bytes(_HEADER.size))  # a zero header until the payload is complete: never a valid file
        writer = _HashingWriter(f)
        torch.save(payload, writer)
        f.seek(0)
        f.write(_HEADER.pack(MAGIC, writer.sha.digest(), writer.size))
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(path.parent)


def _verified_payload(f, path: Path) -> io.RawIOBase | None:
    """The payload of a version-2 file after its digest checks out; None for a version-1 file (no header)."""
    head = f.read(_HEADER.size)
    if not head.startswith(MAGIC):
        f.seek(0)
        return None
    if len(head) < _HEADER.size:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt (its header is cut short). "
                              "Delete it or pick another checkpoint.")
    _, digest, size = _HEADER.unpack(head)
    sha, seen = hashlib.sha256(), 0
    while chunk := f.read(_CHUNK):
        sha.update(chunk)
        seen += len(chunk)
    if seen != size:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt (it holds {seen:,} of the {size:,} bytes "
                              "saved). Delete it or pick another checkpoint.")
    if sha.digest() != digest:
        raise CheckpointError(f"checkpoint {path} is corrupt: its contents do not match the SHA-256 saved with them "
                              "(a byte changed after it was written). Delete it or pick another checkpoint.")
    return _Window(f, _HEADER.size, size)


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by `save`; tensors go to `map_location`, numpy arrays stay numpy.

    Everything is read onto the CPU first: a numpy array's bytes must be real memory there, whatever the device
    (a 'meta' or CUDA `map_location` would hold them where numpy cannot read them)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist. Check the path, or use "
                              f"checkpoint.latest(<run dir>) to find the newest checkpoint of a run.")
    try:
        with open(path, "rb") as f:
            body = _verified_payload(f, path)
            payload = torch.load(body if body is not None else f, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}. Check its permissions, or pick "
                              "another checkpoint.") from e
    except Exception as e:  # torch raises many types here: RuntimeError, EOFError, UnpicklingError, ...
        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no details'}"
        if "Weights only load failed" in str(e):
            raise CheckpointError(
                f"checkpoint {path} holds objects that cannot be loaded safely ({reason[:200]}). It was not "
                "written by dreamer_core.checkpoint.save; pick a checkpoint saved by this library.") from e
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({reason[:200]}). "
                              "Delete it or pick another checkpoint.") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dreamer_core checkpoint (no '{FORMAT}' format marker). "
                              "Pick a checkpoint written by dreamer_core.checkpoint.save.")
    if not isinstance(payload.get("version"), int) or payload["version"] > VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {payload.get('version')!r}, but this "
                              f"code reads up to version {VERSION}. Update dreamer_core to load it.")
    if body is None and payload["version"] > 1:  # save always writes the digest header with a version-2 payload
        raise CheckpointError(f"checkpoint {path} has lost its checksum header, so it cannot be verified. "
                              "Delete it or pick another checkpoint.")
    return _decode(payload["state"], torch.device(map_location))


WATCH_NAME = "watch.ckpt"  # a run's model-only snapshot for watchers (Trainer): never a training checkpoint


def latest(directory: str | os.PathLike) -> Path | None:
    """The most recently written `*.ckpt` in `directory` (ties broken by name), or None if there is none. The
    watchers' snapshot (`WATCH_NAME`, weights only) is no training checkpoint and is never picked."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = []
    for p in directory.glob(f"*{SUFFIX}"):
        if p.name == WATCH_NAME:
            continue
        try:
            if p.is_file():
                found.append((p.stat().st_mtime_ns, p.name, p))
        except OSError:  # deleted between glob and stat
            continue
    return max(found)[2] if found else None
