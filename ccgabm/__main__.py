"""``python -m ccgabm`` runs the command line."""

from ccgabm.cli import entry

entry()
