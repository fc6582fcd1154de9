"""``mien serve``: the REST API and web page (:func:`mien.serve.serve`), with the analyzer options of
every other verb and the server's limits."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mien.cli.common import EXIT_OK, add_analyzer_options, analyzer_config


def _limit(name: str):
    from mien.serve.limits import MB, Limits

    value = getattr(Limits(), name)
    return value / MB if name.endswith("_bytes") else value


def add_parsers(verbs) -> None:
    serve = verbs.add_parser("serve", help="REST API and web page (needs the serve extra)")
    add = serve.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    add("--port", type=int, default=8000, help="TCP port to listen on")
    add("--workers", type=int, default=1, help="server processes, each with its own models")
    add("--api-key", help="require this key in the X-API-Key header (default: $MIEN_API_KEY)")
    add("--data-dir", type=Path, help="job database and files (default: mien_serve_data)")
    add("--max-image-mb", type=float, help=f"largest image upload (default {_limit('max_image_bytes'):g})")
    add("--max-video-mb", type=float, help=f"largest video upload (default {_limit('max_video_bytes'):g})")
    add("--max-pixels", type=int, help=f"refuse larger images and video frames (default {_limit('max_pixels'):_})")
    add("--timeout", type=float, help=f"seconds per image request (default {_limit('request_timeout'):g})")
    add("--concurrency", type=int, help=f"images analysed at once (default {_limit('analyze_concurrency')})")
    add("--queue-size", type=int, help="video jobs queued or running before 429 "
                                       f"(default {_limit('max_queued_jobs')})")
    add("--keep-uploads", type=float, help="seconds uploads are kept after their job "
                                           f"(default {_limit('keep_uploads'):g})")
    add("--cors-origin", action="append", default=[], help="allow this browser origin (repeatable)")
    add("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
        help="the server's log verbosity")
    add_analyzer_options(serve, exclude=("max_pixels",))  # the server's --max-pixels bounds uploads and analysis


def serve_config(args: argparse.Namespace):
    """The :class:`~mien.serve.app.ServeConfig` of a parsed ``mien serve`` (flags not given: defaults)."""
    from mien.serve.app import ServeConfig
    from mien.serve.limits import MB, Limits

    sizes = {"max_image_bytes": args.max_image_mb, "max_video_bytes": args.max_video_mb}
    given = {**{name: None if mb is None else int(mb * MB) for name, mb in sizes.items()},
             "max_pixels": args.max_pixels, "request_timeout": args.timeout, "analyze_concurrency": args.concurrency,
             "max_queued_jobs": args.queue_size, "keep_uploads": args.keep_uploads}
    limits = Limits(**{name: value for name, value in given.items() if value is not None})
    values = {"data_dir": args.data_dir, "api_key": args.api_key or os.environ.get("MIEN_API_KEY") or None}
    return ServeConfig(**{name: value for name, value in values.items() if value is not None}, limits=limits,
                       analysis=analyzer_config(args), cors_origins=tuple(args.cors_origin))


def run(args: argparse.Namespace) -> int:
    """``mien serve``: :func:`mien.serve.serve` with the options given on the command line."""
    try:
        from mien.serve.app import serve
    except ModuleNotFoundError as error:
        raise ImportError(f"mien serve needs FastAPI and uvicorn: pip install 'mien[serve]' ({error})") from None
    serve(serve_config(args), args.host, args.port, args.workers, args.log_level)
    return EXIT_OK
