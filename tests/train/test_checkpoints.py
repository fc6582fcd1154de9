"""Checkpoints that would run code are refused by every loader; plain checkpoints still load (needs PyTorch)."""

from __future__ import annotations

from pathlib import Path

import pytest


# --------------------------------------------------------------------------- checkpoints never run code
class RunsCode:
    """Pickles to a call of ``exec``: loading it with plain ``pickle`` writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


@pytest.fixture()
def evil_checkpoint(tmp_path) -> tuple[Path, Path]:
    import torch
    marker, path = tmp_path / "code_ran", tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "config": RunsCode(marker), "state": {"epoch": 99}}, path)
    return path, marker


@pytest.mark.train
def test_a_checkpoint_that_would_run_code_is_refused_by_export(evil_checkpoint, tmp_path, capsys):
    from mien.cli import main
    from mien.train.checkpoint import CheckpointError, load_checkpoint

    path, marker = evil_checkpoint
    assert main(["export", str(path), "--out", str(tmp_path / "out.onnx")]) == 2
    error = capsys.readouterr().err
    assert str(path) in error and "refused" in error and "weights_only=True" in error
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists() and not (tmp_path / "out.onnx").exists()


@pytest.mark.train
def test_init_resume_and_cross_validation_refuse_a_checkpoint_that_would_run_code(evil_checkpoint, tmp_path,
                                                                                 datasets):
    from mien.train.checkpoint import CheckpointError
    from mien.train.crossval import cross_validate
    from mien.cli.train import expression_config
    from mien.cli.train import train_expression as train_main

    path, marker = evil_checkpoint
    common = ["--root", str(datasets / "ferplus"), "--limit", "16", "--batch-size", "16", "--size", "48",
              "--epochs", "1", "--threads", "1", "--backbone", "mobilenetv2_small"]
    with pytest.raises(CheckpointError, match="refused"):
        train_main([*common, "--out", str(tmp_path / "init"), "--init", str(path)])
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "last.pt").write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="refused"):
        train_main([*common, "--out", str(resumed), "--resume"])
    folds = tmp_path / "cv"
    (folds / "fold0").mkdir(parents=True)
    (folds / "fold0" / "last.pt").write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="refused"):
        cross_validate(expression_config([*common, "--out", str(folds), "--cv", "2"]))
    assert not marker.exists()


@pytest.mark.train
def test_checkpoints_of_tensors_and_plain_values_still_load(tmp_path):
    import torch
    from mien.train.checkpoint import load_checkpoint

    saved = {"model": {"w": torch.arange(3.0)}, "torch_rng": torch.get_rng_state(),
             "config": {"size": 48, "template": [[0.1, 0.2]], "init": None, "selected_on_validation": False}}
    torch.save(saved, tmp_path / "plain.pt")
    loaded = load_checkpoint(tmp_path / "plain.pt")
    assert loaded["config"] == saved["config"] and torch.equal(loaded["model"]["w"], saved["model"]["w"])
