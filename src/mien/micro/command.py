"""``mien micro recognize`` and ``mien micro spot``: the command line of :mod:`mien.micro`.

    mien micro recognize --onset a.jpg --apex b.jpg
    mien micro recognize --video clip.mp4 --onset-frame 12 --apex-frame 31 --output pred.json
    mien micro spot VIDEO... --output intervals.csv [--plot-dir plots/] [--p 0.3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(verbs) -> None:
    micro = verbs.add_parser("micro", help="micro-expressions: recognise an onset/apex pair, spot intervals in videos")
    actions = micro.add_subparsers(dest="micro_action", metavar="ACTION", required=True)

    recognize = actions.add_parser("recognize", help="negative / positive / surprise from an onset and an apex frame")
    recognize.add_argument("--onset", type=Path, help="onset frame image")
    recognize.add_argument("--apex", type=Path, help="apex frame image")
    recognize.add_argument("--video", type=Path, help="a clip; give --onset-frame and --apex-frame (0-based)")
    recognize.add_argument("--onset-frame", type=int)
    recognize.add_argument("--apex-frame", type=int)
    recognize.add_argument("--whole-image", action="store_true", help="frames are already-cropped faces")
    recognize.add_argument("--model", type=Path, help="a mien micro ONNX file (default: the shipped one)")
    recognize.add_argument("--output", "-o", type=Path, help="write the prediction as JSON")
    recognize.add_argument("--threads", type=int)

    spot = actions.add_parser("spot", help="find micro- and macro-expression intervals in long videos")
    spot.add_argument("videos", nargs="+", type=Path)
    spot.add_argument("--output", "-o", type=Path, required=True, help="intervals table: .csv, .jsonl or .json")
    spot.add_argument("--p", type=float, default=0.3, help="threshold between the curve's mean (0) and max (1)")
    spot.add_argument("--plot-dir", type=Path, help="write <video>_spotting.png curve plots here")
    spot.add_argument("--whole-image", action="store_true", help="videos of already-cropped faces")
    spot.add_argument("--threads", type=int)


def frames_from_video(path: Path, indices: list[int]):
    """The RGB frames at the given 0-based indices, decoded in one pass."""
    from mien.video.reader import read_video

    wanted, found = set(indices), {}
    for frame in read_video(path):
        if frame.image is None:
            break
        if frame.index in wanted:
            found[frame.index] = frame.image
            if len(found) == len(wanted):
                break
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(f"{path}: frame(s) {missing} not in the video")
    return [found[i] for i in indices]


def run_recognize(args: argparse.Namespace) -> int:
    from mien.micro.recognize import MicroRecognizer

    if args.video:
        if args.onset_frame is None or args.apex_frame is None:
            print("mien micro recognize: --video needs --onset-frame and --apex-frame", file=sys.stderr)
            return EXIT_USAGE
    elif not (args.onset and args.apex):
        print("mien micro recognize: give --onset and --apex images, or --video with frame indices", file=sys.stderr)
        return EXIT_USAGE
    recognizer = MicroRecognizer(args.model, detector="whole-image" if args.whole_image else "retinaface",
                                 threads=args.threads)
    try:
        if args.video:
            onset, apex = frames_from_video(args.video, [args.onset_frame, args.apex_frame])
            source = f"{args.video}[{args.onset_frame}->{args.apex_frame}]"
            prediction = recognizer.recognize(onset, apex)
        else:
            source = f"{args.onset} -> {args.apex}"
            prediction = recognizer.recognize_files(args.onset, args.apex)
    except (ValueError, OSError) as error:
        print(f"mien micro recognize: {error}", file=sys.stderr)
        return EXIT_INPUT_FAILED
    record = {"source": source, **prediction.to_record(),
              "face_box": None if prediction.face_box is None else [round(float(v), 1) for v in prediction.face_box]}
    print(f"{source}: {record['micro_label']} ({record['micro_confidence']:.2f}; "
          + ", ".join(f"{k[6:]} {record[k]:.2f}" for k in ("micro_negative", "micro_positive", "micro_surprise")) + ")")
    if args.output:
        from mien.io.writers import write_atomic

        write_atomic(args.output, json.dumps(record, indent=2))  # a new temporary file: never through a link
    return EXIT_OK


SPOT_COLUMNS = ["source", "kind", "onset", "apex", "offset", "score", "onset_time", "apex_time", "offset_time"]


def run_spot(args: argparse.Namespace) -> int:
    from mien.io.writers import TableWriter
    from mien.micro.spot import Spotter

    from mien.io.writers import format_for

    if format_for(args.output) == "parquet":
        print("mien micro spot: write .csv, .jsonl or .json", file=sys.stderr)
        return EXIT_USAGE
    spotter = Spotter(p=args.p, detector="whole-image" if args.whole_image else "retinaface", threads=args.threads)
    failed = 0
    with TableWriter(args.output, SPOT_COLUMNS) as writer:
        for video in args.videos:
            try:
                result = spotter.spot_video(video)
            except (ValueError, OSError) as error:
                print(f"mien micro spot: {error}", file=sys.stderr)
                failed += 1
                continue
            writer.write(result.to_records())
            counts = {k: sum(i.kind == k for i in result.intervals) for k in ("micro", "macro")}
            print(f"{video}: {result.frames} frames, {counts['micro']} micro and {counts['macro']} macro intervals",
                  file=sys.stderr)
            if args.plot_dir:
                from mien.viz.micro import plot_spotting

                args.plot_dir.mkdir(parents=True, exist_ok=True)
                plot_spotting(result, args.plot_dir / f"{video.stem}_spotting.png")
    return EXIT_INPUT_FAILED if failed else EXIT_OK


def run(args: argparse.Namespace) -> int:
    return run_recognize(args) if args.micro_action == "recognize" else run_spot(args)
