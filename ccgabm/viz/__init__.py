"""Interactive browser view of the model (Mesa SolaraViz): ``ccgabm viz``.

Only the command-line hooks are imported here; the page itself (``ccgabm.viz.app``) loads
solara, Mesa's visualisation and matplotlib when the server starts.
"""

from ccgabm.viz.server import add_viz_arguments, cli_viz

__all__ = ["add_viz_arguments", "cli_viz"]
