"""What the registry knows about a named backend (detector, expression model, landmark model, ...).

A leaf: it imports nothing from mien, so the built-in catalog (plain data), the registry and a user's own
code can all build specs without import cycles.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

# Runtime hints the pipeline passes to every factory it calls; a factory that does not take one of them
# (a user's small detector class, say) is called without it rather than failing.
RUNTIME_HINTS = ("threads", "device")


@dataclass(frozen=True)
class ModelSpec:
    """A named backend: how to build it, and what a user needs to know about it.

    Only ``name``, ``task`` and ``entry`` are required; the rest describe the model for ``mien models``.

    Args:
        name: the name users pass (``Analyzer(detector="my-detector")``).
        task: ``"detector"``, ``"expression"``, ``"landmarks"``, ``"micro"``, ...
        entry: the factory: a callable, or a ``"package.module:attribute"`` string imported on first use
            (so listing models never imports heavy libraries).
        input_size: ``(height, width)`` in pixels the network sees; None when dynamic or not applicable.
        licence: licence of the weights (and their training data, when it restricts use).
        source: where the weights come from.
        size_mb: size of the weights in megabytes (10^6 bytes).
        description: one line for ``mien models``.
        labels: class names the model outputs, in order.
        options: keyword arguments always passed to the factory (a call's own keywords override them).
    """

    name: str
    task: str
    entry: str | Callable[..., Any]
    input_size: tuple[int, int] | None = None
    licence: str = "unknown"
    source: str = "user"
    size_mb: float = 0.0
    description: str = ""
    labels: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"a model spec needs a non-empty name, got {self.name!r}")
        if isinstance(self.entry, str):
            if self.entry.count(":") != 1 or not all(self.entry.split(":")):
                raise ValueError(f"{self.name}: entry must be 'package.module:attribute' or a callable, "
                                 f"got {self.entry!r}")
        elif not callable(self.entry):
            raise TypeError(f"{self.name}: entry must be 'package.module:attribute' or a callable, "
                            f"got {type(self.entry).__name__}")

    def factory(self) -> Callable[..., Any]:
        """The callable that builds the backend (a string entry is imported now)."""
        if callable(self.entry):
            return self.entry
        module_name, attribute = self.entry.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def create(self, **kwargs: Any) -> Any:
        """Build the backend with :attr:`options` updated by ``kwargs``; runtime hints (``threads``,
        ``device``) are left out for factories that do not take them."""
        factory = self.factory()
        values = {**self.options, **kwargs}
        for hint in RUNTIME_HINTS:
            if hint in values and not _takes(factory, hint):
                del values[hint]
        return factory(**values)


def _takes(factory: Callable[..., Any], keyword: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no introspectable signature: pass everything
        return True
    return any(p.kind is p.VAR_KEYWORD or (p.name == keyword and p.kind is not p.POSITIONAL_ONLY)
               for p in parameters)
