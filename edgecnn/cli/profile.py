"""`edgecnn profile ARTIFACT`: latency, memory and roofline, side by side with the float baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgecnn.cli.console import console, err_console, escape, say
from edgecnn.cli.options import AsJson, Device, InputShape, Out, Threads, Token, check_input_size, parse_shape
from edgecnn.errors import InvalidInputError
from edgecnn.fileio import atomic_write_text, check_out_file
from edgecnn.profiling.api import profile as run_profile
from edgecnn.profiling.timing import DEFAULT_PROTOCOL, TimingProtocol
from edgecnn.zoo import load_model


def _model(ref: str, input_shape: tuple[int, ...] | None = None) -> Any:
    """A model file, or a zoo model name / .pt / .pth handled by the zoo loader (PyTorch eager)."""
    path = Path(ref)
    if path.suffix.lower() in (".onnx", ".xml", ".engine", ".plan"):
        from edgecnn.artifact import Artifact

        return Artifact.from_path(path)

    return load_model(ref, input_shape=input_shape)


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _print_table(d: dict[str, Any]) -> None:
    from rich.table import Table

    sides = [(r, d[r]) for r in ("baseline", "optimized") if d.get(r)]
    table = Table(title=escape(f"edgecnn profile: target {d['target']} ({d['backend']} on {d['device']})"))
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
                else f"{s['roofline']['achieved_gmacs']:.1f} "
                f"({s['roofline']['pct_of_fp32_peak'] or '-'}% / {s['roofline']['pct_of_int8_peak'] or '-'}%)"
            ),
        ),
    ]
    for label, fn in rows:
        table.add_row(label, *(escape(fn(s)) for _, s in sides))
    console.print(table)
    if d.get("speedup"):
        console.print(f"speed-up (baseline p50 / optimized p50): [bold]{d['speedup']:.2f}x[/]")
    if d.get("fidelity"):
        console.print(f"outputs vs baseline: max abs error {d['fidelity']['max_abs_error']:.3g}")
    env = d.get("device_environment") or d["environment"]
    say(
        f"device: {env.get('cpu')} ({env.get('arch')}), flags {', '.join(env.get('flags') or []) or '-'}, "
        f"threads {env.get('threads')}"
    )
    for note in d.get("notes", []):
        say(note, prefix="[yellow]note:[/] ")


def profile(
    artifact: Annotated[
        str,
        typer.Argument(
            help="Model file (.onnx, .xml, .engine) or a zoo name / .pt file for PyTorch eager.", show_default=False
        ),
    ],
    target: Annotated[
        str | None,
        typer.Option(
            "--target", "-t", help="torch, onnxruntime, openvino, cuda, tensorrt, arm (default: from the artifact)."
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Float baseline (file or zoo name), timed interleaved on the same backend."),
    ] = None,
    device: Device = None,
    token: Token = None,
    threads: Threads = None,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision", help="Runtime precision of the optimized session (cuda: fp16/bf16; openvino: bf16/auto)."
        ),
    ] = None,
    input_shape: InputShape = None,
    batch: Annotated[int, typer.Option("--batch", help="Batch size of the random input.")] = 1,
    input_npy: Annotated[
        Path | None,
        typer.Option("--input", help="Real input data as a .npy array (default: random of the model's shape)."),
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", help="Warm-up iterations.")] = DEFAULT_PROTOCOL.warmup,
    min_iters: Annotated[
        int, typer.Option("--min-iters", help="Minimum timed iterations.")
    ] = DEFAULT_PROTOCOL.min_iters,
    min_seconds: Annotated[
        float, typer.Option("--min-seconds", help="Minimum timed seconds.")
    ] = DEFAULT_PROTOCOL.min_seconds,
    rounds: Annotated[
        int, typer.Option("--rounds", help="Interleaved rounds when a baseline is timed too.")
    ] = DEFAULT_PROTOCOL.rounds,
    roofline: Annotated[
        bool,
        typer.Option("--roofline/--no-roofline", help="Report achieved MAC/s against this machine's measured peak."),
    ] = True,
    out: Out("Where to write the JSON result (default: ./<artifact name>.profile.json).") = None,
    as_json: AsJson = False,
) -> None:
    """Profile an artifact: latency statistics, memory, roofline, and the speed-up over its float baseline."""
    import numpy as np

    path = check_out_file(out or Path(f"{Path(artifact).name}.profile.json"), suffixes=(".json",))
    replaces = path.exists()  # said below: a command never replaces a file silently
    inputs = None
    if input_npy is not None:
        try:
            inputs = np.load(input_npy, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read --input {input_npy}: {exc}") from None
    shape = parse_shape(input_shape) if input_shape else None
    if shape:
        check_input_size(shape)
    protocol = TimingProtocol(warmup=warmup, min_iters=min_iters, min_seconds=min_seconds, rounds=rounds)
    result = run_profile(
        _model(artifact, shape),
        target=target,
        baseline=_model(baseline, shape) if baseline else None,
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
    atomic_write_text(path, json.dumps(d, indent=2, default=str))
    if as_json:
        typer.echo(json.dumps(d, indent=2, default=str))
        return
    _print_table(result.to_dict(include_times=False))

    say(f"{'replaced' if replaces else 'wrote'} {path}", to=err_console)
