"""Data in: each dataset's original file format read into a polars frame of samples, and downloads of the
public and credentialed sets with pinned checksums."""

from .._lazy import lazy_exports

_EXPORTS = {
    "DATASETS": "formats", "Dataset": "formats", "load": "formats", "dataset_status": "formats",
    "sha256_file": "formats", "is_public": "formats",
    "SOURCES": "fetch", "fetch": "fetch",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
