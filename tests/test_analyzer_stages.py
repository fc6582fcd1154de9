"""Open stages: any object with the documented method is a detector or an expression model, and a name
registered by a user works like a built-in one."""

from __future__ import annotations

import numpy as np
import pytest

from mien import Analyzer, Detections, ModelSpec, register
from mien.align.similarity import CropSpec
from mien.config import AnalyzerConfig, VideoOptions
from mien.detect.base import FaceDetector
from mien.models.expression import ExpressionBackend, HeadOutputs
from mien.registry import unregister
from mien.schema import AUS, EXPRESSIONS

# single_face.jpg (572 x 562): one face, box and 5 landmarks as RetinaFace finds them, rounded
BOX = [195.0, 136.0, 369.0, 396.0]
LANDMARKS = [[228.0, 246.0], [312.0, 242.0], [265.0, 298.0], [236.0, 325.0], [318.0, 322.0]]
PROBABILITIES = [0.05, 0.6, 0.05, 0.1, 0.05, 0.05, 0.05, 0.05]  # sums to 1; "happy" wins
VA = [0.25, -0.5]
AU_PROBABILITIES = [f"AU{au:02d}_p" for au in AUS]


class FixedDetector:
    """One face at BOX with LANDMARKS, whatever the image; records the keywords of each call."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def detect(self, image, *, max_size=None, min_size=None) -> Detections:
        self.calls.append({"shape": image.shape, "max_size": max_size, "min_size": min_size})
        return Detections(np.array([BOX], np.float32), np.array([0.9], np.float32), np.array([LANDMARKS], np.float32))


class FixedExpression:
    """PROBABILITIES and VA for every face; no AU or eye head."""

    name = "fixed-expression"
    crop = CropSpec(32, np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]))

    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def predict_heads(self, crops: np.ndarray) -> HeadOutputs:
        self.seen.append(crops.shape)
        n = len(crops)
        return HeadOutputs(np.tile(np.float32(PROBABILITIES), (n, 1)), va=np.tile(np.float32(VA), (n, 1)))


def test_fakes_satisfy_the_documented_protocols():
    assert isinstance(FixedDetector(), FaceDetector)
    assert isinstance(FixedExpression(), ExpressionBackend)


def test_analyzer_takes_a_detector_and_an_expression_object(pyfeat_media):
    detector, expression = FixedDetector(), FixedExpression()
    analyzer = Analyzer(detector=detector, expression=expression, threads=1)
    assert analyzer.detector is detector and analyzer.expression is expression
    table = analyzer.analyze(str(pyfeat_media / "single_face.jpg")).to_pandas()
    assert len(table) == 1 and expression.seen == [(1, 32, 32, 3)]
    row = table.iloc[0]
    assert [row["face_x"], row["face_y"], row["face_width"], row["face_height"]] == [195, 136, 174, 260]
    assert [row[f"lm5_{axis}_{i}"] for i in range(5) for axis in "xy"] == [v for point in LANDMARKS for v in point]
    assert row["face_score"] == pytest.approx(0.9)
    assert [row[f"expr_{name}"] for name in EXPRESSIONS] == pytest.approx(PROBABILITIES)
    assert row["expression"] == "happy"
    assert [row["valence"], row["arousal"]] == pytest.approx(VA)
    assert len(AUS) == 17 and table[AU_PROBABILITIES].isna().all(axis=None)  # no AU head: NaN, not made up
    metadata = analyzer.metadata
    assert metadata["detector"] == "FixedDetector" and metadata["expression_model"] == "fixed-expression"
    assert metadata["expression_temperature"] == 1.0 and metadata["uncertain_below"] is None


def test_video_with_a_detector_object_re_detects_in_regions(pyfeat_media):
    detector = FixedDetector()
    analyzer = Analyzer(detector=detector, expression=FixedExpression(), threads=1)
    stream = analyzer.analyze_video(pyfeat_media / "single_face.mp4", VideoOptions(end=0.3, detect_every=3))
    table = stream.to_pandas()
    assert len(table) >= 3 and (table["success"] == 1).all()
    assert [row[f"expr_{name}"] for name in EXPRESSIONS for _, row in table.head(1).iterrows()] == pytest.approx(
        PROBABILITIES)
    full = [call for call in detector.calls if call["max_size"] is None]
    regional = [call for call in detector.calls if call["max_size"] is not None]
    # full-frame detection on analysed frames 0, 3, 6, ...; the tracked face re-found in a region in between
    assert len(full) == -(-len(table) // 3) and len(regional) == len(table) - len(full)
    assert all(call["max_size"] == call["min_size"] == 256 for call in regional)
    assert table["track_id"].nunique() == 1


def test_a_detector_without_regions_gets_full_frames(pyfeat_media):
    detector = FixedDetector()
    detector.supports_regions = False
    analyzer = Analyzer(detector=detector, expression=FixedExpression(), threads=1)
    table = analyzer.analyze_video(pyfeat_media / "single_face.mp4", end=0.2, detect_every=4).to_pandas()
    assert len(detector.calls) == len(table) and all(call["max_size"] is None for call in detector.calls)


def test_objects_without_the_method_are_refused_by_name():
    with pytest.raises(TypeError, match="detector must be a registered name or an object with detect"):
        AnalyzerConfig(detector=object())
    with pytest.raises(TypeError, match="object lacks crop, predict_heads"):
        AnalyzerConfig(expression=object())
    with pytest.raises(ValueError, match="detector_options apply to a registered detector name"):
        AnalyzerConfig(detector=FixedDetector(), detector_options={"score_threshold": 0.5})


@pytest.fixture
def my_fake():
    spec = register(ModelSpec("my-fake", "detector", FixedDetector))
    yield spec
    unregister("my-fake")


def test_a_registered_factory_is_used_by_name(my_fake, pyfeat_media):
    analyzer = Analyzer(detector="my-fake", expression=FixedExpression(), threads=2)
    assert isinstance(analyzer.detector, FixedDetector)  # built without the threads/device it does not take
    assert analyzer.metadata["detector"] == "my-fake"
    table = analyzer.analyze(str(pyfeat_media / "multi_face.jpg")).to_pandas()
    assert len(table) == 1 and table.iloc[0]["face_x"] == 195


def test_a_registered_module_string_is_imported_on_use(pyfeat_media):
    from mien.detect.whole_image import WholeImageDetector
    from mien.io.images import read_image

    spec = register(ModelSpec("my-crops", "detector", "mien.detect.whole_image:WholeImageDetector",
                              options={"align": False}))
    try:
        assert (spec.licence, spec.source, spec.size_mb, spec.input_size) == ("unknown", "user", 0.0, None)
        assert spec.factory() is WholeImageDetector
        analyzer = Analyzer(detector="my-crops", expression=FixedExpression())
        image = read_image(pyfeat_media / "single_face.jpg")
        assert analyzer.detector.detect(image).boxes.tolist() == [[0, 0, 572, 562]]
    finally:
        unregister("my-crops")


def test_registering_a_taken_name_is_refused_clearly(my_fake):
    with pytest.raises(ValueError, match=r"'retinaface' is already registered \(detector, "
                                         r"mien.detect.retinaface:RetinaFaceDetector\); choose another name"):
        register(ModelSpec("retinaface", "detector", FixedDetector))
    with pytest.raises(ValueError, match="'my-fake' is already registered"):
        register(ModelSpec("my-fake", "detector", FixedDetector))
    with pytest.raises(ValueError, match="entry must be 'package.module:attribute' or a callable"):
        ModelSpec("bad", "detector", "no_colon")
    with pytest.raises(KeyError, match="no backend named 'nothing'"):
        unregister("nothing")


def test_micro_recognizer_takes_a_detector_object(pyfeat_media):
    from mien.io.images import read_image
    from mien.micro.recognize import MicroRecognizer

    image = read_image(pyfeat_media / "single_face.jpg")
    prediction = MicroRecognizer(detector=FixedDetector(), threads=1).recognize(image, image)
    assert prediction.face_box.tolist() == BOX
    assert MicroRecognizer(detector="whole-image", threads=1).recognize(image, image).face_box is None
