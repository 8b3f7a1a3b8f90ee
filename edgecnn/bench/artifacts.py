"""Turn suite cases into model files: zoo models exported to ONNX (and quantized), or the files a suite names.

Zoo models are built with a fixed torch seed so a run's artifact hashes only change when the model or the
export changes. `weights: digits` trains the (small) zoo model on scikit-learn's digits so accuracy gates
measure something real.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.bench.suite import Case
from edgecnn.errors import InvalidInputError
from edgecnn.targets import get_target

log = logging.getLogger("edgecnn.bench")

DIGITS_EPOCHS = 8


@dataclass
class BuiltModel:
    artifact: Artifact
    eval_x: np.ndarray | None = None  # held-out digits inputs when the model was trained here
    eval_y: np.ndarray | None = None


class ArtifactBuilder:
    """Builds each (model, weights, precision) once per run, in `work_dir`."""

    def __init__(self, work_dir: Path, *, seed: int = 0) -> None:
        self.work_dir = Path(work_dir)
        self.seed = seed
        self._built: dict[tuple[Any, ...], BuiltModel] = {}
        self._fp32: dict[tuple[str, str], tuple[Artifact, Any, Any]] = {}

    def build(self, case: Case) -> BuiltModel:
        key = (case.model, case.weights, case.precision, str(case.artifact))
        if key not in self._built:
            self._built[key] = self._make(case)
        return self._built[key]

    def _make(self, case: Case) -> BuiltModel:
        if case.artifact is not None:
            return BuiltModel(Artifact.from_path(case.artifact))
        fp32, train, test = self._export(case)
        eval_x, eval_y = (test.x, test.y) if test is not None else (None, None)
        if case.precision == "fp32":
            return BuiltModel(fp32, eval_x, eval_y)
        calib = train.x[:128] if train is not None else _random_calibration(fp32, self.seed)
        out = self.work_dir / f"{case.model}-{case.weights}-{case.precision}.onnx"
        return BuiltModel(
            _quantize(fp32, precision=case.precision, target=case.target, calib=calib, out=out), eval_x, eval_y
        )

    def _export(self, case: Case) -> tuple[Artifact, Any, Any]:
        key = (str(case.model), case.weights)
        if key not in self._fp32:
            import torch

            from edgecnn.exporters.onnx import export_onnx

            torch.manual_seed(self.seed)  # same random weights every run: hashes change only with the model
            if case.weights == "digits":
                from edgecnn.evaluation.digits import trained_digits_model

                log.info("training %s on scikit-learn digits for the accuracy gates", case.model)
                threads = torch.get_num_threads()
                torch.set_num_threads(
                    1
                )  # on a busy machine, OpenMP threads fighting other processes made this 5x slower
                try:
                    spec, train, test = trained_digits_model(str(case.model), epochs=DIGITS_EPOCHS, seed=self.seed)
                finally:
                    torch.set_num_threads(threads)
            else:
                from edgecnn.zoo.loader import load_model

                spec, train, test = load_model(str(case.model), weights="random"), None, None
            path = self.work_dir / f"{case.model}-{case.weights}-fp32.onnx"
            self._fp32[key] = (export_onnx(spec, path, dynamic_batch=True), train, test)
        return self._fp32[key]


def _quantize(fp32: Artifact, *, precision: str, target: str, calib: np.ndarray, out: Path) -> Artifact:
    """Quantize through the public `edgecnn.quantize`, without its latency-driven fallback: on a noisy machine
    that choice could flip between runs, and a benchmark must time the same model every run."""
    import edgecnn

    result = edgecnn.quantize(
        str(fp32.path),
        target=get_target(target).quantize_as(precision),
        precision=precision,
        calib_data=calib,
        out=out,
        advanced=edgecnn.AdvancedQuantization(
            seed=0, check_latency=False, latency_fallback=False, measure_effect=False
        ),
    )
    return result.artifact


def _random_calibration(fp32: Artifact, seed: int) -> np.ndarray:
    """Random-weight models only need plausible activation ranges for a speed benchmark."""
    shape = [16 if not isinstance(d, int) else d for d in fp32.inputs[0]["shape"]]
    shape[0] = 16
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def input_arrays(artifact: Artifact, *, batch: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded random inputs with the model file's input shapes and dtypes (a symbolic first dim = batch)."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    if artifact.format != "onnx":
        raise InvalidInputError(
            f"{artifact.path}: bench reads input shapes from ONNX files; got a {artifact.format} file"
        )
    graph = onnx.load(str(artifact.path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for value in graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        shape = []
        for i, d in enumerate(dims):
            if d.HasField("dim_value"):
                shape.append(int(d.dim_value))
            elif i == 0:
                shape.append(batch)
            else:
                raise InvalidInputError(
                    f"{artifact.path}: input {value.name} has a dynamic dimension {i} ({d.dim_param}); "
                    f"export it with a fixed input size"
                )
        if shape and shape[0] != batch:
            raise InvalidInputError(
                f"{artifact.path}: input {value.name} has a fixed batch of {shape[0]}, the case asks for {batch}; "
                f"export with a dynamic batch or set batch: {shape[0]}"
            )
        dtype = tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        if np.issubdtype(dtype, np.floating):
            arrays[value.name] = rng.standard_normal(shape).astype(dtype)
        else:
            arrays[value.name] = rng.integers(0, 10, size=shape).astype(dtype)
    return arrays
