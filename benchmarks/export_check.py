"""Acceptance check for export: ONNX / OpenVINO / TensorRT-ready artifacts and torch-free bundles.

For mobilenet_v2, efficientnet_b0 and resnet18 (224x224, batch 1), fp32 and int8:
- ONNX Runtime fp32 / int8 (edgecnn.quantize, QDQ U8S8) and OpenVINO fp32 (f32 forced) / int8 from the
  same QDQ ONNX / int8 by NNCF PTQ (the alternative quantizer), all built with `edgecnn.export`;
- each compared with PyTorch on real images: max relative error (fp32 must be <= 1e-4), top-1 agreement
  and top-1 accuracy; the precision OpenVINO actually ran in;
- batch-1 latency of all of them timed interleaved in one process (read the ratios: the machine is shared);
- a bundle per model and precision (zip for int8) loaded and run in a subprocess where torch cannot be
  imported, its outputs compared with the in-process sessions (and one photo through the preprocessing);
- `--target tensorrt` int8: the symmetric QDQ ONNX checked against TensorRT's rules plus the build commands,
  the CLI run once end to end; the rules checker refusing a hand-made asymmetric QDQ model and each
  model's U8S8 ONNX.

Weights: no model hub offline, so each backbone keeps its random weights and gets a linear head fitted on
its features of real digits (scikit-learn, upsampled to 224x224): the outputs are decisive and the top-1
numbers are measured on real labelled data, not on flat random logits.

    flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/export_check.py --models mobilenet_v2
    (one model per run keeps each run under ~5 minutes; every run re-renders results/export.{json,md}
    from the per-model files in results/export/)
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

MODELS = ("mobilenet_v2", "efficientnet_b0", "resnet18")
FP32_TOLERANCE = 1e-4
log = logging.getLogger("benchmarks.export_check")


def digits_images(
    train: int, test: int, size: int = 224, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Real digits as ImageNet-normalised 3 x size x size inputs (the zoo models' preprocessing), stratified split."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from edgecnn.spec import IMAGENET_MEAN, IMAGENET_STD

    data = load_digits()
    idx_tr, idx_te = train_test_split(
        np.arange(len(data.target)), train_size=train, test_size=test, random_state=seed, stratify=data.target
    )

    def prep(idx: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(data.images[idx].astype(np.float32) / 16.0)[:, None]
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return ((x - mean) / std).numpy()

    return prep(idx_tr), data.target[idx_tr], prep(idx_te), data.target[idx_te]


def fit_head(spec: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Fit the model's last Linear layer on its (random-backbone) features of x; returns train accuracy."""
    import torch

    module = spec.module.eval()
    head = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]
    feats: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, inp, _out: feats.append(inp[0].detach()))
    with torch.no_grad():
        for start in range(0, len(x), 32):
            module(torch.from_numpy(x[start : start + 32]))
    hook.remove()
    f = torch.cat(feats)
    # one scale for all features (per-feature scaling would lean on near-constant features, which int8 rounding
    # then blows up), taken after centring: random torchvision backbones end in features around 1e-9 whose
    # differences, not their offset, carry the information
    mean = f.mean(0)
    std = (f - mean).std().clamp_min(1e-30)
    z, target = (f - mean) / std, torch.from_numpy(y).long()
    lin = torch.nn.Linear(f.shape[1], 10)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(lin(z), target).backward()
        opt.step()
    with torch.no_grad():  # fold the standardisation into the head: W' = W / std, b' = b - W' mean
        w = lin.weight / std
        head.weight.copy_(w)
        head.bias.copy_(lin.bias - w @ mean)
        acc = float((lin(z).argmax(1) == target).float().mean())
    return 100.0 * acc


def run_each(session: Any, x: np.ndarray) -> np.ndarray:
    return np.concatenate([session.run(x[i : i + 1])[0] for i in range(len(x))])


def compare(ref: np.ndarray, out: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from edgecnn.exporters.onnx import output_error

    err = output_error(ref, out)
    return {
        "max_rel_error": err["max_rel_error"],
        "max_abs_error": err["max_abs_error"],
        "top1_agreement_pct": 100.0 * float(np.mean(ref.argmax(1) == out.argmax(1))),
        "top1_accuracy_pct": 100.0 * float(np.mean(out.argmax(1) == labels)),
    }


DEVICE_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.modules["torch"] = None  # `import torch` raises ImportError from here on
    import numpy as np
    import edgecnn.bundles
    bundle, x_path, photo, out_path = sys.argv[1:5]
    x = np.load(x_path)
    results = {}
    n = len(json.load(open(out_path + ".names")))
    for i in range(n):
        p = edgecnn.bundles.load(bundle, artifact=i, threads=2)
        results[p.entry["name"]] = {"logits": p.predict(x).tolist(), "photo_top1": p.classify(photo, top_k=1)[0][0][0],
                                    "backend": p.runtime["backend"]}
    assert sys.modules["torch"] is None
    json.dump(results, open(out_path, "w"))
""")


def check_bundle_torch_free(
    bundle: Path, names: list[str], x: np.ndarray, photo: Path, expected: dict[str, np.ndarray], work: Path
) -> dict[str, Any]:
    """Load every artifact of `bundle` in a torch-free subprocess; compare with the in-process outputs."""
    script, x_path, out = work / "device.py", work / "x.npy", work / f"{bundle.stem}.device.json"
    script.write_text(DEVICE_SCRIPT)
    np.save(x_path, x)
    Path(str(out) + ".names").write_text(json.dumps(names))
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, str(script), str(bundle), str(x_path), str(photo), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if run.returncode != 0:
        return {
            "ok": False,
            "error": run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit {run.returncode}",
        }
    got = json.loads(out.read_text())
    artifacts = {}
    for name, res in got.items():
        diff = float(np.max(np.abs(np.asarray(res["logits"]) - expected[name])))
        artifacts[name] = {
            "backend": res["backend"],
            "max_abs_diff_vs_in_process": diff,
            "photo_top1": res["photo_top1"],
        }
    ok = set(got) == set(names) and all(a["max_abs_diff_vs_in_process"] < 1e-4 for a in artifacts.values())
    return {"ok": ok, "bundle": bundle.name, "seconds": round(time.perf_counter() - started, 1), "artifacts": artifacts}


def bench_model(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    import edgecnn
    from edgecnn.exporters.api import QdqSimulation
    from edgecnn.exporters.trt_rules import check_tensorrt_qdq
    from edgecnn.profiling.timing import TimingProtocol, compare_interleaved
    from edgecnn.runtime import load_session
    from edgecnn.zoo import load_model

    torch.manual_seed(0)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    spec = load_model(name, weights="random", num_classes=10, input_shape=(1, 3, args.size, args.size))
    xtr, ytr, xte, yte = digits_images(args.train_size, args.test_size, args.size)
    train_acc = fit_head(spec, xtr, ytr)
    spec = spec.replace(
        weights="file", labels=[str(i) for i in range(10)], notes=["random backbone + head fitted on digits"]
    )
    timings["head_fit_s"] = time.perf_counter() - t
    calib = xtr[: args.calib_size]
    with torch.no_grad():
        ref = spec.module(torch.from_numpy(xte)).numpy()
    torch_acc = 100.0 * float(np.mean(ref.argmax(1) == yte))

    def timed(key: str, fn: Any) -> Any:
        start = time.perf_counter()
        value = fn()
        timings[key] = time.perf_counter() - start
        return value

    quick = edgecnn.AdvancedQuantization(
        check_latency=False
    )  # latency is measured below, interleaved with everything else
    arts = {
        "ort_fp32": timed(
            "ort_fp32_s",
            lambda: edgecnn.export(spec, target="onnxruntime", out=work / f"{name}_ort_fp32.onnx", check=False),
        ),
        "ort_int8": timed(
            "ort_int8_s",
            lambda: edgecnn.export(
                spec,
                target="onnxruntime",
                precision="int8",
                calib_data=calib,
                out=work / f"{name}_ort_int8.onnx",
                check=False,
                quantize_advanced=quick,
            ),
        ),
    }
    arts["ov_fp32"] = timed(
        "ov_fp32_s", lambda: edgecnn.export(spec, target="openvino", out=work / f"{name}_ov_fp32.xml", check=False)
    )
    arts["ov_int8_qdq"] = timed(
        "ov_int8_qdq_s",
        lambda: edgecnn.export(
            arts["ort_int8"].path, target="openvino", precision="int8", out=work / f"{name}_ov_int8.xml", check=False
        ),
    )
    arts["ov_int8_nncf"] = timed(
        "ov_int8_nncf_s",
        lambda: edgecnn.export(
            spec,
            target="openvino",
            precision="int8",
            quantizer="nncf",
            calib_data=calib,
            out=work / f"{name}_ov_nncf.xml",
            check=False,
        ),
    )
    trt = timed(
        "tensorrt_int8_s",
        lambda: edgecnn.export(
            spec,
            target="tensorrt",
            precision="int8",
            calib_data=calib,
            out=work / f"{name}_trt.engine",
            check=False,
            quantize_advanced=quick,
        ),
    )
    sessions = {"torch_fp32": load_session(spec, threads=args.threads)}
    sessions.update({k: load_session(a, threads=args.threads) for k, a in arts.items()})
    outputs = {k: run_each(s, xte) for k, s in sessions.items() if k != "torch_fp32"}
    results: dict[str, Any] = {}
    for key, art in arts.items():
        entry = {
            "path": art.path.name,
            "format": art.format,
            "precision": art.precision,
            "bytes": art.bytes,
            **compare(ref, outputs[key], yte),
        }
        if art.format == "openvino":
            entry["openvino_precision"] = sessions[key].precision_used()
        if art.precision == "fp32":
            entry["fp32_within_tolerance"] = entry["max_rel_error"] <= FP32_TOLERANCE
        results[key] = entry
    # TensorRT computes the Q/DQ arithmetic as written: simulate it (ONNX Runtime, graph optimizations off);
    # this CPU's fused int8 kernels (no VNNI) saturate on S8S8 and are reported only to show that
    simulated = run_each(QdqSimulation(trt.path), xte)
    fused = run_each(load_session(trt), xte)
    results["tensorrt_qdq_onnx"] = {
        "path": trt.path.name,
        "engine_built": trt.provenance["engine_built"],
        "why_not_built": trt.provenance.get("why_not_built"),
        "rules_check": trt.provenance["rules_check"],
        "build_commands": trt.provenance["build_commands"],
        "precision": "int8",
        **compare(ref, simulated, yte),
        "on_this_cpu_ort_fused_int8": compare(ref, fused, yte),
    }
    # what OpenVINO picks when not told (bf16 on AVX512-BF16/AMX CPUs); the sessions above force f32
    results["ov_fp32"]["openvino_default_precision"] = load_session(arts["ov_fp32"], precision="auto").precision_used()
    u8s8 = check_tensorrt_qdq(arts["ort_int8"].path, raise_on_error=False)
    results["tensorrt_rules_on_u8s8"] = {"ok": u8s8.ok, "message": u8s8.summary()}

    x1 = xte[:1]
    protocol = TimingProtocol(warmup=5, min_iters=args.iters, min_seconds=args.seconds, rounds=3, pause_s=0.1)
    stats = compare_interleaved(sessions, x1, protocol)
    base_ort, base_ov = stats["ort_fp32"].p50, stats["ov_fp32"].p50
    latency = {
        k: {
            "p50_ms": s.p50,
            "p90_ms": s.percentile(90),
            "runs": len(s.times_ms),
            "speedup_vs_ort_fp32": base_ort / s.p50,
            "speedup_vs_ov_fp32": base_ov / s.p50,
        }
        for k, s in stats.items()
    }

    photo = work / "photo.png"
    if not photo.exists():
        from PIL import Image
        from skimage import data as skdata

        Image.fromarray(skdata.coffee()).save(photo)
    bundles = {}
    for precision, keys, as_zip in (
        ("fp32", ["ort_fp32", "ov_fp32"], False),
        ("int8", ["ort_int8", "ov_int8_qdq", "ov_int8_nncf"], True),
    ):
        out = edgecnn.bundle([arts[k] for k in keys], work / f"{name}_{precision}_bundle", spec=spec, zip=as_zip)
        manifest_names = [Path(arts[k].path).stem for k in keys]
        expected = {Path(arts[k].path).stem: outputs[k][:8] for k in keys}
        bundles[precision] = {
            "path": out.name,
            "bytes": out.stat().st_size if out.is_file() else sum(p.stat().st_size for p in out.rglob("*")),
            **check_bundle_torch_free(out, manifest_names, xte[:8], photo, expected, work),
        }
    return {
        "model": name,
        "input": list(spec.input.shape),
        "weights": "random backbone + linear head fitted on digits features",
        "data": {
            "train": int(len(ytr)),
            "test": int(len(yte)),
            "calibration": int(len(calib)),
            "head_train_accuracy_pct": train_acc,
            "torch_test_accuracy_pct": torch_acc,
        },
        "artifacts": results,
        "latency": latency,
        "bundles": bundles,
        "build_seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def rules_checker_demo(work: Path) -> dict[str, Any]:
    """A hand-made asymmetric QDQ conv (zero-point 7, uint8 activations) must be refused with a clear message."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgecnn.exporters.trt_rules import TensorRTRulesError, check_tensorrt_qdq

    w = np.random.default_rng(0).integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(7, np.uint8), "x_zp"),
        numpy_helper.from_array(w, "w_q"),
        numpy_helper.from_array(np.full(4, 0.01, np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(4, np.int8), "w_zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], name="q_input"),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"], name="dq_input"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wd"], name="dq_weight", axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["y"], name="conv"),
    ]
    graph = helper.make_graph(
        nodes,
        "asymmetric_qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
        inits,
    )
    path = work / "asymmetric_qdq.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    try:
        check_tensorrt_qdq(path)
        return {"rejected": False}
    except TensorRTRulesError as exc:
        cli = subprocess.run(
            [sys.executable, "-m", "edgecnn.cli.main", "trt-rules", str(path)],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "COLUMNS": "300"},
        )
        return {
            "rejected": True,
            "message": str(exc),
            "cli_exit_code": cli.returncode,
            "cli_stderr": " ".join(cli.stderr.split()),
        }


def tensorrt_cli_demo(work: Path) -> dict[str, Any]:
    """`edgecnn export ... --target tensorrt --precision int8` on this machine (no TensorRT, no GPU)."""
    engine = work / "cli_mobilenet_v2.engine"
    cmd = [
        sys.executable,
        "-m",
        "edgecnn.cli.main",
        "export",
        "mobilenet_v2",
        "--weights",
        "random",
        "--target",
        "tensorrt",
        "--precision",
        "int8",
        "--calib-size",
        "32",
        "--out",
        str(engine),
    ]
    started = time.perf_counter()
    run = subprocess.run(
        cmd, capture_output=True, text=True, env={**__import__("os").environ, "COLUMNS": "300"}, timeout=900
    )
    text = " ".join((run.stdout + "\n" + run.stderr).split())
    return {
        "command": (
            "edgecnn export mobilenet_v2 --weights random --target tensorrt --precision int8 --calib-size 32 "
            "--out cli_mobilenet_v2.engine"
        ),
        "exit_code": run.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "says_no_engine_built": "No TensorRT engine was built" in text,
        "qdq_onnx_written": engine.with_suffix(".onnx").exists(),
        "engine_written": engine.exists(),
        "printed_trtexec": "trtexec --onnx=" in text and "--saveEngine=" in text,
        "output_tail": text[-700:],
    }


def render(results: list[dict[str, Any]], extra: dict[str, Any], env: dict[str, Any]) -> str:
    lines = [
        "# Export acceptance check",
        "",
        f"Machine: {env.get('cpu')} ({env.get('cores')} cores; flags: {', '.join(env.get('flags') or []) or 'n/a'}); "
        f"threads 2, batch 1, {'x'.join(str(d) for d in results[0]['input'][2:]) if results else ''}. "
        "Shared machine: read the ratios.",
        "",
        "Weights: random backbones with a linear head fitted on their features of real digits; "
        "accuracy on held-out digits.",
        "",
        "## Fidelity against PyTorch (held-out digits)",
        "",
        "| model | artifact | precision | max rel err | fp32 <= 1e-4 | top-1 agreement | top-1 acc (torch) "
        "| OpenVINO ran in |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        torch_acc = r["data"]["torch_test_accuracy_pct"]
        for key, a in r["artifacts"].items():
            if "max_rel_error" not in a:
                continue
            ov = a.get("openvino_precision")
            ran = f"{ov['inference_precision_hint']} {ov['compute_layer_precisions']}" if ov else ""
            ok = {True: "yes", False: "NO"}.get(a.get("fp32_within_tolerance"), "")
            lines.append(
                f"| {r['model']} | {key} | {a.get('precision', 'int8')} | {a['max_rel_error']:.2e} | {ok} | "
                f"{a['top1_agreement_pct']:.1f}% | {a['top1_accuracy_pct']:.1f}% ({torch_acc:.1f}%) | {ran} |"
            )
    lines += [
        "",
        "OpenVINO's own choice when not told (fp32 IR): "
        + "; ".join(
            f"{r['model']}: {r['artifacts']['ov_fp32']['openvino_default_precision']['inference_precision_hint']}"
            for r in results
        ),
    ]
    lines += [
        "",
        "## Latency, batch 1 (p50 ms, interleaved; speed-up vs ONNX Runtime fp32 / vs OpenVINO fp32)",
        "",
        "| model | " + " | ".join(results[0]["latency"]) + " |" if results else "",
        "|---|" + "---|" * (len(results[0]["latency"]) if results else 0),
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | "
            + " | ".join(
                f"{v['p50_ms']:.2f} ({v['speedup_vs_ort_fp32']:.2f}x / {v['speedup_vs_ov_fp32']:.2f}x)"
                for v in r["latency"].values()
            )
            + " |"
        )
    lines += [
        "",
        "## Bundles loaded and run where torch cannot be imported",
        "",
        "| model | bundle | ok | artifacts (backend, max |diff| vs in-process, coffee photo top-1) |",
        "|---|---|---|---|",
    ]
    for r in results:
        for b in r["bundles"].values():
            arts = "; ".join(
                f"{n}: {a['backend']}, {a['max_abs_diff_vs_in_process']:.1e}, {a['photo_top1']}"
                for n, a in b.get("artifacts", {}).items()
            )
            lines.append(
                f"| {r['model']} | {b['path']} | {'yes' if b['ok'] else 'NO ' + b.get('error', '')} | {arts} |"
            )
    lines += ["", "## TensorRT on this machine (no TensorRT, no GPU)", ""]
    for r in results:
        t = r["artifacts"]["tensorrt_qdq_onnx"]
        lines.append(
            f"- {r['model']}: engine built: {t['engine_built']}; QDQ ONNX `{t['path']}` rules check: "
            f"{'OK' if t['rules_check']['ok'] else 'FAILED'} ({t['rules_check']['stats']}); top-1 agreement with Q/DQ "
            f"simulated as TensorRT computes it {t['top1_agreement_pct']:.1f}% "
            "(this CPU's fused ONNX Runtime S8S8 kernels: "
            f"{t['on_this_cpu_ort_fused_int8']['top1_agreement_pct']:.1f}%); `{t['build_commands']['trtexec']}`"
        )
        lines.append(
            f"  - its U8S8 (onnxruntime) int8 model: {r['artifacts']['tensorrt_rules_on_u8s8']['message'][:240]}"
        )
    if "tensorrt_cli" in extra:
        c = extra["tensorrt_cli"]
        lines.append(
            f"- CLI `{c['command']}`: exit {c['exit_code']}, says no engine built: {c['says_no_engine_built']}, "
            f"QDQ ONNX written: {c['qdq_onnx_written']}, trtexec command printed: {c['printed_trtexec']}"
        )
    if "rules_demo" in extra:
        d = extra["rules_demo"]
        lines.append(
            f"- hand-made asymmetric QDQ model rejected: {d['rejected']}; "
            f"`edgecnn trt-rules` exit {d.get('cli_exit_code')}: "
            f'"{d.get("message", "")}"'
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--train-size", type=int, default=300)
    parser.add_argument("--test-size", type=int, default=200)
    parser.add_argument("--calib-size", type=int, default=64)
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument(
        "--results", type=Path, default=None, help="where export.{json,md} and export/<model>.json go (default: out/)"
    )
    parser.add_argument("--skip-demos", action="store_true", help="skip the TensorRT CLI and rules-checker demos")
    add_write_results(parser)
    args = parser.parse_args()
    args.results = args.results or output_dir(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from edgecnn.profiling.environment import fingerprint

    per_model = args.results / "export"
    per_model.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgecnn-export-check-") as tmp:
        work = Path(tmp)
        for name in args.models.split(","):
            started = time.perf_counter()
            result = bench_model(name, work, args)
            result["seconds"] = round(time.perf_counter() - started, 1)
            (per_model / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
            print(f"{name}: done in {result['seconds']} s", flush=True)
        if not args.skip_demos:
            extra = {"rules_demo": rules_checker_demo(work), "tensorrt_cli": tensorrt_cli_demo(work)}
            (per_model / "_demos.json").write_text(json.dumps(extra, indent=2))
    order = {m: i for i, m in enumerate(MODELS)}
    files = sorted(
        (p for p in per_model.glob("*.json") if not p.name.startswith("_")),
        key=lambda p: (order.get(p.stem, 99), p.stem),
    )
    results = [json.loads(p.read_text()) for p in files]
    extra = json.loads((per_model / "_demos.json").read_text()) if (per_model / "_demos.json").exists() else {}
    env = fingerprint(threads=args.threads)
    (args.results / "export.json").write_text(
        json.dumps({"environment": env, "models": results, **extra}, indent=2, default=str)
    )
    (args.results / "export.md").write_text(render(results, extra, env))
    print((args.results / "export.md").read_text())


if __name__ == "__main__":
    main()
