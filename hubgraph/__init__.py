"""The ``hubgraph`` command line: the entry point that gathers every hub's commands."""

__version__ = "0.1.0"
