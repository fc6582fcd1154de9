"""The output schema: every column mien writes, named once and reused by every writer, the CLI and server.

One row per detected face. An input (image or video frame) with no face, or one that failed, still gives
exactly one row, with ``success = 0`` (and ``error`` set when it failed), so nothing vanishes from a table.
Names follow OpenFace where OpenFace has one (``frame``, ``face_id``, ``timestamp``, ``success``).
"""

from __future__ import annotations

# The 8 basic expressions, in mien's canonical order and spelling (FER+ categories).
EXPRESSIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
EXPRESSION_PREFIX = "expr_"
EXPRESSION_COLUMNS: tuple[str, ...] = tuple(EXPRESSION_PREFIX + name for name in EXPRESSIONS)

# 5-point landmarks: image-left eye, image-right eye, nose tip, image-left and image-right mouth corners.
LANDMARK_NAMES: tuple[str, ...] = ("left eye", "right eye", "nose tip", "left mouth corner", "right mouth corner")
LANDMARK_COLUMNS: tuple[str, ...] = tuple(
    f"lm5_{axis}_{i}" for i in range(len(LANDMARK_NAMES)) for axis in ("x", "y")
)

# Facial action units (FACS numbers and names) that the shipped model detects.
ACTION_UNITS: dict[int, str] = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
    6: "cheek raiser", 7: "lid tightener", 9: "nose wrinkler", 12: "lip corner puller", 14: "dimpler",
    15: "lip corner depressor", 17: "chin raiser", 20: "lip stretcher", 23: "lip tightener",
    24: "lip pressor", 25: "lips part", 26: "jaw drop", 27: "mouth stretch",
}
AUS: tuple[int, ...] = tuple(ACTION_UNITS)
AU_PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"AU{au:02d}_p" for au in AUS)
AU_PRESENCE_COLUMNS: tuple[str, ...] = tuple(f"AU{au:02d}_c" for au in AUS)
POSE_COLUMNS: tuple[str, ...] = ("pose_pitch", "pose_yaw", "pose_roll")
EYE_OPENNESS_COLUMNS: tuple[str, ...] = ("eye_open_left", "eye_open_right")

# (column, type, meaning). The README's schema table is generated from this list.
COLUMN_DOCS: tuple[tuple[str, str, str], ...] = (
    ("input", "str", "path of the image or video (or `<array>` / `<array:i>` for in-memory inputs)"),
    ("frame", "int", "0-based frame index within the input (0 for still images; TIFF page for multi-page TIFF)"),
    ("timestamp", "float", "seconds from the start of the input (0.0 for still images)"),
    ("face_id", "int", "0-based index of the face within its frame, in descending detector score; -1 when no face"),
    ("success", "int", "1 when this row describes a face, 0 for a frame without faces or a failed input"),
    ("error", "str", "why the input failed (empty when it did not); the run goes on"),
    ("image_width", "int", "width of the decoded input in pixels (after EXIF orientation)"),
    ("image_height", "int", "height of the decoded input in pixels"),
    ("face_x", "float", "left edge of the face box, pixels of the original input"),
    ("face_y", "float", "top edge of the face box, pixels"),
    ("face_width", "float", "face box width, pixels"),
    ("face_height", "float", "face box height, pixels"),
    ("face_score", "float", "detector confidence in [0, 1] (1.0 with --whole-image)"),
    ("alignment", "str", "`landmarks` when the face was warped onto the model's template from its 5 landmarks (always "
     "for detected faces; with --whole-image when a face was found inside the crop), `whole-image` when the crop "
     "was used as it is, resized (--whole-image and no face found in it)"),
    *(
        (col, "float", f"{col[4]} of the {LANDMARK_NAMES[int(col[-1])]} (left/right as seen in the image), pixels")
        for col in LANDMARK_COLUMNS
    ),
    ("face_size", "float", "inter-ocular distance in pixels (a scale measure robust to box conventions)"),
    ("blur", "float", "sharpness of the aligned face: variance of its Laplacian at 64 px; below 50 is visibly blurred"),
    ("outside", "float", "share (0..1) of the aligned face crop that lies outside the image"),
    ("quality", "str", "`ok`, or `;`-joined reasons to distrust this face: `small`, `blurry`, `cut`"),
    ("expression", "str", "most probable of the 8 expressions"),
    ("uncertain", "int", "1 when the model is unsure of this face (its calibrated top probability is below the "
     "threshold chosen on validation data, see the model card), else 0; empty if the model has no threshold"),
    *(
        (col, "float", f"probability of {name} in [0, 1] (temperature-scaled when the model carries a "
         "calibration, as the shipped one does); the 8 sum to 1")
        for col, name in zip(EXPRESSION_COLUMNS, EXPRESSIONS)
    ),
    ("valence", "float", "pleasantness in [-1, 1], estimated by projecting the 8 expression probabilities onto "
     "Russell's circumplex (method `circumplex-projection-v1`, see the README: an estimate, not a measurement)"),
    ("arousal", "float", "activation in [-1, 1], from the same projection; never below about -0.5 (no basic "
     "expression is calm)"),
    ("pose_pitch", "float", "head pitch in degrees, positive = chin up; from the eye and nose-tip landmarks by perspective-n-point "
     "on an average 3D face (a few degrees of bias), or with `--landmarks mesh` from the dense mesh (see `pose_Rx`); "
     "empty without landmarks"),
    ("pose_yaw", "float", "head yaw in degrees, positive = face turned towards the image's right (the person's left)"),
    ("pose_roll", "float", "head roll in degrees, positive = head tilted clockwise in the image"),
    ("eye_open_left", "float", "openness of the image-left eye as an eye aspect ratio (eyelid gap / eye width): "
     "about 0.25-0.35 open, below about 0.15 closed; measured on dlib's 68 landmarks with `--landmarks dlib68`, "
     "else predicted by the model's head distilled from such measurements (`eye_openness_method` in the metadata)"),
    ("eye_open_right", "float", "openness of the image-right eye, as `eye_open_left`"),
    *(
        (col, "float", f"probability in [0, 1] that AU{au} ({ACTION_UNITS[au]}) is present; trained on CK+ peak "
         "frames (posed), see the AU model card")
        for col, au in zip(AU_PROBABILITY_COLUMNS, AUS)
    ),
    *(
        (col, "int", f"1 when AU{au} ({ACTION_UNITS[au]}) is present: `AU{au:02d}_p` is at least the model's "
         "threshold for it (in the output metadata, 0.5 unless the model card says otherwise), else 0")
        for col, au in zip(AU_PRESENCE_COLUMNS, AUS)
    ),
)

# Extra columns of video tables (mien video / Analyzer.analyze_video), after the columns above.
SMOOTH_COLUMNS: tuple[str, ...] = tuple(f"expr_smooth_{name}" for name in EXPRESSIONS)
VIDEO_COLUMN_DOCS: tuple[tuple[str, str, str], ...] = (
    ("track_id", "int", "identity of the face across the frames of one video, from 0; empty when no face"),
    ("expression_smooth", "str", "most probable expression after temporal smoothing"),
    *(
        (col, "float", f"probability of {name} smoothed over time within the track (exponential, time "
         "constant `--smooth` seconds); the raw value stays in the `expr_` column")
        for col, name in zip(SMOOTH_COLUMNS, EXPRESSIONS)
    ),
)

# The per-track summary table written next to a video's frame table.
SUMMARY_COLUMN_DOCS: tuple[tuple[str, str, str], ...] = (
    ("input", "str", "the video"),
    ("track_id", "int", "the track (see `track_id` above)"),
    ("first_frame", "int", "first frame the face was seen in"),
    ("last_frame", "int", "last frame the face was seen in"),
    ("start", "float", "timestamp of the first frame, seconds"),
    ("end", "float", "timestamp of the last frame, seconds"),
    ("duration", "float", "end - start, seconds"),
    ("frames", "int", "analysed frames in which the face was found"),
    ("dominant_expression", "str", "expression with the highest mean probability"),
    *((f"mean_{name}", "float", f"mean probability of {name} over the track's frames") for name in EXPRESSIONS),
    *((f"peak_{name}", "float", f"highest probability of {name} in one frame") for name in EXPRESSIONS),
    *((f"share_{name}", "float", f"share of the track's frames whose smoothed expression is {name}")
      for name in EXPRESSIONS),
)

# Optional columns with ``landmarks="mesh"`` (``--landmarks mesh``: MediaPipe's face mesh and iris, shipped) or
# ``landmarks="dlib68"`` (``--landmarks dlib68``; the landmarks extra: the 68 points only). Names and units are
# OpenFace 2's, so ``--schema openface`` writes them unchanged.
DENSE_LANDMARK_COLUMNS: tuple[str, ...] = tuple(f"x_{i}" for i in range(68)) + tuple(f"y_{i}" for i in range(68))
MESH_POSE_COLUMNS: tuple[str, ...] = ("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz")
GAZE_COLUMNS: tuple[str, ...] = ("gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z",
                                 "gaze_angle_x", "gaze_angle_y")
MESH_COLUMNS: tuple[str, ...] = DENSE_LANDMARK_COLUMNS + MESH_POSE_COLUMNS + GAZE_COLUMNS + ("mesh_score",)
MESH468_COLUMNS: tuple[str, ...] = tuple(f"mesh_{axis}_{i}" for axis in "xyz" for i in range(468))
LANDMARK68_COLUMN_DOCS: tuple[tuple[str, str, str], ...] = (
    ("x_0 .. x_67", "float", "x of the 68 iBUG 300-W landmarks (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, "
     "mouth 48-67; OpenFace's names), pixels; `--landmarks mesh`: fixed points (or midpoints of two) of the "
     "468-point face mesh, `--landmarks dlib68`: dlib's shape predictor inside the face box"),
    ("y_0 .. y_67", "float", "y of the same points, pixels"),
    ("pose_Tx, pose_Ty, pose_Tz", "float", "`--landmarks mesh`: position of the head (centroid of the 68 points of "
     "MediaPipe's canonical face fitted to the mesh) in millimetres, camera coordinates (x right, y down, z away "
     "from the camera), as OpenFace's; assumes a focal length of the image's longer side in pixels, so Tz (and "
     "Tx, Ty) scale with the true one"),
    ("pose_Rx, pose_Ry, pose_Rz", "float", "`--landmarks mesh`: head rotation in radians, OpenFace's convention "
     "(R = Rx Ry Rz in camera coordinates; Rx > 0 looking down, Ry > 0 turned towards the image's left, Rz > 0 "
     "tilted clockwise): the same rotation as `pose_pitch`, `pose_yaw`, `pose_roll`, which with `--landmarks "
     "mesh` come from a rigid fit of the canonical face to the mesh's forehead, nose and eye-corner points "
     "(expression-invariant) refined by perspective-n-point (method `mesh-rigid-procrustes-v1`)"),
    ("gaze_0_x, gaze_0_y, gaze_0_z", "float", "`--landmarks mesh`: gaze direction of the image-left eye (eye 0 "
     "in OpenFace), unit vector in camera coordinates from the eyeball centre through the iris centre; "
     "(0, 0, -1) looks into the camera along its axis. A geometric estimate (iris model + head pose + an "
     "average eyeball), see `mien.tasks.gaze` for its accuracy"),
    ("gaze_1_x, gaze_1_y, gaze_1_z", "float", "`--landmarks mesh`: gaze direction of the image-right eye"),
    ("gaze_angle_x", "float", "`--landmarks mesh`: horizontal gaze angle in radians, atan2(x, -z) of the mean of "
     "both eyes' vectors (OpenFace's): > 0 looking towards the image's right"),
    ("gaze_angle_y", "float", "`--landmarks mesh`: vertical gaze angle in radians, atan2(y, -z): > 0 looking down"),
    ("mesh_score", "float", "`--landmarks mesh`: the face mesh network's probability that its crop holds a face; "
     "below about 0.5 distrust the mesh columns"),
    ("mesh_x_0 .. mesh_z_467", "float", "`--landmarks mesh468` only (the columns above plus these): the 468 points of "
     "MediaPipe's face mesh in its numbering, x and y in pixels, z the depth relative to the face in the same pixel "
     "scale (positive = away from the camera); the points around the eyes refined by the iris model"),
)

# Optional columns with ``aus="mesh"`` (the mesh AU estimator, :mod:`mien.tasks.aus`; it runs the mesh): the
# ``AUxx_p`` / ``AUxx_c`` columns above then come from it too, and each AU gains an intensity. OpenFace 2 spells
# the intensity ``AUxx_r`` as mien does, so ``--schema openface`` keeps these names.
AU_INTENSITY_COLUMNS: tuple[str, ...] = tuple(f"AU{au:02d}_r" for au in AUS)
AU_MESH_COLUMN_DOCS: tuple[tuple[str, str, str], ...] = (
    ("AU01_r .. AU27_r", "float", "`aus='mesh'`: intensity of each AU on OpenFace's 0-5 scale, a geometric "
     "measure (no intensity labels were available): the AU's linear score on the mesh geometry, 0 at the median "
     "neutral training face and 3 (FACS C, marked) at the median CK+ peak frame coded with the AU, clipped to "
     "0-5; in video measured against the person's own neutral (see the AU model card)"),
    ("AU01_p .. AU27_p (with aus='mesh')", "float", "probability that the AU is present from a logistic "
     "regression on pose-free mesh distances (`au_method` `mesh-geometry-logistic-v1` in the metadata); in "
     "video after the track's neutral baseline and smoothed with `--smooth` like the expressions (as are "
     "`AUxx_r`, head pose and gaze)"),
)

COLUMNS: tuple[str, ...] = tuple(name for name, _, _ in COLUMN_DOCS)
VIDEO_COLUMNS: tuple[str, ...] = tuple(name for name, _, _ in VIDEO_COLUMN_DOCS)
SUMMARY_COLUMNS: tuple[str, ...] = tuple(name for name, _, _ in SUMMARY_COLUMN_DOCS)
COLUMN_TYPES: dict[str, str] = {name: kind for name, kind, _ in
                                (*COLUMN_DOCS, *VIDEO_COLUMN_DOCS, *SUMMARY_COLUMN_DOCS)}
COLUMN_TYPES.update(dict.fromkeys(MESH_COLUMNS + MESH468_COLUMNS + AU_INTENSITY_COLUMNS, "float"))


def markdown_table(docs: tuple[tuple[str, str, str], ...] = COLUMN_DOCS) -> str:
    """A column list as a Markdown table (scripts/render_readme.py and scripts/gen_docs.py paste it into the
    README and docs/)."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in docs]
    return "\n".join(lines)

