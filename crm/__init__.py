"""Members and one-to-one marketing: pure rules (no I/O, no clock).

Every function that needs the time takes ``now``; money is ``Decimal``; value
objects are frozen dataclasses. Persistence and hooks live in ``ingest``.
"""
