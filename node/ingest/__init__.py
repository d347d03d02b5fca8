"""The ingest service: signed events in, checked, durably stored (docs/design.md §5)."""
