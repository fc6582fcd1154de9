"""The colour 112-pixel trainer: MobileFaceNet rebuilt from ONNX, the face cache, the cached-trunk training
and its export, on a few real RAF-DB and FER+ faces (needs PyTorch)."""

import json

import numpy as np
import pytest

from mien.schema import EXPRESSIONS

pytestmark = pytest.mark.train


def trainer_command(trainer: str):
    """``mien train TRAINER ...`` as a function of its arguments (= ``python -m mien.train.X ...``; errors raise)."""
    from mien.cli.train import run_training_verb

    return lambda argv: run_training_verb("train", [trainer, *argv])


@pytest.fixture(scope="module")
def teacher(datasets):
    path = datasets.parent / "teachers" / "opencv_zoo_fer_mobilefacenet_2022july_fp32deq.onnx"
    assert path.is_file(), f"{path} missing"
    return path


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory, datasets):
    from mien.train.face_cache import main as build

    out = tmp_path_factory.mktemp("faces")
    build(["--data", str(datasets), "--out", str(out), "--datasets", "rafdb", "ferplus", "--limit", "24"])
    return out


def test_mobilefacenet_reproduces_the_onnx_teacher(teacher, tiny_cache):
    import onnxruntime as ort
    import torch

    from mien.train.face_cache import load_split
    from mien.train.mobilefacenet import MobileFaceNet, load_onnx_weights

    crops = load_split(tiny_cache, "rafdb", "train")["crops"][:4]
    x = (crops.transpose(0, 3, 1, 2).astype(np.float32) / 255 - 0.5) / 0.5
    session = ort.InferenceSession(str(teacher), providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(None, {"data": x[i:i + 1]})[0] for i in range(len(x))])
    net = load_onnx_weights(MobileFaceNet(7), teacher).eval()
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_mobilefacenet_refuses_another_graph(tmp_path):
    from mien.models.expression import WEIGHTS_DIR
    from mien.train.mobilefacenet import MobileFaceNet, load_onnx_weights

    with pytest.raises(ValueError, match="parameter tensors"):
        load_onnx_weights(MobileFaceNet(7), WEIGHTS_DIR / "mnv2-ferplus-small.onnx")


def test_face_cache_aligns_real_faces(tiny_cache):
    from mien.train.face_cache import load_split

    raf = load_split(tiny_cache, "rafdb", "train")
    assert raf["crops"].shape == (24, 112, 112, 3) and raf["crops"].dtype == np.uint8
    assert raf["aligned"].mean() > 0.9  # RetinaFace finds nearly every RAF-DB face in its padded crop
    np.testing.assert_allclose(raf["targets"].sum(1), 1.0)
    assert set(raf["labels"]) <= set(range(7))  # RAF-DB has no contempt
    fer = load_split(tiny_cache, "ferplus", "valid")
    gray = fer["crops"].astype(int)
    assert (gray[..., 0] == gray[..., 1]).all()  # grayscale FER+ stays gray on all three channels
    assert np.all((fer["targets"].sum(1) == 0) | np.isclose(fer["targets"].sum(1), 1.0))


def test_teacher_network_keeps_its_classes_in_mien_order(teacher):
    import torch

    from mien.train.facenet_expression import TEACHER_CLASSES, teacher_network
    from mien.train.mobilefacenet import MobileFaceNet, load_onnx_weights

    seven = load_onnx_weights(MobileFaceNet(7), teacher).eval()
    eight = teacher_network(teacher).eval()
    x = torch.rand(2, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        a, b = seven(x), eight(x)
    for index, name in enumerate(TEACHER_CLASSES):
        torch.testing.assert_close(b[:, EXPRESSIONS.index(name)], a[:, index])
    contempt = b[:, EXPRESSIONS.index("contempt")]  # a class it never saw: a constant below every teacher bias
    assert float(contempt[0]) == float(contempt[1]) < float(seven.classifier[1].bias.min())


def test_rafdb_validation_split_is_stratified_and_fixed():
    from mien.train.face_cache import rafdb_validation_split

    labels = np.array([0] * 50 + [1] * 20 + [2] * 5)
    held = rafdb_validation_split(labels, seed=0)
    assert held[labels == 0].sum() == 5 and held[labels == 1].sum() == 2 and held[labels == 2].sum() == 1
    assert (held == rafdb_validation_split(labels, seed=0)).all()


def test_train_resume_export_and_analyze(tmp_path, tiny_cache, pyfeat_media):
    from mien import Analyzer

    main = trainer_command("facenet-expression")

    features = tmp_path / "trunk"
    main(["features", "--faces", str(tiny_cache), "--out", str(features)])
    assert np.load(features / "rafdb_train.npy", mmap_mode="r").shape == (3, 24, 128, 14, 14)
    run = tmp_path / "run"
    common = ["train", "--faces", str(tiny_cache), "--features", str(features), "--out", str(run),
              "--batch-size", "16", "--ferplus-per-epoch", "10"]
    main([*common, "--epochs", "1"])
    main([*common, "--epochs", "2"])  # resumes: one more epoch, not two
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [0, 1] and all(np.isfinite(line["loss"]) for line in lines)
    with pytest.raises(ValueError, match="other settings"):
        main([*common[:-2], "--ferplus-per-epoch", "11", "--epochs", "3"])

    teacher = tmp_path / "teacher"  # distillation: each face's target mixed with a teacher's probabilities
    trainer_command("fast-student")(["teacher", "--faces", str(tiny_cache), "--out", str(teacher)])
    from mien.train.configs import TrainConfig
    from mien.train.face_cache import load_split, rafdb_validation_split
    from mien.train.facenet_expression import load_pools, smoothed

    logits = np.load(teacher / "rafdb_train.npy")
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    raf = load_split(tiny_cache, "rafdb", "train", ("labels", "targets"))
    held = rafdb_validation_split(raf["labels"])
    pool, _ = load_pools(TrainConfig(features=str(features), faces=str(tiny_cache), teacher=str(teacher), kd_weight=0.25))
    expected = 0.75 * smoothed(raf["targets"][~held], 0.1) + 0.25 * probs[~held]
    np.testing.assert_allclose(pool.targets[:(~held).sum()], expected, atol=1e-6)
    distilled = tmp_path / "distilled"
    main(["train", "--faces", str(tiny_cache), "--features", str(features), "--out", str(distilled), "--batch-size", "16",
          "--ferplus-per-epoch", "10", "--epochs", "1", "--teacher", str(teacher)])
    assert json.loads((distilled / "config.json").read_text())["teacher"] == str(teacher)

    onnx_path = tmp_path / "tiny.onnx"
    main(["export", "--run", str(run), "--out", str(onnx_path), "--meta", "mien.note=smoke"])
    analyzer = Analyzer(expression=str(onnx_path), threads=2)
    assert analyzer.expression.colour == "rgb" and analyzer.expression.crop.size == 112
    result = analyzer.analyze(str(pyfeat_media / "single_face.jpg"))
    assert len(result) == 1
    np.testing.assert_allclose(result.expression_probs.sum(), 1.0, atol=1e-5)


def test_sface_backbone_caches_trains_exports_and_analyzes(tmp_path, tiny_cache, pyfeat_media):
    import onnx

    from mien import Analyzer
    from mien.models.heads import feature_map_tensor

    main = trainer_command("facenet-expression")
    features = tmp_path / "sface"
    main(["features", "--backbone", "sface", "--faces", str(tiny_cache), "--out", str(features)])
    assert np.load(features / "rafdb_train.npy", mmap_mode="r").shape == (2, 24, 512, 14, 14)
    assert not (features / "affectnet4_all.npy").exists()
    with pytest.raises(ValueError, match="sface backbone, not mobilefacenet-rafdb"):
        main(["features", "--faces", str(tiny_cache), "--out", str(features)])
    run = tmp_path / "run"
    common = ["train", "--faces", str(tiny_cache), "--features", str(features), "--out", str(run),
              "--batch-size", "16", "--ferplus-per-epoch", "10", "--epochs", "1"]
    with pytest.raises(ValueError, match="sface backbone, not mobilefacenet-rafdb"):
        main(common)
    main([*common, "--backbone", "sface"])
    onnx_path = tmp_path / "sface.onnx"
    main(["export", "--run", str(run), "--out", str(onnx_path)])
    result = Analyzer(expression=str(onnx_path), threads=2).analyze(str(pyfeat_media / "single_face.jpg"))
    assert len(result) == 1
    np.testing.assert_allclose(result.expression_probs.sum(), 1.0, atol=1e-5)

    # the SFace run mixed with a MobileFaceNet run: one file whose heads read the first run's features
    mfn_features, mfn_run = tmp_path / "trunk", tmp_path / "mfn"
    main(["features", "--faces", str(tiny_cache), "--out", str(mfn_features)])
    main(["train", "--faces", str(tiny_cache), "--features", str(mfn_features), "--out", str(mfn_run),
          "--batch-size", "16", "--ferplus-per-epoch", "10", "--epochs", "1"])
    mixed, report = tmp_path / "mixed.onnx", tmp_path / "ens" / "weights.json"
    trainer_command("ensemble")(["--run", str(mfn_run), "--features", str(mfn_features), "--run", str(run),
                                 "--features", str(features), "--faces", str(tiny_cache), "--out", str(mixed),
                                 "--report", str(report)])
    choice = json.loads(report.read_text())
    assert choice["weight"] in [float(w) for w in choice["tried"]] and choice["runs"] == [str(mfn_run), str(run)]
    assert feature_map_tensor(onnx.load(str(mixed))).startswith("/net/nets.0/")  # the MobileFaceNet's map
    result = Analyzer(expression=str(mixed), threads=2).analyze(str(pyfeat_media / "single_face.jpg"))
    assert len(result) == 1
    np.testing.assert_allclose(result.expression_probs.sum(), 1.0, atol=1e-5)


@pytest.mark.parametrize("backbone", ["mobilefacenet-rafdb", "sface"])
def test_trunk_then_top_is_the_whole_network(backbone):
    import torch

    from mien.train.facenet_expression import BACKBONES, Top, Trunk

    spec = BACKBONES[backbone]
    net = spec.pretrained().eval()
    x = torch.rand(2, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        features = Trunk(net, spec.cut)(x)
        assert features.shape == (2, spec.channels, 14, 14)
        torch.testing.assert_close(Top(net, spec.cut).eval()(features), net(x))


def test_prelu_in_convolution_form_is_the_same_function():
    import torch
    from torch import nn

    from mien.train.mobilefacenet import ConvPReLU, with_conv_prelu

    prelu = nn.PReLU(5)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor([0.25, -0.5, 0.0, 1.0, 2.0]))
    x = torch.randn(3, 5, 4, 4)
    torch.testing.assert_close(ConvPReLU(prelu)(x), prelu(x))
    swapped = with_conv_prelu(nn.Sequential(nn.Conv2d(5, 5, 1), nn.PReLU(5)))
    assert isinstance(swapped[1], ConvPReLU) and not any(isinstance(m, nn.PReLU) for m in swapped.modules())


def test_fast_student_distils_resumes_exports_and_analyzes(tmp_path, tiny_cache, pyfeat_media):
    """The 64-px fast variant's trainer on a few real faces: teacher targets, one epoch, resume, export."""
    from mien import Analyzer
    from mien.models.expression import WEIGHTS_DIR
    from mien.train.fast_student import teacher_name

    main = trainer_command("fast-student")

    teacher = tmp_path / "teacher"
    main(["teacher", "--faces", str(tiny_cache), "--out", str(teacher)])
    assert np.load(teacher / "rafdb_train.npy").shape == (24, len(EXPRESSIONS))
    accurate = tmp_path / "accurate_teacher"  # another teacher file: the accurate variant (an ensemble)
    main(["teacher", "--faces", str(tiny_cache), "--out", str(accurate), "--model",
          str(WEIGHTS_DIR / "mfn-sface-raf-ferplus.onnx")])
    mixed = np.load(accurate / "rafdb_train.npy")
    np.testing.assert_allclose(np.exp(mixed).sum(1), 1.0, atol=1e-4)  # its logits are log mean probabilities
    assert not np.allclose(mixed, np.load(teacher / "rafdb_train.npy"))
    assert (teacher_name(teacher), teacher_name(accurate)) == ("mfn-raf-ferplus", "mfn-sface-raf-ferplus")
    with pytest.raises(ValueError, match="holds the logits of teacher 'mfn-raf-ferplus'"):  # never two teachers in one
        main(["teacher", "--faces", str(tiny_cache), "--out", str(teacher), "--model",
              str(WEIGHTS_DIR / "mfn-sface-raf-ferplus.onnx")])
    run = tmp_path / "run"
    common = ["train", "--faces", str(tiny_cache), "--teacher", str(teacher), "--out", str(run), "--init", "",
              "--batch-size", "8", "--ferplus-per-epoch", "8", "--affectnet-per-epoch", "0"]
    main([*common, "--epochs", "1"])
    main([*common, "--epochs", "2"])  # resumes: one more epoch
    with pytest.raises(ValueError, match=r"kd_weight 0\.7 -> 0\.2"):  # resuming with another recipe is refused
        main([*common, "--epochs", "3", "--kd-weight", "0.2"])
    assert json.loads((run / "config.json").read_text())["kd_weight"] == 0.7  # and the run's record is kept
    with pytest.raises(FileNotFoundError, match="--init .*missing.pt not found"):
        main([*common[:-7], str(tmp_path / "missing.pt"), *common[-6:], "--out", str(tmp_path / "other")])
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [0, 1] and all(np.isfinite(line["loss"]) for line in lines)
    assert "posthoc" in json.loads((run / "best.json").read_text())

    onnx_path = tmp_path / "fast.onnx"
    main(["export", "--run", str(run), "--out", str(onnx_path)])
    analyzer = Analyzer(expression=str(onnx_path), threads=2)
    assert analyzer.expression.crop.size == 64
    result = analyzer.analyze(str(pyfeat_media / "single_face.jpg"))
    assert len(result) == 1
    np.testing.assert_allclose(result.expression_probs.sum(), 1.0, atol=1e-5)


def test_fast_student_global_conv_keeps_a_constant_map_output():
    """The 7x7 global depthwise kernel resampled to the 64-px network's 4x4 map gives the same output on a
    constant map (the sum of the kernel is what a constant sees)."""
    import torch

    from mien.train.fast_student import MAP, student_network
    from mien.train.facenet_expression import teacher_network

    big, small = teacher_network(), student_network(None)
    with torch.no_grad():
        constant = torch.full((1, 512, 7, 7), 0.3)
        expected = big.gdc(constant)
        got = small.gdc(torch.full((1, 512, MAP, MAP), 0.3))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_student_at_112_px_is_the_default_network_fine_tuned_whole():
    """size=112 keeps the 7x7 global depthwise kernel (the whole default network is fine-tuned); sizes that
    are not a multiple of 16 in [32, 112] are refused."""
    import torch

    from mien.train.fast_student import StudentConfig, student_network
    from mien.train.facenet_expression import teacher_network

    big, same = teacher_network(), student_network(None, 112)
    assert same.gdc.weight.shape == big.gdc.weight.shape == (512, 1, 7, 7)
    torch.testing.assert_close(same.gdc.weight, big.gdc.weight)
    for size in (100, 16, 128):
        with pytest.raises(ValueError, match="multiple of 16"):
            StudentConfig(size=size)


@pytest.mark.parametrize("module, command, flags", [
    ("facenet_expression", "facenet-expression train", ["--ferplus-per-epoch", "--logit-adjust", "--limit"]),
    ("fast_student", "fast-student train", ["--kd-weight", "--augment-share", "--size"]),
    ("ensemble", "ensemble", ["--run", "--features", "--report"]),
])
def test_python_m_help_is_the_mien_train_command_line(module, command, flags):
    """``python -m mien.train.X ...`` parses as ``mien train X ...`` (the commands of the model cards)."""
    import subprocess
    import sys

    step = command.split()[1:]
    out = subprocess.run([sys.executable, "-m", f"mien.train.{module}", *step, "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith(f"usage: mien train {command}") and all(flag in out for flag in flags)


def test_an_unknown_backbone_names_the_choices(tmp_path, tiny_cache):
    main = trainer_command("facenet-expression")
    with pytest.raises(ValueError, match="unknown backbone 'resnet'.*mobilefacenet-rafdb, sface"):
        main(["features", "--backbone", "resnet", "--faces", str(tiny_cache), "--out", str(tmp_path / "f")])
