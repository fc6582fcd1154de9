"""Classifier latency and throughput of every registered expression model (issue 3 targets).

The ONNX network alone, as the pipeline runs it (onnxruntime, 2 intra-op threads, spinning off), on aligned
crops of the model's own size: batch 1 latency (median and p90 over 300 calls after 30 warm-up calls) and
batch 32 throughput (faces/s, median over 60 calls). Every output the file has (expression, AUs, eyes,
...) is computed, because the pipeline asks for all of them in one pass.

    python benchmarks/bench_models.py
"""

from __future__ import annotations

import time

import numpy as np
from common import save

THREADS = 2


def time_calls(run, calls: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        run()
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return np.array(seconds)


def measure(name: str) -> dict:
    from mien.registry import get_spec

    spec = get_spec(name, "expression")
    model = spec.create(threads=THREADS)
    size = model.crop.size
    rng = np.random.default_rng(0)

    def batch(n: int) -> np.ndarray:
        return model.prepare(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))

    one, thirty_two = batch(1), batch(32)
    outputs = model.output_names
    single = time_calls(lambda: model.session.run(outputs, {model.input_name: one}), 300, 30) * 1000
    many = time_calls(lambda: model.session.run(outputs, {model.input_name: thirty_two}), 60, 5)
    return {"input": f"{size}x{size} {model.colour}", "outputs": outputs, "size_mb": spec.size_mb,
            "batch1_median_ms": float(np.median(single)), "batch1_p90_ms": float(np.percentile(single, 90)),
            "batch32_faces_per_s": float(32 / np.median(many)), "batch32_ms_per_face": float(np.median(many) * 1000 / 32)}


def main() -> None:
    import os

    from mien.registry import list_models

    load_before = os.getloadavg()[0]
    results = {spec.name: measure(spec.name) for spec in list_models("expression")}
    for name, r in results.items():
        print(name, r)
    save("models", {"threads": THREADS, "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
                    "models": results})


def models_section(bench: dict, targets: dict[str, float]) -> list[str]:
    lines = [
        f"## Expression classifiers alone (`python benchmarks/bench_models.py`), {bench['threads']} threads",
        "",
        "The ONNX network on aligned crops, all its outputs in one pass (expression, AUs, eyes), without",
        "detection or alignment. 1-minute load average before / after: "
        f"{bench['load_average_1min']['before']:.1f} / {bench['load_average_1min']['after']:.1f}.",
        "",
        "| model | input | MB | batch 1 median ms | batch 1 p90 ms | batch 32 faces/s | batch 32 ms/face | target (batch 1) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in bench["models"].items():
        target = targets.get(name)
        verdict = "" if target is None else (f"<= {target} ms: " + ("met" if r["batch1_median_ms"] <= target else "**missed**"))
        lines.append(f"| `{name}` | {r['input']} | {r['size_mb']} | {r['batch1_median_ms']:.2f} | {r['batch1_p90_ms']:.2f} | "
                     f"{r['batch32_faces_per_s']:.0f} | {r['batch32_ms_per_face']:.2f} | {verdict} |")
    return lines + [""]


if __name__ == "__main__":
    main()
