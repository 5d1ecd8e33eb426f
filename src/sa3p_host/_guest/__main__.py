"""``python -m sa3p_host._guest ARGS``: the same as ``sa3p serve ARGS``, started without
loading the engine or the parser (sessions start their guest this way)."""

import sys

from sa3p_host._guest._serve_command import main

sys.exit(main(sys.argv[1:]))
