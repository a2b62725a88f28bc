"""``python -m heart_geo`` is the ``heart-geo`` command."""

import sys

from ._quick import main

if __name__ == "__main__":
    sys.exit(main())
