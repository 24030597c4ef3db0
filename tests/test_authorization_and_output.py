"""Who may do what, and output a client or a spreadsheet can trust (the mobile-API issue):
four eyes by author and filer, drafts only for their own merchant and the bureau, a suspended
merchant sends no credits, a trace follows a block through every holder, unfreeze answers the
truth, CSV cells that would be formulas are neutralised, pages are never framed, certificates stay
well-formed XML."""
import csv
import io
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from accounting.business_day import shanghai_day
from accounting.errors import Conflict
from accounting.quantification.defaults import TRIP_V1, TRIP_V1_SOURCES
from accounting.quantification.methodologies import approve_version, draft_version, file_version
from accounting.quantification.models import Methodology
from api.certificates import retirement_certificate_svg, xml_text
from api.csv_export import csv_text, neutralised
from config.extensions import db
from tests.console_support import signed_in
from tests.console_support import staff as console_staff
from tests.coupons_support import (
    METRO_10_KM_G,
    create_campaign,
    open_shop,
    residents_with_credits,
    staff,
)

# --- four eyes ---------------------------------------------------------------------------------

def test_neither_the_author_nor_the_filer_approves_a_version(app):
    with app.app_context():
        trip = db.session.scalar(select(Methodology.id).where(Methodology.code == "TRIP"))
        moment = datetime(2030, 1, 1, tzinfo=timezone.utc)
        version = draft_version(trip, TRIP_V1, TRIP_V1_SOURCES, moment, None, actor_id=1)  # written by 1
        file_version(trip, version.version, actor_id=2)  # filed by 2
        for author_or_filer in (1, 2):
            with pytest.raises(Conflict) as refused:
                approve_version(trip, version.version, actor_id=author_or_filer)
            assert refused.value.code == "approver_is_filer"
        approved = approve_version(trip, version.version, actor_id=3)
        assert approved.status == "approved"
        db.session.rollback()


# --- drafts ------------------------------------------------------------------------------------

def test_a_draft_campaign_is_seen_only_by_its_merchant_and_the_bureau(app, api):
    own, other = open_shop(app, api, name="黄河路面馆"), open_shop(app, api, name="渤海路书店")
    draft = create_campaign(api, own, status="draft")
    resident = api.register()
    path = f"/api/v1/campaigns/{draft['id']}"
    assert api.http.get(path, headers=own.cashier).status_code == 200
    assert api.http.get(path, headers=own.auditor).status_code == 200
    for stranger in (other.cashier, resident.auth()):
        answer = api.http.get(path, headers=stranger)
        assert answer.status_code == 404 and answer.get_json()["code"] == "campaign_not_found"
    published = create_campaign(api, own)
    assert api.http.get(f"/api/v1/campaigns/{published['id']}", headers=other.cashier).status_code == 200


# --- suspension --------------------------------------------------------------------------------

def test_a_suspended_merchant_sends_no_credits(app, api):
    shop = open_shop(app, api)
    campaign = create_campaign(api, shop, price_g=100, stock=5)
    [resident] = residents_with_credits(app, api, 1)
    coupon = api.http.post(f"/api/v1/campaigns/{campaign['id']}/claim", headers=resident.auth()).get_json()
    token = api.http.get(f"/api/v1/me/coupons/{coupon['id']}", headers=resident.auth()).get_json()["qr_token"]
    assert api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop.cashier).status_code == 200

    def send():
        return (api.http.post("/api/v1/transfers", headers=shop.cashier,
                              json={"to_account_number": resident.account_number, "amount_g": 10}),
                api.http.post(f"/api/v1/merchants/{shop.id}/retirements", headers=shop.cashier,
                              json={"amount_g": 10, "beneficiary": "面馆", "purpose": "消纳"}))

    suspended = api.http.post(f"/api/v1/merchants/{shop.id}/suspend", headers=shop.auditor,
                              json={"note": "complaints"})
    assert suspended.status_code == 200, suspended.get_json()
    for refused in send():
        assert refused.status_code == 409 and refused.get_json()["code"] == "merchant_not_approved"
    assert api.http.post(f"/api/v1/merchants/{shop.id}/approve", headers=shop.auditor, json={}).status_code == 200
    assert [answer.status_code for answer in send()] == [201, 201]


# --- trace and freeze --------------------------------------------------------------------------

def test_a_unit_is_traced_through_every_holder_after_its_block_moved_whole(app, api):
    alice, bob = residents_with_credits(app, api, 2)
    auditor = staff(app, api, "auditor")
    ledger = api.http.get("/api/v1/me/ledger", headers=alice.auth()).get_json()["items"]
    serials = ledger[0]["serials"][0]  # alice's whole issued block
    whole = api.http.post("/api/v1/transfers", headers=alice.auth(),
                          json={"to_account_number": bob.account_number, "amount_g": METRO_10_KM_G})
    assert whole.status_code == 201 and whole.get_json()["serials"] == [serials]
    unit = serials.rsplit("-", 1)[0]  # its first unit
    traced = api.http.get(f"/api/v1/registry/units/{unit}", headers=auditor)
    assert traced.status_code == 200, traced.get_json()
    body = traced.get_json()
    assert [h["account_number"] for h in body["holders"]] == [alice.account_number, bob.account_number]
    assert body["event"]["reduction_g"] == METRO_10_KM_G  # alice's trip, though bob holds the block now


def test_unfreeze_answers_the_truth(app, api):
    [resident] = residents_with_credits(app, api, 1)
    auditor = staff(app, api, "auditor")
    base = f"/api/v1/registry/accounts/{resident.account_number}"
    assert api.http.post(f"{base}/freeze", json={"reason": "check"}, headers=auditor).get_json()["frozen"] is True
    thawed = api.http.post(f"{base}/unfreeze", json={"reason": "cleared"}, headers=auditor)
    assert thawed.status_code == 200 and thawed.get_json()["frozen"] is False


# --- output safety ----------------------------------------------------------------------------

@pytest.mark.parametrize("cell, written", [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"),
    ("-468", "-468"), ("+12.5", "+12.5"), (-468, -468), ("面馆 = 好", "面馆 = 好"), ("", ""),
])
def test_a_csv_cell_a_spreadsheet_would_run_is_neutralised_and_numbers_stay_numbers(cell, written):
    assert neutralised(cell) == written


def test_the_statement_and_the_console_export_neutralise_formulas(app, api):
    shop = open_shop(app, api)
    campaign = create_campaign(api, shop, title="=HYPERLINK(\"http://evil\",\"点\")", price_g=100)
    [resident] = residents_with_credits(app, api, 1)
    coupon = api.http.post(f"/api/v1/campaigns/{campaign['id']}/claim", headers=resident.auth()).get_json()
    token = api.http.get(f"/api/v1/me/coupons/{coupon['id']}", headers=resident.auth()).get_json()["qr_token"]
    assert api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop.cashier).status_code == 200
    today = shanghai_day(datetime.now(timezone.utc))  # statements and exports are of Asia/Shanghai days
    statement = api.http.get(f"/api/v1/merchants/{shop.id}/statement.csv?from={today}&to={today}",
                             headers=shop.cashier)
    assert statement.status_code == 200
    rows = list(csv.reader(io.StringIO(statement.get_data(as_text=True).lstrip("\ufeff"))))
    titles = {row[4] for row in rows[1:] if len(row) > 4 and row[0] != "total" and row[1] == "claim"}
    assert titles == {"'=HYPERLINK(\"http://evil\",\"点\")"}
    assert any(row[6] == "-100" for row in rows[1:] if len(row) > 6)  # the escrow's debit stays a number

    retired = api.http.post("/api/v1/retirements", headers=resident.auth(),
                            json={"amount_g": 10, "beneficiary": "@SUM(1+1)", "purpose": "-cmd"})
    assert retired.status_code == 201, retired.get_json()
    console_staff(app, "13900000077")
    console = signed_in(app, "13900000077")
    exported = console.http.get(f"/console/exports/retirements.csv?from={today}&to={today}")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1][4:6] == ["'@SUM(1+1)", "'-cmd"]


def test_console_and_scanner_pages_are_never_framed_or_sniffed(app, api):
    console_staff(app, "13900000078")
    console = signed_in(app, "13900000078")
    for response in (console.http.get("/console/"), console.http.get("/console/login"), api.http.get("/scanner")):
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_certificate_is_well_formed_xml_for_any_text_it_was_given(app):
    view = {"number": "BZR-2026-0000ABCD", "amount_g": 1234, "created_at": datetime.now(timezone.utc),
            "beneficiary": "A&B <公司> \"quoted\" 'x' 😀 \ufffe\x01", "purpose": "]]> & <!-- -->",
            "serials": ["BZ-TRIP1-20261123-0001-000000001-000000468"]}
    with app.test_request_context():
        svg = retirement_certificate_svg(view, "https://carbon.example/retirements/BZR-2026-0000ABCD")
    root = ElementTree.fromstring(svg.get_data())
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "受益方 Beneficiary  A&B <公司> \"quoted\" 'x' 😀 " in texts
    assert xml_text("a\ufffeb\x01c") == "abc"


def test_csv_text_starts_with_a_bom_and_keeps_chinese():
    assert csv_text(["title"], [["面条券"]]).startswith("\ufefftitle\r\n面条券")
