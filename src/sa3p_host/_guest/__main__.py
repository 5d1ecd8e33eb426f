"""``python -m sa3p_host._guest --listen ADDR --workspace DIR [--token-file FILE]``."""

import sys

from sa3p_host._guest import main

sys.exit(main())
