"""A small registry of named backends (detectors, expression models), in the style of timm's.

Specs name their implementation as a ``"module:attribute"`` string and are imported on first use, so
``import mien`` and ``mien models`` stay instant and never load onnxruntime or weights.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """What a user (and the pipeline) needs to know about a registered backend."""

    name: str
    task: str  # "detector" | "expression" | ...
    entry: str  # "package.module:factory", imported lazily
    input_size: tuple[int, int] | None  # (height, width) the network sees, None for dynamic
    licence: str
    source: str
    size_mb: float
    description: str
    labels: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)  # passed to the factory

    def create(self, **kwargs: Any) -> Any:
        module_name, attribute = self.entry.split(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        return factory(**{**self.options, **kwargs})


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"a backend named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str, task: str | None = None) -> ModelSpec:
    _load_builtin_specs()
    spec = _REGISTRY.get(name)
    if spec is None or (task is not None and spec.task != task):
        known = ", ".join(s.name for s in list_models(task)) or "none"
        kind = f"{task} " if task else ""
        raise KeyError(f"unknown {kind}backend {name!r}; registered: {known}")
    return spec


def list_models(task: str | None = None) -> list[ModelSpec]:
    _load_builtin_specs()
    return [s for s in _REGISTRY.values() if task is None or s.task == task]


def create(name: str, task: str | None = None, **kwargs: Any) -> Any:
    """Instantiate the backend registered as ``name`` (optionally checking its task)."""
    return get_spec(name, task).create(**kwargs)


def _load_builtin_specs() -> None:
    # The built-in spec table is plain data; importing it is cheap and has no heavy dependencies.
    importlib.import_module("mien.models.catalog")
