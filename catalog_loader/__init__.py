"""Real product data in, normalized :class:`sandbox.catalog.Product` records out."""

from catalog_loader.load import iter_source, iter_sources
from catalog_loader.presets import SHARED_PRESETS, preset, preset_names
from catalog_loader.report import FileCounts, Reject, SourceReport
from catalog_loader.spec import SourceSpec, SpecError, load_spec_file

__all__ = [
    "SHARED_PRESETS",
    "FileCounts",
    "Reject",
    "SourceReport",
    "SourceSpec",
    "SpecError",
    "iter_source",
    "iter_sources",
    "load_spec_file",
    "preset",
    "preset_names",
]
