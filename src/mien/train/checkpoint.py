"""Loading training checkpoints without running code from them.

``torch.load`` unpickles; with ``weights_only=False`` a crafted ``.pt`` file runs any code it names. mien's
checkpoints hold only tensors and plain values (numbers, strings, lists, dicts: the run's config is the
JSON of ``config.json``), so they load with ``weights_only=True``, and anything else is refused with the
reason. Checkpoints, like model files, should still come from sources you trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely; the message names the file and the reason."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at ``path`` (on the CPU), loaded with ``weights_only=True``.

    Raises :class:`CheckpointError` when the file is missing, is not a checkpoint, or holds Python objects
    other than tensors and plain values (such a file is refused before any of it runs).
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path}: refused: the checkpoint holds Python objects other than tensors and plain values, which "
            f"could run code when loaded ({reason}); mien loads checkpoints with weights_only=True only") from None
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: not a mien checkpoint (a {type(checkpoint).__name__}, not a dict)")
    return checkpoint
