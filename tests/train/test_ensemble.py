"""Two trained runs as one model: the weighted mean of their probabilities (needs PyTorch)."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.train


def fixed(logits):
    """A stand-in network whose logits are ``logits`` (one row per input)."""
    import torch
    from torch import nn

    class Fixed(nn.Module):
        def forward(self, x):
            return torch.tensor(logits, dtype=torch.float32)[: len(x)]

    return Fixed()


def test_mean_of_probabilities_is_the_weighted_mean_in_log_form():
    import torch

    from mien.train.ensemble import MeanOfProbabilities

    a = fixed([[0.0, np.log(3.0)]])  # probabilities 0.25, 0.75
    b = fixed([[np.log(3.0), 0.0]])  # 0.75, 0.25
    mixed = MeanOfProbabilities([a, b], [0.75, 0.25])(torch.zeros(1, 3, 4, 4))
    np.testing.assert_allclose(torch.softmax(mixed, 1).numpy(), [[0.375, 0.625]], atol=1e-6)
    np.testing.assert_allclose(mixed.exp().numpy(), [[0.375, 0.625]], atol=1e-6)  # already log-probabilities


@pytest.mark.parametrize("weights", [(0.5, 0.6), (1.2, -0.2), (1.0,)])
def test_ensemble_weights_must_be_one_per_network_and_a_distribution(weights):
    from mien.train.ensemble import MeanOfProbabilities

    with pytest.raises(ValueError, match="ensemble weights"):
        MeanOfProbabilities([fixed([[0.0]]), fixed([[0.0]])], weights)


def test_choose_weight_prefers_the_run_that_is_right_on_validation():
    from mien.train.ensemble import choose_weight

    labels = {"rafdb_valid": np.array([0, 1]), "ferplus_valid": np.array([2])}
    right = {"rafdb_valid": np.eye(8)[[0, 1]], "ferplus_valid": np.eye(8)[[2]]}
    wrong = {"rafdb_valid": np.eye(8)[[3, 3]], "ferplus_valid": np.eye(8)[[3]]}
    choice = choose_weight([wrong, right], labels)
    assert choice["tried"]["0.0"]["score"] == 1.0 and choice["tried"]["1.0"]["score"] == 0.0
    assert choice["weight"] == 0.0  # ties are broken towards the first weight in the grid reaching the best score
    assert choice["tried"]["0.4"]["score"] == 1.0 and choice["tried"]["0.6"]["score"] == 0.0


def test_heads_read_the_feature_map_an_ensemble_names():
    import onnx
    from onnx import helper

    from mien.models.heads import feature_map_tensor

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["first_map"]),
                               helper.make_node("Identity", ["first_map"], ["logits"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 8])])
    model = helper.make_model(graph)
    with pytest.raises(ValueError, match="pooled feature map"):
        feature_map_tensor(model)
    entry = model.metadata_props.add()
    entry.key, entry.value = "mien.feature_map", "first_map"
    assert feature_map_tensor(model) == "first_map"
    entry.value = "stale_name"
    with pytest.raises(ValueError, match="'stale_name', which no node computes"):
        feature_map_tensor(model)


def test_runs_carved_with_other_seeds_are_refused(tmp_path):
    from mien.train.ensemble import validation_seed

    for name, config in (("a", {"seed": 0}), ("b", {"seed": 1}), ("c", {}), ("d", {"seed": 0, "limit": 40})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    assert validation_seed([tmp_path / "a", tmp_path / "c"]) == 0  # an older run without a seed used 0
    with pytest.raises(ValueError, match="same full validation split"):
        validation_seed([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ValueError, match="same full validation split"):
        validation_seed([tmp_path / "d", tmp_path / "d"])
