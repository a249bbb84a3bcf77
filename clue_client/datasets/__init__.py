"""Data in: each dataset's original file format read into a polars frame of samples; downloads of the
public and credentialed sets, checked against pins and PhysioNet releases; the MeDiSumCode builder."""

from .._lazy import lazy_exports

_EXPORTS = {
    "DATASETS": "formats", "Dataset": "formats", "load": "formats", "dataset_status": "status",
    "sha256_file": "formats", "is_public": "formats",
    "SOURCES": "fetch", "fetch": "fetch", "build_medisumcode": "medisumcode_build",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
