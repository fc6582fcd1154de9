"""The settings of the training runs whose modules need PyTorch, as dataclasses without it: the command line
(:mod:`mien.cli.train`) builds one flag per field from them (``lr`` -> ``--lr``) without importing torch.
Each trainer module re-exports its own (``mien.train.fast_student.StudentConfig`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SIZE = 64  # the fast student's input side (pixels); its last feature map is 4x4


@dataclass
class TrainConfig:
    """A :mod:`mien.train.facenet_expression` run: the top of the default colour model trained on the cached trunk
    features (``python -m mien.train.facenet_expression train``)."""

    backbone: str = "mobilefacenet-rafdb"  # a name in mien.train.facenet_expression.BACKBONES
    features: str = "data_cache/trunk14"
    faces: str = "data_cache/faces112"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    logit_adjust: float = 0.0  # tau of the logit-adjusted loss (Menon et al. 2021); 0 = plain cross-entropy
    label_smoothing: float = 0.1  # for one-hot targets (RAF-DB, affectnet4); FER+ keeps its vote distribution
    ferplus_weight: float = 1.0
    ferplus_per_epoch: int = 12000  # FER+ faces drawn afresh each epoch (all RAF-DB faces are used every epoch)
    affectnet_weight: float = 0.0  # noisy folder labels: 0 leaves affectnet4 out
    affectnet_per_epoch: int = 6000
    teacher: str = ""  # a fast-student teacher folder (logits per cached face); "" = no distillation
    kd_weight: float = 0.5  # with a teacher: its probabilities' share of each face's target
    seed: int = 0
    threads: int = 2
    limit: int | None = None
    notes: dict = field(default_factory=dict)


@dataclass
class StudentConfig:
    """A :mod:`mien.train.fast_student` run: the default model distilled into a ``size``-px student
    (``python -m mien.train.fast_student train``)."""

    faces: str = "data_cache/faces112"
    teacher: str = "data_cache/student_teacher"
    init: str = "runs/mfn_a/best.pt"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    kd_weight: float = 0.7
    kd_t: float = 2.0
    label_smoothing: float = 0.1
    ferplus_per_epoch: int = 8000
    affectnet_per_epoch: int = 5000
    augment_share: float = 0.6
    gray_share: float = 0.2
    threads: int = 2
    seed: int = 0
    size: int = SIZE  # input side in pixels: 64 for the fast variant, 112 fine-tunes the default's whole network

    def __post_init__(self) -> None:
        if self.size % 16 or not 32 <= self.size <= 112:
            raise ValueError(f"size must be a multiple of 16 between 32 and 112, got {self.size}")


@dataclass
class MicroConfig:
    """The micro-expression network's recipe (:mod:`mien.train.micro`, ``mien train micro``)."""

    width: int = 8           # channels of the first stage, doubling later; chosen for CPU time (68 folds x 3 seeds)
    epochs: int = 50
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 5e-4
    dropout: float = 0.3
    label_smoothing: float = 0.1
    class_weighted: bool = True   # UF1/UAR weigh classes equally; so does the loss
    augment: bool = True
    mixup: float = 0.0


@dataclass
class AuConfig:
    """The AU head's recipe (:mod:`mien.train.au`, ``mien train au``)."""

    epochs: int = 300
    lr: float = 3e-3
    weight_decay: float = 1e-3
    neutral_share: float = 0.5   # neutral FER+ faces per CK+ image in training
    features: str = "map"        # "map": the flattened last feature map; "pooled": its spatial mean
    seed: int = 0
