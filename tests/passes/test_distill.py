"""distill: the student learns the teacher (unlabeled, labeled, feature loss), data forms, recipe steps, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import edgecnn
from edgecnn.errors import InvalidInputError
from edgecnn.passes.base import PASSES, PassContext
from edgecnn.passes.distill import Distill, distill


def _net(seed: int, width: int = 8) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, width, 3),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 4),
    ).eval()


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(128, 1, 6, 6, generator=gen)


def _agreement(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x).argmax(1) == b(x).argmax(1)).float().mean())


def test_unlabeled_distillation_makes_the_student_agree(data):
    teacher, student = _net(0), _net(1)
    before = _agreement(student, teacher, data)
    out, step = distill(student, teacher, data.numpy(), epochs=15, lr=1e-2, progress=False, return_report=True)
    report = step["report"]
    assert report["steps"] == 15 * 4 and not report["labels"]
    assert report["loss_last"] < report["loss_first"]
    assert _agreement(out, teacher, data) > max(before, 0.8)
    assert report["agreement_after"] == pytest.approx(_agreement(out, teacher, data), abs=1e-3)
    assert isinstance(out, nn.Sequential) and not out.training
    torch.testing.assert_close(student[0].weight, _net(1)[0].weight, msg="the input student must stay untouched")
    assert not torch.allclose(out[1].running_mean, student[1].running_mean), "BatchNorm statistics are re-estimated"
    frozen = distill(student, teacher, data, steps=2, freeze_bn=True, progress=False)
    torch.testing.assert_close(frozen[1].running_mean, student[1].running_mean)


def test_labels_steps_and_feature_loss(data):
    teacher, student = _net(0), _net(1)
    labels = np.arange(len(data)) % 4
    _, step = distill(
        student, teacher, data, labels=labels, steps=5, feature_loss=True, progress=False, return_report=True
    )
    assert step["report"]["steps"] == 5 and step["report"]["labels"]
    # labels=True takes them from an (x, y) pair or from an iterable of (x, y) batches
    batches = [(data[i : i + 32], torch.from_numpy(labels[i : i + 32])) for i in range(0, len(data), 32)]
    for source in [(data, labels), batches]:
        _, step = distill(student, teacher, source, labels=True, steps=2, progress=False, return_report=True)
        assert step["report"]["labels"] and step["report"]["samples"] == len(data)


def test_works_on_model_specs_and_reports_to_the_context(data):
    teacher = edgecnn.ModelSpec(_net(0), edgecnn.InputSpec((1, 1, 6, 6)), "teacher")
    student = teacher.replace(module=_net(1), name="student")
    ctx = PassContext(progress=False)
    out = distill(student, teacher, data, steps=3, ctx=ctx)
    assert isinstance(out, edgecnn.ModelSpec) and out.name == "student" and out.module is not student.module
    assert ctx.reports[-1]["type"] == "distill" and ctx.reports[-1]["config"]["steps"] == 3


def test_as_a_recipe_step_takes_teacher_and_data_from_the_context(data):
    assert PASSES.get("distill") is Distill
    spec = edgecnn.ModelSpec(_net(1), edgecnn.InputSpec((1, 1, 6, 6)), "student")
    ctx = PassContext(calib_data=data.numpy(), progress=False)
    with pytest.raises(InvalidInputError, match="teacher"):
        Distill(steps=2).apply(spec, ctx)
    ctx.teacher = _net(0)
    Distill(steps=2).apply(spec, ctx)
    assert not ctx.reports[-1]["report"]["labels"]

    class Split:  # training data with labels (like edgecnn.evaluation.digits.Split) brings its labels along
        x, y = data.numpy(), np.arange(len(data)) % 4

    ctx.train_data = Split()
    Distill(steps=2).apply(spec, ctx)
    assert ctx.reports[-1]["report"]["labels"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"temperature": 0}, "temperature must be positive"),
        ({"alpha": 1.5}, "alpha must be in"),
        ({"steps": 0}, "steps must be an integer"),
        ({"epochs": 0}, "epochs must be an integer"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"lr": -1.0}, "lr must be positive"),
    ],
)
def test_bad_options(options, message, data):
    with pytest.raises(InvalidInputError, match=message):
        distill(_net(1), _net(0), data, progress=False, **options)


def test_bad_data_and_models(data):
    with pytest.raises(InvalidInputError, match="labels must be 128 integer"):
        distill(_net(1), _net(0), data, labels=np.zeros(5, dtype=int), progress=False)
    with pytest.raises(InvalidInputError, match="carries no labels"):
        distill(_net(1), _net(0), data, labels=True, progress=False)
    with pytest.raises(InvalidInputError, match="unsupported data"):
        distill(_net(1), _net(0), 3.0, progress=False)
    with pytest.raises(InvalidInputError, match="expects"):
        spec = edgecnn.ModelSpec(_net(1), edgecnn.InputSpec((1, 1, 8, 8)), "student")
        distill(spec, _net(0), data, progress=False)
    with pytest.raises(InvalidInputError, match="student outputs"):
        wide = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 7))
        distill(wide, _net(0), data, steps=1, progress=False)
    with pytest.raises(InvalidInputError, match="feature_loss needs equal"):
        distill(_net(1, width=6), _net(0), data, steps=1, feature_loss=True, progress=False)
    with pytest.raises(InvalidInputError, match="teacher must be"):
        distill(_net(1), "resnet18", data, progress=False)
