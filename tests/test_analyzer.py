"""The Analyzer end to end on real photos (../shared/datasets/media/pyfeat): faces found, expressions read, batching
and alignment."""

import numpy as np
import pytest
from PIL import Image

from mien import Analyzer
from mien.config import ACCURATE_EXPRESSION, FAST_EXPRESSION
from mien.schema import AUS, EXPRESSIONS


def faces_in(analyzer, path):
    result = analyzer.analyze(str(path))
    assert len(result.frames) == 1 and result.errors == []
    return result


def test_single_face(analyzer, pyfeat_media):
    result = faces_in(analyzer, pyfeat_media / "single_face.jpg")
    assert len(result) == 1
    x1, y1, x2, y2 = result.boxes[0]
    eye_left, eye_right = result.landmarks[0, 0], result.landmarks[0, 1]
    assert x1 < eye_left[0] < eye_right[0] < x2 and y1 < eye_left[1] < y2  # landmarks inside, left-right order
    assert result.quality == ["ok"]


def test_multi_face_finds_several_distinct_faces(analyzer, pyfeat_media):
    result = faces_in(analyzer, pyfeat_media / "multi_face.jpg")
    assert len(result) >= 4
    assert result.face_id.tolist() == list(range(len(result)))
    assert np.all(np.diff(result.face_scores) <= 0)  # face_id follows descending score


def test_no_face_gives_one_success_0_row(analyzer, pyfeat_media):
    result = faces_in(analyzer, pyfeat_media / "free-mountain-vector-01.jpg")
    rows = list(result.to_records())
    assert len(result) == 0 and len(rows) == 1 and rows[0]["success"] == 0 and rows[0]["error"] == ""


KNOWN_MISREAD = pytest.mark.xfail(strict=True, reason=(
    "the default model reads this posed anger (lowered brows, pressed lips) as sad 0.49 / disgust 0.28 / anger "
    "0.09, as its RAF-DB initialisation does (sad 0.97); the accurate variant (sad 0.46), every student distilled "
    "from it and mien 0.1's mnv2-ferplus (neutral / sad 0.49) miss it too. Issue 13: blocked on posed training "
    "data (CK+ is reserved as the zero-shot test)"))


@pytest.mark.parametrize("name,expected", [("0-f15-hao-ph.jpg", "happy"), ("0-f1-su-ph.jpg", "surprise"),
                                           pytest.param("15-f13-anc-ph.jpg", "anger", marks=KNOWN_MISREAD),
                                           ("45-m7-di-ph.jpg", "disgust")])
def test_posed_expressions_are_recognised(analyzer, pyfeat_media, name, expected):
    result = faces_in(analyzer, pyfeat_media / name)
    assert len(result) == 1
    assert result.expressions == [expected]
    assert result.expression_probs[0, EXPRESSIONS.index(expected)] > 0.5


@pytest.mark.parametrize("name,expected", [("0-f15-hao-ph.jpg", "happy"), ("0-f1-su-ph.jpg", "surprise"),
                                           ("45-m7-di-ph.jpg", "disgust")])
def test_the_accurate_variant_reads_the_posed_photos_with_every_head(pyfeat_media, name, expected):
    result = Analyzer(expression=ACCURATE_EXPRESSION, threads=2).analyze(str(pyfeat_media / name))
    assert len(result) == 1 and result.expressions == [expected]
    assert result.expression_probs[0, EXPRESSIONS.index(expected)] > 0.5
    assert np.isfinite(result.au_probs).all() and np.isfinite(result.eye_openness).all()


@pytest.mark.parametrize("model", [FAST_EXPRESSION, "mnv2-ferplus-small"])
@pytest.mark.parametrize("name,expected", [("0-f15-hao-ph.jpg", "happy"), ("0-f1-su-ph.jpg", "surprise")])
def test_the_fast_variants_read_the_posed_photos_too_with_every_head(pyfeat_media, model, name, expected):
    result = Analyzer(expression=model, threads=2).analyze(str(pyfeat_media / name))
    assert len(result) == 1 and result.expressions == [expected]
    assert result.metadata["expression_model"] == model
    assert np.isfinite(result.au_probs).all() and np.isfinite(result.eye_openness).all()
    if expected == "happy":  # the lip-corner puller and cheek raiser of a posed smile
        assert result.au_probs[0, AUS.index(12)] > 0.5 and result.au_probs[0, AUS.index(6)] > 0.5


def test_probabilities_are_distributions(analyzer, pyfeat_media):
    result = analyzer.analyze(str(pyfeat_media / "multi_face.jpg"))
    np.testing.assert_allclose(result.expression_probs.sum(axis=1), 1.0, atol=1e-5)
    assert (result.expression_probs >= 0).all()


def test_batching_does_not_change_results(pyfeat_media):
    paths = [str(pyfeat_media / n) for n in ("multi_face.jpg", "single_face.jpg", "0-f1-su-ph.jpg")]
    one_by_one = Analyzer(threads=2, batch_size=1).analyze(paths)
    batched = Analyzer(threads=2, batch_size=3).analyze(paths)
    np.testing.assert_allclose(one_by_one.expression_probs, batched.expression_probs, atol=1e-5)
    np.testing.assert_allclose(one_by_one.boxes, batched.boxes, atol=1e-3)


def test_detected_faces_are_aligned_from_landmarks(analyzer, pyfeat_media):
    rows = list(analyzer.analyze(str(pyfeat_media / "multi_face.jpg")).to_records())
    assert len(rows) > 1 and {row["alignment"] for row in rows} == {"landmarks"}


def test_decoded_frames_are_analysed_with_their_index_and_time(analyzer, pyfeat_media):
    from mien.io.frames import Frame

    image = np.asarray(Image.open(pyfeat_media / "single_face.jpg").convert("RGB"))
    table = analyzer.analyze([Frame("clip", 5, image, 0.2), Frame("clip", 6, image, 0.24)]).to_pandas()
    assert table[["input", "frame", "timestamp", "success"]].values.tolist() == [["clip", 5, 0.2, 1],
                                                                               ["clip", 6, 0.24, 1]]


def test_a_generator_of_frames_is_a_sequence_of_inputs(analyzer, pyfeat_media, tmp_path):
    """Any iterable of inputs (a generator, a frame source such as read_video) gives one input per item, with
    the frames' own index and time; strings, arrays and PIL images stay one input."""
    from builders import png_frames_video

    from mien.io.frames import Frame
    from mien.video.reader import read_video

    image = np.asarray(Image.open(pyfeat_media / "single_face.jpg").convert("RGB"))
    frames = (Frame("clip", index, image, index / 25) for index in (5, 6, 7))
    table = analyzer.analyze(frames).to_pandas()
    assert table[["input", "frame", "timestamp", "success"]].values.tolist() == [
        ["clip", 5, 0.2, 1], ["clip", 6, 0.24, 1], ["clip", 7, 0.28, 1]]
    video = png_frames_video(tmp_path / "grey.mov", [(32, 24)] * 3)
    table = analyzer.analyze(read_video(video)).to_pandas()
    assert table[["input", "frame", "timestamp"]].values.tolist() == [[str(video), 0, 0.0], [str(video), 1, 0.1],
                                                                    [str(video), 2, 0.2]]
    assert len(analyzer.analyze(Image.fromarray(image))) == 1 and len(analyzer.analyze(image)) == 1


def test_a_generator_is_pulled_as_the_results_are_needed(analyzer):
    """stream / iter_results pull a generator one input at a time: the first results come after one batch,
    not after the whole (here endless) generator."""
    from mien.io.frames import Frame

    pulls = 0

    def endless():
        nonlocal pulls
        while True:
            pulls += 1
            assert pulls <= 2 * analyzer.batch_size, "the generator was read past the first batch"
            yield Frame("camera", pulls - 1, np.zeros((16, 16, 3), np.uint8), pulls / 10)

    results = analyzer.iter_results(endless())
    first = next(results)
    assert pulls == analyzer.batch_size and first.frames.frames == [0]

    def failing():
        yield np.zeros((16, 16, 3), np.uint8)
        raise RuntimeError("the camera went away")

    results = Analyzer(threads=1, batch_size=1).iter_results(failing())
    assert len(next(results).frames) == 1  # the first input's rows arrive before the source fails
    with pytest.raises(RuntimeError, match="went away"):
        next(results)
