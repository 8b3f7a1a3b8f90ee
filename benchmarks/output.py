"""Where a benchmark script writes its results: `benchmarks/out/` (git-ignored) by default, so a trial run never
replaces the committed figures; `--write-results` writes `benchmarks/results/`, the files the docs quote."""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMITTED = HERE / "results"
SCRATCH = HERE / "out"


def add_write_results(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write-results",
        action="store_true",
        help=f"replace the committed results in {COMMITTED} (default: write to {SCRATCH})",
    )


def output_dir(args: argparse.Namespace) -> Path:
    """benchmarks/results/ with --write-results, else benchmarks/out/ (created)."""
    path = COMMITTED if args.write_results else SCRATCH
    path.mkdir(parents=True, exist_ok=True)
    return path
