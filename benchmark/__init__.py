"""ichbench: benchmark and challenge evaluation for intracranial hemorrhage segmentation.

Importing ``ichbench`` is cheap: it loads no torch, nnU-Net or matplotlib. The heavy
parts are imported by the commands that need them.
"""

#: The package version, kept equal to ``pyproject.toml``'s (a test checks it against the
#: installed metadata). Written here rather than read with ``importlib.metadata``, which
#: costs ~15 ms at every start of the command line.
__version__ = "0.3.0"

__all__ = ["__version__"]
