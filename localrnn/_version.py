"""The package version, in a module of its own so that modules can read it without
importing the package (``from . import __version__`` in a submodule closes an import cycle)."""
__version__ = "0.1.0"
