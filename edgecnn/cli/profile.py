"""`edgecnn profile ARTIFACT`: latency, memory and roofline, side by side with the float baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def _model(ref: str) -> Any:
    """A model file, or a zoo model name / .pt / .pth handled by the zoo loader (PyTorch eager)."""
    path = Path(ref)
    if path.suffix.lower() in (".onnx", ".xml", ".engine", ".plan"):
        from edgecnn.artifact import Artifact

        return Artifact.from_path(path)
    from edgecnn.zoo import load_model

    return load_model(ref)


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _print_table(d: dict[str, Any]) -> None:
    from rich.table import Table

    from edgecnn.cli.console import console

    sides = [(r, d[r]) for r in ("baseline", "optimized") if d.get(r)]
    table = Table(title=f"edgecnn profile: target {d['target']} ({d['backend']} on {d['device']})")
    table.add_column("")
    for role, _ in sides:
        table.add_column(role, justify="right")
    rows: list[tuple[str, Any]] = [
        ("p50 ms", lambda s: _fmt_ms(s["latency_ms"]["p50"])),
        ("p50 95% CI ms", lambda s: f"{s['median_ci95_ms'][0]:.3f}-{s['median_ci95_ms'][1]:.3f}"),
        ("p90 / p99 ms", lambda s: f"{s['latency_ms']['p90']:.3f} / {s['latency_ms']['p99']:.3f}"),
        ("mean ± std ms", lambda s: f"{s['latency_ms']['mean']:.3f} ± {s['latency_ms']['std']:.3f}"),
        ("throughput /s", lambda s: f"{s['throughput']:.1f}"),
        ("iterations", lambda s: str(s["iterations"])),
        (
            "file MB",
            lambda s: (
                "-" if not (s.get("memory") or {}).get("file_bytes") else f"{s['memory']['file_bytes'] / 1e6:.2f}"
            ),
        ),
        (
            "session RSS MB",
            lambda s: (
                "-"
                if (s.get("memory") or {}).get("session_peak_rss_bytes") is None
                else f"{s['memory']['session_peak_rss_bytes'] / 1e6:.1f}"
            ),
        ),
        (
            "GMAC/s (% fp32 / int8 peak)",
            lambda s: (
                "-"
                if not (s.get("roofline") or {}).get("achieved_gmacs")
                else f"{s['roofline']['achieved_gmacs']:.1f} ({s['roofline']['pct_of_fp32_peak'] or '-'}% / {s['roofline']['pct_of_int8_peak'] or '-'}%)"
            ),
        ),
    ]
    for label, fn in rows:
        table.add_row(label, *(fn(s) for _, s in sides))
    console.print(table)
    if d.get("speedup"):
        console.print(f"speed-up (baseline p50 / optimized p50): [bold]{d['speedup']:.2f}x[/]")
    if d.get("fidelity"):
        console.print(f"outputs vs baseline: max abs error {d['fidelity']['max_abs_error']:.3g}")
    env = d.get("device_environment") or d["environment"]
    console.print(
        f"device: {env.get('cpu')} ({env.get('arch')}), flags {', '.join(env.get('flags') or []) or '-'}, "
        f"threads {env.get('threads')}",
        highlight=False,
    )
    for note in d.get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("profile")
    def profile(
        artifact: str = typer.Argument(
            ..., help="Model file (.onnx, .xml, .engine) or a zoo name / .pt file for PyTorch eager."
        ),
        target: str = typer.Option(
            None, help="torch, onnxruntime, openvino, cuda, tensorrt, arm (default: from the artifact)."
        ),
        baseline: str = typer.Option(
            None, help="Float baseline (file or zoo name), timed interleaved on the same backend."
        ),
        device: str = typer.Option(
            None, help="cpu, cuda[:i], or tcp://host:port of a device running `edgecnn agent serve`."
        ),
        token: str = typer.Option(
            None, envvar="EDGECNN_AGENT_TOKEN", help="The agent's shared token (with --device tcp://...)."
        ),
        threads: int = typer.Option(None, help="CPU threads (default: all physical cores)."),
        precision: str = typer.Option(
            None, help="Runtime precision of the optimized session (cuda: fp16/bf16; openvino: bf16/auto)."
        ),
        batch: int = typer.Option(1, help="Batch size of the random input."),
        input_npy: Path = typer.Option(
            None, "--input", help="Real input data as a .npy array (default: random of the model's shape)."
        ),
        warmup: int = typer.Option(10, help="Warm-up iterations."),
        min_iters: int = typer.Option(50, help="Minimum timed iterations."),
        min_seconds: float = typer.Option(1.0, help="Minimum timed seconds."),
        rounds: int = typer.Option(5, help="Interleaved rounds when a baseline is timed too."),
        roofline: bool = typer.Option(True, help="Report achieved MAC/s against this machine's measured peak."),
        out: Path = typer.Option(
            None, help="Where to write the JSON result (default: ./<artifact name>.profile.json)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the JSON result instead of the table."),
    ) -> None:
        """Profile an artifact: latency statistics, memory, roofline, and the speed-up over its float baseline."""
        import numpy as np

        from edgecnn.errors import InvalidInputError
        from edgecnn.fileio import atomic_write_text
        from edgecnn.profiling.api import profile as run_profile
        from edgecnn.profiling.timing import TimingProtocol

        inputs = None
        if input_npy is not None:
            try:
                inputs = np.load(input_npy, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InvalidInputError(f"cannot read --input {input_npy}: {exc}") from None
        protocol = TimingProtocol(warmup=warmup, min_iters=min_iters, min_seconds=min_seconds, rounds=rounds)
        result = run_profile(
            _model(artifact),
            target=target,
            baseline=_model(baseline) if baseline else None,
            protocol=protocol,
            threads=threads,
            batch=batch,
            inputs=inputs,
            device=device,
            token=token,
            precision=precision,
            roofline=roofline,
        )
        d = result.to_dict()
        path = out or Path(f"{Path(artifact).name}.profile.json")
        atomic_write_text(path, json.dumps(d, indent=2, default=str))
        if as_json:
            typer.echo(json.dumps(d, indent=2, default=str))
            return
        _print_table(result.to_dict(include_times=False))
        from edgecnn.cli.console import err_console

        err_console.print(f"wrote {path}", highlight=False)
