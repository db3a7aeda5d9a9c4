"""Entry point for ``python -m oscar_dbservers``."""

import sys

from oscar_dbservers.cli import main

sys.exit(main())
