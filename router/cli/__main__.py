"""``python -m router.cli``: the ``chapar`` command."""

import sys

from router.cli import main

if __name__ == "__main__":  # a spawned child (content rules) imports this as __mp_main__
    sys.exit(main())
