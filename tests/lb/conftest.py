"""tests/lb: the balancer. The directory is on sys.path (pytest rootdir-relative imports), so the
test modules import the replay helpers with ``import replay``."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
