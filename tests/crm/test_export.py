"""The manufacturer export: aggregates per SKU, week and deal, and nothing that leads back to a person."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm.export import SEGMENTS, Redemption, export_csv, manufacturer_export
from crm.model import Purchase

MON = datetime(2026, 1, 5, 10, tzinfo=UTC)  # a Monday


def line(member: str, sku: str, at: datetime, tx: str, price: str = "2.00", household: str | None = None) -> Purchase:
    return Purchase(member, sku, "analgesic", "national", Decimal(price), at, tx, household)


def test_rows_per_sku_week_and_deal_with_units_revenue_redemptions_and_segment_counts() -> None:
    purchases = [line("m-ann", "tyl", MON, "tx1"), line("m-ann", "tyl", MON, "tx1"),
                 line("m-bob", "tyl", MON + timedelta(days=6), "tx2"),
                 line("m-bob", "tyl", MON + timedelta(days=7), "tx3")]
    redemptions = [Redemption("tx1", "tyl", "deal-1", Decimal("0.50"))]
    segments = {("m-ann", "analgesic"): "national/high", ("m-bob", "analgesic"): "store/low"}
    rows = manufacturer_export(purchases, redemptions, segments)
    assert [(r.sku, r.week, r.deal, r.units, r.revenue, r.redemptions, r.buyers) for r in rows] == [
        ("tyl", date(2026, 1, 5), "", 2, Decimal("4.00"), 0, 2),
        ("tyl", date(2026, 1, 5), "deal-1", 1, Decimal("1.50"), 1, 1),
        ("tyl", date(2026, 1, 12), "", 1, Decimal("2.00"), 0, 1),
    ]
    assert rows[0].segments["national/high"] == 1 and rows[0].segments["store/low"] == 1
    assert set(rows[0].segments) == {*SEGMENTS, "none"} and len(SEGMENTS) == 9
    funded = manufacturer_export(purchases, redemptions, segments, funded_by="acme", deal_funders={"deal-1": "acme"})
    assert [r.deal for r in funded] == ["deal-1"]
    assert manufacturer_export(purchases, redemptions, segments, min_buyers=2)[0].buyers == 2
    assert len(manufacturer_export(purchases, redemptions, segments, min_buyers=2)) == 1


def test_the_export_holds_no_member_id_name_household_tag_or_transaction() -> None:
    identifiers = ["m-ann", "Ann Example", "hh-ann", "UID:04A1B2C3", "tx-ann-1", "m-bob", "hh-bob", "tx-bob-1"]
    purchases = [line("m-ann", "tyl", MON, "tx-ann-1", household="hh-ann"),
                 line("m-bob", "tyl", MON, "tx-bob-1", household="hh-bob")]
    rows = manufacturer_export(purchases, [Redemption("tx-ann-1", "tyl", "deal-1", Decimal("1"))],
                               {("m-ann", "analgesic"): "swinger/medium"})
    text = export_csv(rows) + repr(rows)
    for identifier in identifiers:
        assert identifier.lower() not in text.lower()
    assert text.splitlines()[0].startswith("sku,category,week,deal,units,revenue")
