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
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleIntegrityError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise BundleIntegrityError(f"{path} is not an edgecnn bundle manifest (a JSON object expected)")
    if manifest.get("format") != BUNDLE_FORMAT:
        raise InvalidInputError(f"{path} is not an edgecnn bundle manifest (format={manifest.get('format')!r})")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleIntegrityError(f"{path}: schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise InvalidInputError(
            f"bundle schema {version} is newer than this edgecnn reads ({SCHEMA_VERSION}); upgrade edgecnn"
        )
    _check_structure(path, manifest)
    return manifest


# what the loader reads of each artifact entry, and the type it must have
_ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "file": str,
    "format": str,
    "precision": str,
    "runtime": dict,
    "inputs": list,
    "outputs": list,
}


def _check_structure(path: Path, manifest: dict[str, Any]) -> None:
    """The fields the loader relies on, with their types: a malformed manifest is a refusal, not a crash."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleIntegrityError(f"{path}: 'files' (every bundle file with its sha256) is missing or empty")
    for rel, digest in files.items():
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise BundleIntegrityError(f"{path}: files[{rel!r}] is not a sha256 hex digest")
    entries = manifest.get("artifacts")
    if not isinstance(entries, list) or not entries:
        raise BundleIntegrityError(f"{path}: 'artifacts' must be a non-empty list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BundleIntegrityError(f"{path}: artifacts[{i}] must be an object, got {type(entry).__name__}")
        for key, kind in _ENTRY_FIELDS.items():
            if not isinstance(entry.get(key), kind):
                raise BundleIntegrityError(f"{path}: artifacts[{i}].{key} is missing or not a {kind.__name__}")
        runtime = entry["runtime"]
        if not isinstance(runtime.get("name"), str) or not isinstance(runtime.get("version"), str):
            raise BundleIntegrityError(f"{path}: artifacts[{i}].runtime needs a name and a version")
        if not entry["inputs"] or not all(
            isinstance(x, dict) and isinstance(x.get("shape"), list) and len(x["shape"]) >= 2 for x in entry["inputs"]
        ):
            raise BundleIntegrityError(f"{path}: artifacts[{i}].inputs must list inputs with a shape")
        for rel in [entry["file"], *(entry.get("files") or [])]:
            if rel not in files:
                raise BundleIntegrityError(f"{path}: artifacts[{i}] file {rel!r} is not listed (with its sha256)")
    for key in ("labels",):
        value = manifest.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise BundleIntegrityError(f"{path}: {key} must be a list of strings")
    pre = manifest.get("preprocess")
    if pre is not None and not isinstance(pre, dict):
        raise BundleIntegrityError(f"{path}: preprocess must be an object")


def verify_files(root: Path, manifest: dict[str, Any]) -> None:
    """Every file in the bundle is listed, and every listed file exists inside it and matches its sha256:
    an unlisted (extra), missing or altered file is a refusal."""
    root = root.resolve()
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not listed:
        raise BundleIntegrityError("the bundle manifest lists no files with their sha256: refusing to run it")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    extra = sorted(present - set(listed) - {MANIFEST})
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise BundleIntegrityError(f"bundle file {extra[0]!r}{more} is not listed in {MANIFEST}: refusing to run it")
    for rel, expected in listed.items():
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
