"""Micro-expression coding sheets (the real ones) and frame-folder layouts (exact small replicas)."""

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mien.datasets import me_layouts, me_sheets
from mien.datasets.me_layouts import MissingFramesError, MissingFramesWarning, load_sequences
from mien.datasets.me_sheets import CodedSample, parse_action_units, read_coding_sheet

SHEETS = {  # file -> (format, samples)
    "CASME2-coding-20140508.xlsx": ("casme2", 255),
    "CASME2-coding-20190701.xlsx": ("casme2", 255),
    "SAMM.xlsx": ("samm", 159),
    "SAMM_Micro_FACS_Codes_v2.xlsx": ("samm", 159),
    "smic_apex.xlsx": ("smic", 164),
    "casme3_table.xlsx": ("casme3", 860),
    "CASME_sq_gt.xlsx": ("casme_sq", 357),
    "SAMMLV_gt.xlsx": ("sammlv", 502),
}


@pytest.fixture(scope="module")
def annotations(datasets) -> Path:
    return datasets / "me_annotations"


@pytest.fixture(scope="module")
def sheets(annotations) -> dict[str, list[CodedSample]]:
    return {name: read_coding_sheet(annotations / name) for name in SHEETS}


def by_clip(samples):
    return {(s.subject, s.clip): s for s in samples}


# ----------------------------------------------------------------------------------------- real sheets
def test_every_real_sheet_is_recognised_and_counted(annotations, sheets):
    assert sorted(p.name for p in annotations.glob("*.xlsx")) == sorted(SHEETS)
    for name, (kind, count) in SHEETS.items():
        assert me_sheets.detect_sheet_format(annotations / name) == kind
        assert len(sheets[name]) == count, name
        assert {s.dataset for s in sheets[name]} == {kind}


def test_casme2_sheets(sheets):
    old, new = sheets["CASME2-coding-20140508.xlsx"], sheets["CASME2-coding-20190701.xlsx"]
    first = new[0]
    assert (first.subject, first.clip, first.onset, first.apex, first.offset) == ("sub01", "EP02_01f", 46, 59, 86)
    assert first.action_units == ("12",) and first.emotion == "happiness" and first.objective_class == "1"
    assert old[0].objective_class is None  # the 2014 sheet has no objective classes
    assert len({s.subject for s in new}) == 26
    no_apex = [s for s in new if s.apex is None]  # written "/" in the 2019 sheet
    assert [(s.subject, s.clip) for s in no_apex] == [("sub04", "EP12_01f")]
    assert by_clip(old)[("sub04", "EP12_01f")].apex == 300
    assert by_clip(old)[("sub05", "EP05_03")].action_units == ()  # "?" = not coded
    last = new[-1]
    assert (last.subject, last.clip, last.action_units, last.objective_class) == ("sub26", "EP18_51", ("4", "16"), "7")


def test_samm_sheets(sheets):
    plain, v2 = sheets["SAMM.xlsx"], sheets["SAMM_Micro_FACS_Codes_v2.xlsx"]  # v2 has 13 title/notes rows
    first = v2[0]
    assert (first.subject, first.clip, first.onset, first.apex, first.offset) == ("006", "006_1_2", 5562, 5588, 5632)
    assert first.action_units == ("4", "7") and first.emotion == "Anger" and first.three_class == 0
    assert first.expression_type == "micro" and first.objective_class == "3"
    assert by_clip(v2)[("006", "006_3_4")].action_units == ("15A", "17")
    assert by_clip(v2)[("007", "007_6_1")].action_units == ("R6 or R12", "R15")
    # the two releases differ in exactly two apex frames
    assert [(a.clip, a.apex, b.apex) for a, b in zip(plain, v2) if a != b] == [
        ("028_4_1", 1124, 1143), ("032_3_1", 4930, 1930)]


def test_smic_sheet(sheets):
    samples = sheets["smic_apex.xlsx"]
    first = samples[0]
    assert (first.subject, first.clip, first.onset, first.apex, first.offset) == (
        "s20", "s20_ne_01", 17581039, 17581046, 17581055)
    assert first.emotion == "negative" and first.three_class == 0
    assert sum(s.offset is None for s in samples) == 7
    assert len({s.subject for s in samples}) == 16
    counts = {name: sum(s.emotion == name for s in samples) for name in ("negative", "positive", "surprise")}
    assert counts == {"negative": 70, "positive": 51, "surprise": 43}
    # the clip code agrees with the label for every row
    codes = {"ne": "negative", "po": "positive", "sur": "surprise"}
    assert all(codes[s.clip.split("_")[1]] == s.emotion for s in samples)


def test_casme3_sheet(sheets):
    samples = sheets["casme3_table.xlsx"]  # every cell of this sheet is text
    first = samples[0]
    assert (first.subject, first.clip, first.onset, first.apex, first.offset) == ("spNO.1", "a", 355, 359, 360)
    assert first.objective_class == "II" and first.emotion == "others" and first.three_class is None
    assert first.expression_type == "micro"  # the part A micro-expression table
    assert len({s.subject for s in samples}) == 94
    unknown_offset = [(s.subject, s.clip, s.onset) for s in samples if s.offset is None]  # offset 0
    assert unknown_offset == [("spNO.40", "e", 1812), ("spNO.40", "e", 2327)]
    assert by_clip(samples)[("spNO.1", "e")].action_units == ("R12",)


def test_casme_sq_sheet_uses_the_naming_rules(sheets):
    samples = sheets["CASME_sq_gt.xlsx"]
    first = samples[0]
    assert (first.subject, first.clip, first.video, first.onset, first.apex, first.offset) == (
        "s15", "anger1_1", "15_0401", 557, 572, 608)
    assert first.action_units == ("4", "10", "14") and first.emotion == "negative" and first.self_report == "anger"
    assert sum(s.expression_type == "micro" for s in samples) == 57
    assert sum(s.expression_type == "macro" for s in samples) == 300
    assert len({s.subject for s in samples}) == 22
    last = samples[-1]
    assert (last.subject, last.clip, last.video, last.offset) == ("s40", "happy2_1", "40_0503", None)
    assert {s.video.split("_")[1] for s in samples} == {"0101", "0102", "0401", "0402", "0502", "0503", "0505",
                                                         "0507", "0508"}


def test_sammlv_sheet(sheets):
    samples = sheets["SAMMLV_gt.xlsx"]  # title and notes rows above the header
    first = samples[0]
    assert (first.subject, first.clip, first.video, first.expression_type) == ("006", "006_1_1", "006_1", "macro")
    assert (first.onset, first.apex, first.offset) == (566, 648, 743)  # 566.4, 647.6, 743.2 rounded
    assert first.action_units == ("4(B/C)", "7B") and first.emotion == "" and first.three_class is None
    assert sum(s.expression_type == "micro" for s in samples) == 159
    assert sum(s.apex is None for s in samples) == 6  # apex -1 = not annotated


# ----------------------------------------------------------------------------------------- MEGC2019 labels
@pytest.fixture(scope="module")
def megc2019(datasets) -> list[dict[str, str]]:
    with open(datasets / "megc2019" / "labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("sheet", ["CASME2-coding-20140508.xlsx", "CASME2-coding-20190701.xlsx",
                                   "SAMM.xlsx", "SAMM_Micro_FACS_Codes_v2.xlsx"])
def test_three_class_reproduces_megc2019_labels(sheets, megc2019, sheet):
    dataset = SHEETS[sheet][0]
    rows = [r for r in megc2019 if r["dataset"] == dataset]
    assert len(rows) == {"casme2": 145, "samm": 133}[dataset]
    coded = by_clip(sheets[sheet])
    for row in rows:
        sample = coded[(row["sub"], row["filename_o"])]
        assert sample.three_class == int(row["label"]), (sheet, row)


def test_megc2019_casme2_part_is_the_coded_samples_minus_fear_and_sadness(sheets, megc2019):
    """MEGC2019 took CASME II's negatives from disgust and repression only (2014 sheet), and left out two."""
    used = {(r["sub"], r["filename_o"]) for r in megc2019 if r["dataset"] == "casme2"}
    coded = sheets["CASME2-coding-20140508.xlsx"]
    left_out = {(s.subject, s.clip) for s in coded if s.three_class is not None} - used
    fear_or_sadness = {(s.subject, s.clip) for s in coded if s.emotion in ("fear", "sadness")}
    assert len(fear_or_sadness) == 9
    assert left_out == fear_or_sadness | {("sub04", "EP12_01f"), ("sub05", "EP09_05f")}


def test_smic_sheet_matches_megc2019(sheets, megc2019):
    rows = [r for r in megc2019 if r["dataset"] == "smic"]
    coded = by_clip(sheets["smic_apex.xlsx"])
    assert len(rows) == len(coded) == 164
    for row in rows:  # labels.csv pads subjects: s01 / s01_ne_01 for s1 / s1_ne_01
        subject = f"s{int(row['sub'][1:])}"
        clip = re.sub(r"^s0*(\d+)_", r"s\1_", row["filename_o"])
        assert coded[(subject, clip)].three_class == int(row["label"]), row


# ----------------------------------------------------------------------------------------- AUs and errors
@pytest.mark.parametrize("text, codes, numbers", [
    ("4+7", ("4", "7"), (4, 7)),
    ("R12", ("R12",), (12,)),
    ("15A+17", ("15A", "17"), (15, 17)),
    ("L2 or R2", ("L2 or R2",), (2,)),
    ("?", (), ()),
    (None, (), ()),
    (12, ("12",), (12,)),
    ("(R6 or R12) + R15", ("R6 or R12", "R15"), (6, 12, 15)),
    ("12+15 ", ("12", "15"), (12, 15)),
    ("4(B/C)+7B", ("4(B/C)", "7B"), (4, 7)),
    ("7B+ ref(43)", ("7B", "ref(43)"), (7, 43)),
    ("6B+12B+15C+26+((8+25)or(50))", ("6B", "12B", "15C", "26", "(8+25)or(50)"), (6, 8, 12, 15, 25, 26, 50)),
])
def test_action_unit_strings(text, codes, numbers):
    assert parse_action_units(text) == codes
    assert me_sheets.au_numbers(codes) == numbers


def test_three_class_mapping():
    def sample(emotion):
        return CodedSample("x", "s", "c", 1, 2, 3, emotion=emotion)

    assert [sample(e).three_class for e in ("Anger", "contempt", "disgust", "fear", "sadness", "repression")] == [0] * 6
    assert [sample(e).three_class for e in ("happiness", "Happy", "surprise", "others", "Other", "")] == [
        1, 1, 2, None, None, None]


def test_bad_sheets_are_named(tmp_path):
    import openpyxl

    with pytest.raises(FileNotFoundError, match="absent.xlsx"):
        read_coding_sheet(tmp_path / "absent.xlsx")
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook")
    with pytest.raises(ValueError, match="notes.xlsx: not a readable .xlsx"):
        read_coding_sheet(text)
    other = tmp_path / "other.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["name", "score"])
    workbook.active.append(["a", 1])
    workbook.save(other)
    with pytest.raises(ValueError, match="other.xlsx: not a known micro-expression coding sheet"):
        read_coding_sheet(other)
    broken = tmp_path / "broken.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
                            "Estimated Emotion"])
    workbook.active.append(["01", "EP02_01f", "forty", 59, 86, "12", "happiness"])
    workbook.save(broken)
    with pytest.raises(ValueError, match=r"broken.xlsx: row 2, column 'OnsetFrame': 'forty'"):
        read_coding_sheet(broken)


def test_to_frame(sheets):
    frame = me_sheets.to_frame(sheets["CASME2-coding-20190701.xlsx"])
    assert list(frame.columns) == list(me_sheets.FRAME_COLUMNS) and len(frame) == 255
    assert frame["apex"].isna().sum() == 1 and str(frame["apex"].dtype) == "Int64"
    assert frame.loc[0, "action_units"] == "12" and frame.loc[0, "three_class"] == 1
    assert (frame["three_class"] == 0).sum() == 96


# ----------------------------------------------------------------------------------------- layout replicas
def write_frames(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((4, 4, 3), np.uint8)
    for name in names:
        Image.fromarray(pixels).save(folder / name)


def assert_sequence(sequence, first: int, apex: int | None, last: int | None) -> None:
    sample = sequence.sample
    assert sequence.frame_numbers[0] == sample.onset == first
    assert sequence.onset_index == 0 and sequence.frames[0] == sequence.onset_frame
    if apex is not None:
        assert sequence.frame_numbers[sequence.apex_index] == apex
    if last is not None:
        assert sequence.frame_numbers[sequence.offset_index] == last == sequence.frame_numbers[-1]
    assert list(sequence.frame_numbers) == list(range(first, sequence.frame_numbers[-1] + 1))
    assert len(sequence.frames) == len(sequence.frame_numbers)


def test_casme2_raw_and_cropped_layouts(tmp_path, sheets):
    sample = by_clip(sheets["CASME2-coding-20190701.xlsx"])[("sub01", "EP02_01f")]  # 46 / 59 / 86
    raw = tmp_path / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    write_frames(raw, [f"img{n}.jpg" for n in range(1, 101)])
    cropped = tmp_path / "Cropped" / "sub01" / "EP02_01f"
    write_frames(cropped, [f"reg_img{n}.jpg" for n in range(40, 90)])
    (sequence,) = me_layouts.load_casme2(tmp_path / "CASME2_RAW_selected", [sample])
    assert_sequence(sequence, 46, 59, 86)
    assert sequence.apex_frame == raw / "img59.jpg" and sequence.offset_frame == raw / "img86.jpg"
    assert len(sequence.frames) == 41
    (sequence,) = me_layouts.load_casme2(tmp_path / "Cropped", [sample])
    assert sequence.onset_frame == cropped / "reg_img46.jpg" and sequence.apex_frame == cropped / "reg_img59.jpg"


def test_samm_layout_with_missing_folder_skipped(tmp_path, sheets):
    coded = by_clip(sheets["SAMM_Micro_FACS_Codes_v2.xlsx"])
    present, absent = coded[("006", "006_1_2")], coded[("006", "006_1_3")]  # 5562 / 5588 / 5632
    write_frames(tmp_path / "SAMM" / "006" / "006_1_2", [f"006_{n:05d}.jpg" for n in range(5550, 5650)])
    with pytest.warns(MissingFramesWarning, match=r"006_1_3: frame folder of samm:006/006_1_3 not found"):
        sequences = me_layouts.load_samm(tmp_path, [present, absent])  # root above SAMM/ is found too
    (sequence,) = sequences
    assert_sequence(sequence, 5562, 5588, 5632)
    assert sequence.apex_frame.name == "006_05588.jpg"


def test_missing_frames_are_named_or_skipped(tmp_path, sheets):
    sample = by_clip(sheets["SAMM.xlsx"])[("006", "006_1_2")]
    folder = tmp_path / "SAMM" / "006" / "006_1_2"
    write_frames(folder, [f"006_{n:05d}.jpg" for n in range(5562, 5633) if n not in (5600, 5601)])
    with pytest.raises(MissingFramesError, match=r"006_1_2: frames 5600-5601 of samm:006/006_1_2"):
        me_layouts.load_samm(tmp_path / "SAMM", [sample], strict=True)
    with pytest.warns(MissingFramesWarning, match="5600-5601"):
        assert me_layouts.load_samm(tmp_path / "SAMM", [sample]) == []
    (folder / "006_05588.jpg").unlink()
    with pytest.raises(MissingFramesError, match=r"006_1_2: apex frame 5588 of samm:006/006_1_2 not found"):
        me_layouts.frame_sequence(sample, folder)


def test_smic_hs_layout(tmp_path, sheets):
    coded = by_clip(sheets["smic_apex.xlsx"])
    negative, positive = coded[("s1", "s1_ne_01")], coded[("s1", "s1_po_01")]  # 559740/559753/559775
    no_offset = coded[("s1", "s1_ne_02")]  # offset not coded: runs to the clip's last frame
    hs = tmp_path / "SMIC" / "HS" / "s1" / "micro"
    write_frames(hs / "negative" / "s1_ne_01", [f"image{n:06d}.bmp" for n in range(559730, 559780)])
    write_frames(hs / "positive" / "s1_po_01", [f"image{n:06d}.bmp" for n in range(701843, 701866)])
    write_frames(hs / "negative" / "s1_ne_02", [f"image{n:06d}.bmp" for n in range(563850, 563890)])
    sequences = me_layouts.load_smic(tmp_path / "SMIC", [negative, positive, no_offset])
    assert [s.sample.clip for s in sequences] == ["s1_ne_01", "s1_po_01", "s1_ne_02"]
    assert_sequence(sequences[0], 559740, 559753, 559775)
    assert sequences[0].apex_frame == hs / "negative" / "s1_ne_01" / "image559753.bmp"
    assert_sequence(sequences[1], 701843, 701860, 701865)
    assert sequences[2].offset_index is None and sequences[2].frame_numbers[-1] == 563889
    assert sequences[2].frame_numbers[sequences[2].apex_index] == 563884


def test_casme_sq_layouts(tmp_path, sheets):
    coded = by_clip(sheets["CASME_sq_gt.xlsx"])
    sample = coded[("s15", "anger1_1")]  # video 15_0401, 557 / 572 / 608
    open_ended = coded[("s40", "happy2_1")]  # offset 0 (unknown): ends at the apex in a whole video
    write_frames(tmp_path / "rawpic" / "s15" / "15_0401girlcrashing", [f"img{n}.jpg" for n in range(540, 620)])
    write_frames(tmp_path / "rawpic" / "s15" / "15_0402beatingpregnantwoman", [f"img{n}.jpg" for n in range(1, 5)])
    write_frames(tmp_path / "rawpic" / "s40" / "40_0503unnyfarting", [f"img{n}.jpg" for n in range(2680, 2720)])
    sequences = me_layouts.load_casme_sq(tmp_path, [sample, open_ended])
    assert_sequence(sequences[0], 557, 572, 608)
    assert sequences[0].apex_frame.parent.name == "15_0401girlcrashing"
    assert sequences[1].offset_index is None and sequences[1].frame_numbers[-1] == 2707 == open_ended.apex

    write_frames(tmp_path / "selectedpic" / "s15" / "anger1_1", [f"img{n}.jpg" for n in range(557, 609)])
    write_frames(tmp_path / "cropped" / "15" / "anger1_1", [f"img{n}.jpg" for n in range(557, 609)])
    for layout in ("selectedpic", "cropped"):
        (sequence,) = me_layouts.load_casme_sq(tmp_path, [sample], layout=layout)
        assert_sequence(sequence, 557, 572, 608)
        assert sequence.apex_frame.parent.parent.parent.name == layout

    write_frames(tmp_path / "other" / "selectedpic" / "s15" / "15_0401", [f"img{n}.jpg" for n in range(550, 610)])
    (sequence,) = me_layouts.load_casme_sq(tmp_path / "other", [sample], layout="selectedpic")
    assert_sequence(sequence, 557, 572, 608)  # a per-video selectedpic folder

    video = tmp_path / "rawvideo" / "s15" / "15_0401girlcrashing.avi"
    video.parent.mkdir(parents=True)
    video.write_bytes(b"")
    assert me_layouts.casme_sq_video(tmp_path, sample) == video


def test_casme_sq_misfiled_video_folder_is_found(tmp_path, sheets):
    # one CAS(ME)^2 copy files subject 23's video 23_0502funnyerrors under s19/
    sample = next(s for s in sheets["CASME_sq_gt.xlsx"] if s.video == "23_0502" and s.offset is not None)
    folder = tmp_path / "rawpic" / "s19" / "23_0502funnyerrors"
    write_frames(folder, [f"img{n}.jpg" for n in range(sample.onset, sample.offset + 1)])
    write_frames(tmp_path / "rawpic" / "s23" / "23_0101disgustingteeth", ["img1.jpg"])
    (sequence,) = load_sequences(tmp_path / "rawpic", [sample])
    assert sequence.onset_frame.parent == folder and sample.subject == "s23"


def test_samm_long_videos_layout_from_the_sheet_path(tmp_path, annotations, sheets):
    write_frames(tmp_path / "SAMM_longvideos" / "006_1", [f"006_1_{n:04d}.jpg" for n in range(3550, 3650)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sequences = me_layouts.load_sammlv(tmp_path, annotations / "SAMMLV_gt.xlsx")
    inside = [s for s in sheets["SAMMLV_gt.xlsx"] if s.video == "006_1" and s.onset >= 3550
              and (s.offset or 0) < 3650]
    assert [s.sample for s in sequences] == inside and inside
    (sequence,) = [s for s in sequences if s.sample.clip == "006_1_2"]  # 3562 / 3588 / 3632
    assert_sequence(sequence, 3562, 3588, 3632)
    assert sequence.apex_frame.name == "006_1_3588.jpg"
    assert all(issubclass(w.category, MissingFramesWarning) for w in caught) and len(caught) == 502 - len(inside)


def test_casme3_part_a_clip_layout(tmp_path, sheets):
    coded = by_clip(sheets["casme3_table.xlsx"])
    sample = coded[("spNO.1", "a")]  # 355 / 359 / 360
    open_ended = next(s for s in sheets["casme3_table.xlsx"] if s.offset is None)  # spNO.40 e, 1812 / 1824 / 0
    frames = tmp_path / "CAS(ME)^3" / "Part_A_ME_clip" / "frame"
    write_frames(frames / "spNO.1_a_355", [f"{n}.jpg" for n in range(355, 361)])
    write_frames(frames / "spno.40_e_1812", [f"{n}.jpg" for n in range(1812, 1830)])  # case differs
    sequences = me_layouts.load_casme3(tmp_path / "CAS(ME)^3", [sample, open_ended])
    assert_sequence(sequences[0], 355, 359, 360)
    assert sequences[0].apex_frame == frames / "spNO.1_a_355" / "359.jpg"
    assert sequences[1].offset_index is None and sequences[1].frame_numbers[-1] == 1829
    assert sequences[1].frame_numbers[sequences[1].apex_index] == 1824


def test_layout_errors_are_clear(tmp_path, sheets):
    with pytest.raises(FileNotFoundError, match="no casme2 folders matching"):
        me_layouts.load_casme2(tmp_path, sheets["CASME2-coding-20140508.xlsx"][:1])
    with pytest.raises(ValueError, match="no frame-folder layout for dataset 'mmew'"):
        load_sequences(tmp_path, [CodedSample("mmew", "S01", "01", 1, 2, 3)])
    with pytest.raises(ValueError, match="expected samm samples, got casme2"):
        me_layouts.load_samm(tmp_path, sheets["CASME2-coding-20140508.xlsx"][:1])
    with pytest.raises(ValueError, match="unknown CAS\\(ME\\)\\^2 layout 'frames'"):
        me_layouts.load_casme_sq(tmp_path, sheets["CASME_sq_gt.xlsx"][:1], layout="frames")
