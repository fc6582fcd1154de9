"""Regenerate the generated parts of README.md: the schema tables (from mien.schema, the single place
columns are documented) and the benchmark numbers (from benchmarks/out/*.json, written by `make bench`).

    python scripts/render_readme.py

Each part sits between ``<!-- KIND:NAME -->`` and ``<!-- /KIND:NAME -->``; tests/test_docs.py fails when
README.md disagrees with the schema or the committed benchmark results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mien.schema import COLUMN_DOCS, LANDMARK68_COLUMN_DOCS, SUMMARY_COLUMN_DOCS, VIDEO_COLUMN_DOCS, markdown_table

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BENCH = REPO / "benchmarks" / "out"
TABLES = {"image": COLUMN_DOCS, "video": VIDEO_COLUMN_DOCS, "summary": SUMMARY_COLUMN_DOCS,
          "landmarks68": LANDMARK68_COLUMN_DOCS}


def _bench(name: str) -> dict:
    return json.loads((BENCH / f"{name}.json").read_text())


def bench_speed() -> str:
    speed, video = _bench("speed"), _bench("video")
    return (f"detection, alignment and expression take {speed['stages']['total']['median_ms']:.0f} ms per "
            f"640x480 photo on 2 CPU threads, and video runs at "
            f"{video['throughput']['640x360/detect_every_1']['fps']:.0f} frames/s at 640x360 with detection on "
            "every frame (`make bench`, [BENCHMARKS.md](BENCHMARKS.md))")


def bench_video() -> str:
    video = _bench("video")["throughput"]
    return (f"Speed on 2 CPU threads (`make bench`, [BENCHMARKS.md](BENCHMARKS.md)): "
            f"{video['640x360/detect_every_1']['fps']:.0f} frames/s at 640x360 with detection on every frame, "
            f"{video['640x360/detect_every_3']['fps']:.0f} frames/s with `--detect-every 3`, re-found landmarks "
            f"{video['640x360/detect_every_3']['landmark_error_median']:.0%} of the eye distance from full "
            "detection; memory stays flat over a 1008-frame clip.")


def bench_model() -> str:
    results = _bench("accuracy")["results"]
    rows = [("FER+ test, 8 classes, official majority protocol", "ferplus_official"),
            ("FER+ test, 8 classes, plurality (harder)", "ferplus_plurality"),
            ("FER2013 PrivateTest, 7 original labels", "fer2013_7class")]
    lines = ["| test set | input | accuracy | UAR | macro-F1 |", "|---|---|---:|---:|---:|"]
    for label, key in rows:
        for mode, shown in (("detected", "through detection (faces in 640x480 frames)"),
                            ("whole-image", "`--whole-image` on the 48x48 crops")):
            r = results[f"{key}/{mode}"]
            lines.append(f"| {label} | {shown} | {r['accuracy']:.3f} | {r['uar']:.3f} | {r['macro_f1']:.3f} |")
    return "\n".join(lines)


BENCH_PARTS = {"speed": bench_speed, "video": bench_video, "model": bench_model}


def _replace(text: str, kind: str, name: str, content: str, inline: bool = False) -> str:
    pattern = re.compile(rf"<!-- {kind}:{name} -->.*?<!-- /{kind}:{name} -->", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no <!-- {kind}:{name} --> block")
    separator = "" if inline else "\n"
    return pattern.sub(lambda _: f"<!-- {kind}:{name} -->{separator}{content}{separator}<!-- /{kind}:{name} -->", text)


def render(text: str) -> str:
    for name, docs in TABLES.items():
        text = _replace(text, "schema", name, markdown_table(docs))
    for name, part in BENCH_PARTS.items():
        text = _replace(text, "bench", name, part(), inline=name == "speed")
    return text


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
    print(f"updated {README}")
