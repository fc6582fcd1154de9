"""mien: facial expression analysis — offline, fast on CPU, reproducible.

    import mien
    result = mien.Analyzer().analyze("photo.jpg")   # or a folder, glob, array, list, ...
    result.to_pandas()
    frames = mien.Analyzer().analyze_video("clip.mp4", mien.VideoOptions(every=2)).to_pandas()

Heavy modules (onnxruntime, OpenCV, models) load on first use, so ``import mien`` is instant.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from mien._version import __version__

__all__ = [
    "Analyzer", "AnalyzerConfig", "VideoOptions", "Result", "Detections", "analyze", "read_image", "read_foreign",
    "register", "list_models", "ModelSpec", "schema", "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from mien import schema
    from mien.analyzer import Analyzer, analyze
    from mien.config import AnalyzerConfig, VideoOptions
    from mien.detect.base import Detections
    from mien.io.images import read_image
    from mien.io.readers import read as read_foreign
    from mien.models.spec import ModelSpec
    from mien.registry import list_models, register
    from mien.result import Result

# public name -> (module, attribute); None: the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "Analyzer": ("mien.analyzer", "Analyzer"),
    "analyze": ("mien.analyzer", "analyze"),
    "AnalyzerConfig": ("mien.config", "AnalyzerConfig"),
    "VideoOptions": ("mien.config", "VideoOptions"),
    "Result": ("mien.result", "Result"),
    "Detections": ("mien.detect.base", "Detections"),
    "read_image": ("mien.io.images", "read_image"),
    "read_foreign": ("mien.io.readers", "read"),
    "register": ("mien.registry", "register"),
    "list_models": ("mien.registry", "list_models"),
    "ModelSpec": ("mien.models.spec", "ModelSpec"),
    "schema": ("mien.schema", None),
    "EXPRESSIONS": ("mien.schema", "EXPRESSIONS"),  # kept for 0.1 code; mien.schema.EXPRESSIONS
}
# old name -> new name; the old one still works, with a DeprecationWarning
_DEPRECATED = {"read": "read_foreign"}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        new = _DEPRECATED[name]
        warnings.warn(f"mien.{name} is deprecated; use mien.{new}", DeprecationWarning, stacklevel=2)
        return __getattr__(new)
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mien' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
