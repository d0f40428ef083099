"""ccgabm: agent-based simulation of GP-led health commissioning in England."""


def __getattr__(name: str) -> str:
    """``ccgabm.__version__``, read from the installed metadata when first asked for."""
    if name != "__version__":
        raise AttributeError(f"module 'ccgabm' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("ccgabm")
    except PackageNotFoundError:  # running from a source tree without installation
        value = "0.0.0+source"
    globals()["__version__"] = value
    return value
