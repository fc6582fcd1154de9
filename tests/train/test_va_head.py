"""Training, attaching and evaluating a valence/arousal head on an exact AffectNet replica of real faces."""

from __future__ import annotations

import json

import cv2
import numpy as np

HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
# posed photos with the valence/arousal an annotator would give them (AffectNet expression codes)
PHOTOS = {"0-f15-hao-ph.jpg": (1, 0.8, 0.4), "0-f1-su-ph.jpg": (3, 0.2, 0.8), "15-f13-anc-ph.jpg": (6, -0.6, 0.6),
          "45-m7-di-ph.jpg": (5, -0.5, 0.3), "single_face.jpg": (1, 0.7, 0.3)}


def make_affectnet(root, pyfeat_media):
    from mien.io.images import read_image

    images = root / "Manually_Annotated" / "Manually_Annotated_Images" / "1"
    images.mkdir(parents=True)
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir()
    train, valid = [HEADER], [HEADER]
    for k, (name, (expression, valence, arousal)) in enumerate(PHOTOS.items()):
        image = read_image(pyfeat_media / name)
        variants = {"a": image, "b": image[:, ::-1], "c": cv2.resize(image, None, fx=0.6, fy=0.6)}
        for tag, variant in variants.items():
            file = f"{k}{tag}.jpg"
            cv2.imwrite(str(images / file), cv2.cvtColor(np.ascontiguousarray(variant), cv2.COLOR_RGB2BGR))
            row = f"1/{file},0,0,{variant.shape[1]},{variant.shape[0]},,{expression},{valence},{arousal}\n"
            (valid if tag == "c" else train).append(row)
    train.append("1/missing.jpg,0,0,10,10,,9,-2,-2\n")  # "uncertain": no valence/arousal, left out
    (lists / "training.csv").write_text("".join(train))
    (lists / "validation.csv").write_text("".join(valid))


def test_train_attach_and_evaluate_a_va_head(tmp_path, pyfeat_media):
    from mien import Analyzer
    from mien.cli import main

    root = tmp_path / "AffectNet"
    make_affectnet(root, pyfeat_media)
    model = tmp_path / "with-va.onnx"
    assert main(["train", "va", "--dataset", "affectnet", "--root", str(root), "--out", str(tmp_path / "run"),
                 "--export", str(model), "--alpha", "10"]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["train"] == 10 and report["valence"]["n"] == 5
    assert report["valence"]["ccc"] > 0.5  # the same people at another size: the head must have learned

    analyzer = Analyzer(expression=model, threads=2)
    assert analyzer.metadata["valence_arousal_method"] == "trained-head-affectnet"
    happy, anger = analyzer.analyze([pyfeat_media / "0-f15-hao-ph.jpg", pyfeat_media / "15-f13-anc-ph.jpg"]).to_pandas()[
        ["valence", "arousal"]].to_numpy()
    assert happy[0] > 0.3 and anger[0] < 0 and np.all(np.abs([happy, anger]) <= 1)
    assert analyzer.analyze(pyfeat_media / "0-f15-hao-ph.jpg").au_probs[0, 0] >= 0  # the AU head is still there

    output = tmp_path / "va.json"
    assert main(["evaluate", "va", "--dataset", "affectnet", "--root", str(root), "--expression", str(model),
                 "--output", str(output)]) == 0
    evaluated = json.loads(output.read_text())
    assert evaluated["images"] == 5 and evaluated["method"] == "trained-head-affectnet"
    assert abs(evaluated["valence"]["ccc"] - report["valence"]["ccc"]) < 0.05  # the same faces, through the pipeline
    # the shipped model's projection is evaluated the same way, and says so
    assert main(["evaluate", "va", "--dataset", "affectnet", "--root", str(root), "--output", str(output)]) == 0
    assert json.loads(output.read_text())["method"] == "circumplex-projection-v1"
