"""`edgecnn.search`: the fastest model that keeps its accuracy, every number measured on the target.

Each trial is a Recipe run by the pipeline runner into a folder of its own, so a front point's YAML reproduces
it with `edgecnn optimize --recipe` by construction, and `--device` timing comes with the runner. Optuna
(multi-objective TPE with constraints) proposes trials; its study is a journal file in the output folder, so a
search interrupted by Ctrl-C resumes where it stopped when run again with the same folder.

Cheap first: a trial whose recipe was already run (same content hash) is read back, not rebuilt; a trial over
the accuracy budget after validation is pruned before its latency is measured.

In parallel (`parallel` > 1, or a Ray cluster's `address`), the study stays here in the driver and asks for N
points at once; each trial is a Ray task (`edgecnn.pipeline.trials.build_trial`) whose timings hold their node
exclusively, and its result is told to the study as it completes. The journal and the trial folders are the
driver's, so resuming works the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from edgecnn.distributed.holds import recording
from edgecnn.distributed.ray_tasks import cluster, host_name, import_ray, submit
from edgecnn.errors import InvalidInputError, UserError, first_line
from edgecnn.fileio import check_out_dir
from edgecnn.pipeline.build import build_recipe
from edgecnn.pipeline.recipe import Recipe, load_recipe
from edgecnn.pipeline.runner import run_recipe
from edgecnn.pipeline.search_space import LatencyBudget, SearchSection, SearchSpace, parse_duration
from edgecnn.pipeline.steps import DistillStep, DwSeparableStep, PruneStep, QATStep, QuantizeStep
from edgecnn.pipeline.trials import (
    RECIPE_FILE,
    OverBudget,
    accuracy_screen,
    agreement_drop,
    build_trial,
    store_trial,
)
from edgecnn.progress import track
from edgecnn.report.search import write_search_report
from edgecnn.targets import get_target

log = logging.getLogger("edgecnn.search")

OBJECTIVES = ("latency_ratio", "accuracy_drop", "size_mb")  # all minimised
SEARCHED = {"dw_separable", "distill", "prune", "qat", "quantize"}  # step types a trial decides
STUDY_FILE = "study.journal"
TIMINGS_FILE = "timings.json"  # in reference/: where and when its latencies were measured
MAX_REPEATS = 20  # proposals in a row that repeat a built recipe: the (discrete) space is covered
INSTALL = "edgecnn search needs Optuna: pip install 'edgecnn[search]' (or: pip install optuna)"


@dataclass
class SearchResult:
    """What `edgecnn.search` returns: the Pareto front (feasible trials), the chosen point and where files are."""

    out_dir: Path
    front: list[dict[str, Any]]
    chosen: dict[str, Any] | None
    trials: list[dict[str, Any]]
    reference: dict[str, Any] | None
    report_paths: dict[str, Path]


def search(
    model: str | Path | None = None,
    *,
    target: str | None = None,
    recipe: str | Path | Recipe | dict[str, Any] | None = None,
    max_latency: str | None = None,
    max_drop: float | None = None,
    trials: int | None = None,
    time_budget: str | None = None,
    space: SearchSpace | dict[str, Any] | None = None,
    calib_data: str | None = None,
    calib_size: int | None = None,
    eval_data: str | None = None,
    weights: str | None = None,
    arch: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    device: str | None = None,
    token: str | None = None,
    threads: int | None = None,
    seed: int | None = None,
    address: str | None = None,
    parallel: int | None = None,
    out_dir: str | Path = "edgecnn-search",
) -> SearchResult:
    """Search precision, pruning and substitution for the fastest model within the budgets, measured on `target`.

    `model` is a zoo name or a file (each front point must be reproducible from its YAML, so no in-memory
    modules); data are paths, as on the CLI. `max_latency`: "2.5ms" (p50) or "0.5x" (of the float baseline,
    timed interleaved); `max_drop`: points of top-1 on `eval_data`, else of top-1 agreement with fp32.
    Keywords override the recipe's `search:` section. Running again with the same `out_dir` resumes.
    `parallel`: trials built at once as Ray tasks on this machine's cores (`pip install "edgecnn[distributed]"`);
    `address` ("auto", "ray://HOST:10001"): on that Ray cluster instead (N defaults to its CPUs).
    """
    try:
        import optuna
    except ImportError:
        raise UserError(INSTALL) from None
    if model is not None and not isinstance(model, (str, Path)):
        raise InvalidInputError(
            "search rebuilds every trial from a recipe: give a zoo name or a file (for an nn.Module, save its "
            "state dict and pass model=ARCH, weights=PATH)"
        )
    base = build_recipe(
        None if model is None else str(model),
        recipe=recipe,
        target=target,
        calib_data=calib_data,
        calib_size=calib_size,
        eval_data=eval_data,
        weights=weights,
        arch=arch,
        input_shape=list(input_shape) if input_shape else None,
        device=device,
        token=token,
        threads=threads,
        seed=seed,
    )
    section = _section(base.search, max_latency, max_drop, trials, time_budget, space, parallel)
    on_ray = address is not None or (section.parallel or 1) > 1
    if on_ray:
        import_ray()  # before any work: without Ray, one line naming the extra to install
    out = check_out_dir(out_dir, marker=STUDY_FILE)
    out.mkdir(parents=True, exist_ok=True)
    run = _Search(base, section, out, optuna)
    try:
        if on_ray:
            with cluster(address, devices=run.devices) as ray:
                run.optimize_on_ray(ray)
        else:
            run.optimize()
    except KeyboardInterrupt:  # an interrupted search still writes what it measured, then stops
        if run.study is not None:
            run.finish()
        raise
    return run.finish()


def _section(
    recipe_section: SearchSection | None,
    max_latency: str | None,
    max_drop: float | None,
    trials: int | None,
    time_budget: str | None,
    space: SearchSpace | dict[str, Any] | None,
    parallel: int | None = None,
) -> SearchSection:
    data = (recipe_section or SearchSection()).model_dump()
    for key, value in (
        ("max_latency", max_latency),
        ("max_drop", max_drop),
        ("trials", trials),
        ("parallel", parallel),
    ):
        if value is not None:
            data[key] = value
    if time_budget is not None:
        data["time"] = time_budget
    if space is not None:
        data["space"] = space.model_dump() if isinstance(space, SearchSpace) else space
    try:
        return SearchSection.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError: one line naming the field
        err = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInputError(f"search {where}: {err['msg'].removeprefix('Value error, ')}") from None


def recipe_key(recipe: Recipe) -> str:
    """Content hash of what a trial builds (the token excluded): equal recipes are built once."""
    data = recipe.model_dump(mode="json", exclude={"token", "search"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def recipe_yaml(recipe: Recipe) -> str:
    """The YAML `edgecnn optimize --recipe` reproduces the trial from (no token: give --token for a device)."""
    return recipe.model_copy(update={"token": None, "search": None}).to_yaml()


def suggest(trial: Any, space: SearchSpace, precisions: list[str]) -> dict[str, Any]:
    """The trial's point (define-by-run: int8 options only for int8, round_to only when pruning)."""
    params: dict[str, Any] = {}

    def pick(name: str, values: list[Any]) -> Any:
        params[name] = trial.suggest_categorical(name, values) if len(values) > 1 else values[0]
        return params[name]

    if pick("precision", precisions) == "int8":
        pick("float_layers", space.float_layers)
        pick("calibration", space.calibration)
        pick("bias_correction", space.bias_correction)
        pick("qat_steps", space.qat_steps)
    if pick("prune", space.prune) > 0:
        pick("round_to", space.round_to)
    if pick("dw_separable", space.dw_separable):
        pick("depth_multiplier", space.depth_multiplier)
    return params


def trial_recipe(base: Recipe, params: dict[str, Any], space: SearchSpace, ranking: list[str], max_drop: float):
    """The base recipe with the searched steps replaced by the trial's, in the runner's order."""
    structural: list[Any] = []
    if params.get("dw_separable"):
        structural.append(DwSeparableStep(depth_multiplier=params["depth_multiplier"]))
    if params.get("prune", 0) > 0:
        structural.append(PruneStep(ratio=params["prune"], round_to=params["round_to"], check_latency=False))
    if structural and space.distill_epochs:
        structural.append(DistillStep(epochs=space.distill_epochs, lr=3e-3))  # build_recipe's recovery setting
    kept = [s for s in base.steps if s.type not in SEARCHED]  # fold_bn goes after the training-style passes
    tail: list[Any] = []
    precision = params["precision"]
    if precision == "int8":
        if params.get("qat_steps"):
            tail.append(QATStep(steps=params["qat_steps"], target=base.target))
        tail.append(
            QuantizeStep(
                precision="int8",
                search=False,  # the technique is this trial's, not quantize's own choice
                calibration_method=params["calibration"],
                bias_correction=params["bias_correction"],
                nodes_to_exclude=tuple(ranking[: params["float_layers"]]),
                check_latency=False,  # the runner times the result, interleaved with the baseline
                latency_fallback=False,
            )
        )
    elif precision == "fp16":
        tail.append(QuantizeStep(precision="fp16", check_latency=False, latency_fallback=False))
    data = base.model_dump(mode="json")
    data.update(token=base.agent_token, search=None, steps=[*structural, *kept, *tail])
    data["gates"] = {**data["gates"], "max_accuracy_drop": max_drop}
    return load_recipe(data)


def measured(report: dict[str, Any]) -> dict[str, Any]:
    """A finished run's objectives, from its report (the runner measured them)."""
    if report.get("speedup") is None:
        why = "; ".join(report.get("not_done") or []) or "no latency in the report"
        raise InvalidInputError(
            f"latency was not measured for target {report['target']} here ({why}): the search needs it "
            "(give --device tcp://HOST:PORT for a device)"
        )
    opt = report["optimized"]
    drop, metric = _drop(report)
    drop += 0.0  # -0.0 (no loss) prints as 0.00
    return {
        "latency_ratio": 1.0 / report["speedup"],
        "ratio_ci": _ratio_ci(report.get("deliverable") or {}),
        "p50_ms": opt["latency_ms"]["p50"],
        "accuracy_drop": drop,
        "accuracy_metric": metric,
        "size_mb": opt["size_bytes"] / 1e6,
        "macs": opt.get("macs"),
        "delivered": opt.get("precision"),
        "sha256": next((a["sha256"] for a in report["artifacts"] if a["role"] == "optimized"), None),
    }


def _ratio_ci(delivered: dict[str, Any]) -> list[float] | None:
    """The interleaved comparison's interval of the delivered model (none when it fell back to fp32)."""
    return delivered.get("ratio_ci") if delivered.get("requested") == delivered.get("precision") else None


def _drop(report: dict[str, Any]) -> tuple[float, str | None]:
    """Points of top-1 lost on labelled data, else 100 x (1 - top-1 agreement with fp32); 0 when not meaningful."""
    if report.get("accuracy_delta") is not None:
        return -report["accuracy_delta"], "top-1 on labelled data (points)"
    return agreement_drop(report.get("fidelity") or {})


class _Search:
    """One invocation: the reference run, the Optuna study and the trials."""

    def __init__(self, base: Recipe, section: SearchSection, out: Path, optuna: Any) -> None:
        self.base, self.section, self.out, self.optuna = base, section, out, optuna
        self.budget = LatencyBudget.parse(section.max_latency) if section.max_latency else None
        self.deadline = time.monotonic() + parse_duration(section.time) if section.time else None
        target = get_target(base.target)
        self.precisions = section.space.precision or (
            ["int8", "fp16", "fp32"] if target.device == "cuda" else ["int8", "fp32"]
        )
        self.reference: dict[str, Any] | None = None
        self.ranking: list[str] = []
        self.study: Any = None
        # what timings hold: a device agent's `device:HOST:PORT` (a cluster declares it), else the node's `timing:`
        remote = (base.device or "").startswith(("tcp://", "tls://"))
        self.devices = {urlparse(base.device).netloc: base.device} if remote else {}

    # --- the study -------------------------------------------------------------------------------------

    def _open_study(self, *, parallel: bool = False) -> Any:
        from optuna.storages import JournalStorage

        try:
            from optuna.storages.journal import JournalFileBackend
        except ImportError:  # optuna 4.0: the older name
            from optuna.storages import JournalFileStorage as JournalFileBackend

        # our own lines instead: optuna would print a traceback for a trial stopped by Ctrl-C or a user error
        self.optuna.logging.set_verbosity(self.optuna.logging.ERROR)
        storage = JournalStorage(JournalFileBackend(str(self.out / STUDY_FILE)))
        study = self.optuna.create_study(
            study_name="search", storage=storage, directions=["minimize"] * len(OBJECTIVES), load_if_exists=True
        )
        # a resumed study's sampler starts from another seed: the same seed would propose the done trials again
        options: dict[str, Any] = {"seed": self.base.seed + len(study.get_trials(deepcopy=False))}
        if not hasattr(self.optuna.trial.Trial, "set_constraint"):  # optuna < 5: constraints through the sampler
            options["constraints_func"] = lambda t: t.user_attrs.get("constraints", [1.0, 1.0])
        if parallel:  # trials in flight count as (pessimistic) results: N asks at once propose N different points
            options["constant_liar"] = True
        study.sampler = self.optuna.samplers.TPESampler(
            n_startup_trials=min(10, max(3, self.section.trials // 3)), **options
        )
        return study

    def _plain_int8(self) -> dict[str, Any]:
        space = self.section.space
        point = {"float_layers": 0, "bias_correction": False, "qat_steps": 0, "prune": 0.0, "dw_separable": False}
        point = {k: v for k, v in point.items() if v in getattr(space, k)}  # only values in the space
        return {"precision": "int8", **point, "calibration": space.calibration[0]}

    def _queue_first(self) -> None:
        """The plain int8 point opens a new study (cheapest to beat); a trial stopped by Ctrl-C is run again first
        on resume (nothing lost), a finished one never."""
        trials = self.study.get_trials(deepcopy=False)
        if not trials and "int8" in self.precisions:
            self.study.enqueue_trial(self._plain_int8())
        retried = {t.user_attrs.get("retry_of") for t in trials}
        for t in trials:
            if t.user_attrs.get("interrupted") and t.number not in retried:
                self.study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})

    def _finished(self) -> int:
        """Trials built and measured (or screened out); a repeat of an earlier recipe is read back, not counted."""
        states = (self.optuna.trial.TrialState.COMPLETE, self.optuna.trial.TrialState.PRUNED)
        return sum(not t.user_attrs.get("cached") for t in self.study.get_trials(deepcopy=False, states=states))

    def _todo(self) -> int:
        todo = max(0, self.section.trials - self._finished())
        if not todo:
            log.info("search: %d trials already done in %s (raise --trials to run more)", self.section.trials, self.out)
        return todo

    def _stop(self, repeats: int) -> bool:
        """The time budget is spent, or the proposals keep repeating built recipes (the space is covered)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            log.info("search: time budget %s spent", self.section.time)
            return True
        if repeats >= MAX_REPEATS:
            log.info("search: the last %d proposals were all built already: the space is covered", repeats)
            return True
        return False

    def optimize(self) -> None:
        """One trial after another, here."""
        self.study = self._open_study()  # first: the journal marks the folder as a search's (resumable)
        self.reference = self._reference()
        self._queue_first()
        repeats = 0
        for _ in track(range(self._todo()), "search"):
            while True:  # a proposal that repeats a built recipe costs nothing: propose again
                if self._stop(repeats):
                    return
                self.study.optimize(self._objective, n_trials=1, catch=(UserError,))
                last = self.study.get_trials(deepcopy=False)[-1]
                repeats = repeats + 1 if last.user_attrs.get("cached") else 0
                if not repeats:
                    break
            self._log_progress()

    def optimize_on_ray(self, ray: Any) -> None:
        """Up to N trials built at once as Ray tasks; the study asks here and is told each result as it arrives.
        A point proposed while the same recipe is being built waits for that build (never built twice)."""
        width = self.section.parallel or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.study = self._open_study(parallel=True)
        self.reference = self._reference(ray)
        self._queue_first()
        todo, submitted, repeats, stopped = self._todo(), 0, 0, False
        running: dict[Any, tuple[Any, str]] = {}  # task -> (trial, recipe hash)
        waiting: dict[str, list[Any]] = {}  # recipe hash being built -> the later trials that proposed it too
        log.info("search: up to %d trials at once on Ray", width)
        try:
            while True:
                while len(running) < width and submitted < todo and not stopped:
                    if stopped := self._stop(repeats):
                        break
                    trial = self.study.ask()
                    try:
                        recipe, key = self._propose(trial)
                    except UserError as exc:  # a point no recipe can express: failed, as in the sequential search
                        self._fail(trial, "-", first_line(exc))
                        submitted += 1  # counts as a trial, as there: a space that only fails ends
                        continue
                    if key in waiting:
                        trial.set_user_attr("cached", True)
                        waiting[key].append(trial)
                        repeats += 1
                    elif self._tell_known(trial, key):
                        repeats += 1
                    else:
                        task = submit(
                            build_trial, recipe, recipe_yaml(recipe), self.section.max_drop, devices=self.devices
                        )
                        running[task], waiting[key] = (trial, key), []
                        submitted, repeats = submitted + 1, 0
                if not running:
                    return
                ready, _ = ray.wait(list(running), num_returns=1)
                trial, key = running[ready[0]]
                self._conclude(ray, ready[0], trial, key)
                del running[ready[0]]  # after: a Ctrl-C while concluding leaves it to be run again
                for other in waiting.pop(key):
                    if not self._tell_known(other, key):  # the build failed: so does its repeat
                        self.study.tell(other, state=self.optuna.trial.TrialState.FAIL)
                self._log_progress()
        except KeyboardInterrupt:  # the trials in flight are run again first on resume
            for trial, _ in running.values():
                trial.set_user_attr("interrupted", True)
            for trial in [t for t, _ in running.values()] + [t for ts in waiting.values() for t in ts]:
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            for task in running:
                ray.cancel(task, force=True)
            raise

    def _log_progress(self) -> None:
        best = self._feasible()
        fastest = min(best, key=lambda t: t.values[0]) if best else None
        left = f", {max(0.0, self.deadline - time.monotonic()) / 60:.1f} min left" if self.deadline else ""
        log.info(
            "search: %d/%d trials done; best within budget: %s%s",
            self._finished(),
            self.section.trials,
            f"trial {fastest.number} at {fastest.values[0]:.3f}x of fp32, drop {fastest.values[1]:.2f}"
            if fastest
            else "none yet",
            left,
        )

    def _feasible(self) -> list[Any]:
        return [t for t in self.study.best_trials if all(c <= 0 for c in t.user_attrs.get("constraints", [1.0]))]

    # --- one trial -------------------------------------------------------------------------------------

    def _objective(self, trial: Any) -> tuple[float, ...]:
        recipe, key = self._propose(trial)
        try:
            report = self._known(trial, key)
            if report is None:
                report = self._build(recipe, key, trial)
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)  # run again first on resume
            raise
        except UserError as exc:  # this point cannot be built (optuna records the trial as failed)
            log.warning("search: trial %d (%s) failed: %s", trial.number, key, first_line(exc))
            raise
        return self._values(trial, report)

    def _propose(self, trial: Any) -> tuple[Recipe, str]:
        """The trial's point as a recipe, and that recipe's hash (its folder under trials/)."""
        params = suggest(trial, self.section.space, self.precisions)
        trial.set_user_attr("point", params)  # with the fixed dimensions, which trial.params leaves out
        recipe = trial_recipe(self.base, params, self.section.space, self.ranking, self.section.max_drop)
        key = recipe_key(recipe)
        trial.set_user_attr("recipe", key)
        return recipe, key

    def _known(self, trial: Any, key: str) -> dict[str, Any] | None:
        """The report of a recipe built before (None: not built); raises TrialPruned for one screened out before
        and still over this budget."""
        folder = self.out / "trials" / key
        screened = folder.with_suffix(".screened.json")
        if (folder / "report.json").is_file():
            trial.set_user_attr("cached", True)
            return json.loads((folder / "report.json").read_text())
        if screened.is_file() and json.loads(screened.read_text())["accuracy_drop"] > self.section.max_drop:
            trial.set_user_attr("cached", True)
            self._prune(trial, json.loads(screened.read_text())["accuracy_drop"])
        return None

    def _build(self, recipe: Recipe, key: str, trial: Any) -> dict[str, Any]:
        folder = self.out / "trials" / key
        with recording(host_name(), self.devices) as records:
            try:
                result = run_recipe(recipe, out_dir=folder, screen=accuracy_screen(self.section.max_drop))
            except OverBudget as over:
                self._screen_out(trial, key, over.drop)
            finally:
                trial.set_user_attr("timings", [r.to_dict() for r in records])
        (folder / RECIPE_FILE).write_text(recipe_yaml(recipe))
        return result.report

    def _screen_out(self, trial: Any, key: str, drop: float) -> None:
        path = self.out / "trials" / f"{key}.screened.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"accuracy_drop": drop}))
        self._prune(trial, drop)

    def _prune(self, trial: Any, drop: float) -> None:
        trial.set_user_attr("screened_drop", drop)
        raise self.optuna.TrialPruned(f"accuracy drop {drop:.3g} > {self.section.max_drop}: not timed")

    def _values(self, trial: Any, report: dict[str, Any]) -> tuple[float, ...]:
        """The objectives (and the budgets as constraints) of a measured trial, set on it."""
        m = measured(report)
        trial.set_user_attr("measured", m)
        constraints = self._constraints(m)
        trial.set_user_attr("constraints", constraints)
        if hasattr(trial, "set_constraint"):
            for name, value in zip(("latency", "accuracy"), constraints):
                trial.set_constraint(name, value)
        return tuple(m[name] for name in OBJECTIVES)

    def _constraints(self, m: dict[str, Any]) -> list[float]:
        latency = self.budget.excess(m["latency_ratio"], m["p50_ms"]) if self.budget else 0.0
        return [latency, m["accuracy_drop"] - self.section.max_drop]

    # --- trials as Ray tasks: the study is told each result here ----------------------------------------

    def _tell_known(self, trial: Any, key: str) -> bool:
        """Tell the study the result of a recipe built (or screened out) before; False when there is none."""
        try:
            report = self._known(trial, key)
        except self.optuna.TrialPruned:
            self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)
            return True
        if report is None:
            return False
        self._tell(trial, key, report)
        return True

    def _tell(self, trial: Any, key: str, report: dict[str, Any]) -> None:
        try:
            values = self._values(trial, report)
        except UserError as exc:
            self._fail(trial, key, first_line(exc))
            return
        self.study.tell(trial, values)

    def _fail(self, trial: Any, key: str, reason: str) -> None:
        log.warning("search: trial %d (%s) failed: %s", trial.number, key, reason)
        self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)

    def _conclude(self, ray: Any, task: Any, trial: Any, key: str) -> None:
        """A finished task: its files into trials/<hash>/ here, its timings and result to the study."""
        try:
            outcome, timings = ray.get(task)
        except ray.exceptions.RayError as exc:  # its worker died on every attempt, or a bug in the build
            outcome, timings = {"error": f"the task was lost: {first_line(exc)}"}, []
        trial.set_user_attr("timings", timings)
        trial.set_user_attr("task", outcome.get("task"))
        if "error" in outcome:
            self._fail(trial, key, outcome["error"])
        elif "screened_drop" in outcome:
            try:
                self._screen_out(trial, key, outcome["screened_drop"])
            except self.optuna.TrialPruned:
                self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)
        else:
            self._tell(trial, key, store_trial(outcome, self.out / "trials" / key))

    # --- the reference: `optimize --int8` as the user would run it, and the sensitivity ranking ----------

    def _reference(self, ray: Any = None) -> dict[str, Any] | None:
        """Run here, or with `ray` as one task (its latency then comes from a cluster node, as the trials' do)."""
        if "int8" not in self.precisions:
            return None
        folder = self.out / "reference"
        if (folder / "report.json").is_file():
            report = json.loads((folder / "report.json").read_text())
        else:
            log.info("search: reference run (optimize --int8, with the sensitivity ranking)")
            recipe = build_recipe(recipe=self.base, int8=True)
            data = recipe.model_dump(mode="json")
            data.update(token=self.base.agent_token, search=None)
            for step in data["steps"]:
                if step["type"] == "quantize":
                    step["sensitivity"] = True
            recipe = load_recipe(data)
            if ray is None:
                with recording(host_name(), self.devices) as records:
                    report = run_recipe(recipe, out_dir=folder).report
                timings = [r.to_dict() for r in records]
                (folder / RECIPE_FILE).write_text(recipe_yaml(recipe))
            else:
                outcome, timings = ray.get(submit(build_trial, recipe, recipe_yaml(recipe), None, devices=self.devices))
                if "error" in outcome:
                    raise UserError(f"the reference run (optimize --int8) failed: {outcome['error']}")
                report = store_trial(outcome, folder)
            (folder / TIMINGS_FILE).write_text(json.dumps(timings, indent=2))
        quant = next((s["report"] for s in report["steps"] if s["type"] == "quantize"), {})
        self.ranking = [row["layer"] for row in quant.get("sensitivity") or []]
        timings_file = folder / TIMINGS_FILE
        timings = json.loads(timings_file.read_text()) if timings_file.is_file() else []
        return {**measured(report), "timings": timings}

    # --- results ---------------------------------------------------------------------------------------

    def finish(self) -> SearchResult:
        rows = [self._row(t) for t in self.study.get_trials(deepcopy=False)]
        front_numbers = {t.number for t in self._feasible()}
        front, seen = [], set()
        for row in sorted((r for r in rows if r["trial"] in front_numbers), key=lambda r: r["latency_ratio"]):
            if row["recipe"] not in seen:  # a cached repeat of a recipe is one point
                seen.add(row["recipe"])
                front.append(row)
        chosen = front[0] if front else None  # the fastest within budget
        front_dir = self.out / "front"
        shutil.rmtree(front_dir, ignore_errors=True)
        front_dir.mkdir(parents=True, exist_ok=True)
        for rank, row in enumerate(front, 1):
            row["rank"], row["chosen"] = rank, row is chosen
            yaml_path = front_dir / f"{rank:02d}-{row['recipe']}.yaml"
            shutil.copyfile(self.out / "trials" / row["recipe"] / RECIPE_FILE, yaml_path)
            row["yaml"] = str(yaml_path)
        if chosen is not None:
            self._ship(chosen)
        data = {
            "kind": "search",
            "model": self.base.model.name,
            "target": self.base.target,
            "device": self.base.device,
            "budgets": {"max_latency": self.section.max_latency, "max_drop": self.section.max_drop},
            "space": self.section.space.model_dump(),
            "precisions": self.precisions,
            "objectives": list(OBJECTIVES),
            "reference": self.reference,
            "trials": rows,
            "front": front,
            "chosen": chosen,
            "notes": self._notes(front),
        }
        paths = write_search_report(data, self.out)
        return SearchResult(self.out, front, chosen, rows, self.reference, paths)

    def _ship(self, chosen: dict[str, Any]) -> None:
        """The chosen point's recipe and bundle at the top of the output folder."""
        trial_dir = self.out / "trials" / chosen["recipe"]
        shutil.copyfile(trial_dir / RECIPE_FILE, self.out / "chosen.yaml")
        bundle = self.out / "bundle"
        shutil.rmtree(bundle, ignore_errors=True)
        if (trial_dir / "bundle").is_dir():
            shutil.copytree(trial_dir / "bundle", bundle)

    def _row(self, t: Any) -> dict[str, Any]:
        m = t.user_attrs.get("measured") or {}
        constraints = t.user_attrs.get("constraints")
        return {
            "trial": t.number,
            "state": t.state.name.lower(),
            "params": t.user_attrs.get("point", t.params),
            "recipe": t.user_attrs.get("recipe"),
            "cached": bool(t.user_attrs.get("cached")),
            "feasible": None if constraints is None else all(c <= 0 for c in constraints),
            "screened_drop": t.user_attrs.get("screened_drop"),
            "timings": t.user_attrs.get("timings", []),  # where and when its latencies were measured (none: read back)
            "task": t.user_attrs.get("task"),  # a Ray task's worker pid, start and end of the build
            **m,
        }

    def _notes(self, front: list[dict[str, Any]]) -> list[str]:
        notes = []
        if front and front[0].get("accuracy_metric") is None:
            notes.append("accuracy not meaningful (random weights or flat outputs): a latency-only search")
        elif front and "agreement" in (front[0].get("accuracy_metric") or ""):
            notes.append("top-1 agreement measured by the runner's validation on the first 64 calibration inputs")
        ref = self.reference
        if ref and front:
            chosen = front[0]
            if chosen["sha256"] == ref["sha256"]:
                notes.append(
                    "the chosen point is the same model as `optimize --int8` alone (same artifact sha256): its "
                    f"ratios, {chosen['latency_ratio']:.3f} and {ref['latency_ratio']:.3f} of fp32, differ by noise"
                )
            else:
                notes.append(
                    f"chosen point {ref['latency_ratio'] / chosen['latency_ratio']:.2f}x as fast as `optimize "
                    f"--int8` alone ({chosen['latency_ratio']:.3f} vs {ref['latency_ratio']:.3f} of fp32, each timed "
                    f"interleaved with fp32; accuracy drop {chosen['accuracy_drop']:.2f} vs {ref['accuracy_drop']:.2f})"
                )
        if not front:
            notes.append("no trial met the budgets: loosen --max-latency / --max-drop or run more trials")
        return notes
