"""The ingest service: signed events in, checked, durably stored (DESIGN.md §5)."""
