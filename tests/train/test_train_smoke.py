"""A tiny real training run on FER+ images, exported to ONNX and used by the pipeline (needs PyTorch)."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.train


def test_train_export_and_analyze(tmp_path, datasets, pyfeat_media):
    from mien import Analyzer
    from mien.train.export import export_onnx
    from mien.cli.train import train_expression as train_main

    from mien.cli import main as cli

    run = tmp_path / "run"
    assert cli(["train", "expression", "--root", str(datasets / "ferplus"), "--out", str(run), "--epochs", "2",
                "--limit", "64", "--batch-size", "32", "--size", "48", "--threads", "2", "--raw-share", "0.5"]) == 0
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2] and all(np.isfinite(l["train_loss"]) for l in lines)
    assert (run / "best.pt").exists() and (run / "last.pt").exists()

    same = ["--root", str(datasets / "ferplus"), "--out", str(run), "--limit", "64", "--batch-size", "32",
            "--size", "48", "--threads", "2", "--raw-share", "0.5", "--resume"]
    with pytest.raises(ValueError, match="changed settings"):
        train_main([*same[:-3], "--resume", "--epochs", "3"])  # --raw-share differs: refused
    train_main([*same, "--epochs", "3"])
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3  # resumed, not restarted

    onnx_path = export_onnx(run / "best.pt", tmp_path / "tiny.onnx", {"note": "smoke test"})
    result = Analyzer(expression=str(onnx_path), threads=2).analyze(str(pyfeat_media / "single_face.jpg"))
    assert len(result) == 1
    np.testing.assert_allclose(result.expression_probs.sum(), 1.0, atol=1e-5)


def test_calibration_writes_temperature_and_threshold_into_the_model(tmp_path, datasets):
    import shutil

    from mien.models.expression import ExpressionModel, WEIGHTS_DIR
    from mien.train.calibrate import calibrate, write_metadata

    model = tmp_path / "model.onnx"
    shutil.copy(WEIGHTS_DIR / "mnv2-ferplus.onnx", model)
    facts = calibrate(model, datasets / "ferplus", datasets / "media" / "pyfeat" / "free-mountain-vector-01.jpg",
                      limit=80)
    assert 0.1 < facts["temperature"] < 10 and 0 < facts["uncertain_below"] < 1
    write_metadata(model, {"mien.temperature": "2.0", "mien.uncertain_below": "0.5"})
    loaded = ExpressionModel(model, threads=1)
    assert loaded.temperature == 2.0 and loaded.uncertain_below == 0.5


@pytest.mark.parametrize("backbone,options", [("mobilenetv2", ["--mixup", "0.4", "--eac", "1.0"]),
                                              ("efficientnet_lite0", []),
                                              ("mobilenetv2_small", ["--scn", "--scn-relabel-from", "1"]),
                                              ("mobilenetv2_small", ["--dataset", "fer2013", "--no-augment",
                                                                     "--hard-labels"])])
def test_training_methods_and_backbones_run(tmp_path, datasets, backbone, options):
    from mien.cli.train import train_expression as train_main

    run = tmp_path / "run"
    train_main(["--root", str(datasets / "ferplus"), "--out", str(run), "--epochs", "1", "--limit", "32",
                "--batch-size", "16", "--size", "48", "--threads", "2", "--backbone", backbone, *options])
    (line,) = (run / "metrics.jsonl").read_text().splitlines()
    assert np.isfinite(json.loads(line)["train_loss"])


def test_scn_cannot_be_mixed_with_mixup(tmp_path, datasets):
    from mien.cli.train import train_expression as train_main

    with pytest.raises(ValueError, match="mixup"):
        train_main(["--root", str(datasets / "ferplus"), "--out", str(tmp_path), "--epochs", "1", "--limit", "8",
                    "--scn", "--mixup", "0.2"])


def test_fer2013_protocol_uses_the_original_labels(datasets):
    from mien.align.similarity import CropSpec
    from mien.datasets import ferplus
    from mien.schema import EXPRESSIONS
    from mien.train.expression_data import load_training_data

    data = load_training_data("fer2013", datasets / "ferplus", CropSpec(48), limit=50)
    original = ferplus.read_fer2013_labels(datasets / "ferplus")
    assert [EXPRESSIONS[i] for i in data.targets.argmax(1)] == [original[n] for n in data.train_names]
    assert EXPRESSIONS.index("contempt") not in data.scored_classes and len(data.scored_classes) == 7
    assert data.select and data.targets.sum(1).tolist() == [1.0] * 50


def test_ckplus_cross_validation_from_a_checkpoint_and_distillation(tmp_path, datasets):
    """Two folds of the CK+ protocol fine-tuned from a FER+ checkpoint with a teacher; the held-out fold is
    never selected on (best.pt is the last epoch) and the pooled report covers every held-out image."""
    from mien.models.expression import WEIGHTS_DIR
    from mien.cli.train import train_expression as train_main

    init = tmp_path / "init"
    train_main(["--root", str(datasets / "ferplus"), "--out", str(init), "--epochs", "1", "--limit", "16",
                "--batch-size", "16", "--size", "48", "--backbone", "mobilenetv2_small",
                "--teacher", str(WEIGHTS_DIR / "mnv2-ferplus.onnx"), "--distill", "0.5"])
    run = tmp_path / "cv"
    train_main(["--dataset", "ckplus", "--root", str(datasets / "ckplus"), "--out", str(run), "--init",
                str(init / "best.pt"), "--cv", "2", "--epochs", "2", "--limit", "12", "--batch-size", "8",
                "--size", "48", "--backbone", "mobilenetv2_small"])
    report = json.loads((run / "cv_report.json").read_text())
    assert report["n"] == 24 and len(report["fold_accuracy"]) == 2 and "neutral" not in report["per_class"]
    import torch

    best = torch.load(run / "fold0" / "best.pt", weights_only=False)
    assert best["epoch"] == 2 and best["config"]["selected_on_validation"] is False
    assert np.allclose(best["config"]["template"], torch.load(init / "best.pt", weights_only=False)["config"]["template"])


def test_self_cure_rank_regularisation_and_relabelling_by_hand():
    import torch

    from mien.train.noisy import SelfCure

    cure = SelfCure(4, margin=0.15, high_share=0.5, relabel_margin=0.2)
    # high group {0.9, 0.8} mean 0.85, low group {0.3, 0.2} mean 0.25: gap 0.6 > margin -> no loss
    loss, low = cure.rank_regularisation(torch.tensor([0.3, 0.9, 0.2, 0.8]))
    assert float(loss) == 0 and low.tolist() == [True, False, True, False]
    # gap 0.05 -> hinge 0.15 - 0.05 = 0.10
    loss, _ = cure.rank_regularisation(torch.tensor([0.50, 0.55, 0.50, 0.55]))
    assert abs(float(loss) - 0.10) < 1e-6
    targets = torch.eye(3)[[0, 0, 1]]
    logits = torch.log(torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.45, 0.1, 0.45]]))
    updated = cure.relabel(logits, targets, torch.tensor([True, False, True]))
    # face 0: low group, 0.8 - 0.1 > 0.2 -> class 1; face 1 is in the high group; face 2: 0.45 - 0.1 > 0.2
    # but its best class (0, first of the tie) -> relabelled to 0
    assert updated.argmax(1).tolist() == [1, 0, 0]


def test_attention_consistency_is_zero_for_a_mirror_symmetric_model():
    import torch

    from mien.train.expression import attention_consistency
    from mien.train.nets import ExpressionNet
    from mien.train.nets import build_network

    torch.manual_seed(0)
    model = ExpressionNet(build_network("mobilenetv2", 8, pretrained=False)).eval()
    symmetric = torch.rand(2, 1, 32, 16) * 255
    symmetric = torch.cat([symmetric, torch.flip(symmetric, dims=[3])], dim=3)  # mirror-symmetric images
    _, loss = attention_consistency(model, symmetric)
    assert float(loss) < 1e-6
    _, loss = attention_consistency(model, torch.rand(2, 1, 32, 32) * 255)
    assert float(loss) > 0


def test_micro_loso_smoke_and_export(tmp_path, datasets):
    """Two held-out subjects, two epochs: the LOSO loop, its scores, and the ONNX export with metadata."""
    from mien.micro.recognize import MicroModel
    from mien.train.micro import MicroConfig, loso, train_final

    config = MicroConfig(epochs=2, width=4)
    run = loso(datasets / "megc2019", config, seed=0, log=lambda _: None, subjects_limit=2)
    scores = run["scores"]["composite"]
    assert 0 <= scores["uf1"] <= 1 and scores["n"] == len(run["predictions"]) > 0
    path = train_final(datasets / "megc2019", tmp_path, config)
    model = MicroModel(path, threads=1)
    assert model.metadata["mien.task"] == "micro" and model.flow_method == "farneback"
    flows = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 3), dtype=np.uint8)
    assert np.allclose(model.predict(flows).sum(1), 1, atol=1e-5)


def test_au_head_training_smoke(tmp_path):
    """The AU head trains on features and beats chance on a separable synthetic problem."""
    from mien.schema import AUS
    from mien.eval.au import au_scores
    from mien.train.au import AuConfig, head_probabilities, train_head

    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 20)).astype(np.float32)
    labels = (features[:, :len(AUS)] > 0.5).astype(np.float32)  # AU k present when feature k is high
    head, mean, std = train_head(features, labels, AuConfig(epochs=200))
    probabilities = head_probabilities(head, features, mean, std)
    assert au_scores(labels, probabilities)["mean_f1"] > 0.8


def test_au_dataset_protocol_on_a_disfa_replica_of_real_faces(tmp_path, pyfeat_media):
    """`mien train au --dataset disfa`'s 3-fold protocol on an exact DISFA layout: three subjects (one per fold)
    whose videos hold real smiling (AU6 + AU12) and surprised (AU1 + AU2 + AU26) faces; DISFA codes 12 of
    mien's 17 AUs, the others stay uncoded (NaN) and carry no loss."""
    import cv2

    from mien.datasets.au_layouts import DISFA_AUS
    from mien.io.images import read_image
    from mien.models.expression import WEIGHTS_DIR
    from mien.schema import AUS
    from mien.train.au import AuConfig, dataset_cross_validation

    happy, surprise = (read_image(pyfeat_media / n) for n in ("0-f15-hao-ph.jpg", "0-f1-su-ph.jpg"))
    frames = [happy, happy[:, ::-1], surprise, surprise[:, ::-1]]
    codes = {6: (3, 3, 0, 0), 12: (4, 4, 0, 0), 1: (0, 0, 3, 3), 2: (0, 0, 3, 3), 26: (0, 0, 3, 3)}
    (tmp_path / "Videos_LeftCamera").mkdir()
    for subject in ("SN003", "SN013", "SN002"):
        labels = tmp_path / "ActionUnit_Labels" / subject
        labels.mkdir(parents=True)
        for au in DISFA_AUS:
            values = codes.get(au, (0, 0, 0, 0))
            (labels / f"{subject}_au{au}.txt").write_text("".join(f"{k + 1},{v}\n" for k, v in enumerate(values)))
        writer = cv2.VideoWriter(str(tmp_path / "Videos_LeftCamera" / f"LeftVideo{subject}_comp.avi"),
                                 cv2.VideoWriter_fourcc(*"MJPG"), 20, (512, 512))
        for frame in frames:
            writer.write(cv2.cvtColor(cv2.resize(np.ascontiguousarray(frame), (512, 512)), cv2.COLOR_RGB2BGR))
        writer.release()

    scores, features, labels = dataset_cross_validation("disfa", tmp_path, WEIGHTS_DIR / "mnv2-ferplus.onnx",
                                                        AuConfig(epochs=100), frame_step=1, threads=2)
    assert scores["frames"] == 12 and list(scores["per_au"]) == [f"AU{au:02d}" for au in DISFA_AUS]
    assert np.isnan(labels[:, AUS.index(7)]).all() and not np.isnan(labels[:, AUS.index(12)]).any()
    assert scores["per_au"]["AU12"]["f1"] == 1.0 and scores["per_au"]["AU01"]["f1"] == 1.0
