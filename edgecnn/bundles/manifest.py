"""The bundle manifest (manifest.json): what a device needs to run the model, and how to check it.

Torch-free: shared by the writer and the device-side loader.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from edgecnn.errors import InvalidInputError
from edgecnn.fileio import sha256_file

MANIFEST = "manifest.json"
BUNDLE_FORMAT = "edgecnn-bundle"
SCHEMA_VERSION = 1
# artifact format -> the runtime (Python module) that runs it on a device
RUNTIME_OF_FORMAT = {"onnx": "onnxruntime", "openvino": "openvino", "tensorrt": "tensorrt"}


class BundleIntegrityError(InvalidInputError):
    """A bundle file is missing, altered or unsafe (sha256 mismatch, path outside the bundle)."""


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        raise InvalidInputError(f"{root} is not an edgecnn bundle: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleIntegrityError(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("format") != BUNDLE_FORMAT:
        raise InvalidInputError(f"{path} is not an edgecnn bundle manifest (format={manifest.get('format')!r})")
    if int(manifest.get("schema_version", 0)) > SCHEMA_VERSION:
        raise InvalidInputError(
            f"bundle schema {manifest['schema_version']} is newer than this edgecnn reads "
            f"({SCHEMA_VERSION}); upgrade edgecnn"
        )
    return manifest


def verify_files(root: Path, manifest: dict[str, Any]) -> None:
    """Check every listed file exists inside the bundle and matches its sha256."""
    root = root.resolve()
    for rel, expected in manifest.get("files", {}).items():
        path = inside(root, rel)
        if not path.is_file():
            raise BundleIntegrityError(f"bundle file missing: {rel}")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleIntegrityError(
                f"sha256 mismatch for {rel}: the file is corrupted or was modified "
                f"(expected {expected[:16]}..., got {actual[:16]}...)"
            )


def inside(root: Path, rel: str) -> Path:
    """`root / rel`, refusing absolute paths and anything that escapes `root`."""
    if not rel or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel) or ".." in Path(rel).parts:
        raise BundleIntegrityError(f"unsafe path in bundle: {rel!r}")
    path = (root / rel).resolve()
    if root != path and root not in path.parents:
        raise BundleIntegrityError(f"unsafe path in bundle: {rel!r} points outside it")
    return path


def version_tuple(version: str) -> tuple[int, ...]:
    """'2026.4.1-22982-e213a...' -> (2026, 4, 1); '1.32.0' -> (1, 32, 0)."""
    return tuple(int(p) for p in re.findall(r"\d+", version.split("-")[0].split("+")[0])[:3])
