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


# The largest batch issued without a bureau's approval (ISSUANCE_AUTO_APPROVE_MAX_G).
AUTO_APPROVED_G = 1_000_000


def _issued_residents(grams: int) -> list[tuple[int, int]]:
    """Residents holding `grams` between them, issued a day each (batches small enough to auto-approve)."""
    holders = []
    while grams > 0:
        chunk = min(grams, AUTO_APPROVED_G)
        [(account_id, _)] = open_accounts(1)
        issue(BASE_DAY + timedelta(days=next(_days)), {account_id: chunk})
        holders.append((account_id, chunk))
        grams -= chunk
    return holders


def fill_pool(app, grams: int) -> None:
    """The pool receives `grams`: issued to residents, who donate them."""
    with app.app_context():
        for account_id, chunk in _issued_residents(grams):
            donate(account_id, chunk, internal("test-donation", str(account_id)), actor_id=None)
        db.session.commit()


def give_credits(app, account_number: str, grams: int) -> None:
    """An organization's account receives `grams` (issued to residents, transferred to it)."""
    with app.app_context():
        for account_id, chunk in _issued_residents(grams):
            transfer(account_id, account_number, chunk, internal("test-gift", str(account_id)), actor_id=None)
        db.session.commit()


def pool_id(app) -> int:
    with app.app_context():
        return system_account_id("pool")


def wallet(api, headers: dict, account: str | None = None) -> dict:
    answer = api.http.get("/api/v1/market/wallet", headers=headers,
                          query_string={"account": account} if account else None)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


# --- the service layer directly (concurrency tests: threads, each with its own session) ----------

def approved_enterprises(app, count: int) -> list[int]:
    """`count` approved enterprises (committed); their account ids."""
    from accounting.market import enterprises

    with app.app_context():
        ids = []
        for _ in range(count):
            found = enterprises.apply(f"企业{next(_codes)}", credit_code(), "滨城区", applied_by=None)
            ids.append(enterprises.approve(found.id, actor_id=None).account_id)
        db.session.commit()
        return ids


def deposit_to(app, account_id: int, amount_fen: int) -> None:
    from accounting.ledger.models import Account
    from accounting.market import money

    with app.app_context():
        money.deposit(db.session.get(Account, account_id), amount_fen, f"BANK-{next(_references)}", actor_id=None)
        db.session.commit()


def list_from(app, seller_account_id: int, quantity_g: int, price: int, min_lot_g: int = 1) -> int:
    from accounting.market import listings
    from config.db_types import utcnow

    with app.app_context():
        found = listings.open_listing(seller_account_id, quantity_g, price, min_lot_g, None,
                                      internal("test-listing", f"{seller_account_id}-{next(_references)}"),
                                      actor_id=None, now=utcnow())
        db.session.commit()
        return found.id


def issue_to(app, account_id: int, grams: int) -> None:
    """Credits issued to a resident and transferred to `account_id` (any holder account)."""
    from accounting.ledger.models import Account

    with app.app_context():
        number = db.session.get(Account, account_id).number
    give_credits(app, number, grams)
