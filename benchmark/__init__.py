"""ichbench: benchmark and challenge evaluation for intracranial hemorrhage segmentation.

Importing ``ichbench`` is cheap: it loads no torch, nnU-Net or matplotlib. The heavy
parts are imported by the commands that need them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ichbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
