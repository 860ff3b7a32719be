"""aria: learn a world model of ARC-AGI-3 games from recorded play, and play with it.

The command line (`aria ...`) is a thin skin over these modules; each can be used from Python.
"""

__version__ = "0.1.0"
