"""Model backends (ONNX) and the built-in catalog; weights ship in ``models/weights``."""
