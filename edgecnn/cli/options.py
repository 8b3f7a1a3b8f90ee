"""The options several commands share, declared once as `Annotated` aliases.

A command states its own default: `weights: Weights = "auto"`, `calib_size: CalibSize = 300`. Only typer and the
standard library are imported here: `edgecnn --help` must stay free of torch and the runtimes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgecnn.errors import InvalidInputError

# an input shape beyond this many values (4 GiB of float32 activations at the input alone) is a typo
MAX_INPUT_ELEMENTS = 1 << 30
# the one way every message writes an input shape
SHAPE_SYNTAX = "N,C,H,W or N,C,L (e.g. 1,3,224,224 or 1,1,128)"

_MODEL = (
    "Zoo name or family (mobilenet, efficientnet, resnet, vgg: see `edgecnn models`), weights file (with --arch), "
    "package.module:factory or TorchScript file"
)

# the model a command works on
Model = Annotated[str, typer.Argument(help=f"{_MODEL}.", show_default=False)]
ModelOrOnnx = Annotated[str, typer.Argument(help=f"{_MODEL}, or an fp32 .onnx file.", show_default=False)]
ModelOrRecipe = Annotated[str | None, typer.Argument(help=f"{_MODEL}, or an .onnx file (or give --recipe).")]
Weights = Annotated[
    str | None,
    typer.Option("--weights", help="auto | pretrained | random | PATH to a state dict (checked against the model)."),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed",
        help="Seed of everything random: weight initialisation (random weights), calibration sampling. "
        "The same command and seed give the same artifact.",
    ),
]
Arch = Annotated[str | None, typer.Option("--arch", help="Zoo architecture of a weights file given as MODEL.")]


class Shape(tuple):
    """An input shape given as --input-shape N,C,H,W or N,C,L (a tuple of ints; typer reads a plain tuple
    annotation as several values, so the option is annotated with this subclass)."""


def parse_shape(text: str | tuple[int, ...]) -> Shape:
    """'1,3,224,224' (or '1x3x224x224') -> (1, 3, 224, 224); every problem is one line naming the syntax."""
    if isinstance(text, tuple):  # typer passes a default through the parser too
        return Shape(text)
    try:
        shape = Shape(int(p) for p in text.lower().replace("x", ",").split(","))
    except ValueError:
        raise InvalidInputError(f"--input-shape takes whole numbers as {SHAPE_SYNTAX}, got {text!r}") from None
    if len(shape) not in (3, 4):
        raise InvalidInputError(f"--input-shape takes {SHAPE_SYNTAX}, got {text!r}")
    if min(shape) < 1:
        raise InvalidInputError(f"--input-shape: every dimension must be at least 1, got {text!r}")
    check_input_size(shape)
    return shape


InputShape = Annotated[
    Shape | None,
    typer.Option(
        "--input-shape",
        metavar="N,C,H,W",
        parser=parse_shape,
        help=(
            f"Full input shape: {SHAPE_SYNTAX} ('x' also separates: 1x3x160x160); each dimension a whole number "
            f">= 1, at most {MAX_INPUT_ELEMENTS:,} values in all."
        ),
    ),
]

# where it runs
Target = Annotated[str | None, typer.Option("--target", "-t", help="onnxruntime | openvino | tensorrt | cuda | arm.")]


def _device(value: str | None) -> str | None:
    if value is not None and value.startswith(("tcp://", "tls://")):
        from edgecnn.targets.base import check_device  # light (no torch, no runtimes)

        check_device(value)
    return value


Device = Annotated[
    str | None,
    typer.Option(
        "--device",
        callback=_device,
        help="cpu, cuda[:i], or tcp://HOST:PORT of an `edgecnn agent serve` (remote devices).",
    ),
]
Token = Annotated[str | None, typer.Option("--token", envvar="EDGECNN_AGENT_TOKEN", help="The agent's shared token.")]
Threads = Annotated[
    int | None, typer.Option("--threads", help="Runtime threads for checks and timing (default: all physical cores).")
]
Latency = Annotated[
    bool, typer.Option("--latency/--no-latency", help="Time the result against the original side by side.")
]

# data
CalibData = Annotated[
    str | None,
    typer.Option(
        "--calib-data", "--calib", help="Calibration images folder or .npy/.npz (default: the bundled photos)."
    ),
]
CalibSize = Annotated[int | None, typer.Option("--calib-size", help="Calibration samples.")]
EvalData = Annotated[
    str | None,
    typer.Option("--eval-data", help="Labelled data (ImageFolder, .npz with x and y, or 'digits') for accuracy."),
]
MaxAccuracyDrop = Annotated[
    float | None, typer.Option("--max-accuracy-drop", help="Gate: top-1 points the result may lose.")
]
Fp16 = Annotated[bool, typer.Option("--fp16", help="fp16 conversion instead of int8.")]

# output
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of the human summary.")]
ReportPath = Annotated[Path | None, typer.Option("--report", help="Also write the report as JSON here.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the recipe this command runs, and stop.")]


def Out(help: str, *, short: bool = True) -> Any:  # noqa: N802 (reads as a type in signatures)
    """`--out/-o`: one declaration; what is written there differs by command, so the help is the command's."""
    names = ("--out", "-o") if short else ("--out",)
    return Annotated[Path | None, typer.Option(*names, help=help)]


def check_input_size(shape: tuple[int, ...]) -> None:
    """Refuse an absurd input size before a model allocates it."""
    total = 1
    for d in shape:
        total *= d
    if total > MAX_INPUT_ELEMENTS:
        raise InvalidInputError(
            f"input shape {','.join(map(str, shape))} is too large ({total:,} values; at most "
            f"{MAX_INPUT_ELEMENTS:,}): check --input-shape / --input-size"
        )


def names(text: str | None) -> tuple[str, ...] | None:
    """'a, b,c' -> ('a', 'b', 'c'); empty -> None."""
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else None
