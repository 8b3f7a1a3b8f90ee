"""`edgecnn search`: the fastest model within a latency and an accuracy budget, measured on the target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgecnn.cli.options import (
    Arch,
    AsJson,
    CalibData,
    CalibSize,
    Device,
    EvalData,
    InputShape,
    ModelOrRecipe,
    Out,
    Target,
    Threads,
    Token,
    Weights,
)


def search_cmd(
    model: ModelOrRecipe = None,
    target: Target = None,
    device: Device = None,
    token: Token = None,
    max_latency: Annotated[
        str | None,
        typer.Option("--max-latency", help="Latency budget: p50 in ms ('2.5ms') or of the float model ('0.5x')."),
    ] = None,
    max_drop: Annotated[
        float | None,
        typer.Option("--max-drop", help="Accuracy budget: top-1 points (agreement with fp32 without labels)."),
    ] = None,
    trials: Annotated[int | None, typer.Option("--trials", min=1, help="Trials in all (default 20).")] = None,
    time_budget: Annotated[str | None, typer.Option("--time", help="Stop after this long: '90s', '20m', '1h'.")] = None,
    calib_data: CalibData = None,
    calib_size: CalibSize = None,
    eval_data: EvalData = None,
    weights: Weights = None,
    arch: Arch = None,
    input_shape: InputShape = None,
    threads: Threads = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the runs and the sampler (default 0).")] = None,
    recipe: Annotated[
        str | None, typer.Option("--recipe", help="Recipe file (its `search:` section); flags override it.")
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Build the trials as tasks on this Ray cluster: auto (the cluster this machine belongs to) or "
            "ray://HOST:10001.",
        ),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            "--parallel",
            min=1,
            help="Trials built at once, as Ray tasks (default: one at a time, here; with --address, the cluster's "
            "CPUs).",
        ),
    ] = None,
    out: Out("Output folder; run again with the same folder to resume.") = Path("edgecnn-search"),
    as_json: AsJson = False,
) -> None:
    """Search precision, pruning and substitution for the fastest model within the budgets (Optuna).

    Writes search.md/json, pareto.png, front/*.yaml (each reproduced by `edgecnn optimize --recipe`),
    chosen.yaml and the chosen point's bundle. With --parallel N or --address, N trials are built at once as
    Ray tasks (the distributed extra), each timing holding its node alone.
    """
    from edgecnn.cli.console import say
    from edgecnn.pipeline.search import search
    from edgecnn.pipeline.shipped import resolve_recipe

    result = search(
        model,
        recipe=resolve_recipe(recipe) if recipe else None,
        target=target,
        device=device,
        token=token,
        max_latency=max_latency,
        max_drop=max_drop,
        trials=trials,
        time_budget=time_budget,
        calib_data=calib_data,
        calib_size=calib_size,
        eval_data=eval_data,
        weights=weights,
        arch=arch,
        input_shape=tuple(input_shape) if input_shape else None,
        threads=threads,
        seed=seed,
        address=address,
        parallel=parallel,
        out_dir=out,
    )
    if as_json:
        typer.echo(json.dumps({"front": result.front, "chosen": result.chosen}, indent=2, default=str))
        return
    typer.echo(result.report_paths["md"].read_text(encoding="utf-8"))
    for path in result.report_paths.values():
        say(f"wrote {path}")
