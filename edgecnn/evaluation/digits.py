"""scikit-learn's digits (1,797 real 8x8 handwritten digits, shipped offline) as a small image benchmark.

Used to train the small reference models here so every transform's accuracy drop is measured on real data.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from edgecnn.errors import MissingDependencyError
from edgecnn.zoo.loader import load_model


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32, NCHW (or NCL for 1-D models), normalised
    y: np.ndarray  # int64 labels


@functools.lru_cache(maxsize=8)
def load_digits(size: int = 32, channels: int = 3, seed: int = 0, test_fraction: float = 0.25) -> tuple[Split, Split]:
    """Digits upsampled (bilinear) to size x size, replicated to `channels`, standardised; a stratified split."""
    try:
        from sklearn.datasets import load_digits as _load
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError("scikit-learn", "data", "the digits data set ships with it") from exc
    import torch
    import torch.nn.functional as F

    data = _load()
    images = torch.from_numpy(data.images.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = ((images - 0.5) / 0.5).repeat(1, channels, 1, 1).numpy()
    xtr, xte, ytr, yte = train_test_split(
        images, data.target.astype(np.int64), test_size=test_fraction, random_state=seed, stratify=data.target
    )
    return Split(np.ascontiguousarray(xtr), ytr), Split(np.ascontiguousarray(xte), yte)


def load_digits_1d(length: int = 128, seed: int = 0) -> tuple[Split, Split]:
    """Digits read row by row as a 1-channel time series (for tcn1d), resampled to `length`."""
    train, test = load_digits(
        size=int(np.sqrt(length)) if int(np.sqrt(length)) ** 2 == length else 16, channels=1, seed=seed
    )

    def flat(s: Split) -> Split:
        x = s.x.reshape(len(s.x), 1, -1)
        idx = np.linspace(0, x.shape[-1] - 1, length).round().astype(int)
        return Split(np.ascontiguousarray(x[..., idx]), s.y)

    return flat(train), flat(test)


def fit(module, train: Split, *, epochs: int = 8, lr: float = 3e-3, batch: int = 64, seed: int = 0):
    """Train a classifier with Adam + cross-entropy (a few seconds for the small models). Returns it in eval mode."""
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * ((len(x) + batch - 1) // batch))
    module.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(module(x[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
    return module.eval()


def top1(predict, split: Split, batch: int = 256) -> float:
    """Top-1 accuracy in percent; `predict` maps a float32 batch to logits (numpy or torch)."""
    correct = 0
    for start in range(0, len(split.x), batch):
        logits = np.asarray(predict(split.x[start : start + batch]))
        correct += int((logits.argmax(1) == split.y[start : start + batch]).sum())
    return 100.0 * correct / len(split.x)


def torch_predict(module):
    """Wrap a module as a numpy-in, numpy-out predictor for `top1`."""
    import torch

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return predict


def trained_digits_model(name: str = "smallcnn", *, epochs: int = 8, seed: int = 0):
    """A zoo reference model trained on digits: returns (ModelSpec, train split, test split)."""

    spec = load_model(name, weights="random")
    if spec.input.layout == "NCL":
        train, test = load_digits_1d(spec.input.shape[-1], seed=seed)
    else:
        train, test = load_digits(size=spec.input.shape[-1], channels=spec.input.channels, seed=seed)
    fit(spec.module, train, epochs=epochs, seed=seed)
    spec = spec.replace(weights="file", notes=[], source=f"{spec.source}+digits")
    return spec, train, test
