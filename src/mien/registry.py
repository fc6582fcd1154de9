"""Named backends (detectors, expression models, landmark models), in the style of timm's registry.

The built-in specs are plain data (:data:`mien.models.catalog.BUILTIN`); the registry fills itself from
them on first use. Specs name their implementation as a ``"module:attribute"`` string (imported when a
backend is built) or as a callable, so ``import mien`` and ``mien models`` stay instant.

    import mien
    mien.register(mien.ModelSpec("my-detector", "detector", MyDetector))
    mien.Analyzer(detector="my-detector")

A name is never silently replaced: registering a name that exists is refused (:func:`unregister` first).
"""

from __future__ import annotations

from typing import Any

from mien.models.spec import ModelSpec

__all__ = ["ModelSpec", "create", "get_spec", "list_models", "register", "unregister"]

_REGISTRY: dict[str, ModelSpec] = {}
_FILLED = False


def _registry() -> dict[str, ModelSpec]:
    global _FILLED
    if not _FILLED:
        from mien.models.catalog import BUILTIN

        for spec in BUILTIN:
            _REGISTRY.setdefault(spec.name, spec)
        _FILLED = True
    return _REGISTRY


def register(spec: ModelSpec) -> ModelSpec:
    """Make ``spec`` available by its name (e.g. ``Analyzer(detector=spec.name)``); returns it.

    Raises ValueError when the name is taken (built-in or registered before)."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register() takes a ModelSpec, got {type(spec).__name__}")
    registry = _registry()
    existing = registry.get(spec.name)
    if existing is not None:
        raise ValueError(f"a backend named {spec.name!r} is already registered ({existing.task}, "
                         f"{_describe(existing.entry)}); choose another name or unregister({spec.name!r}) first")
    registry[spec.name] = spec
    return spec


def unregister(name: str) -> ModelSpec:
    """Remove the backend registered as ``name`` and return its spec (KeyError when there is none)."""
    registry = _registry()
    if name not in registry:
        raise KeyError(f"no backend named {name!r} is registered")
    return registry.pop(name)


def get_spec(name: str, task: str | None = None) -> ModelSpec:
    """The spec registered as ``name``; KeyError listing the known names when there is none (of ``task``)."""
    spec = _registry().get(name)
    if spec is None or (task is not None and spec.task != task):
        known = ", ".join(s.name for s in list_models(task)) or "none"
        kind = f"{task} " if task else ""
        raise KeyError(f"unknown {kind}backend {name!r}; registered: {known}")
    return spec


def list_models(task: str | None = None) -> list[ModelSpec]:
    """Every registered spec (of ``task``, when given), built-in ones first."""
    return [s for s in _registry().values() if task is None or s.task == task]


def create(name: str, task: str | None = None, **kwargs: Any) -> Any:
    """Instantiate the backend registered as ``name`` (optionally checking its task)."""
    return get_spec(name, task).create(**kwargs)


def _describe(entry: Any) -> str:
    return entry if isinstance(entry, str) else getattr(entry, "__qualname__", repr(entry))
