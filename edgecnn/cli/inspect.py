"""`edgecnn inspect MODEL`: every layer in execution order (window, shapes, receptive field, params, MACs), totals."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from edgecnn.analysis.inspect import inspect_model
from edgecnn.cli.console import console, escape, say
from edgecnn.cli.options import Arch, AsJson, InputShape, Model, Seed, Weights, check_input_size
from edgecnn.errors import InvalidInputError
from edgecnn.zoo.loader import load_model


def inspect(
    model: Model,
    input_size: Annotated[
        tuple[int, int] | None,
        typer.Option("--input-size", metavar="H W", help="Spatial size of an image model's input."),
    ] = None,
    input_shape: InputShape = None,
    input_length: Annotated[
        int | None, typer.Option("--input-length", metavar="L", help="Sequence length of a 1D model's input.")
    ] = None,
    weights: Weights = "random",
    seed: Seed = 0,
    arch: Arch = None,
    num_classes: Annotated[
        int | None, typer.Option("--num-classes", help="Classifier size, if not the zoo default.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Inspect a model layer by layer: k, s, p, d, groups, shapes, receptive field, params, MACs, memory."""

    if sum(v is not None for v in (input_size, input_shape, input_length)) > 1:
        raise InvalidInputError("give only one of --input-size, --input-shape and --input-length")
    spec = load_model(
        model,
        weights=weights,
        arch=arch,
        num_classes=num_classes,
        input_shape=input_shape,
        seed=seed,
    )
    shape = _shape(spec.input.shape, input_size, input_length)
    result = inspect_model(spec, input_shape=shape)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print(result)


def _shape(default: tuple[int, ...], size: tuple[int, int] | None, length: int | None) -> tuple[int, ...]:
    if (size is not None and min(size) < 1) or (length is not None and length < 1):
        raise InvalidInputError("--input-size and --input-length take whole numbers >= 1")
    shape = _chosen_shape(default, size, length)
    check_input_size(shape)
    return shape


def _chosen_shape(default: tuple[int, ...], size: tuple[int, int] | None, length: int | None) -> tuple[int, ...]:
    if size is not None:
        if len(default) != 4:
            raise InvalidInputError(
                f"--input-size H W is for image models; this model takes {tuple(default)}: use --input-length"
            )
        return (*default[:2], *size)
    if length is not None:
        if len(default) != 3:
            raise InvalidInputError(
                f"--input-length is for 1D models; this model takes {tuple(default)}: use --input-size H W"
            )
        return (*default[:2], length)
    return tuple(default)


def _dims(values) -> str:
    if values is None:
        return ""
    values = list(values)
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _shape_text(shape) -> str:
    return "x".join(map(str, shape[1:])) if shape else ""


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{escape(result.model)}  input {'x'.join(map(str, result.input.shape))}", show_lines=False)
    for col in ("#", "layer", "type", "k", "s", "p", "d", "g", "input", "output", "RF", "jump", "params", "MACs"):
        table.add_column(col, justify="right" if col in ("#", "params", "MACs") else "left", no_wrap=col != "layer")
    for layer in result.layers:
        inputs = _shape_text(layer.input_shapes[0]) if layer.input_shapes else ""
        if len(layer.input_shapes) > 1:
            inputs += f" +{len(layer.input_shapes) - 1}"
        output = _shape_text(layer.output_shape)
        if layer.shape_ok is False:
            output = f"[bold red]{output} (formula {'x'.join(map(str, layer.expected_spatial))})[/]"
        table.add_row(
            str(layer.index),
            escape(layer.name),
            escape(layer.type),
            _dims(layer.kernel),
            _dims(layer.stride),
            _dims(layer.padding),
            _dims(layer.dilation),
            "" if layer.groups in (None, 1) else str(layer.groups),
            inputs,
            output,
            _dims(layer.receptive_field),
            _dims(layer.jump),
            f"{layer.params:,}" if layer.params else "",
            f"{layer.macs / 1e6:,.2f}M" if layer.macs else "",
        )
    if result.layers:  # an opaque (TorchScript) model has totals only
        # piped output has no terminal width: print the table unsquashed rather than at rich's default 80 columns
        (console if console.is_terminal else Console(width=180)).print(table)
    totals = result.totals
    lines = [f"params            {totals.params:,} ({totals.params / 1e6:.2f}M)"]
    if totals.macs is not None:
        lines.append(f"MACs              {totals.macs:,} ({totals.macs / 1e9:.3f}G) at batch {result.input.shape[0]}")
    if totals.peak_activation_bytes is not None:
        bound = " (lower bound)" if result.method == "hooks" else ""
        lines.append(f"peak activations  {totals.peak_activation_bytes / 2**20:.2f} MiB{bound}")
    wb = totals.weight_bytes
    lines.append(
        f"weights           fp32 {wb['fp32'] / 2**20:.2f} MiB, fp16 {wb['fp16'] / 2**20:.2f} MiB, "
        f"int8 {wb['int8'] / 2**20:.2f} MiB"
    )
    lines.append(f"output            {', '.join('x'.join(map(str, o)) for o in result.outputs)}")
    lines.append(f"traced with       {result.method}")
    mismatches = result.mismatches
    differ = f"[bold red]{len(mismatches)} layer(s) differ from the formula[/]"
    checked = sum(layer.shape_ok is not None for layer in result.layers)
    if mismatches:
        lines.append(f"shape check       {differ}")
    elif checked:
        lines.append(f"shape check       all {checked} window layers match the formula")
    else:
        hidden = " (TorchScript hides its layers)" if result.method == "opaque" else ""
        lines.append(f"shape check       not done: no window layer to check{hidden}")
    for line in lines:
        console.print(line, highlight=False)
    for note in result.notes:
        say(note, prefix="[yellow]note:[/] ")
