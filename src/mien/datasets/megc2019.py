"""The MEGC2019 composite micro-expression benchmark (CASME II + SAMM + SMIC-HS, 3 classes).

Layout (as distributed with the STSTNet/HTNet inputs)::

    megc2019/labels.csv        dataset, sub, filename_o, label, apex, imagename, sub_filename
    megc2019/apex/<imagename>  apex face crop, 224x224 RGB
    megc2019/flow/<sub>_<filename_o>.png   onset-to-apex flow, 28x28 RGB: channels u, v, optical strain, each
                               min-max normalised to 0..255 per sample

``label`` is 0 negative, 1 positive, 2 surprise. The official protocol is leave-one-subject-out over the
68 subjects, scored with unweighted F1 (UF1) and unweighted average recall (UAR) on the composite and on
each source dataset. For SMIC the two file names differ (``s01_s1_ne_01.jpg`` next to
``s01_s01_ne_01.png``), so both stems are kept. Subjects are named per source dataset (``casme2/sub01``, ``samm/006``, ``smic/s3``)
so ids never collide across datasets.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MICRO_CLASSES = ["negative", "positive", "surprise"]
SOURCE_DATASETS = ["casme2", "samm", "smic"]


@dataclass(frozen=True)
class MegcSample:
    dataset: str       # casme2 | samm | smic
    subject: str       # unique across datasets, e.g. "casme2/sub01"
    clip: str          # the source dataset's clip name, e.g. "EP02_01f"
    label: int         # index into MICRO_CLASSES
    flow_stem: str     # flow/<flow_stem>.png
    apex_stem: str     # apex/<apex_stem>.jpg


def read_labels(root: Path) -> list[MegcSample]:
    """Every sample listed in ``root/labels.csv``, with its flow and apex files checked to exist."""
    root = Path(root)
    path = root / "labels.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MEGC2019 labels.csv not found (expected the composite layout)")
    samples = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            flow_stem, apex_stem = f"{row['sub']}_{row['filename_o']}", Path(row["imagename"]).stem
            for file in (root / "flow" / f"{flow_stem}.png", root / "apex" / f"{apex_stem}.jpg"):
                if not file.is_file():
                    raise FileNotFoundError(f"{file}: listed in {path} but missing")
            label = int(row["label"])
            if label not in (0, 1, 2):
                raise ValueError(f"{path}: label {label!r} for {flow_stem} is not 0, 1 or 2")
            samples.append(MegcSample(row["dataset"], f"{row['dataset']}/{row['sub']}", row["filename_o"],
                                      label, flow_stem, apex_stem))
    return samples


def load_flows(root: Path, samples: list[MegcSample]) -> np.ndarray:
    """(N, 28, 28, 3) uint8 flow images (u, v, strain) in the order of ``samples``."""
    from PIL import Image

    return np.stack([np.asarray(Image.open(Path(root) / "flow" / f"{s.flow_stem}.png").convert("RGB"))
                     for s in samples])


def load_apex(root: Path, samples: list[MegcSample], size: int = 224) -> np.ndarray:
    """(N, size, size, 3) uint8 RGB apex crops in the order of ``samples``."""
    from PIL import Image

    def read(sample: MegcSample) -> np.ndarray:
        image = Image.open(Path(root) / "apex" / f"{sample.apex_stem}.jpg").convert("RGB")
        return np.asarray(image.resize((size, size), Image.BILINEAR) if image.size != (size, size) else image)

    return np.stack([read(s) for s in samples])
