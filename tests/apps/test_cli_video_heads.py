"""`mien video` tables carry the AU, pose and valence columns."""

from __future__ import annotations

from mien.schema import AUS as AUS_


def test_video_table_carries_aus_pose_and_valence(tmp_path, pyfeat_media):
    import pandas as pd

    from mien.cli import main

    output = tmp_path / "video.csv"
    assert main(["video", str(pyfeat_media / "single_face.mp4"), "--every", "12", "-o", str(output), "-q",
                 "--threads", "2"]) == 0
    table = pd.read_csv(output)
    assert len(table) == 6 and table["success"].all()
    assert table[[f"AU{au:02d}_p" for au in AUS_]].notna().all().all()
    assert table[["valence", "arousal", "pose_pitch", "pose_yaw", "pose_roll"]].notna().all().all()
    assert set(table["AU12_c"]) <= {0, 1}
