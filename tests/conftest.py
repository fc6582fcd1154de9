"""Shared fixtures: real data from ../shared/datasets (MIEN_DATA), one Analyzer per session, bad inputs."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The shared datasets folder: $MIEN_DATA or ../shared/datasets beside the repo. Missing = failure."""
    root = Path(os.environ.get("MIEN_DATA", REPO.parent / "shared" / "datasets"))
    if not (root / "media" / "pyfeat").is_dir():
        pytest.fail(f"real test data not found at {root} (set MIEN_DATA); these tests must not be skipped")
    return root


@pytest.fixture(scope="session")
def datasets() -> Path:
    return data_root()


@pytest.fixture(scope="session")
def pyfeat_media(datasets: Path) -> Path:
    return datasets / "media" / "pyfeat"


@pytest.fixture(scope="session")
def analyzer():
    from mien import Analyzer

    return Analyzer(threads=2)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims ``width x height`` but whose data holds one row of it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    first_row = zlib.compress(b"\x00" * (1 + 3 * width))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", first_row)
            + _png_chunk(b"IEND", b""))


@pytest.fixture()
def bad_inputs(tmp_path: Path, pyfeat_media: Path) -> dict[str, Path]:
    """The bad inputs the foundation issue names, each as a file in ``tmp_path``."""
    real_jpeg = (pyfeat_media / "single_face.jpg").read_bytes()
    files = {
        "truncated": real_jpeg[: len(real_jpeg) // 3],
        "text": b"this is not an image, just text with a .jpg name\n",
        "empty": b"",
        "bomb": png_claiming(20000, 20000),
    }
    paths = {}
    for name, content in files.items():
        path = tmp_path / (f"{name}.png" if name == "bomb" else f"{name}.jpg")
        path.write_bytes(content)
        paths[name] = path
    return paths


@pytest.fixture()
def one_pixel_png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "one_pixel.png"
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(path)
    return path
