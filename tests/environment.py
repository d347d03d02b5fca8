"""What the tests need from the machine, and what they do without it.

A test that needs a service or a tool the machine may lack (PostgreSQL, anvil, Chromium
and chromedriver, zbarimg, jq) calls :func:`unavailable` when it is missing: skipped on a
developer's machine, a failure in CI. CI is told by the environment variable ``CI``,
which .ci/run exports; scripts/test.sh installs and starts all of them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, make_url, text

#: The PostgreSQL server the store's PostgreSQL variants use (scripts/test.sh sets it).
POSTGRES_URL_ENV = "TRACENODE_TEST_POSTGRES_URL"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(reason: str) -> NoReturn:
    """Skip the test for want of ``reason``; in CI, where nothing may be missing, fail it."""
    if in_ci():
        pytest.fail(f"{reason}, in CI")
    pytest.skip(reason)


def postgres_admin_url() -> str:
    """The URL of the test PostgreSQL server; :func:`unavailable` when it is not set."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if url is None:
        unavailable(f"{POSTGRES_URL_ENV} not set (scripts/test.sh sets it)")
    return url


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database on the test PostgreSQL server, dropped afterwards: its URL."""
    admin_url = postgres_admin_url()
    name = f"tracenode_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
