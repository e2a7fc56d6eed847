"""Shared test helpers: where ../shared is, and reading its example messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.medcom_examples import MEDCOM_EXAMPLES, medcom_example_messages
from tests.postgres import running_cluster


@pytest.fixture(scope="session")
def example_paths() -> list[Path]:
    paths = medcom_example_messages()
    assert len(paths) >= 25, f"expected the MedCom examples under {MEDCOM_EXAMPLES}"
    return paths


DATABASES = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=DATABASES,
        default="sqlite",
        help="the database of the hubs and stores under test: SQLite files, or a throw-away PostgreSQL cluster",
    )


@pytest.fixture(scope="session")
def new_database_url(request: pytest.FixtureRequest) -> Iterator[Callable[[Path], str]]:
    """Makes an empty database for one hub or store and gives its URL: a SQLite file in the given directory, or a
    new database in the session's PostgreSQL cluster (``pytest --database postgresql``)."""
    if request.config.getoption("--database") == "sqlite":
        yield lambda directory: f"sqlite+aiosqlite:///{directory / 'hub.sqlite3'}"
        return
    with running_cluster() as cluster:
        yield lambda _directory: cluster.new_database()
