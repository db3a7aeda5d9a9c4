"""`python -m oscar_c3 <command> [arguments]`: what the launchers in bin/ run."""

import sys

from .cli import main

sys.exit(main())
