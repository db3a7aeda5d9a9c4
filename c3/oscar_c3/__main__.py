"""`python -m oscar_c3 <command> [arguments]`: what the launchers in bin/ run."""

import sys

from . import mux

# Before anything else is imported: a cold run's daemon starts while this process reads the inventory.
mux.prestart(sys.argv[1:])

from .cli import main  # noqa: E402

sys.exit(main())
