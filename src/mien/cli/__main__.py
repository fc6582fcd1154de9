"""``python -m mien.cli``: the same as the ``mien`` command."""

import sys

from mien.cli import main

sys.exit(main())
