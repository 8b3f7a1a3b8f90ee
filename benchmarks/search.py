"""`edgecnn search` against `optimize --int8` alone: how much faster the front's fastest point is, at what accuracy.

Not a test. Two parts:
- digits: smallcnn trained on scikit-learn's digits (real labels), a search with an accuracy budget in points;
- mobilenet_v2: the 20-trial, latency-only search of the acceptance (random weights offline: agreement is not
  meaningful, so only latency counts), with the wall-clock time it took on this machine.

    python benchmarks/search.py [--part digits|mobilenet_v2|all] [--trials 20] [--time 30m] [--max-latency 0.9x]

Writes benchmarks/out/search.{json,md} (with --write-results benchmarks/results/) and each search's folder under
benchmarks/out/search-<part>/ (run again to resume it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.output import SCRATCH, add_write_results, output_dir  # noqa: E402


def digits_recipe(folder: Path, trials: int, max_latency: str) -> dict[str, Any]:
    import torch

    from edgecnn.evaluation.digits import trained_digits_model

    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "smallcnn.pt").exists():
        spec, train, test = trained_digits_model("smallcnn", epochs=6)
        torch.save(spec.module.state_dict(), folder / "smallcnn.pt")
        np.save(folder / "calib.npy", train.x[:256])
        np.savez(folder / "eval.npz", x=test.x, y=test.y)
    return {
        "model": {"name": "smallcnn", "weights": str(folder / "smallcnn.pt")},
        "data": {"calib": str(folder / "calib.npy"), "eval": str(folder / "eval.npz")},
        "search": {"max_latency": max_latency, "max_drop": 1.0, "trials": trials},
    }


def run_part(part: str, args: argparse.Namespace) -> dict[str, Any]:
    import edgecnn

    out = SCRATCH / f"search-{part}"
    if part == "digits":
        recipe = digits_recipe(SCRATCH / "search-digits-data", args.trials, args.max_latency)
        kwargs: dict[str, Any] = {"recipe": recipe}
    else:
        kwargs = {"model": "mobilenet_v2", "weights": "auto", "max_latency": args.max_latency, "max_drop": 1.0}
        kwargs["trials"] = args.trials
    started = time.perf_counter()
    result = edgecnn.search(time_budget=args.time, out_dir=out, **kwargs)
    seconds = time.perf_counter() - started
    chosen, ref = result.chosen, result.reference
    return {
        "part": part,
        "seconds": round(seconds, 1),
        "trials": len([t for t in result.trials if not t["cached"]]),
        "front": len(result.front),
        "chosen": chosen,
        "reference": ref,
        "faster_than_int8_alone": (ref["latency_ratio"] / chosen["latency_ratio"]) if chosen and ref else None,
        "report": str(result.report_paths["md"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("digits", "mobilenet_v2", "all"), default="all")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--time", default="30m")
    parser.add_argument("--max-latency", default="0.9x")
    add_write_results(parser)
    args = parser.parse_args()
    from edgecnn.profiling.environment import fingerprint

    parts = ("digits", "mobilenet_v2") if args.part == "all" else (args.part,)
    rows = [run_part(p, args) for p in parts]
    env = fingerprint()
    out = output_dir(args)
    (out / "search.json").write_text(json.dumps({"environment": env, "parts": rows}, indent=2, default=str))
    lines = [
        f"# edgecnn search vs optimize --int8 ({env.get('cpu')}, {env.get('cores')} cores)",
        "",
        f"`{' '.join(sys.argv)}`; CPU flags: {' '.join(env.get('flags') or [])}.",
        "",
        "| part | trials | seconds | front | chosen x fp32 | int8 alone x fp32 | chosen vs int8 alone | drop |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c, ref = r["chosen"] or {}, r["reference"] or {}
        gain = f"{r['faster_than_int8_alone']:.2f}x" if r["faster_than_int8_alone"] else "-"
        nan = float("nan")
        lines.append(
            f"| {r['part']} | {r['trials']} | {r['seconds']} | {r['front']} | {c.get('latency_ratio', nan):.3f} "
            f"| {ref.get('latency_ratio', nan):.3f} | {gain} | {c.get('accuracy_drop', nan):.2f} |"
        )
    (out / "search.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
