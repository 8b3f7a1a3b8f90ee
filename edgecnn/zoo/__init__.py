"""Model registry, torchvision adapters, small reference models and weight loading."""

from edgecnn.zoo.registry import MODELS, ZooEntry, list_models

__all__ = ["MODELS", "ZooEntry", "list_models", "load_model"]


def __getattr__(name: str):
    if name == "load_model":  # keeps `import edgecnn.zoo` free of torch
        from edgecnn.zoo.loader import load_model

        return load_model
    raise AttributeError(name)
