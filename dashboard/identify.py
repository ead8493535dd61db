"""Tag look-up for the live presence view: what a tag is bound to, through the repository."""

from __future__ import annotations

from sqlalchemy import Engine

from dashboard.hub import TagResolver
from dashboard.livestate import TagIdentity, TagKind
from ingest.db import repo

KINDS: dict[str, TagKind] = {"member": "member", "staff": "staff", "item": "item"}


def make_resolver(engine: Engine) -> TagResolver:
    """A blocking resolver (the hub runs it in a worker thread) from tags to member and product names."""

    def resolve(tags: list[str]) -> dict[str, TagIdentity]:
        with engine.connect() as conn:
            found = repo.identify_tags(conn, tags)
        return {tag: TagIdentity(tag, KINDS.get(row.kind, "unknown"), row.ref, row.name) for tag, row in found.items()}

    return resolve
