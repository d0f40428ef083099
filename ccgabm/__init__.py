"""ccgabm: agent-based simulation of GP-led health commissioning in England."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ccgabm")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
