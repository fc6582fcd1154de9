"""The video pipeline's per-frame state, with a scripted fake analyzer (no models, no decoding)."""

import numpy as np

from mien.config import VideoOptions
from mien.detect.base import Detections
from mien.io.images import Frame
from mien.result import FrameTable, Result
from mien.video.pipeline import TrackSeed, VideoAnalysis


class ScriptedAnalyzer:
    """Detection returns the next scripted boxes; every face is 1/8 of each expression."""

    detector = object()  # no supports_regions: full detection on every frame
    uses_mesh = False
    au_model = None

    def __init__(self, script):
        self.script = list(script)

    def detect(self, image):
        boxes = np.array(self.script.pop(0), np.float32).reshape(-1, 4)
        return Detections(boxes, np.full(len(boxes), 0.9, np.float32), np.zeros((len(boxes), 5, 2), np.float32))

    def prepare(self, frame, detections=None):
        return frame, Detections.empty() if detections is None else detections

    def classify(self, prepared):
        table = FrameTable()
        for frame, _ in prepared:
            table.append(frame.source, frame.index, frame.timestamp, 64, 48, frame.error)
        n = sum(len(d) for _, d in prepared)
        return Result.from_detections(table, [d for _, d in prepared], expression_probs=np.full((n, 8), 0.125, np.float32),
                                      blur=np.full(n, 100.0, np.float32), outside=np.zeros(n, np.float32))


def frames(count):
    return [Frame("clip.mp4", i, np.zeros((48, 64, 3), np.uint8), i * 0.04) for i in range(count)]


def test_missed_faces_are_per_frame_state_in_the_frame_table():
    face = [10, 10, 30, 30]
    analysis = VideoAnalysis(ScriptedAnalyzer([[face], [], [face]]), VideoOptions())
    results = [result for result, _ in analysis.process(frames(3))]
    missed = [r.frames.data["missed_boxes"][0] for r in results]
    assert [m.shape for m in missed] == [(0, 4), (1, 4), (0, 4)]
    np.testing.assert_allclose(missed[1], [face])  # one sighting: predicted at rest where it was
    assert [r.data["track_id"].tolist() for r in results] == [[0], [], [0]]
    assert [r["success"] for r in results[1].to_records()] == [0]  # detection found nothing: a no-face row
    assert [r.frames.faces_detected for r in results] == [[1], [0], [1]]
    merged = Result.merge(results[:1] + results[2:])  # per-frame state travels with its frames
    assert len(merged.frames) == 2 and [m.shape for m in merged.frames.data["missed_boxes"]] == [(0, 4), (0, 4)]


def test_seeded_tracks_continue_their_ids_and_smoothed_values():
    face = [10, 10, 30, 30]
    seed = TrackSeed(4, np.array(face, np.float64), -0.04, np.eye(8, dtype=np.float32)[1])  # happy, 1 frame ago
    analysis = VideoAnalysis(ScriptedAnalyzer([[face, [40, 10, 60, 30]]]), VideoOptions(smooth=0.04))
    (result, _), = analysis.process(frames(1), first_track_id=2, seed=[seed])
    assert result.data["track_id"].tolist() == [4, 5]  # the seed's id; the new face after it
    weight = 1 - np.exp(-1.0)  # one time constant later
    assert result.data["expr_smooth_happy"][0] == np.float32(weight * 0.125 + (1 - weight)) / np.float32(1.0)
    assert result.data["expr_smooth_happy"][1] == np.float32(0.125)


class IntensityAnalyzer(ScriptedAnalyzer):
    """Also gives each face OpenFace-style AU intensities in ``Result.data`` (as ``aus="mesh"`` does)."""

    def classify(self, prepared):
        from mien.schema import AU_INTENSITY_COLUMNS

        result = super().classify(prepared)
        for k, column in enumerate(AU_INTENSITY_COLUMNS):
            result.data[column] = np.full(len(result), k / 4, np.float32)
        return result


def test_the_summary_keeps_the_intensities_of_result_data():
    from mien.schema import AUS
    from mien.video.summary import TrackSummary

    face = [10, 10, 30, 30]
    for analyzer, expected in ((IntensityAnalyzer([[face], [face]]), np.arange(len(AUS)) / 4),
                               (ScriptedAnalyzer([[face], [face]]), np.full(len(AUS), np.nan))):
        summary = TrackSummary("clip.mp4", keep_series=True)
        for _ in VideoAnalysis(analyzer, VideoOptions()).process(frames(2), summary):
            pass
        np.testing.assert_allclose(summary.au_intensity_series(0), [expected, expected])
