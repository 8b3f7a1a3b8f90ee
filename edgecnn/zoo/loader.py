"""load_model: zoo names, weight files, `package.module:factory` paths and TorchScript files -> ModelSpec."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Literal

from edgecnn.errors import InvalidInputError, UnknownNameError, UserError, close_matches, first_line
from edgecnn.fileio import sha256_file
from edgecnn.spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec, ModelSpec, Preprocess
from edgecnn.zoo.registry import ALIASES, MODELS, ZooEntry, resolve_name

log = logging.getLogger("edgecnn.zoo")

Weights = Literal["auto", "pretrained", "random"] | str
RANDOM_WEIGHTS_NOTE = "random weights: accuracy figures are not meaningful"
_WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


def load_model(
    name: str | os.PathLike,
    *,
    weights: Weights = "auto",
    num_classes: int | None = None,
    arch: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    preprocess: Preprocess | None = None,
    labels: list[str] | None = None,
    seed: int = 0,
) -> ModelSpec:
    """Build a model by zoo name, `package.module:factory`, TorchScript file, or weights file plus `arch`.

    A family name ("mobilenet", "efficientnet", "resnet", "vgg") resolves to its default member (see
    `edgecnn.zoo.registry.ALIASES`); the returned spec carries the resolved name.

    weights: "auto" (pretrained when obtainable, else random with a loud warning), "pretrained", "random",
    or a path to a state dict loaded with `torch.load(..., weights_only=True)`.
    seed: seeds the weight initialisation (random weights, and the layers a weights file does not cover), so
    the same call gives the same weights in any process; the global torch RNG is left as it was.
    """
    text = str(name)
    if num_classes is not None and num_classes < 1:
        raise InvalidInputError(f"num_classes must be at least 1, got {num_classes}")
    if text.endswith(".onnx"):
        raise InvalidInputError(
            f"{text} is an ONNX file: pass it to quantize/profile/optimize directly, not load_model"
        )
    path = Path(text)
    if path.suffix in _WEIGHT_SUFFIXES and (arch or path.exists()):
        if arch:
            return load_model(
                arch,
                weights=text,
                num_classes=num_classes,
                input_shape=input_shape,
                preprocess=preprocess,
                labels=labels,
                seed=seed,
            )
        if not path.exists():
            raise InvalidInputError(f"model file not found: {path}")
        return _load_torchscript(path, input_shape, preprocess, labels)
    if text in ALIASES:
        resolved = resolve_name(text)
        log.info("%s -> %s (the family's default)", text, resolved)
        text = resolved
    if ":" in text and text not in MODELS:
        return _load_factory(text, num_classes, input_shape, preprocess, labels)
    if text not in MODELS:
        raise UnknownNameError(
            f"unknown model '{text}'.{close_matches(text, [*MODELS.names(), *ALIASES])} "
            f"Run `edgecnn models` for the list, or pass a weights file with --arch, a package.module:factory path "
            f"or a TorchScript file."
        )
    return _load_zoo(MODELS.get(text), weights, num_classes, input_shape, preprocess, labels, seed)


def _load_zoo(
    entry: ZooEntry, weights: Weights, num_classes, input_shape, preprocess, labels, seed: int = 0
) -> ModelSpec:
    import torch

    with torch.random.fork_rng(devices=[]):  # seeded initialisation without disturbing the caller's RNG
        torch.manual_seed(seed)
        module, tv_weights = _build(entry, num_classes)
    classes = num_classes or entry.num_classes
    kind, sha = "random", None
    notes: list[str] = []
    if weights in ("auto", "pretrained"):
        state, sha = _pretrained_state(entry, tv_weights, required=weights == "pretrained")
        if state is not None:
            _load_state(module, state, source=f"{entry.name} pretrained", allow_head_mismatch=num_classes is not None)
            kind = "pretrained"
    elif weights != "random":
        state = read_state_dict(weights)
        _load_state(module, state, source=str(weights))
        kind, sha = "file", sha256_file(weights)
    if kind == "random":
        notes.append(RANDOM_WEIGHTS_NOTE)
        if weights == "auto":
            why = "no pretrained weights available offline" if tv_weights else "no published pretrained weights exist"
            log.warning("%s: %s; using RANDOM weights (%s)", entry.name, why, RANDOM_WEIGHTS_NOTE)
    module.eval()
    shape = tuple(input_shape) if input_shape else entry.input_shape
    if labels is None and tv_weights is not None and classes == 1000:
        labels = list(tv_weights.meta.get("categories") or []) or None
    if labels is None:
        labels = [str(i) for i in range(classes)]
    if preprocess is None and entry.layout == "NCHW":
        preprocess = _default_preprocess(entry, tv_weights, shape)
    return ModelSpec(
        module=module,
        input=InputSpec(shape, layout=entry.layout),  # type: ignore[arg-type]
        name=entry.name,
        source=f"zoo:{entry.name}",
        weights=kind,  # type: ignore[arg-type]
        preprocess=preprocess,
        labels=labels,
        family=entry.family,
        sha256=sha,
        notes=notes,
    )


def _build(entry: ZooEntry, num_classes: int | None):
    if entry.source == "torchvision":
        import torchvision

        tv_weights = torchvision.models.get_model_weights(entry.name).DEFAULT
        return torchvision.models.get_model(
            entry.name, weights=None, num_classes=num_classes or entry.num_classes
        ), tv_weights
    module_name, _, attr = entry.builder.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    in_channels = entry.input_shape[1]
    return cls(num_classes=num_classes or entry.num_classes, in_channels=in_channels), None


def _default_preprocess(entry: ZooEntry, tv_weights, shape) -> Preprocess:
    crop = shape[-1]
    if tv_weights is not None:
        tf = tv_weights.transforms()
        resize = int(round(tf.resize_size[0] * crop / tf.crop_size[0]))
        return Preprocess(resize=resize, crop=crop, mean=tuple(tf.mean), std=tuple(tf.std))
    if entry.grayscale:
        return Preprocess(resize=None, crop=crop, mean=(0.5,), std=(0.5,), grayscale=True)
    return Preprocess(resize=None, crop=crop, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _pretrained_state(entry: ZooEntry, tv_weights, *, required: bool):
    if tv_weights is None:
        if required:
            raise UserError(f"{entry.name} has no published pretrained weights; train it and pass --weights FILE")
        return None, None
    try:
        import torch

        # torch.hub announces downloads on stdout: keep stdout clean for --json output
        with contextlib.redirect_stdout(sys.stderr):
            state = torch.hub.load_state_dict_from_url(
                tv_weights.url, progress=True, check_hash=True, weights_only=True
            )
    except Exception as exc:  # network errors take many forms (URLError, OSError, HTTPError, hash mismatch)
        if required:
            raise UserError(
                f"could not get pretrained weights for {entry.name} ({type(exc).__name__}: {exc}). Offline? "
                f"Download {tv_weights.url} on a connected machine and pass it with --weights FILE"
            ) from None
        return None, None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(tv_weights.url)
    return state, (sha256_file(cached) if cached.exists() else None)


def read_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Read a state dict safely (weights_only=True); unwrap common checkpoint containers."""
    import torch

    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"weights file not found: {path}")
    if path.is_dir():
        raise InvalidInputError(f"weights file {path} is a directory")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before failing on garbage
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler fails on garbage in many ways (UnpicklingError, IndexError, EOFError, ...)
        raise InvalidInputError(
            f"cannot read weights file {path}: corrupt or not a PyTorch state dict ({first_line(exc, 160)})"
        ) from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise InvalidInputError(f"{path} does not hold a state dict of tensors (found {type(obj).__name__})")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _load_state(module, state: dict[str, Any], *, source: str, allow_head_mismatch: bool = False) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if allow_head_mismatch and wrong and not missing and not unexpected:
        state = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
        log.warning("%s: classifier head re-initialised for the new number of classes", source)
        module.load_state_dict(state, strict=False)
        return
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong)):
            if keys:
                parts.append(f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''} ({len(keys)})")
        raise InvalidInputError(f"weights from {source} do not fit {type(module).__name__}: " + "; ".join(parts))
    module.load_state_dict(state)


def _load_factory(path: str, num_classes, input_shape, preprocess, labels) -> ModelSpec:
    module_name, _, attr = path.partition(":")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a package in the current directory imports, as with `python -m`
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(f"cannot import {path}: {exc}") from None
    module = factory(num_classes=num_classes) if num_classes is not None else factory()
    from torch import nn

    if not isinstance(module, nn.Module):
        raise InvalidInputError(f"{path} returned {type(module).__name__}, not a torch.nn.Module")
    # a user factory brings its own weights (trained or not): we cannot tell, so we do not call them random
    return _custom_spec(module.eval(), path, f"factory:{path}", "file", input_shape, preprocess, labels, num_classes)


def _load_torchscript(path: Path, input_shape, preprocess, labels) -> ModelSpec:
    import torch

    try:
        with warnings.catch_warnings():  # torch.jit.load's FutureWarning (deprecated) would precede our message
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception:  # not TorchScript: most likely a bare state dict
        raise InvalidInputError(
            f"{path} is not a TorchScript file; if it is a state dict, name the architecture with --arch"
        ) from None
    return _custom_spec(
        module.eval(),
        path.stem,
        f"torchscript:{path}",
        "file",
        input_shape,
        preprocess,
        labels,
        None,
        sha256_file(path),
    )


def _custom_spec(module, name, source, weights, input_shape, preprocess, labels, num_classes, sha=None) -> ModelSpec:
    shape = input_shape or getattr(module, "input_shape", None)
    if shape is None:
        raise InvalidInputError(f"{name}: the input shape cannot be inferred; give it (e.g. --input-shape 1,3,224,224)")
    shape = tuple(int(d) for d in shape)
    layout = "NCL" if len(shape) == 3 else "NCHW"
    notes = [RANDOM_WEIGHTS_NOTE] if weights == "random" else []
    if labels is None and num_classes:
        labels = [str(i) for i in range(num_classes)]
    return ModelSpec(
        module=module,
        input=InputSpec(shape, layout=layout),
        name=str(name),
        source=source,
        weights=weights,
        preprocess=preprocess,
        labels=labels,
        sha256=sha,
        notes=notes,
    )
