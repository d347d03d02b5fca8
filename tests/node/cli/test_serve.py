"""`tracenode serve` as a real process: it says "serving" only once it can serve — the
keys opened and the port bound — and the URL it prints is the one that answers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.serve import ServeOptions
from api.serve import serve as serve_node
from node.context import Node, init_node
from node.exceptions import ProductTableError
from node.monitor.products import PRODUCTS_ENV
from tests.api.server import ROOT

PASSWORD = "serve test password"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serve") / "data"
    init_node(path, PASSWORD, pbkdf2_iterations=1000)
    return path


def serve(
    data_dir: Path, password: str, *args: str, stdout: IO[str] | int = subprocess.PIPE
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(data_dir), *args],
        cwd=ROOT,
        env=os.environ | {"TRACENODE_PASSWORD": password, "COLUMNS": "200"},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    return process.returncode, stdout, stderr


def test_a_busy_port_fails_without_claiming_to_serve(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        code, stdout, stderr = finish(serve(data_dir, PASSWORD, "--port", str(port)))

    assert code == 1
    assert "serving" not in stdout + stderr
    assert f"cannot listen on 127.0.0.1:{port}" in stderr
    assert "Traceback" not in stderr


def test_a_wrong_password_fails_without_claiming_to_serve(data_dir: Path) -> None:
    code, stdout, stderr = finish(serve(data_dir, "not the password", "--port", "0"))

    assert code == 1
    assert "serving" not in stdout + stderr
    assert "[keystore-error]" in stderr


def test_a_bad_product_table_fails_serve_and_monitor_before_they_start(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "products.toml"
    table.write_text('version = 1\n[products.milk]\nids = ["milk"]\nunit = "gallons"\n')
    monkeypatch.setenv(PRODUCTS_ENV, str(table))
    heard: list[str] = []

    with Node(data_dir) as node, pytest.raises(ProductTableError, match=r"products\.milk"):
        serve_node(node, PASSWORD, ServeOptions(port=0), listening=heard.append)
    monitor = CliRunner().invoke(app, ["monitor", "--once", "--data-dir", str(data_dir)])

    assert heard == []  # it never said it was serving
    assert monitor.exit_code == 1
    assert "[product-table-invalid]" in monitor.output


def test_a_bad_product_table_fails_the_served_commit_process_and_so_serve(
    data_dir: Path, tmp_path: Path
) -> None:
    # `tracenode serve` follows the chain its commit process owns, and the integrity
    # monitor runs in that process: its start-up checks the table, and fails serve's.
    table = tmp_path / "products.toml"
    table.write_text('version = 1\n[products.milk]\nids = ["milk"]\nunit = "gallons"\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(data_dir), "--port", "0"],
        cwd=ROOT,
        env=os.environ
        | {"TRACENODE_PASSWORD": PASSWORD, "COLUMNS": "200", PRODUCTS_ENV: str(table)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    code, stdout, stderr = finish(process)

    assert code == 1
    assert "serving" not in stdout
    assert "the commit process could not start" in stderr
    assert "products.milk" in stderr
    assert "Traceback" not in stderr


def test_serving_is_said_once_the_port_is_bound_and_names_the_real_port(
    data_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "stdout"
    with log.open("w") as stdout:
        process = serve(data_dir, PASSWORD, "--port", "0", "--log-level", "warning", stdout=stdout)
    try:
        deadline = time.monotonic() + 60
        line, status = "", None
        while time.monotonic() < deadline and process.poll() is None and status is None:
            line = log.read_text().partition("\n")[0]
            if " on http://" in line:
                url = line.split(" on ", 1)[1].split()[0]
                with contextlib.suppress(httpx.TransportError):
                    status = httpx.get(f"{url}/healthz", timeout=2).status_code
            time.sleep(0.2)
    finally:
        process.terminate()
        code, _, stderr = finish(process)

    assert line.startswith(f"serving {data_dir} on http://127.0.0.1:"), line + stderr
    assert not line.split()[3].endswith(":0")
    assert status == 200
    assert code == 0, stderr
