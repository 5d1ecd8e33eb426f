"""``python -m sa3p_host._guest ARGS``: the same as ``sa3p serve ARGS``."""

import sys

from sa3p_host._cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
