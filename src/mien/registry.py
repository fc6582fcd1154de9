"""Named backends (detectors, expression models, landmark models), in the style of timm's registry.

The built-in specs are plain data (:data:`mien.models.catalog.BUILTIN`); the registry fills itself from
them on first use. Specs name their implementation as a ``"module:attribute"`` string (imported when a
backend is built) or as a callable, so ``import mien`` and ``mien models`` stay instant.

    import mien
    mien.register(mien.ModelSpec("my-detector", "detector", MyDetector))
    mien.Analyzer(detector="my-detector")

A name registered so is known to the Python process that registered it. An installed package makes its
models known to every process (the ``mien`` command, batch workers, ``mien serve``) by declaring an entry
point in the :data:`ENTRY_POINT_GROUP` group::

    [project.entry-points."mien.models"]
    my-detector = "my_package.mien_models:detector_spec"

The entry point names a :class:`ModelSpec`, or a function taking no argument that returns one spec or an
iterable of specs. The group is read once, on the first listing or lookup of a name the registry does not
know (never at ``import mien``); a plugin that fails to load is reported (:class:`PluginWarning`,
:func:`plugin_errors`, and in the error for an unknown name) and the other models work as before.

A name is never silently replaced: registering a name that exists is refused (:func:`unregister` first).
Built-in names come first, then plugins', then those registered by :func:`register`.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from collections.abc import Iterable
from typing import Any

from mien.models.spec import ModelSpec

__all__ = ["ENTRY_POINT_GROUP", "ModelSpec", "PluginWarning", "create", "get_spec", "list_models", "origin",
           "plugin_errors", "register", "unregister"]

ENTRY_POINT_GROUP = "mien.models"
BUILT_IN, REGISTERED = "built-in", "registered"


class PluginWarning(UserWarning):
    """A ``mien.models`` entry point could not be loaded (its models are missing; the others work)."""


@dataclass
class _State:
    specs: dict[str, ModelSpec] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # name -> BUILT_IN, REGISTERED or "plugin ..."
    plugin_errors: list[str] = field(default_factory=list)
    filled: bool = False
    plugins: str = "unread"  # "unread" -> "reading" -> "read"


_STATE = _State()
_LOCK = threading.RLock()  # one thread reads the plugins; a plugin module may call register() meanwhile


def _registry() -> dict[str, ModelSpec]:
    state = _STATE
    if not state.filled:
        from mien.models.catalog import BUILTIN

        for spec in BUILTIN:
            state.specs.setdefault(spec.name, spec)
            state.origins.setdefault(spec.name, BUILT_IN)
        state.filled = True
    return state.specs


def _lookup(name: str) -> ModelSpec | None:
    """The spec named ``name``, reading the installed plugins first when the name is not known yet."""
    spec = _registry().get(name)
    if spec is None and _STATE.plugins != "read":
        _load_plugins()
        spec = _registry().get(name)
    return spec


def register(spec: ModelSpec) -> ModelSpec:
    """Make ``spec`` available by its name (e.g. ``Analyzer(detector=spec.name)``) in this process; returns it.

    Raises ValueError when the name is taken (built-in, from a plugin, or registered before)."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register() takes a ModelSpec, got {type(spec).__name__}")
    _load_plugins()
    with _LOCK:  # check and insert as one step: two threads cannot both take a name
        existing = _lookup(spec.name)
        if existing is not None:
            raise ValueError(f"a backend named {spec.name!r} is already registered ({existing.task}, "
                             f"{_describe(existing.entry)}); choose another name or unregister({spec.name!r}) first")
        _registry()[spec.name] = spec
        _STATE.origins[spec.name] = REGISTERED
    return spec


def unregister(name: str) -> ModelSpec:
    """Remove the backend registered as ``name`` and return its spec (KeyError when there is none)."""
    _load_plugins()
    with _LOCK:
        if _lookup(name) is None:
            raise KeyError(f"no backend named {name!r} is registered")
        _STATE.origins.pop(name, None)
        return _registry().pop(name)


def get_spec(name: str, task: str | None = None) -> ModelSpec:
    """The spec registered as ``name``; KeyError listing the known names when there is none (of ``task``)."""
    spec = _lookup(name)
    if spec is None or (task is not None and spec.task != task):
        known = ", ".join(s.name for s in list_models(task)) or "none"
        kind = f"{task} " if task else ""
        broken = "".join(f"; {message}" for message in _STATE.plugin_errors)
        raise KeyError(f"unknown {kind}backend {name!r}; registered: {known}{broken}")
    return spec


def list_models(task: str | None = None) -> list[ModelSpec]:
    """Every registered spec (of ``task``, when given): built-in ones first, then plugins', then
    :func:`register`'s."""
    _load_plugins()
    with _LOCK:  # a snapshot: another thread may register meanwhile
        specs = list(_registry().values())
    return [s for s in specs if task is None or s.task == task]


def create(name: str, task: str | None = None, **kwargs: Any) -> Any:
    """Instantiate the backend registered as ``name`` (optionally checking its task)."""
    return get_spec(name, task).create(**kwargs)


def origin(name: str) -> str:
    """Where the backend ``name`` comes from: ``"built-in"``, ``"registered"`` (by :func:`register`), or
    ``"plugin DIST VERSION (ENTRY = module:attribute)"`` for an installed package's entry point."""
    if _lookup(name) is None:
        raise KeyError(f"no backend named {name!r} is registered")
    return _STATE.origins.get(name, REGISTERED)


def plugin_errors() -> list[str]:
    """One message per installed plugin (``mien.models`` entry point) that could not be loaded, naming the
    entry point and the error; empty when all loaded. Reads the plugins if that was not done yet."""
    _load_plugins()
    return list(_STATE.plugin_errors)


# ------------------------------------------------------------------------------------------- plugins
def _load_plugins() -> None:
    if _STATE.plugins == "read":
        return
    with _LOCK:
        if _STATE.plugins != "unread":  # read by another thread meanwhile, or a plugin calling register()
            return
        _STATE.plugins = "reading"
        _registry()
        reported = len(_STATE.plugin_errors)
        try:
            for point in _entry_points():
                _add_plugin(point)
        finally:
            _STATE.plugins = "read"
    # warned only once every plugin was tried: with warnings as errors, one broken plugin must not hide the others
    for message in _STATE.plugin_errors[reported:]:
        warnings.warn(message, PluginWarning, stacklevel=3)


def _entry_points() -> Iterable[Any]:
    from importlib import metadata

    try:
        return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception as error:  # broken package metadata must not take the built-in models down
        _report(f"the {ENTRY_POINT_GROUP!r} entry points could not be listed: {type(error).__name__}: {error}")
        return []


def _add_plugin(point: Any) -> None:
    where = _plugin_origin(point)
    try:
        specs = _specs_of(point.load())
    except Exception as error:  # any failure of a third-party module is reported, never raised
        _report(f"mien plugin {where} could not be loaded: {type(error).__name__}: {error}")
        return
    for spec in specs:
        existing = _STATE.specs.get(spec.name)
        if existing is not None:
            _report(f"mien plugin {where}: the name {spec.name!r} is taken ({_STATE.origins.get(spec.name, REGISTERED)} "
                    f"{existing.task}); the plugin's {spec.task} is ignored")
            continue
        _STATE.specs[spec.name] = spec
        _STATE.origins[spec.name] = f"plugin {where}"


def _specs_of(loaded: Any) -> list[ModelSpec]:
    """The specs an entry point gives: a ModelSpec, or a function returning one or an iterable of them."""
    if isinstance(loaded, ModelSpec):
        return [loaded]
    if not callable(loaded):
        raise TypeError(f"expected a ModelSpec or a function returning ModelSpecs, got {type(loaded).__name__}")
    made = loaded()
    specs = [made] if isinstance(made, ModelSpec) else list(made) if isinstance(made, Iterable) else None
    if specs is None or not specs or not all(isinstance(spec, ModelSpec) for spec in specs):
        raise TypeError(f"{_describe(loaded)}() must return a ModelSpec or a list of them, "
                        f"got {type(made).__name__}")
    return specs


def _plugin_origin(point: Any) -> str:
    dist = getattr(point, "dist", None)
    package = f"{dist.name} {dist.version} " if dist is not None else ""
    return f"{package}({point.name} = {point.value})"


def _report(message: str) -> None:
    """Record a plugin failure (:func:`_load_plugins` warns about it once the plugins are read)."""
    _STATE.plugin_errors.append(message)


def _describe(entry: Any) -> str:
    return entry if isinstance(entry, str) else getattr(entry, "__qualname__", repr(entry))
