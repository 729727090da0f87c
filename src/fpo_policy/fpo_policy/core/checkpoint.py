"""Checkpoint files: one safetensors file holding the weights and, in its header, JSON metadata.

Layout (safetensors): 8-byte little-endian header length H, H bytes of JSON header, tensor data.
The header's ``__metadata__`` holds ``{"fpo_policy": <metadata JSON>}``; the metadata carries a
SHA-256 of the tensor data (``payload_sha256``) so that flipped bytes anywhere are caught.

Loading never executes code. Writes are atomic (temporary file in the same folder, fsync, rename).
Every refusal raises :class:`CheckpointError` with the file name and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

FORMAT_VERSION = 1
METADATA_KEY = "fpo_policy"


class CheckpointError(ValueError):
    """A corrupt, truncated or mismatched checkpoint; the message names the file and the problem."""


def payload_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors in name order (name, dtype, shape and bytes of each)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict) -> None:
    """Atomically write ``tensors`` with ``metadata`` (JSON-serialisable) to ``path``."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {**metadata, "format_version": FORMAT_VERSION, "payload_sha256": payload_sha256(tensors)}
    data = st_save(tensors, metadata={METADATA_KEY: json.dumps(meta, allow_nan=False)})
    atomic_write_bytes(path, data)


@dataclass(frozen=True)
class CheckpointData:
    """A verified checkpoint as read from disk."""

    tensors: dict[str, torch.Tensor]
    metadata: dict
    sha256: str
    """Hex SHA-256 of the whole file, as read."""


def read_checkpoint(path: str | Path) -> CheckpointData:
    """Read and verify a checkpoint. Raises :class:`CheckpointError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint: {e}") from None
    header = _parse_header(path, data)
    raw_meta = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if raw_meta is None:
        raise CheckpointError(f"{path}: not an fpo_policy checkpoint (no '{METADATA_KEY}' metadata)")
    try:
        meta = json.loads(raw_meta)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: corrupt metadata (invalid JSON: {e})") from None
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is not supported (this code reads {FORMAT_VERSION})"
        )
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for malformed files
        raise CheckpointError(f"{path}: corrupt tensor data ({e})") from None
    if payload_sha256(tensors) != meta.get("payload_sha256"):
        raise CheckpointError(f"{path}: corrupt: tensor data does not match the checksum in its metadata")
    return CheckpointData(tensors=tensors, metadata=meta, sha256=hashlib.sha256(data).hexdigest())


def _parse_header(path: Path, data: bytes) -> dict:
    if len(data) < 8:
        raise CheckpointError(f"{path}: truncated: {len(data)} bytes, shorter than the 8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise CheckpointError(
            f"{path}: truncated or not a safetensors file: header claims {header_len} bytes, "
            f"file has {len(data) - 8} after the length field"
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt header (not valid JSON: {e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt header (not a JSON object)")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            raise CheckpointError(f"{path}: corrupt header (bad entry for tensor {name!r})") from None
    expected = 8 + header_len + end
    if len(data) < expected:
        raise CheckpointError(f"{path}: truncated: expected {expected} bytes, found {len(data)}")
    if len(data) > expected:
        raise CheckpointError(
            f"{path}: corrupt: {len(data) - expected} unexpected bytes after the tensor data"
        )
    return header
