"""Hide PyTorch: any import of torch (or torch.*, torchvision) raises ImportError, as on a machine without it.

``make test-notorch`` puts this folder first on PYTHONPATH so that Python imports it at start-up; the suite
without the ``train`` tests must then collect and pass (what ``make test-fast`` promises on a fresh clone)."""
import sys
from importlib.abc import MetaPathFinder


class _NoTorch(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"No module named {name!r} (hidden by /tmp/notorch)")
        return None


sys.meta_path.insert(0, _NoTorch())
