"""``python -m sa3p_host``: the ``sa3p`` command."""

import sys

from sa3p_host._cli import main

sys.exit(main())
