"""Run the README's Python example on the real media and print its output (pasted into README.md).

    python scripts/readme_examples.py ../shared/datasets/media/pyfeat
"""

import sys
from pathlib import Path

import pandas as pd

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
pd.set_option("display.float_format", "{:.3f}".format)


media = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/media/pyfeat")

# --- the example, as shown in the README ---
import mien  # noqa: E402

analyzer = mien.Analyzer()  # loads the detector and the expression model once
result = analyzer.analyze([media / "multi_face.jpg", media / "0-f1-su-ph.jpg", media / "free-mountain-vector-01.jpg"])
print(result)
table = result.to_pandas()
table["input"] = table["input"].map(lambda p: Path(p).name)  # (shortened for display)
print(table[["input", "face_id", "success", "face_score", "quality", "expression", "expr_happy", "expr_surprise"]])

stream = analyzer.analyze_video(media / "WolfgangLanger_Pexels.mp4", detect_every=3)
for frame in stream:  # one Result per frame, as the video is decoded
    pass
summary = stream.summary()
print(summary[["track_id", "start", "end", "frames", "dominant_expression", "mean_happy", "share_happy"]])
