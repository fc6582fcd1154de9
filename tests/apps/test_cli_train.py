"""``mien train``, ``mien export``, ``mien calibrate``: every trainer's options are in mien's own parser (so the
CLI reference lists them), the dataclass fields become flags whose unset value keeps the field's default, and
none of it imports PyTorch. Running a trainer is tested in tests/train (it needs PyTorch)."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mien.cli import build_parser
from mien.cli.train import TRAINERS, settings, training_parser
from mien.train.configs import AuConfig, MicroConfig, StudentConfig, TrainConfig

NOTORCH = Path(__file__).resolve().parents[1] / "notorch"  # its sitecustomize hides torch


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_every_trainer_and_step_is_mounted():
    train = _choices(build_parser())["train"]
    trainers = _choices(train)
    assert tuple(trainers) == TRAINERS == ("expression", "micro", "au", "va", "eyes", "facenet-expression",
                                           "fast-student", "ensemble")
    assert list(_choices(trainers["facenet-expression"])) == ["features", "train", "export"]
    assert list(_choices(trainers["fast-student"])) == ["teacher", "train", "export"]
    args = parse(["train", "ensemble", "--run", "a", "--features", "fa", "--run", "b", "--features", "fb",
                  "--out", "m.onnx"])
    assert [str(r) for r in args.run] == ["a", "b"] and [str(f) for f in args.features] == ["fa", "fb"]


@pytest.mark.parametrize("config, argv", [
    (TrainConfig, ["train", "facenet-expression", "train", "--out", "run"]),
    (StudentConfig, ["train", "fast-student", "train", "--out", "run"]),
    (MicroConfig, ["train", "micro", "--root", "megc", "--out", "run"]),
    (AuConfig, ["train", "au", "--ckplus", "ck", "--ferplus", "fer", "--out", "run"]),
])
def test_each_dataclass_field_is_a_flag_whose_default_is_the_field_default(config, argv):
    args = parse(argv)
    fields = [name for name in config.__dataclass_fields__ if name != "notes"]  # notes: written by the trainer
    assert all(getattr(args, name) is None for name in fields)
    assert settings(args, config) == config()


def test_flags_override_only_what_they_name():
    args = parse(["train", "fast-student", "train", "--out", "runs/fast_a", "--init", "", "--epochs", "4",
                  "--lr", "0.0003", "--kd-t", "2.5", "--size", "112"])
    assert settings(args, StudentConfig) == StudentConfig(init="", epochs=4, lr=0.0003, kd_t=2.5, size=112)
    args = parse(["train", "micro", "--root", "m", "--out", "o", "--class-weighted", "false", "--augment", "yes",
                  "--width", "4", "--seeds", "0", "1", "2"])
    assert settings(args, MicroConfig) == MicroConfig(class_weighted=False, augment=True, width=4)
    assert args.seeds == [0, 1, 2] and args.threads == 1  # run options, not MicroConfig fields
    args = parse(["train", "facenet-expression", "train", "--out", "r", "--limit", "24", "--logit-adjust", "1"])
    assert settings(args, TrainConfig) == TrainConfig(limit=24, logit_adjust=1.0)


def test_a_setting_out_of_its_dataclass_range_is_refused():
    with pytest.raises(ValueError, match="multiple of 16"):
        settings(parse(["train", "fast-student", "train", "--out", "r", "--size", "72"]), StudentConfig)


def test_steps_keep_the_python_m_flags():
    args = parse(["train", "fast-student", "export", "--run", "r", "--out", "m.onnx", "--meta", "a=b", "--meta", "c=d"])
    assert (args.step, str(args.run), str(args.out), args.meta) == ("export", "r", "m.onnx", ["a=b", "c=d"])
    args = parse(["train", "facenet-expression", "features"])
    assert (args.step, str(args.faces), str(args.out), args.limit) == ("features", TrainConfig.faces,
                                                                       TrainConfig.features, None)
    args = parse(["train", "fast-student", "teacher"])
    assert (str(args.faces), str(args.out)) == (StudentConfig.faces, StudentConfig.teacher)


def test_training_parser_is_the_same_as_mien_s():
    argv = ["calibrate", "m.onnx", "--root", "fer", "--background", "b.jpg"]
    assert vars(training_parser().parse_args(argv)) == vars(parse(argv))


def test_a_trainer_needs_its_name():
    with pytest.raises(SystemExit):
        parse(["train"])
    with pytest.raises(SystemExit):
        parse(["train", "fast-student"])  # and its step


def test_help_of_every_trainer_runs_without_pytorch():
    """In a fresh interpreter with torch hidden (tests/notorch, as `make test-notorch`): every help page."""
    code = """
import sys
from mien.cli import main
commands = [["train", t] for t in ("expression", "micro", "au", "va", "eyes", "facenet-expression", "fast-student")]
commands += [["train", "facenet-expression", s] for s in ("features", "train", "export")]
commands += [["train", "fast-student", s] for s in ("teacher", "train", "export")] + [["export"], ["calibrate"]]
for argv in commands:
    try:
        main([*argv, "--help"])
    except SystemExit as stop:
        assert stop.code == 0, argv
print("torch" in sys.modules)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(NOTORCH), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip().endswith("False")
    assert "usage: mien train fast-student train" in out and "--kd-weight" in out and "--ferplus-per-epoch" in out


@pytest.mark.parametrize("typo", ["ture", "flase", "off", ""])
def test_a_boolean_flag_refuses_what_is_not_true_or_false(typo, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse(["train", "micro", "--root", "m", "--out", "o", "--augment", typo])
    assert stopped.value.code == 2 and f"expected true or false, got {typo!r}" in capsys.readouterr().err
