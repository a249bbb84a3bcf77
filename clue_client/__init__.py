"""clue-client: run the CLUE clinical benchmark against any OpenAI-compatible endpoint."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clue-client")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
