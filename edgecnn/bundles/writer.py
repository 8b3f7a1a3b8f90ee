"""Write a deployment bundle: the model artifact(s), manifest.json and a README, as a folder or a .zip.

Written atomically: everything is assembled in a temporary place and renamed over `out` at the end, so a
failure leaves no half-written bundle and the previous one intact.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgecnn import __version__
from edgecnn.artifact import Artifact
from edgecnn.bundles.manifest import BUNDLE_FORMAT, MANIFEST, RUNTIME_OF_FORMAT, SCHEMA_VERSION
from edgecnn.errors import InvalidInputError, first_line
from edgecnn.fileio import atomic_path, sha256_file
from edgecnn.onnx_graph import data_inputs
from edgecnn.spec import ModelSpec, Preprocess

# an artifact read from a file carries no export check (that lives in the Artifact `edgecnn.export` returns)
NO_CHECK = "not checked: bundled from a file; bundle the Artifact returned by edgecnn.export to keep its check"


def write_bundle(
    artifacts: Artifact | str | os.PathLike | Sequence[Artifact | str | os.PathLike],
    out: str | os.PathLike,
    *,
    spec: ModelSpec | None = None,
    zip: bool = False,
    name: str | None = None,
    labels: Sequence[str] | None = None,
    preprocess: Preprocess | None = None,
    layout: str | None = None,
) -> Path:
    """Bundle `artifacts` (Artifacts or model files: .onnx, .xml, .engine) into `out` and return its path.

    Preprocessing, labels and layout come from `spec` when given, else from the explicit arguments, else
    from the artifacts' provenance (export records the model description there). zip=True (or an `out`
    ending in .zip) writes one .zip file instead of a folder.
    """
    items = [artifacts] if isinstance(artifacts, (Artifact, str, os.PathLike)) else list(artifacts)
    if not items:
        raise InvalidInputError("nothing to bundle: give at least one artifact")
    arts = [a if isinstance(a, Artifact) else Artifact.from_path(a) for a in items]
    for art in arts:
        if art.format not in RUNTIME_OF_FORMAT:
            raise InvalidInputError(
                f"{art.path}: a {art.format} artifact cannot go into a device bundle "
                f"(supported: {', '.join(RUNTIME_OF_FORMAT)})"
            )
    out = Path(out)
    as_zip = zip or out.suffix.lower() == ".zip"
    if as_zip and out.suffix.lower() != ".zip":
        out = out.with_suffix(".zip")
    described = spec.describe() if spec else _described_model(arts)
    pre = preprocess or (spec.preprocess if spec else None) or _preprocess_from(described)
    label_list = list(labels) if labels is not None else (spec.labels if spec else None)
    layout = layout or (spec.input.layout if spec else (described or {}).get("input", {}).get("layout"))
    bundle_name = name or (spec.name if spec else (described or {}).get("name")) or arts[0].path.stem
    with atomic_path(out) as tmp:
        if as_zip:
            with tempfile.TemporaryDirectory(prefix=".edgecnn-bundle-", dir=out.parent) as work:
                _assemble(Path(work) / "bundle", arts, bundle_name, described, pre, label_list, layout)
                _zip_dir(Path(work) / "bundle", tmp)
        else:
            _assemble(tmp, arts, bundle_name, described, pre, label_list, layout)
    return out


def _assemble(
    root: Path,
    arts: list[Artifact],
    name: str,
    described: dict[str, Any] | None,
    pre: Preprocess | None,
    labels: list[str] | None,
    layout: str | None,
) -> None:

    (root / "models").mkdir(parents=True)
    entries, used = [], set()
    for art in arts:
        entry_name = _unique(art.path.stem, used)
        entries.append(_copy_artifact(art, root / "models", entry_name, layout))
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "edgecnn_version": __version__,
        "model": {k: v for k, v in (described or {}).items() if k not in ("preprocess",)} or None,
        "preprocess": pre.to_dict() if pre else None,
        "labels": labels,
        "artifacts": entries,
    }
    (root / "README.md").write_text(_readme(manifest))
    manifest["files"] = {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")


def _copy_artifact(art: Artifact, models: Path, entry_name: str, layout: str | None) -> dict[str, Any]:
    """Copy the artifact's files under their own names (ONNX external data and OpenVINO .bin are found by
    name) into models/, or models/<entry>/ when a name is taken, and describe the artifact."""
    files = list(art.files)
    sidecar = art.path.with_name(art.path.name + ".json")  # a TensorRT engine's build record (version, GPU, inputs)
    if art.format == "tensorrt" and sidecar.exists():
        files.append(sidecar)
    folder = models if not any((models / f.name).exists() for f in files) else models / entry_name
    folder.mkdir(exist_ok=True)
    for src in files:
        shutil.copyfile(src, folder / src.name)
    main = folder / art.path.name
    inputs, outputs = _io_of(main, art)
    for entry in inputs:
        entry.setdefault("layout", layout or ("NCHW" if len(entry["shape"]) == 4 else "NCL"))
    runtime = RUNTIME_OF_FORMAT[art.format]
    root = models.parent
    return {
        "name": entry_name,
        "file": main.relative_to(root).as_posix(),
        "files": [(folder / f.name).relative_to(root).as_posix() for f in files],
        "format": art.format,
        "target": art.target or runtime,
        "precision": art.precision,
        "runtime": {"name": runtime, "version": _runtime_version(runtime)},
        "inputs": inputs,
        "outputs": outputs,
        "check": art.provenance.get("check") or {"skipped": NO_CHECK},
    }


def _io_of(path: Path, art: Artifact) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Input/output names, shapes and dtypes read from the model file itself (the artifact's record may lag)."""
    if art.format == "onnx":
        import onnx

        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf DecodeError and friends
            raise InvalidInputError(f"{art.path} is not a readable ONNX model: {first_line(exc)}") from None
        return (
            [_onnx_value(v) for v in data_inputs(model.graph)],
            [_onnx_value(v) for v in model.graph.output],
        )
    if art.format == "openvino":
        import openvino as ov

        from edgecnn.exporters.openvino import model_io

        model = ov.Core().read_model(str(path))
        return model_io(model.inputs, "input"), model_io(model.outputs, "output")
    record = path.with_name(path.name + ".json")
    inputs = art.inputs or (json.loads(record.read_text()).get("inputs", []) if record.exists() else [])
    if not inputs:
        raise InvalidInputError(f"{path}: a TensorRT engine needs its inputs recorded (build it with edgecnn export)")
    return [dict(i) for i in inputs], [dict(o) for o in art.outputs]


def _onnx_value(value: Any) -> dict[str, Any]:
    import onnx

    tensor = value.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]
    return {"name": value.name, "shape": shape, "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name}


def _runtime_version(runtime: str) -> str:
    import importlib

    try:
        return importlib.import_module(runtime).__version__
    except ImportError:
        raise InvalidInputError(
            f"{runtime} is not installed here, so the bundle cannot record (or check) the runtime version; "
            f"install it before bundling"
        ) from None


def _described_model(arts: list[Artifact]) -> dict[str, Any] | None:
    for art in arts:
        if isinstance(art.provenance.get("model"), dict):
            return art.provenance["model"]
    return None


def _preprocess_from(described: dict[str, Any] | None) -> Preprocess | None:
    data = (described or {}).get("preprocess")
    return Preprocess.from_dict(data) if data else None


def _unique(stem: str, used: set[str]) -> str:
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}_{n}"
    used.add(name)
    return name


def _zip_dir(src: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(src).as_posix())


def _readme(manifest: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| `{e['file']}` | {e['format']} | {e['target']} | {e['precision']} | "
        f"{e['runtime']['name']} {e['runtime']['version']} | "
        f"{', '.join(i['name'] + ' ' + str(i['shape']) for i in e['inputs'])} |"
        for e in manifest["artifacts"]
    )
    runtimes = " or ".join(sorted({e["runtime"]["name"] for e in manifest["artifacts"]}))
    return f"""# {manifest["name"]}: edgecnn deployment bundle

Made by edgecnn {manifest["edgecnn_version"]} on {manifest["created"]}.

| file | format | target | precision | runtime | inputs |
|---|---|---|---|---|---|
{rows}

`manifest.json` holds the input/output names, shapes, dtypes and layout, the preprocessing, the labels,
the runtime versions and the sha256 of every file.

## Run it on a device (no PyTorch needed)

```
pip install numpy pillow {runtimes}
pip install --no-deps edgecnn        # the loader only needs numpy, Pillow and the runtime
python -c "import edgecnn.bundles as b; print(b.load('THIS_BUNDLE').classify('image.jpg'))"
```

`edgecnn.bundles.load(path)` checks every file's sha256 and the runtime version, applies the
preprocessing to image files or arrays, and runs the model.
"""
