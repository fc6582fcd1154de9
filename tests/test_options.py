"""Option ranges (mien.options) are checked the same way by the Python API and batch."""

from __future__ import annotations

import pytest

from mien.config import AnalyzerConfig


def test_the_python_api_and_batch_check_the_same_ranges():
    from mien import Analyzer
    from mien.batch import BatchOptions, EngineSettings

    with pytest.raises(ValueError, match=r"--det-threshold \(score_threshold\) must be a number in \(0, 1\]"):
        Analyzer(detector_options={"score_threshold": 5})
    with pytest.raises(ValueError, match=r"--det-max-size \(max_size\)"):
        Analyzer(detector_options={"max_size": 0})
    with pytest.raises(ValueError, match=r"--max-pixels \(max_pixels\)"):
        Analyzer(max_pixels=-1)
    with pytest.raises(ValueError, match=r"--det-threshold"):
        BatchOptions(analysis=AnalyzerConfig(detector_options={"score_threshold": -1}))
    with pytest.raises(ValueError, match=r"--num-workers"):
        EngineSettings(num_workers=0)


def test_analyze_video_checks_its_options(analyzer):
    with pytest.raises(ValueError, match=r"--detect-every"):
        analyzer.analyze_video("x.mp4", detect_every=0)
