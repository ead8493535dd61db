"""A chain of simulated stores: its store files, its shoppers' reads, and a small chain run end to end
through real gateways' delivery paths, Mosquitto and ingest into SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from ingest.storefile import load_store_file
from silentcommerce.broker import Credentials, free_port
from silentcommerce.chain import ChainOptions, ChainProgress, ingest_commands, run_chain
from simulators.chain import StoreTraffic, write_chain_stores, zone_layout
from simulators.storeplan import load_store_plan


def test_chain_stores_load_and_share_no_name_or_tag(tmp_path: Path) -> None:
    paths = write_chain_stores(tmp_path, 3, 4)
    files = [load_store_file(path) for path in paths]  # the strict loader ingest uses
    assert [f.store.id for f in files] == ["store-0001", "store-0002", "store-0003"]
    for kind, names in {
        "zones": [z.name for f in files for z in f.zones],
        "SKUs": [p.sku for f in files for p in f.products],
        "GTINs": [p.gtin for f in files for p in f.products],
        "members": [m.id for f in files for m in f.members],
        "tags": [t for f in files for t in f.tag_bindings()],
    }.items():
        assert len(names) == len(set(names)), f"{kind} collide across stores"
    assert all(f.exits[0].decide_at == "ingest" for f in files)


def test_zones_are_spread_over_every_gateway() -> None:
    assert {gw for _, _, gw in zone_layout(4)} == {"gw1", "gw2", "gw3", "gw4"}
    six = zone_layout(6)
    assert {gw for _, _, gw in six} == {f"gw{n}" for n in range(1, 7)}
    assert [name for name, _, gw in six if gw == "gw6"] == ["aisle-2"]
    gate = {gw for name, _, gw in six if name.startswith("exit-")}
    assert len(gate) == 1, "both antennas of the exit gate belong to one gateway"
    assert {gw for _, _, gw in zone_layout(1)} == {"gw1"}


def test_store_traffic_reads_a_member_at_the_entrance_then_at_a_lane(tmp_path: Path) -> None:
    (path,) = write_chain_stores(tmp_path, 1, 4)
    zones = {z.name: z.gateway or "" for z in load_store_file(path).zones}
    traffic = StoreTraffic(load_store_plan(path), zones, seed=3)
    traffic.start(0.0)
    card_zones: list[tuple[float, str, str]] = []
    shelf_reads = 0
    for tick in range(250):
        now_s = tick * 0.1
        traffic.advance(now_s)
        for gateway, reads in traffic.reads(now_s, datetime.now(UTC)).items():
            for read in reads:
                assert read.zone is not None and zones[read.zone] == gateway
                if read.uid is not None:
                    card_zones.append((now_s, read.zone, read.uid))
                elif read.zone.endswith(("shelf-dairy", "shelf-dry", "cooler-1")):
                    shelf_reads += 1
    first_uid = card_zones[0][2]
    places = [zone.split("-", 1)[1] for _, zone, uid in card_zones if uid == first_uid]
    assert places[0] == "entrance" and places[-1].startswith("lane-")
    assert shelf_reads > 0


def test_ingest_runs_per_store_or_as_workers_over_every_store() -> None:
    files = [Path("a.toml"), Path("b.toml")]
    per_store = ingest_commands(files, 0, ["--db", "sqlite:///x.db"])
    assert [args[:3] for _, args in per_store] == [["ingest", "--store-file", "a.toml"],
                                                   ["ingest", "--store-file", "b.toml"]]
    workers = ingest_commands(files, 3, [])
    assert len(workers) == 3
    assert all(args.count("--store-file") == 2 and "--worker-id" in args for _, args in workers)


def test_a_small_chain_stores_every_batch_once_and_sells_in_every_store(tmp_path: Path, db_url: str) -> None:
    workdir, port = tmp_path / "chain", free_port()
    seen: list[ChainProgress] = []
    listed: list[list[str]] = []

    def watch(progress: ChainProgress) -> None:
        seen.append(progress)
        if not listed:  # the dashboard follows every store of the chain while it runs
            login = Credentials.load(workdir / "broker" / "credentials.json").dashboard_logins["operator"]
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/stores")
            request.add_header("Authorization", "Basic " + base64.b64encode(f"operator:{login}".encode()).decode())
            with urllib.request.urlopen(request, timeout=10) as response:
                listed.append([store["id"] for store in json.load(response)])

    report = run_chain(
        ChainOptions(stores=3, gateways=2, duration_s=30.0, workdir=workdir, db_url=db_url, tsdb=False,
                     dashboard_port=port),
        lambda _: None, watch,
    )
    assert listed == [["store-0001", "store-0002", "store-0003"]]
    assert [s.store for s in report.stores] == ["store-0001", "store-0002", "store-0003"]
    for store in report.stores:
        assert store.published > 20, store
        assert (store.stored, store.committed) == (store.published, store.published), store
        assert store.transactions >= 1, f"{store.store} sold nothing"
    assert not report.failed
    assert report.total.reads > 0 and report.reads_per_s > 0
    assert any(p.phase.startswith("shoppers") and p.stored > 0 for p in seen)


def test_a_chain_runs_with_one_ingest_per_store_too(tmp_path: Path) -> None:
    report = run_chain(
        ChainOptions(stores=2, gateways=2, duration_s=25.0, workdir=tmp_path / "chain", tsdb=False, ingest_workers=0),
        lambda _: None, lambda _: None,
    )
    assert report.ingest_mode == "per store"
    assert all(s.published > 20 and s.committed == s.stored == s.published for s in report.stores), report.stores
    assert all(s.transactions >= 1 for s in report.stores), report.stores
