"""Every option of the pipeline reaches every front end, and every front end starts from the defaults written
in mien.config (a front end that restates a default, or loses an option, fails here)."""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from pathlib import Path

import pytest

from mien.cli import build_parser
from mien.cli.common import ANALYZER_FLAGS, VIDEO_FLAGS, analyzer_config, video_options
from mien.config import WHOLE_IMAGE, AnalyzerConfig, VideoOptions

ANALYZER_FIELDS = [f.name for f in fields(AnalyzerConfig)]
VIDEO_FIELDS = [f.name for f in fields(VideoOptions)]
SRC = Path(__file__).resolve().parents[2] / "src" / "mien"

# a non-default value for every field, and the command line that gives it
ANALYZER_VALUES = {
    "detector": ("other-detector", ["--detector", "other-detector"]),
    "expression": ("my.onnx", ["--expression", "my.onnx"]),
    "threads": (3, ["--threads", "3"]),
    "device": ("cuda", ["--device", "cuda"]),
    "batch_size": (4, ["--batch-size", "4"]),
    "max_pixels": (1234, ["--max-pixels", "1234"]),
    "pages": ("all", ["--pages", "all"]),
    "landmarks": ("mesh468", ["--landmarks", "mesh468"]),
    "aus": ("mesh", ["--aus", "mesh"]),
    "detector_options": ({"score_threshold": 0.5, "max_size": 320}, ["--det-threshold", "0.5", "--det-max-size", "320"]),
}
VIDEO_VALUES = {
    "every": (3, ["--every", "3"]),
    "fps": (2.0, ["--fps", "2"]),
    "start": (1.5, ["--start", "1.5"]),
    "end": (9.0, ["--end", "9"]),
    "detect_every": (4, ["--detect-every", "4"]),
    "smooth": (0.0, ["--smooth", "0"]),
    "max_missed": (2.5, ["--max-missed", "2.5"]),
}
# fields a front end leaves out on purpose, and why
BATCH_ANALYZER_SKIPPED = {"threads"}  # per worker: --threads-per-worker (EngineSettings.threads)
BATCH_VIDEO_SKIPPED = {"start", "end"}  # batch cuts each video into segments itself
SERVE_ANALYZER_SKIPPED = {"max_pixels"}  # the server's --max-pixels (Limits.max_pixels) bounds uploads and analysis


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_the_option_tables_cover_every_field():
    assert sorted(ANALYZER_FLAGS) == sorted(ANALYZER_FIELDS) == sorted(ANALYZER_VALUES)
    assert sorted(VIDEO_FLAGS) == sorted(VIDEO_FIELDS) == sorted(VIDEO_VALUES)


def test_python_front_end_drops_none():
    assert AnalyzerConfig.from_options(**dict.fromkeys(ANALYZER_FIELDS)) == AnalyzerConfig()
    assert VideoOptions.from_options(**dict.fromkeys(VIDEO_FIELDS)) == VideoOptions()


@pytest.mark.parametrize("verb", ["analyze", "video", "live", "serve", "batch"])
def test_cli_defaults_are_the_configs(verb):
    from mien.batch import BatchOptions
    from mien.cli.batch import options_from
    from mien.cli.serve import serve_config

    argv = {"analyze": ["analyze", "x.jpg"], "video": ["video", "x.mp4"], "live": ["live"], "serve": ["serve"],
            "batch": ["batch", "x", "--output", "out"]}[verb]
    args = parse(*argv)
    given = {name: value for name, value in vars(args).items()
             if name in set(ANALYZER_FIELDS) | set(VIDEO_FIELDS) | {"whole_image", "det_threshold", "det_max_size"}}
    assert set(given.values()) == {None}, f"mien {verb} restates a default: {given}"
    if verb == "batch":
        options, _ = options_from(args)
        assert options == BatchOptions() and options.analysis == AnalyzerConfig() and options.video == VideoOptions()
    elif verb == "serve":
        assert serve_config(args).analysis == AnalyzerConfig()
    else:
        assert analyzer_config(args) == AnalyzerConfig()
        assert video_options(args) == VideoOptions()


@pytest.mark.parametrize("verb", ["analyze", "video", "batch", "serve"])
@pytest.mark.parametrize("name", ANALYZER_FIELDS)
def test_every_analyzer_field_reaches_the_cli(verb, name):
    from mien.cli.batch import options_from
    from mien.cli.serve import serve_config

    skipped = {"batch": BATCH_ANALYZER_SKIPPED, "serve": SERVE_ANALYZER_SKIPPED}.get(verb, set())
    if name in skipped:
        pytest.skip(f"mien {verb} sets {name} another way")
    value, flags = ANALYZER_VALUES[name]
    if name == "aus":
        flags = [*flags, "--landmarks", "mesh"]
    head = {"analyze": ["analyze", "x.jpg"], "video": ["video", "x.mp4"], "batch": ["batch", "x", "-o", "out"],
            "serve": ["serve"]}[verb]
    args = parse(*head, *flags)
    config = (options_from(args)[0].analysis if verb == "batch" else
              serve_config(args).analysis if verb == "serve" else analyzer_config(args))
    assert getattr(config, name) == value


@pytest.mark.parametrize("verb", ["video", "batch"])
@pytest.mark.parametrize("name", VIDEO_FIELDS)
def test_every_video_field_reaches_the_cli(verb, name):
    from mien.cli.batch import options_from

    if verb == "batch" and name in BATCH_VIDEO_SKIPPED:
        pytest.skip("mien batch cuts videos into segments itself")
    value, flags = VIDEO_VALUES[name]
    head = ["video", "x.mp4"] if verb == "video" else ["batch", "x", "-o", "out"]
    args = parse(*head, *flags)
    options = options_from(args)[0].video if verb == "batch" else video_options(args)
    assert getattr(options, name) == value


def test_whole_image_is_the_whole_image_detector():
    assert analyzer_config(parse("analyze", "x.jpg", "--whole-image")).detector == WHOLE_IMAGE
    assert analyzer_config(parse("live", "--model", "my.onnx")).expression == "my.onnx"  # live gets the model choice


def test_serve_config_and_video_query_reach_every_field():
    pytest.importorskip("fastapi")
    from mien.serve.app import ServeConfig, create_app

    assert ServeConfig().analysis == AnalyzerConfig()
    config = ServeConfig(analysis=AnalyzerConfig(**{k: v for k, (v, _) in ANALYZER_VALUES.items()
                                                    if k not in ("aus",)}))
    assert ServeConfig.from_json(config.to_json()) == config
    schema = create_app(ServeConfig(video_worker=False)).openapi()
    parameters = {p["name"]: p for p in schema["paths"]["/v1/videos"]["post"]["parameters"]}
    assert set(VIDEO_FIELDS) <= set(parameters)
    assert all("default" not in parameters[name]["schema"] for name in VIDEO_FIELDS), "a query restates a default"


def test_analyzer_keywords_are_the_configs():
    """Python: every AnalyzerConfig field is a keyword of Analyzer.from_config's config (the Analyzer itself
    is built from it), and the config's defaults are the module constants."""
    from mien.config import DEFAULT_DETECTOR, DEFAULT_EXPRESSION, DEFAULT_MAX_PIXELS

    config = AnalyzerConfig()
    assert (config.detector, config.expression, config.max_pixels) == (DEFAULT_DETECTOR, DEFAULT_EXPRESSION,
                                                                       DEFAULT_MAX_PIXELS)
    assert "config" in inspect.signature(__import__("mien.analyzer").analyzer.Analyzer.from_config).parameters


APPLICATION_PACKAGES = ("cli", "workflows", "batch", "serve")


def test_applications_restate_no_default():
    """The defaults written in mien.config never appear again in the application layer."""
    from mien.config import DEFAULT_DETECTOR, DEFAULT_EXPRESSION

    restated = [re.escape(f'"{DEFAULT_DETECTOR}"'), re.escape(f'"{DEFAULT_EXPRESSION}"'), r"100_000_000",
                r"\bsmooth\s*=\s*0\.3\b", r"\bbatch_size\s*=\s*16\b", r"\bmax_missed\s*=\s*1\.0\b"]
    found = []
    for package in APPLICATION_PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(SRC)}: {pattern}" for pattern in restated if re.search(pattern, text)]
    assert not found, found
