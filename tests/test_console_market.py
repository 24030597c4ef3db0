"""交易 in the audit console: the market page with real data (the pool, listings cheapest first,
auctions with their bids, withdrawals, deposits, each day's volume and VWAP), and each of its
forms (record a deposit, pay a withdrawal, clear an auction, decide an enterprise application):
done and audited, refused with a message instead of a 500, and never done without the CSRF token
or for someone who is not the bureau.

New texts are asserted in the English console (their msgids); the Chinese console is asserted on
texts its catalogue already holds and on the data."""
import re
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounting.business_day import shanghai_day
from accounting.ledger.models import Account, AuditRecord
from accounting.market.models import Auction, Bid, Deposit, Enterprise, Withdrawal
from api.identity.models import User
from config.db_types import utcnow
from config.extensions import db
from tests.console_support import (
    AUDITOR_PHONE,
    PASSWORD,
    Console,
    actions_by,
    assert_registry_verifies,
    load,
    signed_in,
)
from tests.console_support import staff as console_staff
from tests.coupons_support import open_shop
from tests.coupons_support import staff as api_staff
from tests.market_support import credit_code, fill_pool, fund, give_credits, open_enterprise, wallet
from tests.support import iso

MARKET = "/console/market"
EXPIRED = [("error", "表单已过期，请重试。")]
EXPIRED_EN = [("error", "The form expired; please try again.")]


# --- fixtures and helpers ----------------------------------------------------------------------

@pytest.fixture
def auditor(app) -> int:
    """The auditor at the console (user id); the market's data is set up by another one."""
    return console_staff(app, AUDITOR_PHONE)


@pytest.fixture
def console(app, auditor) -> Console:
    """The auditor's console in English: new texts are their msgids, whatever the catalogue holds."""
    console = Console(app)
    answer = console.login(AUDITOR_PHONE, lang="en")
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/"
    return console


@pytest.fixture
def bureau(app, api) -> dict:
    """Another auditor's API header, to set the market up through the API as the bureau would."""
    return api_staff(app, api, "auditor")


def list_credits(api, headers: dict, quantity_g: int, price: int, **fields) -> dict:
    answer = api.http.post("/api/v1/market/listings", headers=headers,
                           json={"quantity_g": quantity_g, "price_fen_per_t": price, **fields})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def buy(api, firm, quantity_g: int, max_price: int) -> dict:
    answer = api.http.post("/api/v1/market/orders", headers=firm.staff,
                           json={"quantity_g": quantity_g, "max_price_fen_per_t": max_price})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def open_auction(api, bureau: dict, quantity_g: int, reserve: int) -> dict:
    answer = api.http.post("/api/v1/market/auctions", headers=bureau, json={
        "quantity_g": quantity_g, "reserve_price_fen_per_t": reserve, "closes_at": iso(utcnow() + timedelta(hours=1))})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def bid(api, firm, auction_id: int, quantity_g: int, price: int) -> dict:
    answer = api.http.post(f"/api/v1/market/auctions/{auction_id}/bids", headers=firm.staff,
                           json={"quantity_g": quantity_g, "price_fen_per_t": price})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def ask_withdrawal(api, headers: dict, amount_fen: int) -> dict:
    answer = api.http.post("/api/v1/market/withdrawals", headers=headers, json={"amount_fen": amount_fen})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def close_now(app, *auction_ids: int) -> None:
    """Move the auctions' close into the past (the test does not wait for the clock)."""
    with app.app_context():
        for auction_id in auction_ids:
            found = db.session.get(Auction, auction_id)
            found.opens_at, found.closes_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(seconds=1)
        db.session.commit()


def section(page: str, anchor: str) -> str:
    """The part of the market page from its heading `anchor` to the next h2."""
    start = page.index(f'<h2 id="{anchor}">')
    following = page.find("<h2", start + 1)
    return page[start:following if following > 0 else len(page)]


def row_of(page: str, text: str) -> str:
    return next(row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if text in row)


def market_audit(app, user_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            select(AuditRecord.action, AuditRecord.subject).where(AuditRecord.actor == f"user:{user_id}")
            .order_by(AuditRecord.id))]


# --- the page ----------------------------------------------------------------------------------

def test_the_market_page_shows_the_pool_listings_auctions_money_and_each_days_trades(app, api, console, bureau):
    shop = open_shop(app, api, bureau, name="黄河路面馆")
    give_credits(app, shop.account_number, 400_000)
    fill_pool(app, 1_000_000)  # a day's batch above 1,000 kg would wait for an auditor
    fill_pool(app, 500_000)
    firm = open_enterprise(app, api, bureau, "滨州绿色化工有限公司")
    funded = fund(api, bureau, firm.account_number, 50_000)
    dear = list_credits(api, shop.cashier, 200_000, 6_000)
    pooled = list_credits(api, bureau, 300_000, 4_350, seller="pool")
    middle = list_credits(api, shop.cashier, 200_000, 5_000)
    # 300 kg from the pool at 43.50 yuan/t (13.05 yuan), then 100 kg from the shop at 50.00 (5.00).
    order = buy(api, firm, 400_000, 5_000)
    assert [(f["listing_id"], f["amount_fen"]) for f in order["fills"]] == [(pooled["id"], 1_305), (middle["id"], 500)]
    auction = open_auction(api, bureau, 500_000, 4_000)
    sealed = bid(api, firm, auction["id"], 200_000, 4_500)
    asked = ask_withdrawal(api, shop.cashier, 300)

    page = console.page(MARKET)
    assert '<a href="/console/market">Market</a>' in page  # in the nav

    pool = section(page, "pool")
    assert "SYSPOOL" in pool
    for label, figure in (("Credits held", "700,000 g"), ("In listings and auctions", "500,000 g"),
                          ("Money held", "13.05 yuan"), ("Donated in total", "1,500,000 g"),
                          ("Sold in total", "300,000 g")):
        assert re.search(rf"{label}<b>{figure}</b>", pool), (label, figure)

    # Today's trades: VWAP (300,000 × 4,350 + 100,000 × 5,000) / 400,000 = 4,512.5 → 45.13 yuan/t.
    today = shanghai_day(utcnow())
    stats = section(page, "stats")
    assert (f"<tr><td>{today}</td><td class=\"num\">400,000</td><td class=\"num\">18.05</td>"
            f"<td class=\"num\">45.13</td><td class=\"num\">50.00</td><td class=\"num\">43.50</td>"
            f"<td class=\"num\">2</td></tr>") in stats
    assert len(re.findall(r"<rect [^>]*><title>", stats)) == 1 and len(re.findall(r"<circle ", stats)) == 1
    assert f"<title>{today} · Volume 400,000 g</title>" in stats and f"<title>{today} · VWAP 45.13 yuan/t" in stats
    api_stats = api.http.get("/api/v1/market/stats").get_json()["items"]
    assert [(s["volume_g"], s["turnover_fen"], s["vwap_fen_per_t"]) for s in api_stats] == [(400_000, 1_805, 4_513)]

    # Open listings, cheapest first, by seller name; the filled pool listing is gone.
    listings = section(page, "listings")
    assert re.findall(r"<tr><td>(\d+)</td>", listings) == [str(middle["id"]), str(dear["id"])]
    assert "黄河路面馆" in row_of(listings, f"<td>{middle['id']}</td>")
    assert '<td class="num">100,000</td><td class="num">50.00</td>' in row_of(listings, f"<td>{middle['id']}</td>")

    # The open auction: its bid shown to the bureau (sealed to the public), no clear button yet.
    auctions = section(page, "auctions")
    assert f"Auction #{auction['id']} · <span class=\"status\">open for bids</span>" in auctions
    bid_row = row_of(auctions, f"<td>{sealed['id']}</td>")
    assert "滨州绿色化工有限公司" in bid_row and '<td class="num">200,000</td><td class="num">45.00</td>' in bid_row
    assert '<td class="num">9.00</td>' in bid_row
    assert api.http.get(f"/api/v1/market/auctions/{auction['id']}").get_json()["bids"] is None
    assert "/clear" not in auctions

    withdrawals = section(page, "withdrawals")
    row = row_of(withdrawals, f"<td>{asked['id']}</td>")
    assert shop.account_number in row and "黄河路面馆" in row
    assert '<td class="num">3.00</td><td class="num">5.00</td>' in row  # asked 3.00 of the 5.00 it holds
    assert f'action="/console/market/withdrawals/{asked["id"]}/pay"' in row

    deposits = section(page, "deposits")
    row = row_of(deposits, funded["bank_reference"])
    assert firm.account_number in row and "滨州绿色化工有限公司" in row and "500.00" in row

    # In Chinese too: the data and the texts the catalogue holds.
    chinese = signed_in(app, AUDITOR_PHONE).page(MARKET)
    assert '<html lang="zh-CN">' in chinese and "黄河路面馆" in chinese and "待审批" in chinese
    assert "滨州绿色化工有限公司" in chinese


def test_the_market_page_with_nothing_yet(app, console):
    page = console.page(MARKET)
    assert "No trades in these 30 days." in page and "No open listings." in page and "No auctions." in page
    assert "No withdrawals waiting." in page and "No deposits yet." in page
    assert re.search(r"Credits held<b>0 g</b>", page) and "<rect " not in section(page, "stats")


def test_every_market_page_and_form_needs_a_signed_in_auditor(app, api):
    anonymous = Console(app)
    for path in (MARKET, "/console/enterprises/1"):
        answer = anonymous.http.get(path)
        assert answer.status_code == 302 and answer.headers["Location"] == f"/console/login?next={path}", path
    token = anonymous.token()
    for path in ("/console/market/deposits", "/console/market/withdrawals/1/pay", "/console/market/auctions/1/clear",
                 "/console/enterprises/1/approve"):
        answer = anonymous.http.post(path, data={"csrf_token": token, "reason": "r", "account": "pool",
                                                 "amount_fen": "100", "bank_reference": "B-1"})
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/console/login"), path
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Deposit)) == 0


def test_ids_beyond_their_column_are_404_not_500(app, console):
    for path in ("/console/enterprises/2147483648", "/console/enterprises/" + "9" * 4000):
        assert console.http.get(path).status_code == 404, path[:40]
    token = console.token(MARKET)
    for path in ("/console/market/withdrawals/{}/pay", "/console/market/auctions/{}/clear",
                 "/console/enterprises/{}/approve"):
        for beyond in (2**63, int("9" * 30)):
            answer = console.http.post(path.format(beyond), data={"csrf_token": token, "reason": "r"})
            assert answer.status_code == 404, path
    assert console.http.get("/console/enterprises/2147483647").status_code == 404
    # The largest id there could be names nothing: refused (back where the form was), not a 500.
    answer = console.http.post("/console/enterprises/2147483647/approve", data={"csrf_token": token, "reason": "r"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/enterprises/2147483647"


# --- deposits ----------------------------------------------------------------------------------

def test_record_a_deposit_once_per_bank_reference(app, api, console, auditor, bureau):
    firm = open_enterprise(app, api, bureau)
    assert "Record a deposit" in console.page(MARKET)

    location, flashes = console.submit("/console/market/deposits", MARKET, account=f" {firm.account_number} ",
                                       amount_fen="123456", bank_reference="ICBC-20260301-0001")
    assert location == MARKET
    assert flashes == [("ok", f"Deposit of 1,234.56 yuan to {firm.account_number} recorded.")]
    assert wallet(api, firm.staff)["money_fen"] == 123_456
    recorded = load(app, Deposit, bank_reference="ICBC-20260301-0001")
    assert (recorded.amount_fen, recorded.recorded_by) == (123_456, auditor)
    assert row_of(section(console.page(MARKET), "deposits"), "ICBC-20260301-0001").count("1,234.56") == 1
    assert market_audit(app, auditor) == [("deposit", f"account:{firm.account_number}")]

    # The same receipt again is the first deposit: nothing moves twice.
    _, flashes = console.submit("/console/market/deposits", MARKET, account=firm.account_number,
                                amount_fen="123456", bank_reference="ICBC-20260301-0001")
    assert flashes == [("ok", "Bank reference ICBC-20260301-0001 was recorded before with this account and amount; "
                              "nothing changed.")]
    assert wallet(api, firm.staff)["money_fen"] == 123_456
    # The same reference for another amount is refused, and said why.
    _, flashes = console.submit("/console/market/deposits", MARKET, account=firm.account_number,
                                amount_fen="999", bank_reference="ICBC-20260301-0001")
    assert flashes == [("error", "Bank reference reused: Bank reference ICBC-20260301-0001 was recorded for "
                                 "another deposit.")]
    # A resident's account holds no money; an unknown account is not found.
    resident = api.register()
    _, flashes = console.submit("/console/market/deposits", MARKET, account=resident.account_number,
                                amount_fen="100", bank_reference="ICBC-20260301-0002")
    assert flashes[0][0] == "error" and flashes[0][1].startswith("Not an organization: ")
    _, flashes = console.submit("/console/market/deposits", MARKET, account="BZ0000000000",
                                amount_fen="100", bank_reference="ICBC-20260301-0003")
    assert flashes == [("error", "Account not found: No such carbon account.")]
    # What is not a deposit at all is refused before anything is looked up.
    asked = ("Give an account number (or “pool”), an amount in fen (a whole number from 1) and a bank reference "
             "of up to 64 characters.")
    for bad in ({"amount_fen": "0"}, {"amount_fen": "-5"}, {"amount_fen": "12.5"}, {"amount_fen": "²"},
                {"amount_fen": "10000000000001"}, {"amount_fen": ""}, {"account": ""}, {"account": "X" * 13},
                {"bank_reference": ""}, {"bank_reference": "R" * 65}, {"bank_reference": "A\x00B"}):
        form = {"account": firm.account_number, "amount_fen": "100", "bank_reference": "ICBC-20260301-0004"} | bad
        _, flashes = console.submit("/console/market/deposits", MARKET, **form)
        assert flashes == [("error", asked)], bad
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Deposit)) == 1
    assert wallet(api, firm.staff)["money_fen"] == 123_456
    assert market_audit(app, auditor) == [("deposit", f"account:{firm.account_number}")]

    # Into the pool, by name.
    _, flashes = console.submit("/console/market/deposits", MARKET, account="pool", amount_fen="5000",
                                bank_reference="ICBC-20260301-0005")
    assert flashes == [("ok", "Deposit of 50.00 yuan to SYSPOOL recorded.")]
    assert api.http.get("/api/v1/market/pool").get_json()["money_fen"] == 5_000
    assert_registry_verifies(app)


def test_refusals_come_in_chinese_for_a_chinese_console(app, api, auditor, bureau):
    firm = open_enterprise(app, api, bureau)
    fund(api, bureau, firm.account_number, 100)
    chinese = signed_in(app, AUDITOR_PHONE)
    with app.app_context():
        reference = db.session.scalar(select(Deposit.bank_reference))
    _, flashes = chinese.submit("/console/market/deposits", MARKET, account=firm.account_number, amount_fen="7",
                                bank_reference=reference)
    assert flashes == [("error", f"银行流水号重复: 银行流水号 {reference} 已登记为另一笔入金。")]
    _, flashes = chinese.submit(f"/console/enterprises/{firm.id}/approve", f"/console/enterprises/{firm.id}",
                                reason="again")
    assert flashes == [("error", "企业状态不符: 该企业当前为 approved，此操作需要 pending。")]


# --- withdrawals -------------------------------------------------------------------------------

def test_pay_a_withdrawal(app, api, console, auditor, bureau):
    firm = open_enterprise(app, api, bureau, "滨州绿色化工有限公司")
    fund(api, bureau, firm.account_number, 10_000)
    first = ask_withdrawal(api, firm.staff, 6_000)
    second = ask_withdrawal(api, firm.staff, 3_000)
    page = console.page(MARKET)
    assert f"/console/market/withdrawals/{first['id']}/pay" in page

    location, flashes = console.submit(f"/console/market/withdrawals/{first['id']}/pay", MARKET,
                                       bank_reference="  CCB-OUT-77  ")
    assert location == MARKET and flashes == [("ok", f"Withdrawal #{first['id']} paid: 60.00 yuan.")]
    paid = load(app, Withdrawal, id=first["id"])
    assert (paid.status, paid.paid_by, paid.bank_reference) == ("paid", auditor, "CCB-OUT-77")
    assert wallet(api, firm.staff)["money_fen"] == 4_000
    assert f"/console/market/withdrawals/{first['id']}/pay" not in console.page(MARKET)
    assert market_audit(app, auditor) == [("withdraw", f"withdrawal:{first['id']}")]

    # Paid once only.
    _, flashes = console.submit(f"/console/market/withdrawals/{first['id']}/pay", MARKET, bank_reference="")
    assert flashes == [("error", "Wrong withdrawal status: The withdrawal is paid; this needs pending.")]
    assert wallet(api, firm.staff)["money_fen"] == 4_000
    # Money spent since it was asked for: refused, nothing moved, still waiting.
    fill_pool(app, 1_000_000)
    list_credits(api, bureau, 1_000_000, 2_000, seller="pool")
    buy(api, firm, 1_000_000, 2_000)  # 20.00 yuan: 20.00 left of the 30.00 asked
    _, flashes = console.submit(f"/console/market/withdrawals/{second['id']}/pay", MARKET)
    assert flashes[0][0] == "error" and flashes[0][1].startswith("Insufficient funds: ")
    assert load(app, Withdrawal, id=second["id"]).status == "pending" and wallet(api, firm.staff)["money_fen"] == 2_000
    # A bank reference too long for the record, and a withdrawal that does not exist.
    _, flashes = console.submit(f"/console/market/withdrawals/{second['id']}/pay", MARKET, bank_reference="R" * 65)
    assert flashes == [("error", "A bank reference has at most 64 characters.")]
    _, flashes = console.submit("/console/market/withdrawals/999999/pay", MARKET)
    assert flashes == [("error", "Withdrawal not found: No such withdrawal.")]
    # Paid without a reference: it is optional.
    fund(api, bureau, firm.account_number, 1_000)
    _, flashes = console.submit(f"/console/market/withdrawals/{second['id']}/pay", MARKET)
    assert flashes == [("ok", f"Withdrawal #{second['id']} paid: 30.00 yuan.")]
    assert load(app, Withdrawal, id=second["id"]).bank_reference is None
    assert wallet(api, firm.staff)["money_fen"] == 0
    assert "No withdrawals waiting." in console.page(MARKET)
    assert market_audit(app, auditor) == [("withdraw", f"withdrawal:{first['id']}"),
                                          ("withdraw", f"withdrawal:{second['id']}")]
    assert_registry_verifies(app)


# --- auctions ----------------------------------------------------------------------------------

WORKED_EXAMPLE = (("A", 400_000, 6_000), ("B", 500_000, 5_500), ("C", 300_000, 5_000), ("D", 300_000, 5_000))


def test_an_auction_cleared_at_the_console_matches_the_apis_clearing(app, api, console, auditor, bureau):
    """MARKET.md's worked example run twice side by side: one auction cleared from the console,
    its twin by the API; both clear alike, at 50.00 yuan/t."""
    fill_pool(app, 1_000_000)  # a day's batch above 1,000 kg would wait for an auditor
    fill_pool(app, 1_000_000)
    firms = {name: open_enterprise(app, api, bureau, f"企业{name}") for name in "ABCD"}
    for firm in firms.values():
        fund(api, bureau, firm.account_number, 20_000)
    by_console, by_api = open_auction(api, bureau, 1_000_000, 4_000), open_auction(api, bureau, 1_000_000, 4_000)
    bids = {}
    for name, quantity, price in WORKED_EXAMPLE:
        for found in (by_console, by_api):
            bids[found["id"], name] = bid(api, firms[name], found["id"], quantity, price)["id"]

    # Open: the bids are there, no clear button; clearing now is refused, with the reason.
    page = console.page(MARKET)
    assert f"/console/market/auctions/{by_console['id']}/clear" not in page
    _, flashes = console.submit(f"/console/market/auctions/{by_console['id']}/clear", MARKET)
    assert flashes[0][0] == "error" and flashes[0][1].startswith("Auction still open: The auction closes at ")
    assert load(app, Auction, id=by_console["id"]).cleared_at is None

    close_now(app, by_console["id"], by_api["id"])
    page = section(console.page(MARKET), "auctions")
    assert f"Auction #{by_console['id']} · <span class=\"status\">closed, to be cleared</span>" in page
    assert f'action="/console/market/auctions/{by_console["id"]}/clear"' in page
    location, flashes = console.submit(f"/console/market/auctions/{by_console['id']}/clear", MARKET)
    assert location == MARKET
    assert flashes == [("ok", f"Auction #{by_console['id']} cleared at 50.00 yuan/t: 1,000,000 g sold, 0 g back to "
                              "the pool.")]
    assert market_audit(app, auditor) == [("clear", f"auction:{by_console['id']}")]

    via_api = api.http.post(f"/api/v1/market/auctions/{by_api['id']}/clear", headers=bureau)
    assert via_api.status_code == 200, via_api.get_json()
    of_console = api.http.post(f"/api/v1/market/auctions/{by_console['id']}/clear", headers=bureau)
    assert of_console.status_code == 200  # clearing again answers what the console's clearing did
    by_name = {auction_id: {bids[auction_id, name]: name for name, *_ in WORKED_EXAMPLE}
               for auction_id in (by_console["id"], by_api["id"])}

    def outcome(answer, auction_id):
        body = answer.get_json()
        return body["clearing_price_fen_per_t"], body["unsold_g"], sorted(
            (by_name[auction_id][a["bid_id"]], a["quantity_g"], a["amount_fen"], a["fee_fen"], a["released_fen"])
            for a in body["allocations"])

    assert outcome(of_console, by_console["id"]) == outcome(via_api, by_api["id"]) == (5_000, 0, [
        ("A", 400_000, 2_000, 0, 400), ("B", 500_000, 2_500, 0, 250), ("C", 100_000, 500, 0, 1_000),
        ("D", 0, 0, 0, 1_500)])
    for name, grams in (("A", 800_000), ("B", 1_000_000), ("C", 200_000), ("D", 0)):
        assert wallet(api, firms[name].staff)["credits_g"] == grams, name

    # The page shows the outcome, each bid's allocation; the button is gone.
    page = section(console.page(MARKET), "auctions")
    assert f"Auction #{by_console['id']} · <span class=\"status\">cleared</span>" in page
    assert "/clear" not in page and "clearing price <b>50.00</b> yuan/t" in page
    row = row_of(page, f"<td>{bids[by_console['id'], 'C']}</td>")
    assert "企业C" in row and ('<td class="num">100,000</td><td class="num">5.00</td><td class="num">0.00</td>'
                              '<td class="num">10.00</td>') in row
    # Clearing once more from the console answers the same result and moves nothing.
    _, flashes = console.submit(f"/console/market/auctions/{by_console['id']}/clear", MARKET)
    assert flashes == [("ok", f"Auction #{by_console['id']} cleared at 50.00 yuan/t: 1,000,000 g sold, 0 g back to "
                              "the pool.")]
    assert wallet(api, firms["C"].staff)["money_fen"] == 20_000 - 1_000
    _, flashes = console.submit("/console/market/auctions/999999/clear", MARKET)
    assert flashes == [("error", "Auction not found: No such auction.")]
    assert_registry_verifies(app)


def test_an_auction_without_bids_clears_back_to_the_pool(app, api, console, bureau):
    fill_pool(app, 300_000)
    lonely = open_auction(api, bureau, 300_000, 4_000)
    close_now(app, lonely["id"])
    assert re.search(r"Auctions to clear<b>1</b>", console.page("/console/"))
    _, flashes = console.submit(f"/console/market/auctions/{lonely['id']}/clear", MARKET)
    assert flashes == [("ok", f"Auction #{lonely['id']} cleared: no bid won; 300,000 g went back to the pool.")]
    assert api.http.get("/api/v1/market/pool").get_json()["credits_g"] == 300_000
    assert re.search(r"Auctions to clear<b>0</b>", console.page("/console/"))


# --- enterprise applications -------------------------------------------------------------------

def apply_as_enterprise(app, api, name: str) -> int:
    member = api_staff(app, api, "enterprise_staff")
    applied = api.http.post("/api/v1/enterprises", headers=member,
                            json={"name": name, "credit_code": credit_code(), "district": "滨城区"})
    assert applied.status_code == 201, applied.get_json()
    return applied.get_json()["id"]


def test_approve_and_reject_enterprise_applications(app, api, console, auditor):
    chemicals = apply_as_enterprise(app, api, "滨州绿色化工有限公司")
    shell = apply_as_enterprise(app, api, "空壳贸易有限公司")
    queue = console.page("/console/queues")
    assert "Enterprise applications" in queue and "滨州绿色化工有限公司" in queue and "空壳贸易有限公司" in queue
    assert f"/console/enterprises/{chemicals}" in queue
    assert re.search(r"Enterprise applications<b>2</b>", console.page("/console/"))
    assert "Enterprise applications waiting: 2" in console.page(MARKET)

    page = f"/console/enterprises/{chemicals}"
    detail = console.page(page)
    assert load(app, Enterprise, id=chemicals).credit_code in detail and "滨城区" in detail
    _, flashes = console.submit(f"{page}/approve", page, reason=" ")
    assert flashes == [("error", "Give a reason (up to 200 characters).")]
    assert load(app, Enterprise, id=chemicals).status == "pending"
    _, flashes = console.submit(f"{page}/approve", page, reason="licence and credit code checked")
    assert flashes == [("ok", "Approved.")]
    approved = load(app, Enterprise, id=chemicals)
    assert (approved.status, approved.decided_by, approved.decision_note) == (
        "approved", auditor, "licence and credit code checked")
    number = load(app, Account, id=approved.account_id).number
    detail = console.page(page)
    assert number in detail and "/approve" not in detail
    # The enterprise's account page names it and shows its money.
    account = console.page(f"/console/accounts/{number}")
    assert "滨州绿色化工有限公司" in account and "0.00 yuan (reserved 0.00)" in account
    assert load(app, User, enterprise_id=chemicals).display_name in detail  # who applied for it

    other = f"/console/enterprises/{shell}"
    _, flashes = console.submit(f"{other}/reject", other, reason="")
    assert flashes == [("error", "Give a reason (up to 200 characters).")]
    _, flashes = console.submit(f"{other}/reject", other, reason="no business at the registered address")
    assert flashes == [("ok", "Rejected.")]
    rejected = load(app, Enterprise, id=shell)
    assert (rejected.status, rejected.account_id) == ("rejected", None)
    # Decided once: a second decision is refused with the reason; an unknown decision does nothing.
    _, flashes = console.submit(f"{other}/approve", other, reason="changed my mind")
    assert flashes == [("error", "Wrong enterprise status: The enterprise is rejected; this needs pending.")]
    _, flashes = console.submit(f"{page}/suspend", page, reason="no such decision")
    assert flashes == [] and load(app, Enterprise, id=chemicals).status == "approved"
    assert "No enterprise applications waiting." in console.page("/console/queues")
    assert actions_by(app, auditor) == ["enterprise_approved", "enterprise_rejected"]
    assert console.http.get("/console/enterprises/999999").status_code == 404
    assert_registry_verifies(app)


# --- CSRF and roles ----------------------------------------------------------------------------

def _one_of_everything(app, api, bureau) -> dict:
    """A pending application, a withdrawal to pay, an auction to clear, an account to pay into."""
    fill_pool(app, 100_000)
    firm = open_enterprise(app, api, bureau)
    fund(api, bureau, firm.account_number, 1_000)
    auction = open_auction(api, bureau, 100_000, 1_000)
    bid(api, firm, auction["id"], 100_000, 1_000)
    close_now(app, auction["id"])
    return {"firm": firm, "pending": apply_as_enterprise(app, api, "待审企业有限公司"),
            "withdrawal": ask_withdrawal(api, firm.staff, 500)["id"], "auction": auction["id"]}


def _forms(made: dict) -> list[tuple[str, str, dict]]:
    """Each form: where it posts, the page it is on, what it carries."""
    return [
        ("/console/market/deposits", MARKET,
         {"account": made["firm"].account_number, "amount_fen": "100", "bank_reference": "FORGED-1"}),
        (f"/console/market/withdrawals/{made['withdrawal']}/pay", MARKET, {"bank_reference": "FORGED-2"}),
        (f"/console/market/auctions/{made['auction']}/clear", MARKET, {}),
        (f"/console/enterprises/{made['pending']}/approve", f"/console/enterprises/{made['pending']}",
         {"reason": "looks fine"}),
        (f"/console/enterprises/{made['pending']}/reject", f"/console/enterprises/{made['pending']}",
         {"reason": "looks wrong"}),
    ]


def _nothing_was_done(app, api, made: dict, bureau: dict) -> None:
    assert load(app, Enterprise, id=made["pending"]).status == "pending"
    assert load(app, Withdrawal, id=made["withdrawal"]).status == "pending"
    assert load(app, Auction, id=made["auction"]).cleared_at is None
    assert wallet(api, bureau, made["firm"].account_number) == {
        "account_number": made["firm"].account_number, "credits_g": 0, "listed_g": 0, "money_fen": 900,
        "reserved_fen": 100}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Deposit)) == 1
        assert db.session.scalar(select(func.count()).where(Bid.allocated_g.is_not(None))) == 0


def test_no_market_form_works_without_its_csrf_token(app, api, console, auditor, bureau):
    made = _one_of_everything(app, api, bureau)
    for path, page, form in _forms(made):
        assert console.page(page)  # the form is there to be forged
        for token in ({}, {"csrf_token": "forged"}):
            answer = console.http.post(path, data=form | token, headers={"Referer": f"http://localhost{page}"})
            assert answer.status_code == 302 and answer.headers["Location"] == f"http://localhost{page}", path
            flashed = console.page(page)
            assert EXPIRED_EN[0][1] in flashed, path
    _nothing_was_done(app, api, made, bureau)
    assert actions_by(app, auditor) == []
    # And the same forms with their token do work (so the refusals above were the token's).
    for path, page, form in _forms(made)[:4]:
        _, flashes = console.submit(path, page, **form)
        assert flashes[0][0] == "ok", (path, flashes)
    assert sorted(actions_by(app, auditor)) == ["clear", "deposit", "enterprise_approved", "withdraw"]


def test_no_market_form_works_for_someone_who_is_not_the_bureau(app, api, console, auditor, bureau):
    made = _one_of_everything(app, api, bureau)
    tokens = {page: console.token(page) for _, page, _ in _forms(made)}
    # Staff of an enterprise or a merchant cannot sign in to the console at all.
    for role, phone in (("enterprise_staff", "13900000031"), ("merchant_staff", "13900000032")):
        console_staff(app, phone, role=role)
        answer = Console(app).login(phone)
        assert answer.status_code == 401 and "无权使用审核后台" in answer.get_data(as_text=True), role
    # An auditor whose role is taken away is signed out before any form does anything.
    with app.app_context():
        db.session.get(User, auditor).role = "enterprise_staff"
        db.session.commit()
    for path, page, form in _forms(made):
        answer = console.http.post(path, data=form | {"csrf_token": tokens[page]})
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/console/login"), path
    assert console.http.get(MARKET).headers["Location"] == f"/console/login?next={MARKET}"
    _nothing_was_done(app, api, made, bureau)
    assert actions_by(app, auditor) == []


def test_an_admin_may_use_the_market_page_too(app, api, bureau):
    console_staff(app, "13900000009", role="admin")
    admin = signed_in(app, "13900000009")
    firm = open_enterprise(app, api, bureau)
    _, flashes = admin.submit("/console/market/deposits", MARKET, account=firm.account_number, amount_fen="250",
                              bank_reference="ABC-1")
    assert flashes[0][0] == "ok" and wallet(api, firm.staff)["money_fen"] == 250
    assert firm.account_number in admin.page(MARKET)


def test_the_market_page_in_both_languages(app, api, console, bureau):
    assert '<a href="/console/market">Market</a>' in console.page("/console/")
    english = console.page(MARKET)
    assert '<html lang="en">' in english and "Withdrawals to pay" in english and "Record a deposit" in english
    console.http.get("/console/lang/zh-CN")
    chinese = console.page(MARKET)
    assert '<html lang="zh-CN">' in chinese and "账户" in chinese and "时间" in chinese


# --- in a real browser ---------------------------------------------------------------------------

@pytest.fixture
def browser_page(browser, live_url):
    """Headless Chromium on the app served over HTTP (the fixtures of tests/browser_support.py)."""
    from tests.test_console_browser import WAIT_MS

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page, live_url
    context.close()


def rendering_fonts(page, selector: str) -> dict[str, int]:
    """The fonts Chromium drew an element's text with, and how many glyphs each drew (DevTools)."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("DOM.enable")
    devtools.send("CSS.enable")
    root = devtools.send("DOM.getDocument")["root"]["nodeId"]
    node = devtools.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = devtools.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return {font["familyName"]: font["glyphCount"] for font in fonts}


def chinese_fonts() -> set[str]:
    """The font families installed here that cover Chinese (fontconfig, which Chromium draws with)."""
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=True).stdout
    families = {name.strip() for line in listed.splitlines() for name in line.split(",")}
    assert families, "no font for Chinese is installed (apt-get install fonts-noto-cjk)"
    return families


def test_an_auditor_clears_pays_and_records_in_the_browser(app, api, auditor, bureau, browser_page, tmp_path):
    from playwright.sync_api import expect

    page, url = browser_page
    fill_pool(app, 600_000)
    firm = open_enterprise(app, api, bureau, "滨州绿色化工有限公司")
    fund(api, bureau, firm.account_number, 10_000)
    list_credits(api, bureau, 100_000, 4_350, seller="pool")
    auction = open_auction(api, bureau, 500_000, 4_000)
    won = bid(api, firm, auction["id"], 300_000, 5_000)
    close_now(app, auction["id"])
    asked = ask_withdrawal(api, firm.staff, 2_000)

    page.goto(f"{url}/console/")
    page.fill("input[name=phone]", AUDITOR_PHONE)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{url}/console/")
    page.click(f'header a[href="{MARKET}"]')
    expect(page).to_have_url(f"{url}{MARKET}")
    # Chinese is drawn by fonts that hold Chinese, every glyph of it (no empty boxes).
    expect(page.locator("header .brand")).to_have_text("滨州碳普惠 · 审核后台")
    fonts = rendering_fonts(page, "header .brand")
    assert sum(count for family, count in fonts.items() if family in chinese_fonts()) >= len("滨州碳普惠审核后台"), fonts
    bidder = page.locator(f"#auction-{auction['id']} tr", has_text="滨州绿色化工有限公司")
    expect(bidder).to_contain_text("300,000")
    expect(page.locator("#stats + svg")).to_be_visible()
    page.screenshot(path=str(tmp_path / "console-market-before.png"), full_page=True)

    # Clear the closed auction with its button: one winner, at its own price, the rest back to the pool.
    page.locator(f"#auction-{auction['id']} form button").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"#{auction['id']}")
    expect(page.locator(".flash.ok")).to_contain_text("50.00")
    expect(page.locator(f"#auction-{auction['id']} form")).to_have_count(0)
    expect(page.locator(f"#auction-{auction['id']} tr", has_text="滨州绿色化工有限公司")).to_contain_text("15.00")
    assert load(app, Bid, id=won["id"]).allocated_g == 300_000

    # Pay the withdrawal with the bank's reference.
    row = page.locator("#withdrawals + table tr", has_text=firm.account_number)
    row.locator("input[name=bank_reference]").fill("建行-出金-0001")
    row.locator("button").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"#{asked['id']}")
    assert load(app, Withdrawal, id=asked["id"]).bank_reference == "建行-出金-0001"

    # Record a deposit into the pool; it is listed among the recent ones.
    form = page.locator("form", has=page.locator("input[name=amount_fen]"))
    form.locator("input[name=account]").fill("pool")
    form.locator("input[name=amount_fen]").fill("4350")
    form.locator("input[name=bank_reference]").fill("工行-入金-0001")
    form.locator("button").click()
    expect(page.locator(".flash.ok")).to_contain_text("SYSPOOL")
    expect(page.locator("#deposits + table tr", has_text="工行-入金-0001")).to_contain_text("43.50")
    page.screenshot(path=str(tmp_path / "console-market-after.png"), full_page=True)
    assert sorted(actions_by(app, auditor)) == ["clear", "deposit", "withdraw"]
    assert_registry_verifies(app)


def test_the_daily_chart_draws_a_bar_per_trading_day_and_a_line_through_the_vwaps():
    from datetime import date

    from api.console.charts import HEIGHT, volume_and_vwap

    first, last = date(2026, 3, 1), date(2026, 3, 30)
    day = lambda n, volume, vwap: {"day": date(2026, 3, n), "volume_g": volume, "vwap_fen_per_t": vwap}  # noqa: E731
    chart = volume_and_vwap([day(2, 100_000, 4_000), day(10, 400_000, 5_000), day(30, 200_000, 4_500)], first, last)
    assert [bar["item"]["day"].day for bar in chart["bars"]] == [2, 10, 30]
    assert [bar["h"] for bar in chart["bars"]] == [45.5, 182.0, 91.0]  # of 182 px: the busiest day is the tallest
    assert chart["bars"][0]["y"] + chart["bars"][0]["h"] == chart["base"] == HEIGHT - 28
    assert [point["y"] for point in chart["points"]] == [46.4, 10.0, 28.2]  # the dearest day at the top
    assert chart["line"] == " ".join(f"{p['x']},{p['y']}" for p in chart["points"])
    assert chart["points"][0]["x"] < chart["points"][1]["x"] < chart["points"][2]["x"] <= chart["right"]
    # Thirty days: fifteen labels, the last one today's.
    assert len(chart["ticks"]) == 15 and chart["ticks"][-1]["label"] == "03-30" and chart["ticks"][0]["label"] == "03-02"
    empty = volume_and_vwap([], first, last)
    assert empty["bars"] == [] and empty["points"] == [] and empty["line"] == ""
