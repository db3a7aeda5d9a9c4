"""Entry point for ``python -m oscar_testbed``."""

import sys

from oscar_testbed.cli import main

sys.exit(main())
