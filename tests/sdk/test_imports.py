"""The SDK runs on a supplier's machine: importing it loads no server-side part."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_sdk_imports_without_the_store_or_the_web_framework() -> None:
    script = (
        "import json, sys; import node.sdk; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'sqlmodel', 'alembic', 'fastapi', 'starlette', 'uvicorn', 'api') "
        "or m.startswith(('node.store', 'node.ingest', 'node.context', 'node.commit')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    assert json.loads(result.stdout) == []
