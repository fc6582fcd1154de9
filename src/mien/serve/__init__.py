"""``mien serve``: a REST API and a web page over :class:`mien.Analyzer` (needs ``pip install 'mien[serve]'``).

    from mien.serve import ServeConfig, create_app, serve
    serve(ServeConfig(data_dir="jobs"), host="127.0.0.1", port=8000)

See :mod:`mien.serve.app` for the routes, :mod:`mien.serve.jobs` for the video job store and
:mod:`mien.serve.limits` for what the server accepts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServeConfig", "Limits", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in ("ServeConfig", "create_app", "serve"):
        from mien.serve import app

        return getattr(app, name)
    if name == "Limits":
        from mien.serve.limits import Limits

        return Limits
    raise AttributeError(f"module 'mien.serve' has no attribute {name!r}")
