"""GET /api/v1/me/export: everything about the resident, nothing about anyone else, in one zip."""
import csv
import io
import json
import zipfile

from tests.coupons_support import claim, create_campaign, open_shop, residents_with_credits
from tests.support import SourceClient

CSV_FILES = ("profile.csv", "consents.csv", "events.csv", "ledger.csv", "coupons.csv", "transfers.csv",
             "retirements.csv", "donations.csv")


def export_of(api, resident) -> tuple[zipfile.ZipFile, dict[str, list[dict]], dict]:
    answer = api.http.get("/api/v1/me/export", headers=resident.auth())
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert answer.mimetype == "application/zip"
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"binzhou-carbon-") and disposition.endswith('.zip"')
    archive = zipfile.ZipFile(io.BytesIO(answer.get_data()))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted((*CSV_FILES, "export.json"))
    tables = {}
    for name in CSV_FILES:
        content = archive.read(name).decode("utf-8")
        assert content.startswith("\ufeff")  # spreadsheets read the Chinese right
        tables[name[:-4]] = list(csv.DictReader(io.StringIO(content[1:])))
    return archive, tables, json.loads(archive.read("export.json"))


def _pay(api, sender, receiver, amount_g: int, memo: str):
    sent = api.http.post("/api/v1/transfers", headers=sender.auth(), json={
        "to_account_number": receiver.account_number, "amount_g": amount_g, "memo": memo})
    assert sent.status_code == 201, sent.get_json()


def test_the_export_holds_exactly_the_residents_own_rows(app, api):
    shop = open_shop(app, api)
    one, other = residents_with_credits(app, api, 2)
    SourceClient.filed(app, "BZBUS", "transit", "滨州公交")
    for method in ("put", "delete", "put"):
        getattr(api.http, method)("/api/v1/me/sources/BZBUS", headers=one.auth())
    api.http.put("/api/v1/me/sources/BZBUS", headers=other.auth())
    _pay(api, one, other, 50, "=HYPERLINK(\"http://evil\")")
    _pay(api, other, one, 20, "还你")
    campaign = create_campaign(api, shop, price_g=100)
    assert claim(api.http, one, campaign["id"]).status_code == 201
    assert claim(api.http, other, campaign["id"]).status_code == 201
    retired = api.http.post("/api/v1/retirements", headers=one.auth(),
                            json={"amount_g": 30, "beneficiary": "滨州一中", "purpose": "植树"})
    assert retired.status_code == 201, retired.get_json()
    for resident, grams in ((one, 40), (other, 10)):
        assert api.http.post("/api/v1/me/pool-donations", json={"amount_g": grams},
                             headers=resident.auth()).status_code == 201
    assert api.trip(one, mode="metro", distance_m=3000).status_code == 202  # quantified, not issued yet

    archive, tables, everything = export_of(api, one)
    me = api.http.get("/api/v1/me", headers=one.auth()).get_json()
    [profile] = tables["profile"]
    assert (profile["phone"], profile["account_number"], int(profile["balance_g"])) == (
        one.phone, one.account_number, me["account"]["balance_g"])
    assert int(profile["pending_g"]) == me["account"]["pending_g"] > 0

    # The ledger sums to the balance; every movement is there, with its serials.
    ledger_sum = sum(int(line["amount_g"]) for line in tables["ledger"])
    assert ledger_sum == me["account"]["balance_g"] == 468 - 50 + 20 - 100 - 30 - 40
    ledger_api = api.http.get("/api/v1/me/ledger", headers=one.auth(), query_string={"limit": 100}).get_json()["items"]
    assert sorted(int(line["entry_id"]) for line in tables["ledger"]) == sorted(line["id"] for line in ledger_api)
    by_entry = {line["id"]: " ".join(line["serials"]) for line in ledger_api}
    assert all(line["serials"] == by_entry[int(line["entry_id"])] for line in tables["ledger"])

    events_api = api.http.get("/api/v1/me/events", headers=one.auth()).get_json()["items"]
    assert sorted(int(e["id"]) for e in tables["events"]) == sorted(e["id"] for e in events_api)
    issued = [e for e in tables["events"] if e["status"] == "issued"]
    assert issued and all(e["methodology"] and e["methodology_version"] and int(e["reduction_g"]) > 0
                          and e["issuance_batch"] for e in issued)

    transfers = {(t["direction"], int(t["amount_g"]), t["counterparty_account"]) for t in tables["transfers"]}
    assert transfers == {("out", 50, other.account_number), ("in", 20, other.account_number)}
    # A memo a spreadsheet would run as a formula is written as text.
    assert [t["memo"] for t in tables["transfers"] if t["direction"] == "out"] == ["'=HYPERLINK(\"http://evil\")"]
    assert [(int(c["price_g"]), c["status"], c["merchant"]) for c in tables["coupons"]] == [(100, "claimed", shop.name)]
    assert [(r["number"], int(r["amount_g"]), r["beneficiary"]) for r in tables["retirements"]] == [
        (retired.get_json()["number"], 30, "滨州一中")]
    assert tables["retirements"][0]["serials"] == " ".join(retired.get_json()["serials"])
    assert [int(d["amount_g"]) for d in tables["donations"]] == [40]
    assert [(c["action"], c["source_code"]) for c in tables["consents"]] == [
        ("authorize", "BZBUS"), ("withdraw", "BZBUS"), ("authorize", "BZBUS")]

    # export.json holds the same rows, grams as numbers.
    assert everything["format"] == "binzhou-carbon-export/1" and everything["profile"]["phone"] == one.phone
    for name in ("consents", "events", "ledger", "coupons", "transfers", "retirements", "donations"):
        assert len(everything[name]) == len(tables[name]), name
    assert sum(line["amount_g"] for line in everything["ledger"]) == me["account"]["balance_g"]
    assert all(isinstance(e["reduction_g"], int) for e in everything["events"] if e["status"] == "issued")

    # Nothing of the other resident's but the account number one paid and was paid by.
    everything_text = "".join(archive.read(name).decode("utf-8") for name in archive.namelist())
    assert other.phone not in everything_text
    other_events = {e["id"] for e in api.http.get("/api/v1/me/events", headers=other.auth()).get_json()["items"]}
    assert not other_events & {int(e["id"]) for e in tables["events"]}
    _, other_tables, _ = export_of(api, other)
    assert len(other_tables["consents"]) == 1 and [int(d["amount_g"]) for d in other_tables["donations"]] == [10]
    assert not {c["id"] for c in other_tables["coupons"]} & {c["id"] for c in tables["coupons"]}
    assert sum(int(line["amount_g"]) for line in other_tables["ledger"]) == 468 + 50 - 20 - 100 - 10


def test_a_new_resident_exports_empty_tables_and_staff_cannot_export(app, api, resident):
    _, tables, everything = export_of(api, resident)
    assert len(tables["profile"]) == 1 and tables["profile"][0]["balance_g"] == "0"
    assert all(tables[name] == [] for name in tables if name != "profile")
    assert everything["events"] == [] and everything["profile"]["account_number"] == resident.account_number
    assert api.http.get("/api/v1/me/export").status_code == 401
    from tests.coupons_support import staff

    assert api.http.get("/api/v1/me/export", headers=staff(app, api, "auditor")).status_code == 403
