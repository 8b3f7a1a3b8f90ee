"""The model zoo: torchvision classifiers and the small reference models, by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgecnn.registry import Registry


@dataclass(frozen=True)
class ZooEntry:
    name: str
    family: str
    source: Literal["torchvision", "edgecnn"]
    input_shape: tuple[int, ...]  # default, batch 1
    num_classes: int
    resize: int | None = None  # preprocessing: shorter side before the centre crop
    builder: str = ""  # "module:attr" of the constructor for edgecnn models; torchvision uses its own name
    grayscale: bool = False

    @property
    def layout(self) -> str:
        return "NCL" if len(self.input_shape) == 3 else "NCHW"


MODELS: Registry[ZooEntry] = Registry("model")


def _tv(name: str, family: str, size: int = 224, resize: int = 256) -> None:
    MODELS.add(name, ZooEntry(name, family, "torchvision", (1, 3, size, size), 1000, resize))


def _own(name: str, family: str, shape: tuple[int, ...], builder: str, grayscale: bool = False) -> None:
    MODELS.add(name, ZooEntry(name, family, "edgecnn", shape, 10, None, f"edgecnn.zoo.small:{builder}", grayscale))


_tv("mobilenet_v2", "mobilenet")
_tv("mobilenet_v3_small", "mobilenet")
_tv("mobilenet_v3_large", "mobilenet")
_tv("efficientnet_b0", "efficientnet", 224, 256)
_tv("efficientnet_b1", "efficientnet", 240, 255)
_tv("efficientnet_b2", "efficientnet", 288, 288)
_tv("efficientnet_b3", "efficientnet", 300, 320)
_tv("resnet18", "resnet")
_tv("resnet34", "resnet")
_tv("resnet50", "resnet")
_tv("vgg11_bn", "vgg")
_tv("alexnet", "alexnet")
_own("lenet5", "lenet", (1, 1, 32, 32), "LeNet5", grayscale=True)
_own("smallcnn", "reference", (1, 3, 32, 32), "SmallCNN")
_own("resblock_net", "reference", (1, 3, 32, 32), "ResBlockNet")
_own("tcn1d", "tcn", (1, 1, 128), "TCN1d")


# A family name stands for its documented default member: the edge-sized, widely deployed one.
ALIASES: dict[str, str] = {
    "mobilenet": "mobilenet_v2",
    "efficientnet": "efficientnet_b0",
    "resnet": "resnet18",
    "vgg": "vgg11_bn",
}


def resolve_name(name: str) -> str:
    """A zoo name as given, or the default member a family alias stands for ('mobilenet' -> 'mobilenet_v2').

    Names that are not aliases (zoo names, files, factory paths) come back unchanged.
    """
    return ALIASES.get(name, name)


def aliases_of(name: str) -> list[str]:
    """The family aliases that resolve to this zoo name."""
    return [alias for alias, target in ALIASES.items() if target == name]


def list_models() -> list[ZooEntry]:
    return [MODELS.get(n) for n in MODELS.names()]
