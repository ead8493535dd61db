"""The engine: PostgreSQL's pool is sized from the database URL, per process."""

from __future__ import annotations

import pytest
from sqlalchemy.pool import QueuePool

from ingest.db.engine import POOL_DEFAULTS, make_engine
from ingest.db.errors import DatabaseError

PG = "postgresql+psycopg://ingest@db.example/store"


def test_the_postgres_pool_is_sized_by_the_url_and_the_options_do_not_reach_the_server() -> None:
    default = make_engine(PG)
    sized = make_engine(f"{PG}?pool_size=3&max_overflow=0&application_name=ingest-1")
    assert isinstance(sized.pool, QueuePool) and isinstance(default.pool, QueuePool)
    assert (default.pool.size(), default.pool._max_overflow) == (POOL_DEFAULTS["pool_size"], POOL_DEFAULTS["max_overflow"])
    assert (sized.pool.size(), sized.pool._max_overflow) == (3, 0)
    assert dict(sized.url.query) == {"application_name": "ingest-1"}


@pytest.mark.parametrize(("url", "names"), [
    ("sqlite:///store.db?pool_size=3", "pool_size is for PostgreSQL"),
    (f"{PG}?pool_size=many", "pool_size must be a whole number"),
    (f"{PG}?pool_size=0", "pool_size 0 is out of range"),
    (f"{PG}?max_overflow=-1", "max_overflow -1 is out of range"),
])
def test_bad_pool_options_are_refused_naming_the_option(url: str, names: str) -> None:
    with pytest.raises(DatabaseError, match=names):
        make_engine(url)

