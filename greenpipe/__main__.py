"""``python -m greenpipe``: the same as the ``greenpipe`` console script."""

import sys

from greenpipe.app.cli import main

if __name__ == "__main__":  # not when a spawned writer process imports it
    sys.exit(main())
