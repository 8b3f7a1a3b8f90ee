"""Extract a bundle .zip safely: no absolute paths, no `..`, no links, no surprise sizes."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from edgecnn.bundles.manifest import BundleIntegrityError, inside
from edgecnn.errors import InvalidInputError

# a bundle holds model weights; refuse archives that would expand past this (zip bombs)
MAX_EXTRACTED_BYTES = 8 << 30


def safe_extract(archive: Path, dest: Path) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInputError(f"{archive} is not a readable zip file: {exc}") from None
    with zf:
        infos = zf.infolist()
        dest = dest.resolve()
        for info in infos:
            inside(dest, info.filename)  # raises on absolute paths and '..'
            if stat.S_ISLNK(info.external_attr >> 16):
                raise BundleIntegrityError(f"refusing symbolic link in bundle zip: {info.filename!r}")
        if sum(i.file_size for i in infos) > MAX_EXTRACTED_BYTES:
            raise BundleIntegrityError(f"{archive} would expand to more than {MAX_EXTRACTED_BYTES >> 30} GiB")
        for info in infos:
            zf.extract(info, dest)
