"""Deployment bundles: `edgecnn.bundle(artifacts, out)` writes one, `edgecnn.bundles.load(path)` runs it.

The loader side (manifest, safezip, loader) needs only numpy, Pillow and the model's runtime: no torch.
"""

from __future__ import annotations

from typing import Any


def load(path: Any, **options: Any) -> Any:
    """Load a bundle directory or .zip into a Predictor (see `edgecnn.bundles.loader.load`)."""
    from edgecnn.bundles.loader import load as _load

    return _load(path, **options)
