"""edgecnn's int8 artifact against the peers' defaults on their own runtimes (issue 15), reproducible by anyone.

    python benchmarks/peers.py [--models mobilenet_v2 resnet18] [--rounds 8] [--write-results]

For each zoo model (224x224, the zoo's weights: random offline, which does not change int8 kernel speed):

- ONNX Runtime: `quant_pre_process` + `quantize_static` with its defaults (QDQ, U8S8, MinMax) on the same
  calibration samples, against `edgecnn.optimize(model, int8=True, target="onnxruntime")`'s deliverable;
- OpenVINO: `nncf.quantize` with its defaults on `ov.convert_model` of the PyTorch model, against
  `edgecnn.optimize(model, int8=True, target="openvino")`'s deliverable (the faster of its QDQ and NNCF routes).

Each pair is timed on its runtime with edgecnn's `compare` (interleaved rounds, 2 threads, batch 1, a pause
between blocks so spinning worker threads do not slow the other side), read as the ratio edgecnn / peer with a
95% paired-bootstrap interval; fp32 on the same runtime is timed the same way against edgecnn's artifact.
Results: benchmarks/out/peers.{json,md} (benchmarks/results/ with --write-results), with the CPU flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from accuracy import environment  # benchmarks/accuracy.py: CPU, SIMD flags, load
from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

MODELS = ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "resnet18", "resnet50")
THREADS = 2
log = logging.getLogger("benchmarks.peers")


def ort_peer(fp32: Path, calib: np.ndarray, work: Path, *, per_channel: bool = False) -> Path:
    """What a user gets from ONNX Runtime's documented flow with every default (per_channel: the one option a
    CNN user turns on, for the stronger peer)."""
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgecnn.quant.ptq import ArrayReader, graph_input_name

    prepared, out = work / "ort.prep.onnx", work / f"ort.int8.{'pc' if per_channel else 'pt'}.onnx"
    quant_pre_process(str(fp32), str(prepared))
    reader = ArrayReader(calib, batch=1).bind(graph_input_name(prepared))
    quantize_static(str(prepared), str(out), reader, per_channel=per_channel)
    return out


def nncf_peer(spec: Any, calib: np.ndarray, work: Path) -> Path:
    """What a user gets from `nncf.quantize(ov.convert_model(torch_model), dataset)` with every default."""
    import nncf
    import openvino as ov
    import torch

    with torch.no_grad():
        model = ov.convert_model(spec.module.eval(), example_input=torch.from_numpy(calib[:1]))
    quantized = nncf.quantize(model, nncf.Dataset([calib[i : i + 1] for i in range(len(calib))]))
    out = work / "nncf.int8.xml"
    ov.save_model(quantized, str(out))
    return out


def pair(peer: Path, ours: Path, x: np.ndarray, backend: str, rounds: int) -> dict[str, Any]:
    from edgecnn.profiling.compare import compare
    from edgecnn.profiling.timing import BENCH_PROTOCOL

    cmp = compare(peer, ours, x, backend=backend, threads=THREADS, protocol=BENCH_PROTOCOL.with_rounds(rounds),
                  names=("peer", "edgecnn"))  # fmt: skip
    return {"peer_ms": cmp.a.p50, "edgecnn_ms": cmp.b.p50, "ratio": cmp.ratio, "ci": [cmp.ci_low, cmp.ci_high]}


def run_model(name: str, work: Path, *, targets: list[str], calib_size: int, rounds: int) -> dict[str, Any]:
    import edgecnn
    from edgecnn.quant.calibration import default_calibration

    spec = edgecnn.load_model(name)
    calib = default_calibration(spec, size=calib_size)
    x = calib[:1]
    fp32 = edgecnn.export_onnx(spec, work / f"{name}.fp32.onnx").path
    row: dict[str, Any] = {"model": name, "weights": spec.weights}
    for target in targets:
        t0 = time.perf_counter()
        result = edgecnn.optimize(name, int8=True, target=target, calib_data=calib, out_dir=work / f"{name}.{target}")
        ours = Path(result.report["deliverable"]["artifact"])
        built = time.perf_counter() - t0
        if target == "onnxruntime":
            peers = {
                "quantize_static": ort_peer(fp32, calib, work),
                "quantize_static per-channel": ort_peer(fp32, calib, work, per_channel=True),
            }
        else:
            peers = {"nncf": nncf_peer(spec, calib, work)}
        vs = {}
        for peer_name, peer in peers.items():
            time.sleep(2)  # the previous runtime's worker threads wind down
            vs[peer_name] = pair(peer, ours, x, target, rounds)
        time.sleep(2)
        vs_fp32 = pair(fp32, ours, x, target, rounds)
        best = min(vs, key=lambda k: vs[k]["peer_ms"])
        routes = {v["route"]: v.get("ratio_to_qdq") for v in result.report["variants"] if v.get("route")}
        row[target] = {
            "peers": vs,
            "best_peer": best,
            **{k: vs[best][k] for k in ("peer_ms", "edgecnn_ms", "ratio", "ci")},
            "fp32_ms": vs_fp32["peer_ms"],
            "edgecnn_vs_fp32": vs_fp32["ratio"],
            "edgecnn_vs_fp32_ci": vs_fp32["ci"],
            "delivered": result.report["deliverable"]["precision"],
            "route": next((v["route"] for v in result.report["variants"] if v.get("route") and v["chosen"]), "qdq"),
            "routes_ratio_to_qdq": routes,
            "edgecnn_seconds": round(built, 1),
        }
        log.info("%s %s: %s", name, target, json.dumps(row[target]))
    return row


def _ratio(d: dict[str, Any]) -> str:
    return f"{d['ratio']:.2f} [{d['ci'][0]:.2f}, {d['ci'][1]:.2f}]"


def markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    lines = [
        "# int8 against the peers' defaults on their own runtimes",
        "",
        f"`{env['command']}` on {env['cpu']} ({env['cpus']} CPUs, load average {env['load_average']}); "
        f"SIMD flags: {' '.join(env['simd_flags'])}.",
        "",
        "Batch 1, 2 threads, p50 in ms. Each peer is timed interleaved against edgecnn's artifact on its runtime "
        "(edgecnn's `compare`); ratio = edgecnn / peer with its 95% paired-bootstrap interval (below 1: edgecnn "
        "faster); fp32 is the plain export timed the same way. Weights: the zoo's (random offline; int8 kernel speed "
        "does not depend on them). edgecnn's column is `edgecnn.optimize(model, int8=True, target=...)`'s "
        "deliverable; on OpenVINO the route it measured faster (qdq: its QDQ ONNX as IR; nncf: NNCF on "
        "`ov.convert_model` of the PyTorch model, static input shape).",
        "",
    ]
    for target, title in (("onnxruntime", "ONNX Runtime"), ("openvino", "OpenVINO")):
        rows = [r for r in res["rows"] if target in r]
        if not rows:
            continue
        peers = list(rows[0][target]["peers"])
        lines += [
            f"## {title}",
            "",
            "| model | fp32 | "
            + " | ".join(peers)
            + " | edgecnn | edgecnn / "
            + " | edgecnn / ".join(peers)
            + " | edgecnn / fp32 |",
            "|---|" + "---|" * (3 + 2 * len(peers)),
        ]
        for r in rows:
            t = r[target]
            route = f" ({t['route']})" if target == "openvino" else ""
            lines.append(
                f"| {r['model']} | {t['fp32_ms']:.2f} | "
                + " | ".join(f"{t['peers'][p]['peer_ms']:.2f}" for p in peers)
                + f" | {t['edgecnn_ms']:.2f}{route} | "
                + " | ".join(_ratio(t["peers"][p]) for p in peers)
                + f" | {t['edgecnn_vs_fp32']:.2f} |"
            )
        lines.append("")
    ov = [r for r in res["rows"] if "openvino" in r]
    if ov:
        lines += [
            "Routes edgecnn measured on OpenVINO (latency relative to its QDQ route, interleaved in the pipeline):",
            "",
            *[
                f"- {r['model']}: "
                + ", ".join(f"{k} {v:.2f}" for k, v in r["openvino"]["routes_ratio_to_qdq"].items())
                + f" (delivered: {r['openvino']['route']})"
                for r in ov
            ],
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    targets = ["onnxruntime", "openvino"]
    parser.add_argument("--targets", nargs="+", default=targets, choices=targets)
    parser.add_argument("--calib-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=8)
    add_write_results(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = output_dir(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgecnn-peers-") as tmp:
        for name in args.models:
            row = run_model(name, Path(tmp), targets=args.targets, calib_size=args.calib_size, rounds=args.rounds)
            rows.append(row)
            res = {"environment": environment(), "rows": rows}
            (out / "peers.json").write_text(json.dumps(res, indent=2))
            (out / "peers.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
