"""Recovery by distillation: fine-tune a transformed model (student) to match the original (teacher).

Loss: T^2 * KL(softmax(teacher / T) || softmax(student / T)) (Hinton et al. 2015); with labels, mixed as
alpha * KD + (1 - alpha) * cross-entropy; optionally plus an MSE loss on the penultimate features (the
input of the last nn.Linear), normalised by the teacher features' variance. BatchNorm statistics are
re-estimated on the data first and keep training (substitution and pruning shift them; on digits, smallcnn
after dw_separable(m=1) recovered to 97.8% with them and 37% with frozen ones); `freeze_bn=True` keeps them.
So distil before fold_bn: a folded student has no normalisation left to adapt. Dropout is active.
Reused after dw_separable, after pruning, and for quantization-aware fine-tuning.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgecnn.errors import InvalidInputError
from edgecnn.passes.base import Pass, PassContext, apply_pass
from edgecnn.passes.configs import DistillConfig
from edgecnn.spec import ModelSpec, as_spec

log = logging.getLogger("edgecnn.passes.distill")

_AGREEMENT_SAMPLES = 512  # teacher/student top-1 agreement is measured on at most this many inputs
_RECALIBRATION_SAMPLES = 2048  # BatchNorm statistics are re-estimated on at most this many inputs


class Distill(Pass):
    """The distillation pass. Teacher and data come from the constructor, else from the context:
    `ctx.teacher` (a recipe run sets it to the model before its first step) and `ctx.train_data`
    (with labels when it has them) or else `ctx.calib_data` (unlabeled)."""

    name = "distill"
    Config = DistillConfig

    def __init__(
        self,
        config: DistillConfig | None = None,
        *,
        teacher: Any = None,
        data: Any = None,
        labels: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, **kwargs)
        self.teacher, self.data, self.labels = teacher, data, labels

    def run(self, spec: ModelSpec, ctx: PassContext) -> tuple[ModelSpec, dict[str, Any]]:
        teacher = self.teacher if self.teacher is not None else ctx.teacher
        if teacher is None:
            raise InvalidInputError(
                "distill needs a teacher model: pass one, or set PassContext.teacher "
                "(a recipe run sets it to the model before its first step)"
            )
        data, labels = self.data, self.labels
        if data is None:
            data = ctx.train_data if ctx.train_data is not None else ctx.calib_data
            labels = True if ctx.train_data is not None and _has_labels(data) else None
        if data is None:
            raise InvalidInputError(
                "distill needs data: give training or calibration data (PassContext.train_data / calib_data)"
            )
        x, y = inputs_and_labels(data, labels)
        if tuple(x.shape[1:]) != tuple(spec.input.shape[1:]):
            raise InvalidInputError(
                f"distill: data samples have shape {tuple(x.shape[1:])} but {spec.name} "
                f"expects {tuple(spec.input.shape[1:])}"
            )
        teacher_module = teacher.module if isinstance(teacher, ModelSpec) else teacher
        if not isinstance(teacher_module, nn.Module):
            raise InvalidInputError(
                f"distill: the teacher must be a ModelSpec or torch.nn.Module, got {type(teacher).__name__}"
            )
        report = train_student(spec.module, teacher_module, x, y, self.config, device=ctx.device, progress=ctx.progress)
        return spec, report


def distill(
    student: Any,
    teacher: Any,
    data: Any,
    *,
    labels: Any = None,
    epochs: int = 1,
    steps: int | None = None,
    temperature: float = 4.0,
    alpha: float = 0.5,
    lr: float = 1e-3,
    feature_loss: bool = False,
    feature_weight: float = 1.0,
    batch_size: int = 32,
    freeze_bn: bool = False,
    seed: int = 0,
    progress: bool = True,
    ctx: PassContext | None = None,
    return_report: bool = False,
) -> Any:
    """Fine-tune `student` to match `teacher` on `data`; returns the same kind as `student`, which is not modified.

    data: inputs as a numpy array or tensor (N, C, H, W) / (N, C, L); an object with `.x` (and `.y`); an
    (x, y) pair; or an iterable of batches (arrays or (x, y) pairs).
    labels: None for pure distillation (no labels needed); N class indices; or True to use the y of `data`.
    steps: optimizer steps (overrides epochs). With `return_report=True` returns `(model, report)`.
    """
    config = DistillConfig(
        epochs=epochs,
        steps=steps,
        temperature=temperature,
        alpha=alpha,
        lr=lr,
        batch_size=batch_size,
        feature_loss=feature_loss,
        feature_weight=feature_weight,
        freeze_bn=freeze_bn,
        seed=seed,
    )
    if not isinstance(student, (ModelSpec, nn.Module)):
        raise InvalidInputError(
            f"distill: the student must be a ModelSpec or torch.nn.Module, got {type(student).__name__}"
        )
    x, y = inputs_and_labels(data, labels)
    spec = (
        student
        if isinstance(student, ModelSpec)
        else as_spec(student, input_shape=(1, *x.shape[1:]), name=type(student).__name__)
    )
    out, report = apply_pass(
        Distill(config, teacher=teacher, data=x, labels=y), spec, ctx or PassContext(progress=progress)
    )
    out = out if isinstance(student, ModelSpec) else out.module
    return (out, report) if return_report else out


def train_student(
    student: nn.Module,
    teacher: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None,
    cfg: DistillConfig,
    *,
    device: str = "cpu",
    progress: bool = True,
    keep_eval: bool = False,
) -> dict[str, Any]:
    """Distil `teacher` into `student` in place; returns the report (losses, steps, top-1 agreement before/after).
    keep_eval: train in eval mode (no dropout, stochastic depth or BatchNorm updates), as QAT does."""
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)  # dropout masks
    student.to(device)
    if any(p.device != torch.device(device) for p in teacher.parameters()):
        teacher = copy.deepcopy(teacher).to(device)  # the caller's teacher stays where it is
    params = [p for p in student.parameters() if p.requires_grad]
    if not params:
        raise InvalidInputError("distill: the student has no trainable parameters (all have requires_grad=False)")
    per_epoch = math.ceil(len(x) / cfg.batch_size)
    total = cfg.steps or cfg.epochs * per_epoch
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    with _eval_mode(teacher), _features(student, teacher, cfg.feature_loss) as features:
        before = agreement(student, teacher, x, device)
        if not cfg.freeze_bn:
            recalibrate_bn(student, x, cfg.batch_size, device)
        losses: list[float] = []
        if keep_eval:
            student.eval()
        else:
            _train_mode(student, freeze_bn=cfg.freeze_bn)
        with _progress(progress, total) as advance:
            for xb, yb in _batches(x, y, cfg.batch_size, total, cfg.seed):
                xb = xb.to(device)
                with torch.no_grad():
                    t_logits = teacher(xb)
                s_logits = student(xb)
                if s_logits.shape != t_logits.shape:
                    raise InvalidInputError(
                        f"distill: student outputs {tuple(s_logits.shape)} but teacher outputs {tuple(t_logits.shape)}"
                    )
                loss = _loss(s_logits, t_logits, None if yb is None else yb.to(device), cfg)
                if features is not None:
                    s_feat, t_feat = features()
                    loss = loss + cfg.feature_weight * F.mse_loss(s_feat, t_feat) / t_feat.var().clamp_min(1e-12)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(float(loss.detach()))
                advance(losses[-1])
        student.eval()
        after = agreement(student, teacher, x, device)
    window = max(1, len(losses) // 10)
    report = {
        "steps": len(losses),
        "epochs": round(len(losses) / per_epoch, 3),
        "samples": len(x),
        "labels": y is not None,
        "loss_first": round(float(np.mean(losses[:window])), 6),
        "loss_last": round(float(np.mean(losses[-window:])), 6),
        "agreement_before": before,
        "agreement_after": after,
        "train_seconds": round(time.perf_counter() - start, 2),
    }
    log.info(
        "distill: %d steps, loss %.4f -> %.4f, top-1 agreement with the teacher %.3f -> %.3f",
        len(losses),
        report["loss_first"],
        report["loss_last"],
        before,
        after,
    )
    return report


def _loss(
    s_logits: torch.Tensor, t_logits: torch.Tensor, labels: torch.Tensor | None, cfg: DistillConfig
) -> torch.Tensor:
    t = cfg.temperature
    kd = F.kl_div(
        F.log_softmax(s_logits / t, dim=1), F.log_softmax(t_logits / t, dim=1), log_target=True, reduction="batchmean"
    ) * (t * t)  # T^2 keeps gradient scale independent of T
    if labels is None:
        return kd
    return cfg.alpha * kd + (1 - cfg.alpha) * F.cross_entropy(s_logits, labels)


@torch.no_grad()
def agreement(student: nn.Module, teacher: nn.Module, x: torch.Tensor, device: str = "cpu", batch: int = 128) -> float:
    """Fraction of inputs (first _AGREEMENT_SAMPLES) where student and teacher pick the same top-1 class."""
    was_training = student.training
    student.eval()
    same = 0
    sample = x[:_AGREEMENT_SAMPLES]
    for chunk in sample.split(batch):
        chunk = chunk.to(device)
        same += int((student(chunk).argmax(1) == teacher(chunk).argmax(1)).sum())
    student.train(was_training)
    return round(same / len(sample), 4)


@torch.no_grad()
def recalibrate_bn(module: nn.Module, x: torch.Tensor, batch_size: int, device: str = "cpu") -> None:
    """Re-estimate BatchNorm statistics on the data (a cumulative average over one pass): substitution and
    pruning shift every downstream activation distribution, and training starts far better from matching stats."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    was_training = module.training
    module.train()
    try:
        for chunk in x[:_RECALIBRATION_SAMPLES].split(batch_size):
            module(chunk.to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        module.train(was_training)


def _batches(
    x: torch.Tensor, y: torch.Tensor | None, batch_size: int, total: int, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """`total` shuffled mini-batches, reshuffled every epoch."""
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while True:
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            if done == total:
                return
            yield x[idx], (None if y is None else y[idx])
            done += 1


def _train_mode(module: nn.Module, *, freeze_bn: bool) -> None:
    module.train()
    for sub in module.modules() if freeze_bn else ():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            sub.eval()


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """The teacher runs in eval mode; its caller's mode is restored afterwards."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


@contextlib.contextmanager
def _features(student: nn.Module, teacher: nn.Module, enabled: bool):
    """Yield None, or a function returning the last (student, teacher) inputs of each model's last nn.Linear."""
    if not enabled:
        yield None
        return
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for role, model in (("student", student), ("teacher", teacher)):
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise InvalidInputError(f"distill: feature_loss needs the {role} to end in an nn.Linear classifier")
        handles.append(
            linears[-1].register_forward_pre_hook(lambda _m, args, role=role: captured.__setitem__(role, args[0]))
        )

    def pair() -> tuple[torch.Tensor, torch.Tensor]:
        s, t = captured["student"], captured["teacher"].detach()
        if s.shape != t.shape:
            raise InvalidInputError(
                f"distill: feature_loss needs equal penultimate features, got {tuple(s.shape)} vs {tuple(t.shape)}"
            )
        return s, t

    try:
        yield pair
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def _progress(enabled: bool, total: int):
    """Yield advance(loss): a rich progress bar on stderr (transient), or a no-op."""
    if not enabled:
        yield lambda _loss: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("distill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("distill", total=total, loss=float("nan"))
        yield lambda loss: bar.update(task, advance=1, loss=loss)


def inputs_and_labels(data: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Normalise the accepted data forms to (x float32 tensor, y int64 tensor or None)."""
    x, y_in = _unpack(data)
    if labels is True:
        if y_in is None:
            raise InvalidInputError(
                "distill: labels=True but the data carries no labels (give (x, y) or an object with .y)"
            )
        y = y_in
    elif labels is None or labels is False:
        y = None
    else:
        y = labels
    x_t = _to_tensor(x, "data").float()
    if x_t.dim() < 3 or len(x_t) == 0:
        raise InvalidInputError(
            f"distill: data must be a non-empty batch of samples (N, C, ...), got shape {tuple(x_t.shape)}"
        )
    if y is None:
        return x_t, None
    y_t = _to_tensor(y, "labels")
    if y_t.dim() != 1 or len(y_t) != len(x_t) or y_t.is_floating_point():
        raise InvalidInputError(
            f"distill: labels must be {len(x_t)} integer class indices, got shape {tuple(y_t.shape)} ({y_t.dtype})"
        )
    return x_t, y_t.long()


def _has_labels(data: Any) -> bool:
    return _unpack(data)[1] is not None


def _unpack(data: Any) -> tuple[Any, Any]:
    if hasattr(data, "x"):
        return data.x, getattr(data, "y", None)
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return data, None
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[1], (tuple, list)) and np.ndim(data[1]) == 1:
        return data
    try:
        batches = list(data)
    except TypeError:
        raise InvalidInputError(
            f"distill: unsupported data of type {type(data).__name__}; give an array (N, C, H, W), "
            f"(x, y), or an iterable of batches"
        ) from None
    if not batches:
        raise InvalidInputError("distill: the data is empty")
    pairs = [b if isinstance(b, (tuple, list)) and len(b) == 2 else (b, None) for b in batches]
    xs = [_to_tensor(b[0], "data") for b in pairs]
    ys = [b[1] for b in pairs]
    y = torch.cat([_to_tensor(v, "labels") for v in ys]) if all(v is not None for v in ys) else None
    return torch.cat(xs), y


def _to_tensor(value: Any, what: str) -> torch.Tensor:
    try:
        return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"distill: cannot read the {what} as an array ({exc})") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
