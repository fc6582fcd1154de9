"""Corpus-scale batch analysis: resumable, exactly-once, Parquet out, on local processes or Ray.

    from mien.batch import BatchOptions, EngineSettings, read_batch, run_batch
    report = run_batch(["photos/", "clips/"], "out/", BatchOptions(segment_seconds=30),
                       EngineSettings(engine="ray", address="auto"))
    table = read_batch("out/")          # every committed row, one DataFrame

``mien batch`` is the same call on the command line. See :mod:`mien.batch.job` for the output layout and
:mod:`mien.batch.manifest` for the commit protocol.
"""

from mien.batch.engines import EngineSettings
from mien.batch.job import BatchReport, read_batch, run_batch
from mien.batch.plan import BatchOptions

__all__ = ["BatchOptions", "BatchReport", "EngineSettings", "read_batch", "run_batch"]
