"""Deployment bundles: `edgecnn.bundle(artifacts, out)` writes one, `edgecnn.bundle.load(path)` runs it.

The loader side (manifest, safezip, loader) needs only numpy, Pillow and the model's runtime: no torch.
"""

from __future__ import annotations

from typing import Any

from edgecnn._callable import callable_module

callable_module(__name__, "edgecnn.bundle.writer:write_bundle")


def load(path: Any, **options: Any) -> Any:
    """Load a bundle directory or .zip into a Predictor (see `edgecnn.bundle.loader.load`)."""
    from edgecnn.bundle.loader import load as _load

    return _load(path, **options)
