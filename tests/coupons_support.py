"""Helpers the coupon tests share: staff users, an approved shop, campaigns, residents holding credits.

Everything goes through the CLI and the HTTP API, as the apps and the bureau would.
"""
import itertools
import threading
from dataclasses import dataclass

from sqlalchemy import func, select, text

from accounting.business_day import shanghai_day
from accounting.issuance.tasks import run_issuance_day
from tests.support import ago, iso

STAFF_PASSWORD = "staff-password-1"
METRO_10_KM_G = 468  # what a 10 km metro trip earns (DOMAIN.md §3)
_staff_phones = itertools.count(1)


def staff(app, api, role: str, merchant_id: int | None = None) -> dict:
    """A staff user made with `flask users create`, signed in; returns the Authorization header."""
    phone = f"1370{next(_staff_phones):07d}"
    args = ["users", "create", "--role", role, "--phone", phone, "--password", STAFF_PASSWORD]
    if merchant_id is not None:
        args += ["--merchant", str(merchant_id)]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    login = api.http.post("/api/v1/auth/login", json={"phone": phone, "password": STAFF_PASSWORD})
    assert login.status_code == 200, login.get_json()
    return {"Authorization": f"Bearer {login.get_json()['access_token']}"}


@dataclass
class Shop:
    id: int
    name: str
    cashier: dict
    auditor: dict
    account_number: str | None


def apply_as_merchant(api, cashier: dict, name="黄河路面馆", district="滨城区", category="food"):
    return api.http.post("/api/v1/merchants", headers=cashier, json={
        "name": name, "district": district, "address": "黄河五路 1 号", "category": category})


def open_shop(app, api, auditor: dict | None = None, *, name="黄河路面馆", district="滨城区",
              category="food") -> Shop:
    """A merchant that applied through its first staff member and was approved by an auditor."""
    cashier = staff(app, api, "merchant_staff")
    auditor = auditor or staff(app, api, "auditor")
    applied = apply_as_merchant(api, cashier, name, district, category)
    assert applied.status_code == 201, applied.get_json()
    approved = api.http.post(f"/api/v1/merchants/{applied.get_json()['id']}/approve", headers=auditor, json={})
    assert approved.status_code == 200, approved.get_json()
    return Shop(applied.get_json()["id"], name, cashier, auditor, approved.get_json()["account_number"])


def campaign_body(**fields) -> dict:
    body = {"title": "绿色出行满减券", "face_value_fen": 500, "price_g": 100, "stock": 10, "per_resident_limit": 1,
            "valid_from": iso(ago(hours=1)), "valid_until": iso(ago(hours=-48))}
    body.update(fields)
    return body


def post_campaign(api, shop: Shop, merchant_id: int | None = None, headers: dict | None = None, **fields):
    return api.http.post(f"/api/v1/merchants/{shop.id if merchant_id is None else merchant_id}/campaigns",
                         headers=headers or shop.cashier, json=campaign_body(**fields))


def create_campaign(api, shop: Shop, **fields) -> dict:
    created = post_campaign(api, shop, **fields)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def residents_with_credits(app, api, count: int, *, km: int = 10) -> list:
    """`count` registered residents, each holding the issued credits of one metro trip yesterday."""
    start = ago(days=1)  # one moment: one Asia/Shanghai day, one issuance run
    residents = [api.register() for _ in range(count)]
    for resident in residents:
        assert api.trip(resident, mode="metro", distance_m=km * 1000, start=start).status_code == 202
    with app.app_context():
        run_issuance_day(shanghai_day(start))
    return residents


def balance(api, resident) -> int:
    return api.http.get("/api/v1/me", headers=resident.auth()).get_json()["account"]["balance_g"]


def claim(client, resident, campaign_id: int, key: str | None = None):
    headers = resident.auth(**({"Idempotency-Key": key} if key else {}))
    return client.post(f"/api/v1/campaigns/{campaign_id}/claim", headers=headers)


def qr_token(api, resident, coupon_id: int) -> str:
    detail = api.http.get(f"/api/v1/me/coupons/{coupon_id}", headers=resident.auth())
    assert detail.status_code == 200, detail.get_json()
    return detail.get_json()["qr_token"]


def registry_ok(api, auditor: dict) -> bool:
    report = api.http.get("/api/v1/registry/verify", headers=auditor).get_json()
    return report["ok"] and all(item["ok"] for item in report["invariants"])


def account_balance(app, number: str) -> int:
    from accounting.ledger.models import Account
    from config.extensions import db

    with app.app_context():
        return db.session.scalar(select(Account.balance_g).where(Account.number == number))


def escrow_accounts(app, merchant_id: int) -> list[int]:
    """Every escrow of the merchant: its own (coupons older than campaign escrows) and its campaigns' shards."""
    from config.extensions import db
    from merchants.models import Campaign, CampaignEscrow, Merchant

    with app.app_context():
        own = db.session.scalar(select(Merchant.escrow_account_id).where(Merchant.id == merchant_id))
        return [own] + list(db.session.scalars(
            select(CampaignEscrow.account_id).join(Campaign, Campaign.id == CampaignEscrow.campaign_id)
            .where(Campaign.merchant_id == merchant_id)))


def escrow_balance(app, merchant_id: int) -> int:
    """What the merchant holds in escrow, over all its escrows."""
    from accounting.ledger.models import Account
    from config.extensions import db

    accounts = escrow_accounts(app, merchant_id)
    with app.app_context():
        return db.session.scalar(select(func.coalesce(func.sum(Account.balance_g), 0))
                                 .where(Account.id.in_(accounts)))


def escrows_owing_other_than_held(app) -> list[tuple[int, int, int]]:
    """(escrow account, balance, what its claimed coupons owe) wherever the two differ: none when every
    escrow holds exactly the prices of the claimed coupons paid into it."""
    from config.extensions import db

    with app.app_context():
        return [tuple(row) for row in db.session.execute(text(
            """SELECT a.id, a.balance_g, coalesce(o.owed, 0) FROM accounts a
               LEFT JOIN (SELECT escrow_account_id, sum(price_g) AS owed FROM coupons WHERE status = 'claimed'
                          GROUP BY escrow_account_id) o ON o.escrow_account_id = a.id
               WHERE a.kind = 'escrow' AND a.number <> 'SYSESCROW' AND a.balance_g <> coalesce(o.owed, 0)"""))]


def count_rows(app, model, *where) -> int:
    from config.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def run_together(jobs) -> list:
    """Run each callable in its own thread, all released at once by a barrier; their results in order."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list = []

    def runner(index, job):
        try:
            barrier.wait(timeout=60)
            results[index] = job()
        except BaseException as error:  # reported below, never lost in a thread
            errors.append(error)

    threads = [threading.Thread(target=runner, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results
