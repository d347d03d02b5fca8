"""docs/testing.md's example, run as an integrator would: its own file, a separate pytest
process, the fixtures found through the installed plugin's entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_documented_example_passes_through_the_plugin(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "testing.md").read_text()
    example = re.search(r"## A complete example\n\n```python\n(.*?)```", text, re.S)
    assert example is not None
    (tmp_path / "test_integration.py").write_text(example.group(1))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
