"""The C3 package lives in c3/ at the repository root."""

import sys
from pathlib import Path

C3_DIR = str(Path(__file__).resolve().parents[3] / "c3")
if C3_DIR not in sys.path:
    sys.path.insert(0, C3_DIR)
