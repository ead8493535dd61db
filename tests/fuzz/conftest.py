"""The fuzz tests publish as gateway gw1 the same way the ingest tests do."""

from tests.ingest.conftest import gw1  # noqa: F401  (the fixture, shared rather than written twice)
