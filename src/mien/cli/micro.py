"""``mien micro recognize`` and ``mien micro spot`` (:mod:`mien.workflows.micro`).

    mien micro recognize --onset a.jpg --apex b.jpg
    mien micro recognize --video clip.mp4 --onset-frame 12 --apex-frame 31 --output pred.json
    mien micro spot VIDEO... --output intervals.csv [--plot-dir plots/] [--p 0.3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mien.cli.common import EXIT_INPUT_FAILED, EXIT_OK, EXIT_USAGE


def add_parsers(verbs) -> None:
    micro = verbs.add_parser("micro", help="micro-expressions: recognise an onset/apex pair, spot intervals in videos")
    actions = micro.add_subparsers(dest="micro_action", metavar="ACTION", required=True)

    recognize = actions.add_parser("recognize", help="negative / positive / surprise from an onset and an apex frame")
    recognize.add_argument("--onset", type=Path, help="onset frame image")
    recognize.add_argument("--apex", type=Path, help="apex frame image")
    recognize.add_argument("--video", type=Path, help="a clip; give --onset-frame and --apex-frame (0-based)")
    recognize.add_argument("--onset-frame", type=int, help="0-based index of the onset frame in --video")
    recognize.add_argument("--apex-frame", type=int, help="0-based index of the apex frame in --video")
    recognize.add_argument("--whole-image", action="store_true", help="frames are already-cropped faces")
    recognize.add_argument("--model", type=Path, help="a mien micro ONNX file (default: the shipped one)")
    recognize.add_argument("--output", "-o", type=Path, help="write the prediction as JSON")
    recognize.add_argument("--threads", type=int, help="CPU threads per model")

    spot = actions.add_parser("spot", help="find micro- and macro-expression intervals in long videos")
    spot.add_argument("videos", nargs="+", type=Path, help="the long videos to search")
    spot.add_argument("--output", "-o", type=Path, required=True, help="intervals table: .csv, .jsonl or .json")
    spot.add_argument("--p", type=float, help="threshold between the curve's mean (0) and max (1) "
                                              "(default: the Spotter's, 0.3)")
    spot.add_argument("--plot-dir", type=Path, help="write <video>_spotting.png curve plots here")
    spot.add_argument("--whole-image", action="store_true", help="videos of already-cropped faces")
    spot.add_argument("--threads", type=int, help="CPU threads per model")


def _detector(args: argparse.Namespace) -> dict[str, str]:
    """``detector=`` only for --whole-image: otherwise the library's default detector."""
    from mien.config import WHOLE_IMAGE

    return {"detector": WHOLE_IMAGE} if args.whole_image else {}


def run_recognize(args: argparse.Namespace) -> int:
    from mien.micro.recognize import MicroRecognizer
    from mien.workflows.micro import recognize

    if args.video:
        if args.onset_frame is None or args.apex_frame is None:
            print("mien micro recognize: --video needs --onset-frame and --apex-frame", file=sys.stderr)
            return EXIT_USAGE
    elif not (args.onset and args.apex):
        print("mien micro recognize: give --onset and --apex images, or --video with frame indices", file=sys.stderr)
        return EXIT_USAGE
    recognizer = MicroRecognizer(args.model, **_detector(args), threads=args.threads)
    try:
        record = recognize(recognizer, args.onset, args.apex, args.video, args.onset_frame, args.apex_frame,
                           args.output)
    except (ValueError, OSError) as error:
        print(f"mien micro recognize: {error}", file=sys.stderr)
        return EXIT_INPUT_FAILED
    print(f"{record['source']}: {record['micro_label']} ({record['micro_confidence']:.2f}; "
          + ", ".join(f"{k[6:]} {record[k]:.2f}" for k in ("micro_negative", "micro_positive", "micro_surprise")) + ")")
    return EXIT_OK


def run_spot(args: argparse.Namespace) -> int:
    from mien.io.writers import format_for
    from mien.micro.spot import Spotter
    from mien.workflows.micro import spot_videos

    if format_for(args.output) == "parquet":
        print("mien micro spot: write .csv, .jsonl or .json", file=sys.stderr)
        return EXIT_USAGE
    spotter = Spotter(**({"p": args.p} if args.p is not None else {}), **_detector(args), threads=args.threads)

    def tell(video: Path, outcome) -> None:
        if isinstance(outcome, Exception):
            print(f"mien micro spot: {outcome}", file=sys.stderr)
            return
        counts = {k: sum(i.kind == k for i in outcome.intervals) for k in ("micro", "macro")}
        print(f"{video}: {outcome.frames} frames, {counts['micro']} micro and {counts['macro']} macro intervals",
              file=sys.stderr)

    report = spot_videos(spotter, args.videos, args.output, args.plot_dir, tell)
    return EXIT_INPUT_FAILED if report.failed else EXIT_OK


def run(args: argparse.Namespace) -> int:
    return run_recognize(args) if args.micro_action == "recognize" else run_spot(args)
