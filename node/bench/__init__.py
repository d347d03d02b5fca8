"""``tracenode bench``: the targets of DESIGN.md §9, measured on this machine."""
