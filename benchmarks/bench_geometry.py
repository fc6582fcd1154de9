"""Face geometry with ``landmarks="mesh"`` (issue 14): head pose accuracy, mirror consistency, stability on
still heads, gaze sanity, and what the mesh costs per face, on 2 CPU threads.

    python benchmarks/bench_geometry.py            # -> benchmarks/out/geometry.json

- **synthetic poses**: 1,000 random poses (pitch +-30, yaw +-50, roll +-30 degrees; 0.4-1.2 m from a
  640x480 camera, anywhere in the field of view) of MediaPipe's canonical face, projected with perspective;
  the "mesh" handed to the fit is the projected x, y and the depth along the viewing ray in pixels (what
  FaceMesh predicts), plus 1 px of Gaussian noise. This tests the fit, not the network.
- **mirror**: each real photo and video frame and its mirror image: |yaw + yaw'|, |roll + roll'|,
  |pitch - pitch'| and |gaze_angle_x + gaze_angle_x'| (degrees; median and 90th percentile).
- **still heads**: mean |pitch(t) - pitch(t-1)| per frame over whole LivePortrait clips whose head stays
  still (by eye), mesh pose against the 5-point pose; and the pitch shift of a broad grin on a still head
  (``d19.mp4``, frames 236-249 against neutral frames 0-5, 30-79, 110-149, chosen by looking at them; and
  ``d0.mp4``, the issue's grin clip, frames 25-59 against 0-11 and 70-77).
- **cost**: milliseconds per face of the mesh + iris networks (batched), pose fit and gaze, and of the
  whole Analyzer with and without ``landmarks="mesh"``, on 640x360 video frames (one face each); fastest of
  5 timings per frame (the load average is recorded: shared machines inflate every figure).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from common import data_root, save

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

STILL_CLIPS = ["d19.mp4", "s18.mp4", "d9.mp4", "d0.mp4"]
GRIN = ("d19.mp4", list(range(236, 250)), list(range(0, 6)) + list(range(30, 80)) + list(range(110, 150)))
PHOTOS = ["single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "45-m7-di-ph.jpg", "15-f13-anc-ph.jpg"]


def synthetic_pose_errors(n: int = 1000, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """(n, 3) absolute pitch, yaw, roll errors (degrees) of the mesh pose fit on rendered canonical faces."""
    from mien.tasks.pose import camera_matrix, canonical_face, fit_mesh_pose, ray_rotation, rotation_from_angles

    rng = np.random.default_rng(seed)
    width, height = 640, 480
    camera = camera_matrix(width, height)
    face = canonical_face()
    errors = []
    for _ in range(n):
        truth = np.array([rng.uniform(-30, 30), rng.uniform(-50, 50), rng.uniform(-30, 30)])
        depth = rng.uniform(400, 1200)
        position = np.array([rng.uniform(-0.3, 0.3) * depth, rng.uniform(-0.25, 0.25) * depth, depth])
        points = render_mesh(face, rotation_from_angles(*truth), position, camera, ray_rotation)
        points = points + rng.normal(0, noise, points.shape)
        errors.append(np.abs(np.array(fit_mesh_pose(points, width, height).angles) - truth))
    return np.array(errors)


def render_mesh(face, rotation, position, camera, ray_rotation) -> np.ndarray:
    """What an ideal FaceMesh returns for a head at a pose: image x, y (perspective) and the depth along the
    viewing ray, in pixels at the face's distance."""
    from mien.models.mesh import ibug68

    world = face @ rotation.T + position
    pixels = world @ camera.T
    xy = pixels[:, :2] / pixels[:, 2:3]
    face_centre = ibug68(world).mean(axis=0)  # z on the x, y scale of the face itself
    centre = camera @ face_centre
    ray = ray_rotation(centre[0] / centre[2], centre[1] / centre[2], camera)
    z = ((world - face_centre) @ ray)[:, 2] * camera[0, 0] / np.linalg.norm(face_centre)
    return np.column_stack([xy, z])


def read_frames(path: Path, every: int = 1, limit: int | None = None) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if limit is not None and len(frames) >= limit:
                break
    return frames


def main() -> None:
    from PIL import Image

    from mien import Analyzer
    from mien.io.images import Frame
    from mien.tasks.pose import estimate_poses

    root = data_root() / "media"
    analyzer = Analyzer(threads=2, landmarks="mesh")
    report: dict = {"method": analyzer.metadata["pose_method"], "gaze_method": analyzer.metadata["gaze_method"]}

    errors = synthetic_pose_errors()
    worst = errors.max(axis=1)
    report["synthetic_poses"] = {
        "n": len(errors), "noise_px": 1.0,
        "median_error_deg": dict(zip(("pitch", "yaw", "roll"), np.median(errors, 0).round(3).tolist())),
        "p95_error_deg": dict(zip(("pitch", "yaw", "roll"), np.percentile(errors, 95, 0).round(3).tolist())),
        "median_worst_axis_deg": round(float(np.median(worst)), 3), "target_median_deg": 2.0}
    print("synthetic", report["synthetic_poses"])

    def first_faces(images: list[np.ndarray], name: str):
        frames = [Frame(name, i, image, 0.0) for i, image in enumerate(images)]
        table = analyzer.analyze_frames(frames).to_pandas()
        return table[table.face_id == 0].set_index("frame")

    # mirror consistency: photos (every face matched to its mirror by box centre) and video frames
    diffs = {"yaw": [], "roll": [], "pitch": [], "gaze_angle_x": []}
    images = [np.asarray(Image.open(root / "pyfeat" / name).convert("RGB")) for name in PHOTOS]
    for clip in ["d3.mp4", "d10.mp4", "d12.mp4", "s13.mp4"]:
        images += read_frames(root / "liveportrait" / clip, every=20)
    for image in images:
        mirrored = np.ascontiguousarray(image[:, ::-1])
        a = analyzer.analyze(image).to_pandas()
        b = analyzer.analyze(mirrored).to_pandas()
        a, b = a[a.success == 1], b[b.success == 1]
        for _, row in a.iterrows():
            centre = image.shape[1] - 1 - (row.face_x + row.face_width / 2)
            match = b.iloc[int(np.argmin(np.abs(b.face_x + b.face_width / 2 - centre)))]
            diffs["yaw"].append(abs(row.pose_yaw + match.pose_yaw))
            diffs["roll"].append(abs(row.pose_roll + match.pose_roll))
            diffs["pitch"].append(abs(row.pose_pitch - match.pose_pitch))
            diffs["gaze_angle_x"].append(abs(np.degrees(row.gaze_angle_x + match.gaze_angle_x)))
    report["mirror"] = {"faces": len(diffs["yaw"]),
                        **{f"{k}_median_deg": round(float(np.median(v)), 3) for k, v in diffs.items()},
                        **{f"{k}_p90_deg": round(float(np.percentile(v, 90)), 3) for k, v in diffs.items()},
                        "target_yaw_deg": 2.0}
    print("mirror", report["mirror"])

    # still heads: pitch jitter per frame (mesh against the 5-point pose) and a grin's pitch shift
    jitter = {}
    for clip in STILL_CLIPS:
        images = read_frames(root / "liveportrait" / clip)
        table = first_faces(images, clip)
        height, width = images[0].shape[:2]
        five = np.array([estimate_poses(np.array([[[table.loc[i, f"lm5_{a}_{k}"] for a in "xy"] for k in range(5)]]),
                                        width, height)[0, 0] if i in table.index else np.nan for i in range(len(images))])
        mesh_pitch = table.pose_pitch.reindex(range(len(images))).to_numpy()
        jitter[clip] = {"frames": len(images), "mesh_deg_per_frame": round(float(np.nanmean(np.abs(np.diff(mesh_pitch)))), 3),
                        "five_point_deg_per_frame": round(float(np.nanmean(np.abs(np.diff(five)))), 3),
                        "mesh_pitch_range_deg": round(float(np.nanmax(mesh_pitch) - np.nanmin(mesh_pitch)), 2)}
        if clip == GRIN[0]:
            grin, neutral = GRIN[1], GRIN[2]
            report["grin_still_head"] = {
                "clip": clip, "grin_frames": [grin[0], grin[-1]], "neutral_frames": "0-5, 30-79, 110-149",
                "mesh_pitch_shift_deg": round(float(np.nanmean(mesh_pitch[grin]) - np.nanmean(mesh_pitch[neutral])), 2),
                "five_point_pitch_shift_deg": round(float(np.nanmean(five[grin]) - np.nanmean(five[neutral])), 2),
                "target_deg": 3.0}
        if clip == "d0.mp4":  # the grin clip: the head moves up 2-3 px but pitches by <= 1 degree
            report["grin_d0"] = {"grin_frames": [25, 59], "neutral_frames": "0-11, 70-77",
                                 "note": "head still in pitch (<= 1 degree: the eye corners rise 1.3 px more than "
                                         "the image-right ear's silhouette, ~75 mm behind them); the mesh's nose "
                                         "and bridge points rise 3-8 px with the grin, read as chin up",
                                 "mesh_pitch_shift_deg": round(float(np.nanmean(mesh_pitch[25:60]) - np.nanmean(
                                     mesh_pitch[list(range(12)) + list(range(70, 78))])), 2),
                                 "five_point_pitch_shift_deg": round(float(np.nanmean(five[25:60]) - np.nanmean(
                                     five[list(range(12)) + list(range(70, 78))])), 2)}
    report["pitch_jitter"] = {**jitter, "target_deg_per_frame": 0.5}
    print("jitter", jitter, report.get("grin_still_head"), report.get("grin_d0"))

    # gaze: people talking into the camera (the calibration clips: a consistency figure, not a test)
    gaze = []
    for clip in ["d3.mp4", "d6.mp4", "d9.mp4", "d10.mp4", "d19.mp4"]:
        table = first_faces(read_frames(root / "liveportrait" / clip, every=15, limit=20), clip)
        gaze.append(np.degrees(table[["gaze_angle_x", "gaze_angle_y"]].to_numpy()))
    gaze = np.concatenate(gaze)
    report["gaze_talking_to_camera"] = {"frames": len(gaze), "median_x_deg": round(float(np.median(gaze[:, 0])), 2),
                                        "median_y_deg": round(float(np.median(gaze[:, 1])), 2),
                                        "iqr_x_deg": round(float(np.subtract(*np.percentile(gaze[:, 0], [75, 25]))), 2),
                                        "iqr_y_deg": round(float(np.subtract(*np.percentile(gaze[:, 1], [75, 25]))), 2)}
    print("gaze", report["gaze_talking_to_camera"])
    report["cost"] = cost(root)
    print("cost", report["cost"])
    save("geometry", report)


def cost(root: Path, rounds: int = 5) -> dict:
    """Milliseconds per face on 2 threads: mesh+iris networks, pose+gaze, and the whole-pipeline difference.

    Each frame is timed ``rounds`` times and its fastest time kept (the machine may be shared: the minimum is
    the cost without interference), then averaged over the frames; the load average is recorded."""
    import os

    import cv2

    from mien import Analyzer
    from mien.io.images import Frame
    from mien.tasks.gaze import estimate_gaze
    from mien.tasks.pose import mesh_poses

    frames = [cv2.resize(f, (640, 360)) if f.shape[:2] != (360, 640) else f
              for f in read_frames(root / "pyfeat" / "WolfgangLanger_Pexels.mp4", every=4, limit=64)]
    plain = Analyzer(threads=2)
    meshed = Analyzer(threads=2, landmarks="mesh")
    detections = [plain.detect(f) for f in frames]
    faces = sum(len(d) for d in detections)
    model = meshed.dense_model
    for f, d in zip(frames[:4], detections[:4]):  # warm-up
        model.predict(f, d.landmarks)
        plain.analyze_frames([Frame("warm", 0, f, 0.0)])
        meshed.analyze_frames([Frame("warm", 0, f, 0.0)])
    best = {key: np.full(len(frames), np.inf) for key in ("mesh_iris", "pose_gaze", "plain", "mesh")}

    def timed(key: str, index: int, call, *args) -> object:
        started = time.perf_counter()
        value = call(*args)
        best[key][index] = min(best[key][index], time.perf_counter() - started)
        return value

    def pose_and_gaze(result, width: int, height: int):
        return estimate_gaze(result.points, result.iris, mesh_poses(result.points, width, height)[0])

    for _ in range(rounds):
        for i, (f, d) in enumerate(zip(frames, detections)):
            result = timed("mesh_iris", i, model.predict, f, d.landmarks)
            timed("pose_gaze", i, pose_and_gaze, result, f.shape[1], f.shape[0])
            timed("plain", i, plain.analyze_frames, [Frame("bench", i, f, 0.0)])
            timed("mesh", i, meshed.analyze_frames, [Frame("bench", i, f, 0.0)])
    out = {"mesh_iris_ms": best["mesh_iris"].sum() * 1000 / faces, "pose_gaze_ms": best["pose_gaze"].sum() * 1000 / faces,
           "analyzer_plain_ms": best["plain"].mean() * 1000, "analyzer_mesh_ms": best["mesh"].mean() * 1000}
    out = {k: round(float(v), 2) for k, v in out.items()}
    out.update(faces=faces, frames=len(frames), threads=2, frame_size="640x360", rounds=rounds,
               load_average=round(os.getloadavg()[0], 2), cpu_count=os.cpu_count(),
               added_per_face_ms=round(out["mesh_iris_ms"] + out["pose_gaze_ms"], 2),
               added_per_frame_ms=round(out["analyzer_mesh_ms"] - out["analyzer_plain_ms"], 2), target_ms=6.0)
    return out


if __name__ == "__main__":
    main()
