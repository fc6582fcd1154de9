"""The heads beside expressions in the shipped model (AUs, eye openness, VA and pose columns) and the AU head graph
surgery (mien.models.heads)."""

from __future__ import annotations

import numpy as np

from mien.schema import AUS as AUS_


def test_result_columns_carry_pose_valence_and_aus(analyzer, pyfeat_media):
    from mien.schema import AU_PRESENCE_COLUMNS, AU_PROBABILITY_COLUMNS, COLUMNS

    table = analyzer.analyze(pyfeat_media / "0-f15-hao-ph.jpg").to_pandas()
    assert list(table.columns[:len(COLUMNS)]) == list(COLUMNS)
    row = table.iloc[0]
    assert row["expression"] == "happy" and row["valence"] > 0.5
    assert -1 <= row["arousal"] <= 1
    assert abs(row["pose_yaw"]) < 20 and abs(row["pose_roll"]) < 15
    for column in AU_PROBABILITY_COLUMNS:
        assert 0 <= row[column] <= 1
    assert set(table[list(AU_PRESENCE_COLUMNS)].iloc[0]) <= {0, 1}


def test_au_head_graph_surgery_keeps_expressions_and_computes_the_head():
    """Attaching (and re-attaching) an AU head to the shipped file: expression logits bit-identical,
    au_logits exactly the standardised linear map of the exposed features."""
    import onnx

    from mien.models.expression import WEIGHTS_DIR
    from mien.models.heads import expression_only, session_from_model, with_au_head, with_features_output
    from mien.schema import AUS

    shipped = onnx.load(str(WEIGHTS_DIR / "mnv2-ferplus.onnx"))
    faces = (np.random.default_rng(0).random((3, 1, 64, 64)) * 255).astype(np.float32)
    logits, features = session_from_model(with_features_output(shipped), 1).run(["logits", "au_features"],
                                                                                {"face": faces})
    rng = np.random.default_rng(1)
    weight = rng.normal(0, 0.01, (len(AUS), features.shape[1])).astype(np.float32)
    bias, mean, std = rng.normal(size=len(AUS)), features.mean(0), features.std(0) + 1
    model = with_au_head(shipped, weight, bias, mean, std, list(AUS), [0.4] * len(AUS), {"mien.note": "test"})
    new_logits, au_logits = session_from_model(model, 1).run(["logits", "au_logits"], {"face": faces})
    assert np.array_equal(new_logits, logits)
    assert np.allclose(au_logits, ((features - mean) / std) @ weight.T + bias, atol=1e-4)
    metadata = {p.key: p.value for p in model.metadata_props}
    assert metadata["mien.au_thresholds"] == "[0.4" + ", 0.4" * (len(AUS) - 1) + "]"
    again = with_au_head(model, weight, bias, mean, std, list(AUS), [0.5] * len(AUS), {})
    assert [o.name for o in again.graph.output] == ["logits", "eyes", "au_logits"]  # other heads are kept
    assert len(again.graph.node) == len(model.graph.node)
    assert [o.name for o in expression_only(model).graph.output] == ["logits"]


def test_aus_on_real_posed_faces(analyzer, pyfeat_media):
    """Meaning-based checks: a broad smile shows AU6 + AU12 and positive valence; the surprise photo shows
    AU1, AU2 and AU26 (and AU5, AU25) above threshold; the anger photo lowers its brows (AU4)."""
    table = analyzer.analyze([pyfeat_media / n for n in ("0-f15-hao-ph.jpg", "0-f1-su-ph.jpg", "15-f13-anc-ph.jpg")])
    happy, surprise, anger = (table[table.frame_index == k] for k in range(3))
    presence = {name: dict(zip([f"AU{au:02d}" for au in AUS_], part.au_presence[0]))
                for name, part in (("happy", happy), ("surprise", surprise), ("anger", anger))}
    assert presence["happy"]["AU06"] == 1 and presence["happy"]["AU12"] == 1 and happy.valence[0] > 0.5
    assert presence["happy"]["AU01"] == 0 and presence["happy"]["AU04"] == 0
    for au in ("AU01", "AU02", "AU05", "AU25", "AU26"):
        assert presence["surprise"][au] == 1, au
    assert presence["surprise"]["AU12"] == 0
    assert presence["anger"]["AU04"] == 1 and presence["anger"]["AU12"] == 0
    assert happy.metadata["au_thresholds"] == [0.5] * len(AUS_)


def test_eye_openness_without_dlib(analyzer, pyfeat_media):
    """The shipped head (distilled from dlib's EAR) opens the wide-eyed surprise face's eyes more than the
    smiling face's, in the EAR range, and names its method."""
    result = analyzer.analyze([pyfeat_media / "0-f1-su-ph.jpg", pyfeat_media / "0-f15-hao-ph.jpg"])
    surprise, smile = result.eye_openness
    assert (surprise > smile + 0.08).all() and ((result.eye_openness > 0.1) & (result.eye_openness < 0.5)).all()
    assert result.metadata["eye_openness_method"] == "distilled-dlib-ear-v1"
