"""Long commands show their steps: rich's progress display when stderr is a terminal (a
real pseudo-terminal here); the plain lines of a log are tested with the commands
themselves (tests/node/test_bench.py, tests/node/test_demo.py)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

from tests.api.server import ROOT

BENCH = [
    *("bench", "--json", "--no-ingest", "--no-commit", "--burst", "0", "--no-provenance"),
    *("--no-whole-path", "--no-chain-storage"),
    *("--preload", "1000", "--events", "100", "--bulk", "100"),
]


def test_bench_on_a_terminal_shows_each_step_done_with_its_time() -> None:
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "node.cli", *BENCH],
        cwd=ROOT,
        env=os.environ | {"COLUMNS": "100"},
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the terminal's other end closed: the process is done
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break
        stdout, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(controller)

    text = shown.decode(errors="replace")
    assert process.returncode == 0, text
    assert json.loads(stdout)["store_growth"]["preloaded"] == 1000  # stdout: the figures alone
    assert "store growth: filling a store with 1,000 events" in text
    assert "✓" in text  # a finished step
    assert "\x1b[" in text  # drawn as a live display, not printed as log lines
    assert " s  store growth:" not in text
