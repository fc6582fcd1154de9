"""Expression classifier on onnxruntime: aligned face crops -> probabilities of the 8 expressions.

The ONNX file carries its own spec as metadata (``mien.task``, ``mien.labels``, ``mien.crop_size``,
``mien.template``, ``mien.input``); it is read and checked at load, never guessed from tensor shapes.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from mien.align.similarity import CropSpec
from mien.models.runtime import ModelError, create_session, first_line, session_metadata, softmax
from mien.schema import AUS, EXPRESSIONS

WEIGHTS_DIR = Path(__file__).parent / "weights"


CROP_SIZES = (8, 512)  # pixels: the smallest and largest crop a model may ask for
TEMPLATE_RANGE = (-1.0, 2.0)  # template points in units of the crop (inside it: 0..1)
TEMPERATURES = (0.01, 100.0)


class ModelFormatError(ModelError):
    """An ONNX file that lacks or contradicts the metadata mien needs."""


def read_expression_spec(metadata: dict[str, str], name: str) -> tuple[CropSpec, str]:
    """Crop spec and input colour ('gray' or 'rgb') from a model's metadata; raises on anything missing."""
    if metadata.get("mien.task") != "expression":
        raise ModelFormatError(f"{name}: not a mien expression model (metadata mien.task={metadata.get('mien.task')!r})")
    try:
        labels = tuple(json.loads(metadata["mien.labels"]))
        size = int(metadata["mien.crop_size"])
        template = np.asarray(json.loads(metadata["mien.template"]), dtype=np.float64)
        colour = metadata["mien.input"]
    except (KeyError, ValueError) as error:
        raise ModelFormatError(f"{name}: missing or malformed metadata ({error})") from None
    if labels != EXPRESSIONS:
        raise ModelFormatError(f"{name}: labels {labels} differ from mien's classes {EXPRESSIONS}")
    if template.shape != (5, 2):
        raise ModelFormatError(f"{name}: template must be 5 (x, y) points, got shape {template.shape}")
    if colour not in ("gray", "rgb"):
        raise ModelFormatError(f"{name}: unknown input colour {colour!r}")
    if not CROP_SIZES[0] <= size <= CROP_SIZES[1]:
        raise ModelFormatError(f"{name}: metadata mien.crop_size={size} is outside {CROP_SIZES[0]}..{CROP_SIZES[1]}")
    if not (np.isfinite(template).all() and TEMPLATE_RANGE[0] <= template.min() <= template.max() <= TEMPLATE_RANGE[1]):
        raise ModelFormatError(f"{name}: metadata mien.template has points outside {TEMPLATE_RANGE[0]:g}.."
                               f"{TEMPLATE_RANGE[1]:g} (units of the crop)")
    return CropSpec(size, template), colour


def read_calibration(metadata: dict[str, str], name: str) -> tuple[float, float | None]:
    """Temperature (``mien.temperature``, 1 without) and uncertainty threshold (``mien.uncertain_below``,
    None without) from a model's metadata; raises on values out of range."""
    try:
        temperature = float(metadata.get("mien.temperature", 1.0))
        threshold = metadata.get("mien.uncertain_below")
        uncertain_below = float(threshold) if threshold is not None else None
    except ValueError as error:
        raise ModelFormatError(f"{name}: malformed calibration metadata ({error})") from None
    if not TEMPERATURES[0] <= temperature <= TEMPERATURES[1]:
        raise ModelFormatError(f"{name}: metadata mien.temperature={temperature:g} is outside "
                               f"{TEMPERATURES[0]:g}..{TEMPERATURES[1]:g}")
    if uncertain_below is not None and not 0.0 <= uncertain_below <= 1.0:
        raise ModelFormatError(f"{name}: metadata mien.uncertain_below={uncertain_below:g} is outside 0..1")
    return temperature, uncertain_below


def read_au_spec(metadata: dict[str, str], outputs: list[str], name: str) -> list[float] | None:
    """Per-AU presence thresholds when the file has an AU head (output ``au_logits`` whose AUs,
    ``mien.aus``, must be mien's :data:`~mien.schema.AUS`); None for an expression-only model."""
    if "mien.aus" not in metadata:
        return None
    aus = tuple(json.loads(metadata["mien.aus"]))
    if aus != AUS:
        raise ModelFormatError(f"{name}: AUs {aus} differ from mien's {AUS}")
    if "au_logits" not in outputs:
        raise ModelFormatError(f"{name}: metadata names AUs but there is no 'au_logits' output ({outputs})")
    thresholds = json.loads(metadata.get("mien.au_thresholds", json.dumps([0.5] * len(AUS))))
    if len(thresholds) != len(AUS):
        raise ModelFormatError(f"{name}: {len(thresholds)} AU thresholds for {len(AUS)} AUs")
    if not all(isinstance(t, (int, float)) and 0.0 <= t <= 1.0 for t in thresholds):
        raise ModelFormatError(f"{name}: metadata mien.au_thresholds must be numbers in 0..1")
    return [float(t) for t in thresholds]


@dataclass
class HeadOutputs:
    """What one forward pass of an expression model gives for N faces (every head the model has).

    expressions: (N, 8) calibrated probabilities of :data:`mien.schema.EXPRESSIONS`, rows summing to 1.
    aus: (N, len(AUS)) presence probabilities in [0, 1] of :data:`mien.schema.AUS`; None (filled with NaN)
        without an AU head.
    va: (N, 2) valence, arousal in [-1, 1] from a trained head; None without (mien then projects the
        expression probabilities).
    eyes: (N, 2) eye aspect ratios (image-left, image-right eye); None without.
    """

    expressions: np.ndarray
    aus: np.ndarray | None = None
    va: np.ndarray | None = None
    eyes: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.aus is None:
            self.aus = np.full((len(self.expressions), len(AUS)), np.nan, np.float32)


@runtime_checkable
class ExpressionBackend(Protocol):
    """What the pipeline calls on an expression model: any object with these two members is one.

    ``Analyzer(expression=...)`` takes such an object, a registered name or a mien-format ONNX path.

    ``crop`` (:class:`~mien.align.similarity.CropSpec`): the side in pixels of the square face crop the model
    takes and the 5-point template (fractions of that side) each face is warped onto.
    ``predict_heads(crops)``: ``(N, S, S, 3)`` uint8 RGB crops aligned with ``crop`` -> :class:`HeadOutputs`.

    Optional attributes, read with these defaults and recorded in the output metadata: ``temperature``
    (1.0), ``uncertain_below`` (None: no face is flagged uncertain), ``au_thresholds`` (None: 0.5 for each
    AU), ``va_method`` (None), ``eyes_method`` (None), ``name`` (the class name).
    """

    crop: CropSpec

    def predict_heads(self, crops: np.ndarray) -> HeadOutputs: ...


class ExpressionModel:
    """Probabilities of :data:`mien.schema.EXPRESSIONS` for aligned RGB face crops.

    Args:
        model: path of an ONNX file (a registry entry resolves to one shipped in the package).
        threads: onnxruntime intra-op threads.
        batch_size: faces per ONNX call.
    """

    def __init__(self, model: str | Path, threads: int | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"expression model not found: {model}")
        self.path = path
        self.session = create_session(path, threads, device)
        self.metadata = session_metadata(self.session)
        self.crop, self.colour = read_expression_spec(self.metadata, str(path))
        # Calibration, when the file carries it (mien.train.calibrate): a temperature fitted on validation
        # data, and the calibrated top probability below which a face is flagged "uncertain".
        self.temperature, self.uncertain_below = read_calibration(self.metadata, str(path))
        self.input_name = self.session.get_inputs()[0].name
        self.batch_size = batch_size
        outputs = [o.name for o in self.session.get_outputs()]
        self.au_thresholds = read_au_spec(self.metadata, outputs, str(path))
        # a trained valence/arousal head (mien train va), else mien projects the expression probabilities
        self.va_method = self.metadata.get("mien.va_method") if "va" in outputs else None
        self.eyes_method = self.metadata.get("mien.eyes_method") if "eyes" in outputs else None
        self.output_names = (["logits"] + (["au_logits"] if self.has_aus else []) + (["va"] if self.va_method else [])
                             + (["eyes"] if self.eyes_method else []))

    @property
    def has_aus(self) -> bool:
        return self.au_thresholds is not None

    def prepare(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB crops -> the network's float32 input."""
        if self.colour == "gray":
            gray = np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in crops])
            return gray[:, None].astype(np.float32)
        return crops.transpose(0, 3, 1, 2).astype(np.float32)

    @property
    def name(self) -> str:
        return str(self.path)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, 8)`` for ``(N, S, S, 3)`` uint8 RGB crops aligned with :attr:`crop`."""
        return self.predict_heads(crops).expressions

    def predict_all(self, crops: np.ndarray) -> HeadOutputs:
        """Deprecated name of :meth:`predict_heads`."""
        warnings.warn("ExpressionModel.predict_all is deprecated; use predict_heads", DeprecationWarning, stacklevel=2)
        return self.predict_heads(crops)

    def predict_heads(self, crops: np.ndarray) -> HeadOutputs:
        """Every head's output of one forward pass for ``(N, S, S, 3)`` uint8 RGB crops (:class:`HeadOutputs`)."""
        aus = np.full((len(crops), len(AUS)), np.nan, np.float32)
        va = np.zeros((len(crops), 2), np.float32) if self.va_method else None
        eyes = np.zeros((len(crops), 2), np.float32) if self.eyes_method else None
        if len(crops) == 0:
            return HeadOutputs(np.zeros((0, len(EXPRESSIONS)), np.float32), aus, va, eyes)
        outputs: dict[str, list[np.ndarray]] = {name: [] for name in self.output_names}
        for start in range(0, len(crops), self.batch_size):
            batch = self.prepare(crops[start:start + self.batch_size])
            for name, value in zip(self.output_names, self._run(batch)):
                outputs[name].append(value)
        if self.has_aus:
            aus = (0.5 * (1.0 + np.tanh(0.5 * np.concatenate(outputs["au_logits"])))).astype(np.float32)  # sigmoid, no overflow
        if self.va_method:
            va = np.concatenate(outputs["va"]).astype(np.float32)
        if self.eyes_method:
            eyes = np.concatenate(outputs["eyes"]).astype(np.float32)
        expressions = softmax(np.concatenate(outputs["logits"]).astype(np.float32) / self.temperature)
        return HeadOutputs(expressions, aus, va, eyes)

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        try:
            return self.session.run(self.output_names, {self.input_name: batch})
        except Exception as error:  # onnxruntime's Fail / RuntimeException: a model that cannot run on its input
            raise ModelError(f"{self.path}: the model failed to run ({first_line(error)})") from None


def shipped_model(model: str, **options) -> ExpressionModel:
    """An expression model whose ONNX file ships in ``mien/models/weights`` (the registry's factory)."""
    return ExpressionModel(WEIGHTS_DIR / model, **options)


def load_expression_model(model: str | Path | ExpressionBackend, threads: int | None = None,
                          device: str = "cpu") -> ExpressionBackend:
    """``model`` itself when it is a model object (:class:`ExpressionBackend`), a user's ONNX file when it is a
    path (ends in ``.onnx`` or names a file), else the expression model registered under that name."""
    if not isinstance(model, (str, Path)):
        return model
    text = str(model)
    if text.endswith(".onnx") or Path(text).is_file():
        return ExpressionModel(text, threads=threads, device=device)
    from mien.registry import get_spec

    return get_spec(text, "expression").create(threads=threads, device=device)
