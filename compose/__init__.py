"""pycompose's compose layer: the file format, the project model and orchestration.

Nothing in this package makes a system call; it talks to Linux only through
``engine``'s public API.
"""

__version__ = "0.1.0"
