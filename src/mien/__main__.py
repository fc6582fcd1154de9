"""``python -m mien``: the same as the ``mien`` command."""

from mien.cli import main

raise SystemExit(main())
