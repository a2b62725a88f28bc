"""``python -m heart_geo`` is the ``heart-geo`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
