"""The published JSON Schema of the wire contract (docs/schema/) is exactly what the models generate.

Regenerate after changing a model: ``python -m tests.ingest.test_service_wire_docs``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from contract.payloads import (
    Ack,
    BusinessEvent,
    Command,
    GateAlarm,
    ReadsBatch,
    SensorsBatch,
    Status,
    WorkerState,
)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schema"
MODELS: dict[str, type[BaseModel]] = {
    "reads": ReadsBatch,
    "sensors": SensorsBatch,
    "status": Status,
    "cmd": Command,
    "ack": Ack,
    "event": BusinessEvent,
    "alarm": GateAlarm,
    "worker": WorkerState,
}


def generated(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_schema_matches_the_model(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.json"
    assert path.exists(), f"{path.name} is missing: run python -m tests.ingest.test_service_wire_docs"
    assert path.read_text() == generated(MODELS[name]), (
        f"{path.name} is stale: run python -m tests.ingest.test_service_wire_docs"
    )


def test_every_schema_file_belongs_to_a_model() -> None:
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.json")) == sorted(MODELS)


def test_the_examples_in_the_wire_contract_doc_are_valid_payloads() -> None:
    from contract.payloads import decode

    text = (SCHEMA_DIR.parent / "wire-contract.md").read_text()
    examples = re.findall(r"```json (\w+)\n(.*?)```", text, re.S)
    assert sorted({name for name, _ in examples}) == sorted(MODELS)
    for name, body in examples:
        decode(MODELS[name], body.encode())  # type: ignore[type-var]


def main() -> None:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name, model in MODELS.items():
        (SCHEMA_DIR / f"{name}.json").write_text(generated(model))
        print(f"wrote {SCHEMA_DIR / f'{name}.json'}")


if __name__ == "__main__":
    main()
