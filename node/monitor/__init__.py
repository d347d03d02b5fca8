"""The integrity monitor: rules that compare the store with the chain and with itself, and
raise graded, deduplicated alerts (docs/monitor.md)."""
