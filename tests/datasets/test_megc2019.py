"""The MEGC2019 composite label reader (mien.datasets.megc2019)."""

from __future__ import annotations

import numpy as np
import pytest


# --------------------------------------------------------------------------------------------- data
def test_megc2019_reader(datasets):
    from mien.datasets.megc2019 import load_flows, read_labels

    samples = read_labels(datasets / "megc2019")
    assert len(samples) == 442 and len({s.subject for s in samples}) == 68
    counts = {d: sum(s.dataset == d for s in samples) for d in ("casme2", "samm", "smic")}
    assert counts == {"casme2": 145, "samm": 133, "smic": 164}
    smic = next(s for s in samples if s.dataset == "smic")
    assert smic.flow_stem == "s01_s01_ne_01" and smic.apex_stem == "s01_s1_ne_01"
    flows = load_flows(datasets / "megc2019", samples[:3])
    assert flows.shape == (3, 28, 28, 3) and flows.dtype == np.uint8


def test_megc2019_reader_names_a_missing_file(tmp_path):
    from mien.datasets.megc2019 import read_labels

    (tmp_path / "labels.csv").write_text("dataset,sub,filename_o,label,apex,imagename,sub_filename\n"
                                         "casme2,sub01,EP02_01f,1,,sub01_EP02_01f.jpg,\n")
    with pytest.raises(FileNotFoundError, match="sub01_EP02_01f"):
        read_labels(tmp_path)
