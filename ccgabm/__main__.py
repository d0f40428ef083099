"""``python -m ccgabm`` runs the command line."""

import sys

from ccgabm.cli import main

sys.exit(main())
