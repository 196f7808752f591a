"""``python -m greenpipe``: the same as the ``greenpipe`` console script."""

import sys

from greenpipe.app.cli import main

sys.exit(main())
