"""``python -m tsdiff``: the ``tsdiff`` command line (see :mod:`tsdiff.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
