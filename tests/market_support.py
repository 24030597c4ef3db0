"""Helpers the market tests share: enterprises, money, a pool holding credits, listings.

Organizations and money go through the CLI and the HTTP API, as the apps and the bureau would;
credits come into being the registry's way (tests.registry_support.issue), then move by the API.
"""
import itertools
import random
from datetime import timedelta

from accounting.ledger.accounts import system_account_id
from accounting.ledger.donations import donate
from accounting.ledger.idempotency import internal
from accounting.ledger.transfers import transfer
from accounting.market.credit_codes import CHARSET, check_character
from config.extensions import db
from tests.coupons_support import staff
from tests.registry_support import BASE_DAY, issue, open_accounts

_codes = itertools.count(1)
_days = itertools.count(1)


def credit_code(seed: int | None = None) -> str:
    """A valid 统一社会信用代码: 17 characters and the right check character."""
    rng = random.Random(seed if seed is not None else next(_codes))
    body = "91" + "371600" + "".join(rng.choice(CHARSET) for _ in range(9))
    return body + check_character(body)


class Firm:
    """An approved enterprise: its id, account number and a signed-in staff member's header."""

    def __init__(self, id: int, name: str, staff: dict, account_number: str):
        self.id, self.name, self.staff, self.account_number = id, name, staff, account_number


def open_enterprise(app, api, auditor: dict, name: str = "滨州绿色化工有限公司") -> Firm:
    member = staff(app, api, "enterprise_staff")
    applied = api.http.post("/api/v1/enterprises", headers=member,
                            json={"name": name, "credit_code": credit_code(), "district": "滨城区"})
    assert applied.status_code == 201, applied.get_json()
    approved = api.http.post(f"/api/v1/enterprises/{applied.get_json()['id']}/approve", headers=auditor, json={})
    assert approved.status_code == 200, approved.get_json()
    return Firm(applied.get_json()["id"], name, member, approved.get_json()["account_number"])


_references = itertools.count(1)


def fund(api, auditor: dict, account_number: str, amount_fen: int) -> dict:
    """A bank receipt recorded by an auditor."""
    deposit = api.http.post("/api/v1/market/deposits", headers=auditor, json={
        "account_number": account_number, "amount_fen": amount_fen, "bank_reference": f"BANK-{next(_references)}"})
    assert deposit.status_code == 201, deposit.get_json()
    return deposit.get_json()


def fill_pool(app, grams: int) -> None:
    """The pool receives `grams`: issued to a resident, who donates them."""
    with app.app_context():
        [(account_id, _)] = open_accounts(1)
        day = BASE_DAY + timedelta(days=next(_days))
        issue(day, {account_id: grams})
        donate(account_id, grams, internal("test-donation", str(account_id)), actor_id=None)
        db.session.commit()


def give_credits(app, account_number: str, grams: int) -> None:
    """An organization's account receives `grams` (issued to a resident, transferred to it)."""
    with app.app_context():
        [(account_id, _)] = open_accounts(1)
        day = BASE_DAY + timedelta(days=next(_days))
        issue(day, {account_id: grams})
        transfer(account_id, account_number, grams, internal("test-gift", str(account_id)), actor_id=None)
        db.session.commit()


def pool_id(app) -> int:
    with app.app_context():
        return system_account_id("pool")


def wallet(api, headers: dict, account: str | None = None) -> dict:
    answer = api.http.get("/api/v1/market/wallet", headers=headers,
                          query_string={"account": account} if account else None)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()
