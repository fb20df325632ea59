"""``python -m router.cli``: the ``chapar`` command."""

import sys

from router.cli import main

sys.exit(main())
