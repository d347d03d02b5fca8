"""`python -m node.cli`."""

from node.cli import app

app()
