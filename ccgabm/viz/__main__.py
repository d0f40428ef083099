"""``python -m ccgabm.viz [CONFIG] [--host H] [--port P]``: the same as ``ccgabm viz``."""

import sys

from ccgabm.viz.server import main

sys.exit(main())
