"""AnalyzerConfig and VideoOptions: the one place defaults are written, validated when built."""

from __future__ import annotations

import warnings

import pytest

from mien import Analyzer, AnalyzerConfig, VideoOptions
from mien.config import DEFAULT_DETECTOR, DEFAULT_EXPRESSION, WHOLE_IMAGE


@pytest.mark.parametrize("options,message", [
    ({"pages": "last"}, r"pages must be one of 'first', 'all', got 'last'"),
    ({"landmarks": "dlib5"}, r"landmarks must be one of None, 'mesh', 'mesh468', 'dlib68', got 'dlib5'"),
    ({"aus": "openface"}, r"aus must be one of None, 'mesh', got 'openface'"),
    ({"batch_size": 0}, r"--batch-size \(batch_size\) must be a whole number of at least 1, got 0"),
    ({"batch_size": 2.5}, r"--batch-size \(batch_size\)"),
    ({"threads": 0}, r"--threads \(threads\)"),
    ({"max_pixels": -1}, r"--max-pixels \(max_pixels\)"),
    ({"device": "tpu"}, r"device must be 'cpu' or 'cuda', got 'tpu'"),
    ({"detector_options": {"score_threshold": 2}}, r"--det-threshold \(score_threshold\)"),
    ({"aus": "mesh", "landmarks": "dlib68"}, r"aus='mesh' needs the face mesh"),
])
def test_bad_values_are_refused_naming_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        AnalyzerConfig(**options)
    with pytest.raises(ValueError, match=message):  # the same check whatever the front end
        Analyzer(**options)


def test_from_options_drops_none():
    assert AnalyzerConfig.from_options(detector=None, batch_size=None, pages=None) == AnalyzerConfig()
    config = AnalyzerConfig.from_options(batch_size=4, landmarks=None, aus="mesh")
    assert (config.batch_size, config.landmarks, config.aus, config.mesh_landmarks) == (4, None, "mesh", "mesh")
    assert config.replace(batch_size=None, pages="all") == AnalyzerConfig(batch_size=4, aus="mesh", pages="all")
    assert VideoOptions.from_options(every=None, smooth=0) == VideoOptions(smooth=0)


def test_the_analyzer_holds_its_config_with_keywords_overriding():
    base = AnalyzerConfig(batch_size=3, pages="all")
    analyzer = Analyzer(base, batch_size=5, threads=1)
    assert analyzer.config == AnalyzerConfig(batch_size=5, pages="all", threads=1)
    assert (analyzer.batch_size, analyzer.pages, analyzer.detector_name, analyzer.expression_name) == (
        5, "all", DEFAULT_DETECTOR, DEFAULT_EXPRESSION)
    assert Analyzer.from_config(base).config == base
    assert Analyzer(threads=1).config == AnalyzerConfig(threads=1)
    with pytest.raises(TypeError, match="first argument is an AnalyzerConfig"):
        Analyzer("retinaface")


def test_whole_image_is_one_concept_and_the_old_flag_warns():
    with pytest.warns(DeprecationWarning, match="whole_image= is deprecated; use detector='whole-image'"):
        analyzer = Analyzer(whole_image=True, threads=1)
    assert analyzer.config.detector == WHOLE_IMAGE and analyzer.config.whole_image
    assert analyzer.metadata["detector"] == "whole-image"
    with pytest.warns(DeprecationWarning):  # mien 0.1's precedence: the flag wins
        assert Analyzer(whole_image=True, detector="retinaface", threads=1).config.detector == WHOLE_IMAGE
    with pytest.warns(DeprecationWarning):
        assert Analyzer(whole_image=False, threads=1).config.detector == DEFAULT_DETECTOR
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Analyzer(detector=WHOLE_IMAGE, threads=1).config.whole_image


def test_analyze_video_keywords_override_the_options(analyzer, pyfeat_media):
    clip = pyfeat_media / "single_face.mp4"
    stream = analyzer.analyze_video(clip, VideoOptions(every=5, smooth=0.5), smooth=None, end=1.0)
    assert stream.analysis.options == VideoOptions(every=5, smooth=0.5, end=1.0)
    assert analyzer.analyze_video(clip).analysis.options == VideoOptions()
    with pytest.raises(ValueError, match="either every or fps"):
        analyzer.analyze_video(clip, every=2, fps=5)
    with pytest.raises(ValueError, match=r"--smooth \(smooth\)"):
        analyzer.analyze_video(clip, smooth=-1)
    with pytest.raises(TypeError, match="unknown option"):
        analyzer.analyze_video(clip, evry=2)
