"""Helpers shared by the benchmark scripts: where the data is, where results go, machine facts."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from mien.io.writers import write_atomic

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
# Exit status of a benchmark that kept its previous output because what it measures needs training runs that
# are not on this machine (``run_all.py`` reports it and goes on; the JSON keeps the commands that made it).
KEPT_PREVIOUS = 75
KEEP_FLAG = "--keep-if-untrained"


def keep_previous(name: str, reason: str) -> None:
    """Exit with :data:`KEPT_PREVIOUS`, saying why ``out/<name>.json`` was not remade."""
    import sys

    if not (OUT / f"{name}.json").exists():
        raise SystemExit(f"benchmarks/out/{name}.json cannot be made here and there is none to keep: {reason}")
    print(f"kept previous benchmarks/out/{name}.json: {reason}", flush=True)
    sys.exit(KEPT_PREVIOUS)


def data_root() -> Path:
    root = Path(os.environ.get("MIEN_DATA", REPO.parent / "shared" / "datasets"))
    if not root.is_dir():
        raise SystemExit(f"datasets not found at {root}; set MIEN_DATA")
    return root


def save(name: str, payload: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    payload = {"machine": machine(), **payload}
    write_atomic(path, json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path


def machine() -> dict:
    import onnxruntime

    return {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__}
