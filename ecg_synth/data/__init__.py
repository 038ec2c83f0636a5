"""MIT-BIH data pipeline: WFDB reading, AAMI labels, filtering, segmentation, splits, cache.

The DataModule (``ecg_synth.data.datamodule.ECGDataModule``) is not imported here so that
``import ecg_synth.data`` stays free of Lightning.
"""

import ecg_synth.numerics  # noqa: F401  (warms up MKL VML: see the module)
from ecg_synth.data.aami import AAMI_GROUPS, SYMBOL_TO_CLASS, symbols_to_labels
from ecg_synth.data.build import build_segments
from ecg_synth.data.splits import split_indices
from ecg_synth.data.types import AAMI_CLASSES, Record, SegmentSet
from ecg_synth.data.wfdb_io import DataError, list_records, read_record

__all__ = [
    "AAMI_CLASSES",
    "AAMI_GROUPS",
    "SYMBOL_TO_CLASS",
    "DataError",
    "Record",
    "SegmentSet",
    "build_segments",
    "list_records",
    "read_record",
    "split_indices",
    "symbols_to_labels",
]
