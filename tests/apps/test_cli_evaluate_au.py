"""`mien evaluate au` end to end on an exact DISFA replica of real faces."""

from __future__ import annotations


def test_evaluate_au_on_a_disfa_replica_of_real_faces(tmp_path, pyfeat_media):
    """`mien evaluate au` on an exact DISFA layout whose video holds real posed faces: two smiling frames
    coded AU6 + AU12, two surprised frames coded AU1 + AU2 + AU26 (intensity 3)."""
    import json

    import cv2

    from mien.cli import main
    from mien.datasets.au_layouts import DISFA_AUS
    from mien.io.images import read_image

    happy, surprise = (read_image(pyfeat_media / name) for name in ("0-f15-hao-ph.jpg", "0-f1-su-ph.jpg"))
    codes = {6: (3, 3, 0, 0), 12: (4, 4, 0, 0), 1: (0, 0, 3, 3), 2: (0, 0, 3, 3), 26: (0, 0, 3, 3)}
    labels = tmp_path / "ActionUnit_Labels" / "SN001"
    labels.mkdir(parents=True)
    for au in DISFA_AUS:
        values = codes.get(au, (0, 0, 0, 0))
        (labels / f"SN001_au{au}.txt").write_text("".join(f"{k + 1},{v}\n" for k, v in enumerate(values)))
    (tmp_path / "Videos_LeftCamera").mkdir()
    writer = cv2.VideoWriter(str(tmp_path / "Videos_LeftCamera" / "LeftVideoSN001_comp.avi"),
                             cv2.VideoWriter_fourcc(*"MJPG"), 20, (512, 512))
    for image in (happy, happy, surprise, surprise):
        writer.write(cv2.cvtColor(cv2.resize(image, (512, 512)), cv2.COLOR_RGB2BGR))
    writer.release()

    output = tmp_path / "au.json"
    assert main(["evaluate", "au", "--dataset", "disfa", "--root", str(tmp_path), "--output", str(output),
                 "--threads", "2"]) == 0
    report = json.loads(output.read_text())
    assert report["frames"] == 4 and report["faces_not_found"] == 0 and report["aus"] == list(DISFA_AUS)
    per_au = report["per_au"]
    assert per_au["AU12"]["support"] == 2 and per_au["AU12"]["recall"] == 1.0 and per_au["AU12"]["precision"] == 1.0
    assert per_au["AU26"]["support"] == 2 and per_au["AU01"]["auroc"] == 1.0
    assert main(["evaluate", "au", "--dataset", "ckplus", "--root", str(tmp_path)]) == 2  # refused, says why
