"""Dataset readers: the real data we have, and exact small replicas of the official layouts we don't."""

import numpy as np
import pytest
from PIL import Image

from mien.datasets.layouts import canonical_index, ckplus_folds, read_dataset
from mien.io.samples import read_sample
from mien.schema import EXPRESSIONS


def save_gray(path, value=128, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)


def test_ferplus_real(datasets):
    samples = read_dataset("ferplus", datasets / "ferplus", "test")
    assert len(samples) == 3573
    first = samples[0]
    assert first.votes.sum() <= 10 and read_sample(first).shape == (48, 48, 3)
    assert sum(s.label == -1 for s in samples) == 3573 - 3522  # majority unknown / not a face


def test_ckplus_real_with_subjects_and_folds(datasets):
    samples = read_dataset("ckplus", datasets / "ckplus")
    assert len(samples) == 981
    counts = {name: sum(s.label == EXPRESSIONS.index(name) for s in samples) for name in EXPRESSIONS}
    assert counts == {"neutral": 0, "happy": 207, "sad": 84, "surprise": 249, "fear": 75, "disgust": 177,
                      "anger": 135, "contempt": 54}
    assert len({s.subject for s in samples}) == 118
    folds = ckplus_folds(datasets / "ckplus")
    assert len(folds) == 327 and set(folds.values()) == set(range(10))
    sequences = {"_".join(s.source.split("/")[-1].split("_")[:2]) for s in samples}
    assert sequences <= set(folds)


def test_fer2013_csv_replica(tmp_path):
    pixels = " ".join(["7"] * 48 * 48)
    (tmp_path / "fer2013.csv").write_text(
        "emotion,pixels,Usage\n"
        f"0,{pixels},Training\n3,{pixels},PublicTest\n6,{pixels},PrivateTest\n5,{pixels},PrivateTest\n")
    test = read_dataset("fer2013-csv", tmp_path, "test")
    assert [EXPRESSIONS[s.label] for s in test] == ["neutral", "surprise"]
    assert read_sample(test[0]).shape == (48, 48, 3) and read_sample(test[0])[0, 0, 0] == 7
    assert [EXPRESSIONS[s.label] for s in read_dataset("fer2013-csv", tmp_path / "fer2013.csv", "train")] == ["anger"]


def test_fer2013_image_folders_replica(tmp_path):
    # the common Kaggle export: train/<class>/ and test/<class>/ with the original class names
    for split in ("train", "test"):
        for name in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"):
            save_gray(tmp_path / split / name / f"{split}_{name}_0.png")
    test = read_dataset("fer2013-folders", tmp_path, "test")
    assert len(test) == 7 and {EXPRESSIONS[s.label] for s in test} == set(EXPRESSIONS) - {"contempt"}


def test_rafdb_replica(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 5\ntrain_00002.jpg 1\ntest_0001.jpg 4\ntest_0002.jpg 7\n")
    for stem in ("train_00001", "train_00002", "test_0001", "test_0002"):
        save_gray(tmp_path / "Image" / "aligned" / f"{stem}_aligned.jpg")
    test = read_dataset("rafdb", tmp_path, "test")
    assert [EXPRESSIONS[s.label] for s in test] == ["happy", "neutral"]  # RAF labels 4=happiness, 7=neutral
    assert [EXPRESSIONS[s.label] for s in read_dataset("rafdb", tmp_path, "train")] == ["sad", "surprise"]
    assert read_sample(test[0]).shape == (8, 8, 3)


def test_affectnet_replica(tmp_path):
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    (tmp_path / "validation.csv").write_text(
        header + "1/a.jpg,0,0,8,8,\"1;2\",1,0.75,0.25\n2/b.jpg,0,0,8,8,\"1;2\",7,-0.5,0.6\n3/c.jpg,0,0,8,8,\"\",9,-2,-2\n")
    for name in ("1/a.jpg", "2/b.jpg", "3/c.jpg"):
        save_gray(tmp_path / "Manually_Annotated_Images" / name)
    samples = read_dataset("affectnet", tmp_path, "valid")
    assert [s.label for s in samples] == [EXPRESSIONS.index("happy"), EXPRESSIONS.index("contempt"), -1]
    assert samples[0].valence == 0.75 and samples[1].arousal == 0.6 and samples[2].valence is None


def test_imagefolder_synonyms_and_unknown_classes(tmp_path):
    save_gray(tmp_path / "Happiness" / "a.png")
    save_gray(tmp_path / "Anger" / "b.png")
    assert {EXPRESSIONS[s.label] for s in read_dataset("imagefolder", tmp_path, None)} == {"happy", "anger"}
    save_gray(tmp_path / "bored" / "c.png")
    with pytest.raises(ValueError, match="bored"):
        read_dataset("imagefolder", tmp_path, None)
    assert canonical_index("SADNESS") == EXPRESSIONS.index("sad") and canonical_index("x") == -1


def test_unknown_dataset_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        read_dataset("nope", tmp_path)
    with pytest.raises(FileNotFoundError, match="RAF-DB label list"):
        read_dataset("rafdb", tmp_path, "test")
