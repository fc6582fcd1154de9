"""mien: facial expression analysis — offline, fast on CPU, reproducible.

    import mien
    result = mien.Analyzer().analyze("photo.jpg")
    result.to_pandas()

Heavy modules (onnxruntime, OpenCV, models) load on first use, so ``import mien`` is instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Analyzer", "Result", "analyze", "list_models", "read", "read_image", "EXPRESSIONS", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from mien.analyzer import Analyzer, analyze
    from mien.io.images import read_image
    from mien.io.readers import read
    from mien.registry import list_models
    from mien.result import Result
    from mien.schema import EXPRESSIONS

_LAZY = {
    "Analyzer": "mien.analyzer",
    "analyze": "mien.analyzer",
    "Result": "mien.result",
    "read_image": "mien.io.images",
    "read": "mien.io.readers",
    "list_models": "mien.registry",
    "EXPRESSIONS": "mien.schema",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mien' has no attribute {name!r}")
