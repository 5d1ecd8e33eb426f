"""``python -m sa3p_host``: the ``sa3p`` command (its platform check first)."""

import sys

from sa3p_host import main

sys.exit(main())
