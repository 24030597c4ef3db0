"""Demo data for a first look (`flask demo seed`): residents with a week of green actions,
issued credits, data sources, an auditor, a merchant with a coupon campaign, and the market: an
enterprise with money, residents' donations to the pool, and the pool's credits listed and
auctioned."""
import random
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from accounting.business_day import SHANGHAI
from accounting.issuance.tasks import run_issuance_day
from accounting.ledger.accounts import system_account_id
from accounting.ledger.donations import donate
from accounting.ledger.idempotency import internal
from accounting.ledger.models import Account
from accounting.ledger.tasks import seal_audit_log
from accounting.market import auctions, enterprises, listings, money
from accounting.quantification.methodologies import claim_windows
from accounting.quantification.tasks import quantify_received
from accounting.record import sources as source_service
from accounting.record.recording import ingest_events
from api.identity.models import User
from api.identity.operations import create_staff_user, register_resident
from config.db_types import utcnow
from config.extensions import db
from merchants import applications, campaigns

DEMO_PASSWORD = "demo-password-2026"
DEMO_RESIDENTS = [
    ("13800000001", "王小绿", "滨城区"),
    ("13800000002", "李骑行", "邹平市"),
    ("13800000003", "张回收", "博兴县"),
]
DEMO_SOURCES = [("BZBUS", "transit", "滨州公交"), ("BZBIKE", "bikeshare", "滨州共享单车"),
                ("BZRECYCLE", "recycling", "滨州再生资源回收")]
AUDITOR_PHONE, CASHIER_PHONE, ENTERPRISE_PHONE = "13900000001", "13700000001", "13600000001"
# Wuhan sold pooled 碳普惠 credits at about 43.5 元 a tonne (MARKET.md).
DEMO_PRICE_FEN_PER_T = 4_350


def seed_demo() -> str | None:
    """Seed once; returns what a newcomer needs to sign in, or None when already seeded."""
    if db.session.scalar(select(User.id).where(User.phone == DEMO_RESIDENTS[0][0])):
        return None
    app_secret = current_app.config["SECRET_KEY"]
    filed = {code: source_service.file_source(code, kind, name, app_secret)[0] for code, kind, name in DEMO_SOURCES}
    source_service.file_station("BZRECYCLE", "BZRECYCLE-001", "黄河五路回收站", "滨城区")
    auditor = create_staff_user("auditor", AUDITOR_PHONE, DEMO_PASSWORD, "生态环境局审核员")
    rng, now = random.Random(2026), utcnow()
    for phone, name, district in DEMO_RESIDENTS:
        _, account = register_resident(phone, DEMO_PASSWORD, name, district)
        for code in filed:
            source_service.authorize_source(account.id, code)
        for source in filed.values():
            ingest_events(source, list(enumerate(_demo_events(source, account.number, rng, now))), now=now,
                          window_of=claim_windows(now))
    _demo_merchant(auditor.id, now)
    db.session.commit()
    quantified = quantify_received()  # in-process, as the worker and the daily beat would
    today = now.astimezone(SHANGHAI).date()
    issued = [run_issuance_day(today - timedelta(days=back)) for back in range(7, 0, -1)]
    _demo_market(auditor.id)
    db.session.commit()
    seal_audit_log()
    lines = [f"demo data seeded ({quantified} green actions quantified, "
             f"{sum(len(day['issued']) for day in issued)} batches issued); "
             f"every demo user's password is {DEMO_PASSWORD}"]
    lines += [f"  resident {name}: phone {phone}" for phone, name, _ in DEMO_RESIDENTS]
    lines += [f"  auditor: phone {AUDITOR_PHONE}",
              f"  cashier of 黄河路面馆: phone {CASHIER_PHONE} (scanner: /scanner)",
              f"  staff of 滨州绿色化工有限公司 (buys on the market): phone {ENTERPRISE_PHONE}"]
    return "\n".join(lines)


def _demo_merchant(auditor_id: int, now) -> None:
    cashier = create_staff_user("merchant_staff", CASHIER_PHONE, DEMO_PASSWORD, "面馆收银员")
    shop = applications.apply("黄河路面馆", "滨城区", "黄河五路 88 号", "food", "91371600MA3DEMO01X", cashier.id)
    cashier.merchant_id = shop.id
    applications.approve(shop.id, auditor_id, "demo")
    campaigns.create(shop.id, {
        "title": "绿色出行 5 元面条券", "description": "凭碳减排量兑换，到店抵扣 5 元", "terms": "每人限领 2 张",
        "face_value_fen": 500, "price_g": 1000, "stock": 100, "per_resident_limit": 2,
        "valid_from": now - timedelta(hours=1), "valid_until": now + timedelta(days=30),
    }, actor_id=cashier.id, publish=True)


def _demo_market(auditor_id: int) -> None:
    """An approved enterprise with 10,000 元; each demo resident gives half its credits to the pool;
    the bureau lists half the pool at 43.5 元/t and auctions the rest, closing in a day."""
    staff = create_staff_user("enterprise_staff", ENTERPRISE_PHONE, DEMO_PASSWORD, "化工公司采购")
    firm = enterprises.apply("滨州绿色化工有限公司", "91371600MA3DEMA02A", "滨州经济技术开发区", staff.id)
    staff.enterprise_id = firm.id
    enterprises.approve(firm.id, auditor_id, "demo")
    money.deposit(db.session.get(Account, firm.account_id), 1_000_000, "DEMO-BANK-0001", auditor_id)
    for phone, _, _ in DEMO_RESIDENTS:
        account = db.session.scalar(select(Account).join(User, User.holder_id == Account.holder_id)
                                    .where(User.phone == phone))
        if account.balance_g >= 2:
            donate(account.id, account.balance_g // 2, internal("demo-donation", phone), actor_id=None)
    pool = system_account_id("pool")
    held = db.session.get(Account, pool).balance_g
    now = utcnow()
    if held >= 2:
        listings.open_listing(pool, held // 2, DEMO_PRICE_FEN_PER_T, 1, None, internal("demo-listing", "pool"),
                              actor_id=auditor_id, now=now)
        auctions.create(held - held // 2, 4_000, None, now + timedelta(days=1), internal("demo-auction", "pool"),
                        actor_id=auditor_id, now=now)


def _demo_events(source, account_number, rng, now):
    for day in range(1, 6):
        start = now - timedelta(days=day, hours=rng.randint(0, 10))
        base = {"external_id": f"demo-{account_number}-{day}", "account_number": account_number}
        if source.kind == "transit":
            yield base | {"kind": "trip", "mode": "bus", "started_at": start,
                          "ended_at": start + timedelta(minutes=25), "distance_m": rng.randint(3000, 12000)}
        elif source.kind == "bikeshare":
            yield base | {"kind": "trip", "mode": "bike", "started_at": start,
                          "ended_at": start + timedelta(minutes=15), "distance_m": rng.randint(1000, 5000)}
        else:
            yield base | {"kind": "recycling", "category": rng.choice(["cardboard", "pet", "aluminium"]),
                          "weight_g": rng.randint(200, 3000), "occurred_at": start,
                          "station_code": "BZRECYCLE-001"}
