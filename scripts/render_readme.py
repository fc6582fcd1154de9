"""Regenerate the generated parts of README.md and the docs/ pages: schema tables (from mien.schema, the
single place columns are documented) and benchmark numbers (from benchmarks/out/*.json, written by
`make bench`).

    python scripts/render_readme.py

Each part sits between ``<!-- KIND:NAME -->`` and ``<!-- /KIND:NAME -->`` in any of README.md and
docs/*.md (a part may appear in several files, or in none); tests/test_docs.py fails when a file disagrees
with the schema or the committed benchmark results, or when a part appears nowhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from mien.schema import (
    AU_MESH_COLUMN_DOCS,
    COLUMN_DOCS,
    LANDMARK68_COLUMN_DOCS,
    SUMMARY_COLUMN_DOCS,
    VIDEO_COLUMN_DOCS,
    markdown_table,
)

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
BENCH = REPO / "benchmarks" / "out"
# The columns most analyses use, shown on the README's front page (the full list is docs/schema.md).
CORE_COLUMNS = ("input", "frame", "timestamp", "face_id", "success", "error", "face_x", "face_y", "face_width",
                "face_height", "quality", "expression")
TABLES = {"image": COLUMN_DOCS, "video": VIDEO_COLUMN_DOCS, "summary": SUMMARY_COLUMN_DOCS,
          "landmarks68": LANDMARK68_COLUMN_DOCS, "au_mesh": AU_MESH_COLUMN_DOCS,
          "core": tuple(row for name in CORE_COLUMNS for row in COLUMN_DOCS if row[0] == name)}


def doc_files() -> list[Path]:
    """Every file whose generated parts this script keeps in sync: README.md and the docs pages."""
    return [README, *sorted(DOCS.glob("*.md"))]


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


def bench_targets() -> str:
    """Issue 3's protocols and targets in one table (accuracy, cross, models, accuracy_small)."""
    accuracy, cross, models = _bench("accuracy")["results"], _bench("cross"), _bench("models")["models"]
    small = _bench("accuracy_small")["results"]

    def verdict(value: float, target: float, higher: bool = True) -> str:
        return "met" if (value >= target if higher else value <= target) else "**missed**"

    official = accuracy["ferplus_official/detected"]["accuracy"]
    fer2013 = max(cross["fer2013"]["detected"]["accuracy"], cross["fer2013"]["whole-image"]["accuracy"])
    ck, zero_shot = cross["ckplus_cv"]["accuracy"], cross["matrix"]["FER+"]["CK+ (981)"]["accuracy"]
    default, fast = models["mnv2-ferplus"], models["mnv2-ferplus-small"]
    rows = [
        ("FER+ test, 8 classes, official protocol, through detection (`mnv2-ferplus`)", f"{official:.3f}",
         f">= 0.89: {verdict(official, 0.89)}"),
        ("FER2013 PrivateTest, 7 original classes (model fine-tuned on FER2013 labels)", f"{fer2013:.3f}",
         f">= 0.73: {verdict(fer2013, 0.73)}"),
        ("CK+ subject-independent 10-fold, fine-tuned", f"{ck:.3f}", f">= 0.97: {verdict(ck, 0.97)}"),
        ("CK+ zero-shot, the FER+ model on all 981 images (7 classes)", f"{zero_shot:.3f}", "reported"),
        ("`mnv2-ferplus` classifier, batch 1, 2 threads", f"{default['batch1_median_ms']:.2f} ms",
         f"<= 4 ms: {verdict(default['batch1_median_ms'], 4, higher=False)}"),
        ("`mnv2-ferplus-small` classifier, batch 1, 2 threads", f"{fast['batch1_median_ms']:.2f} ms",
         f"<= 1.5 ms: {verdict(fast['batch1_median_ms'], 1.5, higher=False)}"),
        ("batch 32 throughput, `mnv2-ferplus` / `-small`",
         f"{default['batch32_faces_per_s']:.0f} / {fast['batch32_faces_per_s']:.0f} faces/s", "reported"),
        ("`mnv2-ferplus-small`, FER+ test official protocol, through detection",
         f"{small['ferplus_official/detected']['accuracy']:.3f}", "reported"),
    ]
    return "\n".join(["| measure | value | target |", "|---|---:|---|",
                      *[f"| {a} | {b} | {c} |" for a, b, c in rows]])


def bench_generalisation() -> str:
    """Accuracy / mean class accuracy of the default, the open reference and mien 0.1's model on faces
    outside their training data (benchmarks/bench_generalisation.py)."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_generalisation import CELLS, REFERENCE

    from mien.config import ACCURATE_EXPRESSION, DEFAULT_EXPRESSION, FAST_EXPRESSION

    report = _bench("generalisation")["models"]
    lines = ["| model | " + " | ".join(f"{t} ({m})" for t, m in CELLS) + " |", "|---|" + "---:|" * len(CELLS)]
    for name in dict.fromkeys((DEFAULT_EXPRESSION, REFERENCE, "mnv2-ferplus", FAST_EXPRESSION, ACCURATE_EXPRESSION)):
        cells = report.get(name, {}).get("cells", {})
        shown = [f"{cells[k]['accuracy']:.3f} / {cells[k]['uar']:.3f}" if (k := f"{t} | {m}") in cells else "-"
                 for t, m in CELLS]
        label = f"`{name}`" + (" (default)" if name == DEFAULT_EXPRESSION else "")
        lines.append(f"| {label} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def bench_targets13() -> str:
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_generalisation import targets_table

    from mien.config import ACCURATE_EXPRESSION, DEFAULT_EXPRESSION, FAST_EXPRESSION

    return "\n".join(targets_table(_bench("generalisation"), _bench("models"), _bench("speed"), _bench("video"),
                                   DEFAULT_EXPRESSION, FAST_EXPRESSION, ACCURATE_EXPRESSION))


def bench_trade() -> str:
    """What the default gives up in speed, from benchmarks/out/models.json, speed.json and video.json."""
    from mien.config import ACCURATE_EXPRESSION, DEFAULT_EXPRESSION, FAST_EXPRESSION

    models = _bench("models")["models"]
    speed, video = _bench("speed"), _bench("video")["throughput"]
    return (f"The default's network takes {models[DEFAULT_EXPRESSION]['batch1_median_ms']:.1f} ms "
            f"per face on 2 threads, batch 1 (6 ms was aimed for); the whole photo pipeline takes "
            f"{speed['stages']['total']['median_ms']:.1f} ms and video runs at "
            f"{video['640x360/detect_every_1']['fps']:.0f} frames/s at 640x360. Where speed matters more than faces "
            f"unlike FER2013, the fast variant `--expression {FAST_EXPRESSION}` "
            f"({models[FAST_EXPRESSION]['batch1_median_ms']:.1f} ms) or mien 0.1's `--expression mnv2-ferplus` "
            f"({models['mnv2-ferplus']['batch1_median_ms']:.1f} ms) trade accuracy back, as the table above shows; "
            f"the accurate variant `--expression {ACCURATE_EXPRESSION}` "
            f"({models[ACCURATE_EXPRESSION]['batch1_median_ms']:.1f} ms) trades speed for accuracy "
            "(`python benchmarks/bench_models.py`, `bench_speed.py`, `bench_video.py`).")


def bench_limits() -> str:
    """The default's accuracy on faces outside its training data and its weakest class, as the README's
    limitations quote them (benchmarks/out/generalisation.json)."""
    from mien.config import DEFAULT_EXPRESSION

    cells = _bench("generalisation")["models"][DEFAULT_EXPRESSION]["cells"]
    raf = cells["RAF-DB test | detect"]
    ck = sorted(cells[f"CK+ zero-shot | {mode}"]["accuracy"] for mode in ("framed", "whole-image"))
    weakest, recall = min(((name, v["recall"]) for name, v in raf["per_class"].items()), key=lambda item: item[1])
    return (f"On faces outside its training data it reaches {raf['accuracy']:.2f} on RAF-DB test and "
            f"{ck[0]:.2f}-{ck[1]:.2f} on CK+ (posed, zero-shot); {weakest} ({recall:.2f} recall on RAF-DB)")


INLINE_PARTS = ("speed", "limits")  # rendered inside a sentence, not as a block of their own
BENCH_PARTS = {"speed": bench_speed, "video": bench_video, "model": bench_model, "targets": bench_targets,
               "generalisation": bench_generalisation, "targets13": bench_targets13, "trade": bench_trade,
               "limits": bench_limits}


def _block(kind: str, name: str) -> re.Pattern:
    return re.compile(rf"<!-- {kind}:{name} -->.*?<!-- /{kind}:{name} -->", re.S)


def _replace(text: str, kind: str, name: str, content: Callable[[], str], inline: bool = False) -> str:
    pattern = _block(kind, name)
    if not pattern.search(text):
        return text
    separator = "" if inline else "\n"
    rendered = content()
    return pattern.sub(lambda _: f"<!-- {kind}:{name} -->{separator}{rendered}{separator}<!-- /{kind}:{name} -->", text)


def blocks_in(text: str) -> set[str]:
    """The ``KIND:NAME`` parts a text holds."""
    return set(re.findall(r"<!-- ((?:schema|bench):[\w]+) -->", text))


def all_blocks() -> set[str]:
    return {f"schema:{name}" for name in TABLES} | {f"bench:{name}" for name in BENCH_PARTS}


def render(text: str, root: str = "") -> str:
    """``text`` with every generated part it holds filled in; ``root`` is the path from the file to the
    repository root ("" for README.md, "../" for docs/*.md), for the links the parts contain."""
    for name, docs in TABLES.items():
        text = _replace(text, "schema", name, lambda docs=docs: markdown_table(docs))
    for name, part in BENCH_PARTS.items():
        text = _replace(text, "bench", name, lambda part=part: part().replace("](BENCHMARKS.md)", f"]({root}BENCHMARKS.md)"),
                        inline=name in INLINE_PARTS)
    return text


def root_of(path: Path) -> str:
    return "../" * (len(path.resolve().relative_to(REPO).parts) - 1)


if __name__ == "__main__":
    for path in doc_files():
        text = path.read_text()
        if blocks_in(text) and (rendered := render(text, root_of(path))) != text:
            path.write_text(rendered)
            print(f"updated {path}")
