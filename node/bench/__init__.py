"""``tracenode bench``: the targets of docs/design.md §9, measured on this machine."""
