"""AU (DISFA, BP4D) and valence/arousal (AffectNet, AFEW-VA) readers on exact small replicas of the official layouts."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from mien.datasets.au_layouts import (
    BP4D_PARTS,
    DISFA_AUS,
    DISFA_PARTS,
    au_fold,
    au_matrix,
    au_names,
    read_au_dataset,
    read_bp4d,
    read_disfa,
    select_subjects,
)
from mien.datasets.me_layouts import MissingFramesWarning
from mien.datasets.va_layouts import read_affectnet_va, read_afew_va, read_va_dataset, va_arrays
from mien.io.samples import read_sample
from mien.schema import EXPRESSIONS


def save_image(path, value=128, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)


# ----------------------------------------------------------------------------------------- DISFA
# SN001: 4 frames; AU12 intensities 0, 1, 2, 5; every other AU 0 except AU1 = 3 on frame 2;
# AU26's file lacks frame 4 (not coded).
DISFA_AU12 = (0, 1, 2, 5)


def make_disfa(root, subject="SN001", video=True):
    folder = root / "ActionUnit_Labels" / subject
    folder.mkdir(parents=True)
    for au in DISFA_AUS:
        values = {12: DISFA_AU12, 1: (0, 3, 0, 0)}.get(au, (0, 0, 0, 0))
        frames = range(1, 4) if au == 26 else range(1, 5)
        (folder / f"{subject}_au{au}.txt").write_text("".join(f"{f},{values[f - 1]}\n" for f in frames))
    if video:
        (root / "Videos_LeftCamera").mkdir()
        writer = cv2.VideoWriter(str(root / "Videos_LeftCamera" / f"LeftVideo{subject}_comp.avi"),
                                 cv2.VideoWriter_fourcc(*"MJPG"), 20, (32, 32))
        for level in (0, 80, 160, 240):  # frame k (1-based) has gray level 80 * (k - 1)
            writer.write(np.full((32, 32, 3), level, np.uint8))
        writer.release()


def test_disfa_video_layout(tmp_path):
    make_disfa(tmp_path)
    samples = read_disfa(tmp_path)
    assert len(samples) == 4 and {s.subject for s in samples} == {"SN001"}
    assert samples[0].source.endswith("Videos_LeftCamera/LeftVideoSN001_comp.avi")
    assert [s.frame for s in samples] == [1, 2, 3, 4] and [s.frame_index for s in samples] == [0, 1, 2, 3]
    column = DISFA_AUS.index(12)
    assert [s.occurrence[column] for s in samples] == [0, 0, 1, 1]  # intensity >= 2
    assert [s.intensity[column] for s in samples] == list(DISFA_AU12)
    assert samples[1].occurrence[DISFA_AUS.index(1)] == 1
    assert np.isnan(samples[3].occurrence[DISFA_AUS.index(26)]) and np.isnan(samples[3].intensity[-1])
    assert read_sample(samples[2]).mean() == pytest.approx(160, abs=6)  # label frame 3 = video frame index 2


def test_disfa_threshold_au_subset_and_matrix(tmp_path):
    make_disfa(tmp_path)
    samples = read_disfa(tmp_path, aus=(12, 1), threshold=1)
    matrix = au_matrix(samples)
    assert matrix.shape == (4, 2) and matrix.dtype == np.float32
    assert matrix[:, 0].tolist() == [0, 1, 1, 1] and matrix[:, 1].tolist() == [0, 1, 0, 0]
    assert au_names(samples[0].aus) == ["AU12", "AU01"]
    with pytest.raises(ValueError, match="DISFA codes the AUs"):
        read_disfa(tmp_path, aus=(1, 7))
    with pytest.raises(ValueError, match="threshold"):
        read_disfa(tmp_path, threshold=0)


def test_disfa_extracted_frames_skip_missing_ones(tmp_path):
    make_disfa(tmp_path, video=False)
    for index in range(3):  # ME-GraphAU's img/SN001/<0-based index>.png; the 4th frame has no image
        save_image(tmp_path / "img" / "SN001" / f"{index}.png", value=10 * index)
    with pytest.warns(MissingFramesWarning, match="1 of 4"):
        samples = read_disfa(tmp_path, frames_dir=tmp_path / "img")
    assert [s.source.rsplit("/", 1)[-1] for s in samples] == ["0.png", "1.png", "2.png"]
    assert samples[2].frame == 3 and samples[2].frame_index is None and read_sample(samples[2])[0, 0, 0] == 20


def test_disfa_missing_and_malformed_labels_are_named(tmp_path):
    make_disfa(tmp_path)
    label = tmp_path / "ActionUnit_Labels" / "SN001" / "SN001_au9.txt"
    label.write_text("1,0\n2,seven\n")
    with pytest.raises(ValueError, match=r"SN001_au9\.txt:2"):
        read_disfa(tmp_path)
    label.write_text("1,0\n2,6\n")
    with pytest.raises(ValueError, match=r"SN001_au9\.txt:2: .*intensity 0-5"):
        read_disfa(tmp_path)
    label.unlink()
    with pytest.raises(FileNotFoundError, match=r"SN001_au9\.txt"):
        read_disfa(tmp_path)
    with pytest.raises(FileNotFoundError, match="ActionUnit_Labels"):
        read_disfa(tmp_path / "elsewhere")
    (tmp_path / "Videos_LeftCamera" / "LeftVideoSN001_comp.avi").unlink()
    with pytest.raises(FileNotFoundError, match="LeftVideoSN001_comp.avi"):
        read_disfa(tmp_path, aus=(1,))


# ----------------------------------------------------------------------------------------- BP4D
BP4D_HEADER = ",".join(["0"] + [str(au) for au in range(1, 25)])  # frame column, then AU numbers


def bp4d_row(frame, present=(), not_coded=()):
    return ",".join([str(frame)] + ["9" if au in not_coded else "1" if au in present else "0" for au in range(1, 25)])


def make_bp4d(root):
    labels = root / "AUCoding" / "AU_OCC"
    labels.mkdir(parents=True)
    (labels / "F001_T1.csv").write_text("\n".join([
        BP4D_HEADER, bp4d_row(643, present=(12, 6)), bp4d_row(644, present=(12,), not_coded=(23, 24)),
        bp4d_row(645)]) + "\n")
    (labels / "M007_T8.csv").write_text("\n".join([BP4D_HEADER, bp4d_row(1, present=(1, 2)), bp4d_row(2)]) + "\n")
    for sequence, frames in (("F001/T1", (643, 644, 645)), ("M007/T8", (1, 2))):
        for frame in frames:
            save_image(root / "Sequences" / sequence / f"{frame:04d}.jpg")


def test_bp4d_occurrence_layout(tmp_path):
    make_bp4d(tmp_path)
    samples = read_bp4d(tmp_path)
    assert len(samples) == 5 and [s.sequence for s in samples] == ["F001_T1"] * 3 + ["M007_T8"] * 2
    first = samples[0]
    assert first.source.endswith("Sequences/F001/T1/0643.jpg") and first.frame == 643 and first.subject == "F001"
    assert au_names(first.aus)[6] == "AU12" and first.intensity is None
    matrix = au_matrix(samples)
    assert matrix.shape == (5, 12)
    assert matrix[0].tolist() == [0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]  # AU6 and AU12
    assert np.isnan(matrix[1, -2:]).all() and matrix[1, 6] == 1  # 9 = not coded
    assert matrix[3, :2].tolist() == [1, 1]
    assert len(read_bp4d(tmp_path, subjects=["M007"])) == 2
    assert read_bp4d(tmp_path, aus=(2,))[3].occurrence.tolist() == [1]


def test_bp4d_frames_without_images_and_bad_files(tmp_path):
    make_bp4d(tmp_path)
    (tmp_path / "Sequences" / "F001" / "T1" / "0644.jpg").unlink()
    with pytest.warns(MissingFramesWarning, match="1 of 3"):
        assert [s.frame for s in read_bp4d(tmp_path, subjects=["F001"])] == [643, 645]
    save_image(tmp_path / "Sequences" / "F001" / "T1" / "644.jpg")  # unpadded names are matched too
    assert [s.frame for s in read_bp4d(tmp_path, subjects=["F001"])] == [643, 644, 645]
    with pytest.raises(ValueError, match=r"F001_T1\.csv: AUs \[43\]"):
        read_bp4d(tmp_path, aus=(1, 43))
    (tmp_path / "AUCoding" / "AU_OCC" / "M007_T8.csv").write_text(BP4D_HEADER + "\n" + bp4d_row(1).replace("0", "5", 3) + "\n")
    with pytest.raises(ValueError, match=r"M007_T8\.csv:2"):
        read_bp4d(tmp_path)
    with pytest.raises(FileNotFoundError, match="AU_OCC"):
        read_bp4d(tmp_path / "nowhere", frames_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="frames_dir is not a folder"):
        read_bp4d(tmp_path, frames_dir=tmp_path / "no_frames")


def test_au_dataset_by_name(tmp_path):
    make_bp4d(tmp_path)
    assert len(read_au_dataset("bp4d", tmp_path, subjects=["F001"])) == 3
    with pytest.raises(ValueError, match=r"unknown AU dataset 'bp4d\+'"):
        read_au_dataset("bp4d+", tmp_path)


def test_standard_subject_folds():
    assert sum(len(part) for part in DISFA_PARTS) == 27 and sum(len(part) for part in BP4D_PARTS) == 41
    for dataset, parts in (("disfa", DISFA_PARTS), ("bp4d", BP4D_PARTS)):
        tests = []
        for fold in (1, 2, 3):
            train, test = au_fold(dataset, fold)
            assert not set(train) & set(test) and len(train) + len(test) == sum(map(len, parts))
            tests += test
        assert sorted(tests) == sorted(s for part in parts for s in part)  # each subject tested once
    assert au_fold("disfa", 1)[1] == list(DISFA_PARTS[2])  # fold 1 = train on parts 1+2, test on part 3
    assert "F007" in au_fold("bp4d", 1)[1]
    with pytest.raises(ValueError, match="fold"):
        au_fold("bp4d", 0)
    with pytest.raises(ValueError, match="unknown AU dataset"):
        au_fold("ckplus", 1)


def test_select_subjects_and_au_names(tmp_path):
    make_bp4d(tmp_path)
    train, _ = au_fold("bp4d", 1)  # F001 and M007 are both in part 1, a training part of fold 1
    assert len(select_subjects(read_bp4d(tmp_path), train)) == 5
    assert au_names([1, 2, 45]) == ["AU01", "AU02", "AU45"]
    with pytest.raises(ValueError, match="1-99"):
        au_names([0])


# ----------------------------------------------------------------------------------------- AffectNet
AFFECTNET_HEADER = ("subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,"
                    "valence,arousal\n")
LANDMARKS = ";".join(f"{i}.5" for i in range(136))


def test_affectnet_va_excludes_unannotated_rows(tmp_path):
    (tmp_path / "training.csv").write_text(
        AFFECTNET_HEADER
        + f"689/a.jpg,10,12,100,110,{LANDMARKS},1,0.785714,-0.055556\n"
        + "392/b.jpg,0,0,0,0,,9,-2,-2\n"  # uncertain: not annotated
        + "12/c.jpg,5,5,50,50,,8,-0.25,0.5\n"  # "none" expression but valence/arousal given
        + "12/d.jpg,5,5,50,50,,10,-2,-2\n")  # non-face
    samples = read_affectnet_va(tmp_path, "train")
    assert [s.source.rsplit("Manually_Annotated_Images/", 1)[1] for s in samples] == ["689/a.jpg", "12/c.jpg"]
    first = samples[0]
    assert (first.valence, first.arousal) == (pytest.approx(0.785714), pytest.approx(-0.055556))
    assert first.box == (10, 12, 100, 110) and first.landmarks.shape == (68, 2) and first.landmarks[1, 0] == 2.5
    assert first.label == EXPRESSIONS.index("happy") and samples[1].label == -1 and samples[1].landmarks is None
    valence, arousal = va_arrays(samples)
    assert valence.tolist() == pytest.approx([0.785714, -0.25]) and arousal.dtype == np.float32


def test_affectnet_va_download_nesting_and_errors(tmp_path):
    lists = tmp_path / "Manually_Annotated_file_lists"
    lists.mkdir()
    (lists / "validation.csv").write_text(AFFECTNET_HEADER + "1/a.jpg,0,0,8,8,,0,0.5,0.25\n")
    save_image(tmp_path / "Manually_Annotated" / "Manually_Annotated_Images" / "1" / "a.jpg")
    (sample,) = read_affectnet_va(tmp_path, "valid")
    assert read_sample(sample).shape == (8, 8, 3) and sample.label == EXPRESSIONS.index("neutral")
    (lists / "validation.csv").write_text(AFFECTNET_HEADER + "1/a.jpg,0,0,8,8,,0,0.5,0.25\n1/b.jpg,0,0,8,8,,0,1.5,0\n")
    with pytest.raises(ValueError, match=r"validation\.csv:3: valence 1.5 is outside"):
        read_affectnet_va(tmp_path, "valid")
    with pytest.raises(FileNotFoundError, match="training.csv"):
        read_affectnet_va(tmp_path, "train")
    with pytest.raises(ValueError, match="'train' and 'valid'"):
        read_affectnet_va(tmp_path, "test")


# ----------------------------------------------------------------------------------------- AFEW-VA
def make_afew_clip(folder, clip, actor, values, images=None):
    frames = {f"{i:05d}": {"valence": v, "arousal": a, "landmarks": [[float(j), float(j + 1)] for j in range(68)]}
              for i, (v, a) in enumerate(values)}
    folder.mkdir(parents=True)
    (folder / f"{clip}.json").write_text(json.dumps({"actor": actor, "frames": frames, "video_id": clip}))
    for key in list(frames)[:images]:
        save_image(folder / f"{key}.png")


def test_afew_va_scaling_and_layout(tmp_path):
    make_afew_clip(tmp_path / "001", "001", "Daniel Radcliffe", [(-10, 10), (5, 0), (0, -3)])
    make_afew_clip(tmp_path / "02" / "051", "051", "Emma Watson", [(2, 2), (3, 3)], images=1)  # part folder
    with pytest.warns(MissingFramesWarning, match="1 of 2"):
        samples = read_afew_va(tmp_path)
    assert len(samples) == 4
    assert [(s.valence, s.arousal) for s in samples[:3]] == [(-1.0, 1.0), (0.5, 0.0), (0.0, -0.3)]
    assert samples[0].source.endswith("001/00000.png") and samples[1].frame == 1
    assert samples[0].subject == "Daniel Radcliffe" and samples[3].video == "051" and samples[3].valence == 0.2
    assert samples[0].landmarks.shape == (68, 2)
    assert [s.video for s in read_afew_va(tmp_path, clips=["001"])] == ["001"] * 3
    with pytest.warns(MissingFramesWarning):
        assert len(read_va_dataset("afew-va", tmp_path)) == 4
    with pytest.raises(ValueError, match="no official 'test' split"):
        read_va_dataset("afew-va", tmp_path, "test")
    with pytest.raises(ValueError, match="unknown valence/arousal dataset"):
        read_va_dataset("aff-wild2", tmp_path)


def test_afew_va_bad_annotations_are_named(tmp_path):
    make_afew_clip(tmp_path / "007", "007", "Someone", [(11, 0)])
    with pytest.raises(ValueError, match=r"007\.json frame 00000: valence 11.0 is outside"):
        read_afew_va(tmp_path)
    (tmp_path / "007" / "007.json").write_text("{\"no frames\": 1}")
    with pytest.raises(ValueError, match=r"007\.json: not an AFEW-VA annotation"):
        read_afew_va(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no AFEW-VA clip annotation"):
        read_afew_va(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="AFEW-VA folder not found"):
        read_afew_va(tmp_path / "missing")
