"""A member's own link: signed and expiring, it shows that member only their records with the reasons, and lets
them dispute a charge; a forged, altered or expired link shows nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from dashboard.member_link import LinkError, member_secret, sign, verify
from tests.dashboard.conftest import OPERATOR
from tests.dashboard.test_crm_api import ADA_DISPUTE_TX, client  # noqa: F401  (the seeded history's API)

SECRET = "member-link-test-secret"
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_a_link_names_its_member_until_it_expires_and_nothing_else_verifies() -> None:
    token = sign(SECRET.encode(), "M-1001", NOW + timedelta(days=14))
    assert verify(SECRET.encode(), token, NOW) == ("M-1001", NOW + timedelta(days=14))
    member, stamp, sig = token.split(".")
    for bad, why in [
        (f"M-1002.{stamp}.{sig}", "not issued by this store"),  # another member's name on Ada's signature
        (f"{member}.{int(stamp) + 86400}.{sig}", "not issued by this store"),  # a longer life
        (sign(b"another secret", "M-1001", NOW + timedelta(days=14)), "not issued by this store"),
        (token[:-1], "not a member link"),
        ("M-1001", "not a member link"),
    ]:
        with pytest.raises(LinkError, match=why):
            verify(SECRET.encode(), bad, NOW)
    with pytest.raises(LinkError, match="expired"):
        verify(SECRET.encode(), token, NOW + timedelta(days=14))


def issue(api: TestClient, member: str) -> str:
    answer = api.post(f"/api/members/{member}/link", auth=OPERATOR, json={"valid_days": 7})
    assert answer.status_code == 200, answer.text
    link = answer.json()
    assert link["url"].startswith("/me/") and link["member"] == member
    return str(link["url"]).removeprefix("/me/")


def test_staff_issue_links_members_open_them_without_a_login(client: TestClient) -> None:  # noqa: F811
    assert client.post("/api/members/M-1001/link", json={}).status_code == 401
    assert client.post("/api/members/M-9999/link", auth=OPERATOR, json={}).status_code == 404
    assert client.post("/api/members/M-1001/link", auth=OPERATOR, json={"valid_days": 365}).status_code == 422
    token = issue(client, "M-1001")
    page = client.get(f"/me/{token}")
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
    assert 'data-page="me"' in page.text
    me = client.get(f"/api/me/{token}")
    assert me.status_code == 200
    assert (me.json()["id"], me.json()["name"]) == ("M-1001", "Ada Lovelace")


def test_a_member_sees_only_their_own_purchases_and_decisions_with_reasons(client: TestClient) -> None:  # noqa: F811
    ada = client.get(f"/api/me/{issue(client, 'M-1001')}").json()
    staff_view = client.get("/api/members/M-1001/crm", auth=OPERATOR).json()
    assert [p["transaction_id"] for p in ada["purchases"]] == [h["transaction_id"] for h in staff_view["history"]]
    assert {d["rule"] for d in ada["decisions"]} == {d["rule"] for d in staff_view["decisions"]}
    assert all(line["name"] and line["unit_price"] for p in ada["purchases"] for line in p["lines"])
    assert {o["sku"]: o["reason"] for o in ada["offers"]}["EGGS"].startswith("10 % off Free-range eggs 6")
    redeemed = [x for p in ada["purchases"] for x in p["lines"] if x["offer_reason"]]
    assert all(x["discount"] != "0" for x in redeemed)
    ben = client.get(f"/api/me/{issue(client, 'M-1002')}").json()
    assert ben["name"] == "Ben Lovelace"
    assert not {p["transaction_id"] for p in ben["purchases"]} & {p["transaction_id"] for p in ada["purchases"]}
    assert "household_totals" not in ada  # what the household's other members spend is theirs


def test_forged_altered_and_expired_links_are_refused(client: TestClient) -> None:  # noqa: F811
    token = issue(client, "M-1001")
    member, stamp, sig = token.split(".")
    key = member_secret(client.app.state.auth.secret)  # type: ignore[attr-defined]
    expired = sign(key, "M-1001", datetime.now(UTC) - timedelta(seconds=1))
    from_a_session_secret = sign(client.app.state.auth.secret.encode(), "M-1001",  # type: ignore[attr-defined]
                                 datetime.now(UTC) + timedelta(days=1))
    for bad in (f"M-1002.{stamp}.{sig}", f"{member}.{int(stamp) + 1}.{sig}", expired, from_a_session_secret, "M-1001",
                "x" * 300):
        for path in (f"/me/{bad}", f"/api/me/{bad}"):
            answer = client.get(path, headers={"Accept": "text/html"})  # a browser: refused, not sent to sign in
            assert answer.status_code in (401, 422), (path, answer.status_code)
            assert "Ada" not in answer.text
    assert "expired" in client.get(f"/api/me/{expired}").json()["detail"]


def test_a_member_disputes_their_own_charge_and_only_theirs(client: TestClient) -> None:  # noqa: F811
    token = issue(client, "M-1001")
    ada = client.get(f"/api/me/{token}").json()
    sale = next(p for p in ada["purchases"] if p["transaction_id"] == ADA_DISPUTE_TX)
    milk = next(x for x in sale["lines"] if x["sku"] == "MILK-1L")
    answer = client.post(f"/api/me/{token}/disputes",
                         json={"transaction_id": ADA_DISPUTE_TX, "tag": milk["tag"], "reason": "not mine"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["member"], answer.json()["status"]) == ("M-1001", "kept")  # she buys milk every week
    assert answer.json()["reason"].startswith("the charge stands: you have bought this product")
    again = client.get(f"/api/me/{token}").json()
    line = next(x for p in again["purchases"] if p["transaction_id"] == ADA_DISPUTE_TX
                for x in p["lines"] if x["tag"] == milk["tag"])
    assert line["dispute"] == "kept" and again["disputes"][0]["status"] == "kept"
    assert any(d["kind"] == "dispute" for d in again["decisions"])
    ben_sale = client.get(f"/api/me/{issue(client, 'M-1002')}").json()["purchases"][0]
    stolen = {"transaction_id": ben_sale["transaction_id"], "tag": ben_sale["lines"][0]["tag"]}
    assert client.post(f"/api/me/{token}/disputes", json=stolen).status_code == 404
