"""Batch plans written by mien 0.1 (flat options, version 1) still load; other versions are refused clearly."""

from __future__ import annotations

import json

import pytest

from mien.batch.plan import BatchOptions, Plan
from mien.config import WHOLE_IMAGE, AnalyzerConfig, VideoOptions

V1_OPTIONS = {"detector": "retinaface", "expression": "mfn-raf-ferplus", "whole_image": False, "detector_options": {},
              "batch_size": 16, "max_pixels": 100_000_000, "device": "cpu", "every": 1, "fps": None,
              "detect_every": 1, "smooth": 0.3, "max_missed": 1.0, "chunk_size": 64, "segment_seconds": 30.0,
              "overlap": 1.0}
UNIT = {"partition": "photos-0123abcd", "index": 0, "kind": "images", "paths": ["/data/photos/a.jpg"],
        "start": 0.0, "end": None, "warmup": 0.0, "segments": 1}


def test_a_version_1_plan_loads_as_the_same_options():
    plan = Plan.from_json(json.dumps({"version": 1, "options": V1_OPTIONS, "units": [UNIT]}))
    assert plan.options == BatchOptions()  # 0.1's defaults are 0.2's: a rerun with no flags continues the job
    assert plan.units[0].paths == ("/data/photos/a.jpg",)
    cropped = Plan.from_json(json.dumps({"version": 1, "options": {**V1_OPTIONS, "whole_image": True, "every": 5,
                                                                   "detector_options": {"score_threshold": 0.9}},
                                         "units": []}))
    assert cropped.options.analysis == AnalyzerConfig(detector=WHOLE_IMAGE, detector_options={"score_threshold": 0.9})
    assert cropped.options.video == VideoOptions(every=5)


def test_a_plan_round_trips_and_an_unknown_version_is_refused():
    options = BatchOptions(AnalyzerConfig(landmarks="mesh", pages="all"), VideoOptions(fps=2.0), chunk_size=8)
    plan = Plan(options, [])
    assert Plan.from_json(plan.to_json()).options == options
    with pytest.raises(ValueError, match="plan version 99 .*new --output"):
        Plan.from_json(json.dumps({"version": 99, "options": {}, "units": []}))


class ObjectDetector:
    """A detector object (has ``detect``): fine for Analyzer, but batch workers need a name or path."""

    def detect(self, image, *, max_size=None, min_size=None):
        raise AssertionError("never called")


def test_batch_refuses_what_it_cannot_honour():
    with pytest.raises(ValueError, match="segments itself"):
        BatchOptions(video=VideoOptions(start=1.0))
    with pytest.raises(ValueError, match="by name or path"):
        BatchOptions(AnalyzerConfig(detector=ObjectDetector()))
