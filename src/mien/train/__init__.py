"""Training and export (PyTorch: ``pip install 'mien[train]'``); never imported by inference code."""
