"""Model registry, torchvision adapters, small reference models and weight loading."""

from edgecnn.zoo.registry import ALIASES, MODELS, ZooEntry, list_models, resolve_name

__all__ = ["ALIASES", "MODELS", "ZooEntry", "list_models", "load_model", "resolve_name"]


def __getattr__(name: str):
    if name == "load_model":  # keeps `import edgecnn.zoo` free of torch
        from edgecnn.zoo.loader import load_model

        return load_model
    raise AttributeError(name)
