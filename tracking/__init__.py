"""From a raw fix to what it means: geometry, filters, detectors, ingest, protocols."""
