"""The public page's figures (RESIDENTS.md, "The public page"): what anyone can check without asking.

Set-based SQL, one query per table, read-only; amounts in grams, money in fen, months as 'YYYY-MM'
in Asia/Shanghai. Every value is a str, int, bool or None, so the figures survive a JSON round trip
unchanged (they are cached as JSON, api/public/cache.py). Coupons are the merchants' tables, read
as SQL here (accounting never imports merchants). No personal data: no account numbers, phones or
names; only districts, methodologies, and what a retirement's certificate already says in public.

Flows, each counted by the units that moved (the serial blocks of its transaction), so that its
methodology is the one of the batch its units came from:
- issued: batch lines of issued batches, in the month of their vintage (the day of the green actions
  they certify); district of the receiving holder;
- retired: units into the retirement account, for a retirement certificate; district of its holder;
- redeemed: coupons redeemed at a merchant's till; district of the merchant;
- donated: units given to the pool (公益捐赠); district of the donor.
"""
from sqlalchemy import text

from accounting.ledger import checkpoints
from accounting.market import stats

MONTH = "to_char({} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
FLOW_KINDS = ("issued", "retired", "redeemed", "donated")
UNITS = "(m.last_serial - m.first_serial + 1)"

# One scan of the four flows, grouped three ways at once (GROUPING SETS): by month, by methodology,
# by district. `grouping(month)` etc. tell which grouping a row belongs to.
FLOWS = text(f"""
    WITH flows AS (
        SELECT 'issued' AS kind, to_char(b.vintage, 'YYYY-MM') AS month, b.methodology_version_id AS version_id,
               h.district, l.quantity_g AS grams
        FROM batch_lines AS l JOIN issuance_batches AS b ON b.id = l.batch_id AND b.status = 'issued'
        JOIN accounts AS a ON a.id = l.account_id LEFT JOIN holders AS h ON h.id = a.holder_id
        UNION ALL
        SELECT 'retired', {MONTH.format('r.created_at')}, b.methodology_version_id, h.district, {UNITS}
        FROM retirements AS r
        JOIN block_movements AS m ON m.transaction_id = r.transaction_id
        JOIN accounts AS into_retirement ON into_retirement.id = m.to_account_id AND into_retirement.kind = 'retirement'
        JOIN credit_blocks AS k ON k.id = m.block_id JOIN issuance_batches AS b ON b.id = k.batch_id
        JOIN accounts AS a ON a.id = r.account_id LEFT JOIN holders AS h ON h.id = a.holder_id
        UNION ALL
        SELECT 'redeemed', {MONTH.format('c.redeemed_at')}, b.methodology_version_id, shop.district, {UNITS}
        FROM coupons AS c JOIN campaigns AS p ON p.id = c.campaign_id JOIN merchants AS shop ON shop.id = p.merchant_id
        JOIN block_movements AS m ON m.transaction_id = c.redeem_transaction_id
        JOIN credit_blocks AS k ON k.id = m.block_id JOIN issuance_batches AS b ON b.id = k.batch_id
        WHERE c.status = 'redeemed'
        UNION ALL
        SELECT 'donated', {MONTH.format('t.created_at')}, b.methodology_version_id, h.district, {UNITS}
        FROM journal_transactions AS t
        JOIN block_movements AS m ON m.transaction_id = t.id
        JOIN credit_blocks AS k ON k.id = m.block_id JOIN issuance_batches AS b ON b.id = k.batch_id
        JOIN accounts AS a ON a.id = m.from_account_id LEFT JOIN holders AS h ON h.id = a.holder_id
        WHERE t.kind = 'donate')
    SELECT f.kind, f.month, x.code, x.name, coalesce(f.district, '') AS district, sum(f.grams)::bigint,
           grouping(f.month) = 0 AS by_month, grouping(x.code, x.name) = 0 AS by_methodology
    FROM flows AS f JOIN methodology_versions AS v ON v.id = f.version_id
    JOIN methodologies AS x ON x.id = v.methodology_id
    GROUP BY GROUPING SETS ((f.kind, f.month), (f.kind, x.code, x.name), (f.kind, coalesce(f.district, '')))""")

# Coupons by the month they were claimed: how many, how many of those redeemed (so far), their grams.
COUPONS = text(f"""
    SELECT {MONTH.format('claimed_at')} AS month, count(*), count(*) FILTER (WHERE status = 'redeemed'),
           coalesce(sum(price_g), 0)::bigint, coalesce(sum(price_g) FILTER (WHERE status = 'redeemed'), 0)::bigint
    FROM coupons GROUP BY month ORDER BY month""")

# The pool's credits in and out per month (its journal entries by movement kind), what was sold of
# what it offered (its listings' fills, its auctions' allocations) and the money that came in; the
# balance is the running sum of its entries, so the last month's is what GET /market/pool holds.
POOL = text(f"""
    WITH pool AS (SELECT id FROM accounts WHERE kind = 'pool'),
    moves AS (
        SELECT t.created_at AS at, t.kind, e.amount_g AS grams, 0 AS fen, 0 AS sold
        FROM journal_entries AS e JOIN journal_transactions AS t ON t.id = e.transaction_id
        WHERE e.account_id = (SELECT id FROM pool)
        UNION ALL
        SELECT t.created_at, t.kind, 0, m.amount_fen, 0
        FROM money_entries AS m JOIN journal_transactions AS t ON t.id = m.transaction_id
        WHERE m.account_id = (SELECT id FROM pool)
        UNION ALL
        SELECT f.created_at, 'sold', 0, 0, f.quantity_g
        FROM market_fills AS f JOIN market_listings AS l ON l.id = f.listing_id
        WHERE l.seller_account_id = (SELECT id FROM pool)
        UNION ALL
        SELECT cleared_at, 'sold', 0, 0, sold_g FROM market_auctions
        WHERE seller_account_id = (SELECT id FROM pool) AND cleared_at IS NOT NULL AND sold_g > 0)
    SELECT {MONTH.format('at')} AS month,
           coalesce(sum(grams) FILTER (WHERE kind = 'donate'), 0)::bigint,
           coalesce(-sum(grams) FILTER (WHERE grams < 0), 0)::bigint,
           coalesce(sum(grams) FILTER (WHERE grams > 0 AND kind <> 'donate'), 0)::bigint,
           sum(sold)::bigint, coalesce(sum(fen) FILTER (WHERE fen > 0), 0)::bigint,
           (sum(sum(grams)) OVER (ORDER BY {MONTH.format('at')}))::bigint
    FROM moves GROUP BY month ORDER BY month""")

# Every retirement by number with the serial ranges it retired, as its certificate says them.
RETIREMENTS = """
    SELECT r.id, r.number, r.created_at, r.amount_g, r.beneficiary, r.purpose,
           string_agg(ledger_serials(b.serial_prefix, m.first_serial, m.last_serial), ' '
                      ORDER BY k.batch_id, m.first_serial) AS serials,
           count(*) OVER () AS total
    FROM retirements AS r
    JOIN block_movements AS m ON m.transaction_id = r.transaction_id
    JOIN accounts AS into_retirement ON into_retirement.id = m.to_account_id AND into_retirement.kind = 'retirement'
    JOIN credit_blocks AS k ON k.id = m.block_id JOIN issuance_batches AS b ON b.id = k.batch_id
    GROUP BY r.id ORDER BY r.id DESC"""
RETIREMENTS_PAGE = text(RETIREMENTS + " LIMIT :limit OFFSET :offset")
RETIREMENTS_ALL = text(RETIREMENTS)

VERIFICATIONS = text("""
    SELECT verified_at, ok, method, failed, chain_seq FROM registry_verifications ORDER BY id DESC LIMIT :limit""")


def flows(session) -> dict:
    """{"by_month": [...], "by_methodology": [...], "by_district": [...], "totals": {...}}: each row with
    its key and the grams issued, retired, redeemed and donated."""
    tables = {"by_month": {}, "by_methodology": {}, "by_district": {}}
    for kind, month, code, name, district, grams, by_month, by_methodology in session.execute(FLOWS):
        if by_month:
            row = tables["by_month"].setdefault(month, {"month": month})
        elif by_methodology:
            row = tables["by_methodology"].setdefault(code, {"methodology": code, "name": name})
        else:
            row = tables["by_district"].setdefault(district, {"district": district})
        row[f"{kind}_g"] = int(grams)
    result = {}
    for table, rows in tables.items():
        result[table] = [{**row, **{f"{kind}_g": row.get(f"{kind}_g", 0) for kind in FLOW_KINDS}}
                         for _, row in sorted(rows.items())]
    result["totals"] = {f"{kind}_g": sum(row[f"{kind}_g"] for row in result["by_month"]) for kind in FLOW_KINDS}
    return result


def coupons(session) -> dict:
    """Per claim month: claimed, redeemed (coupons and grams) and the redemption rate; and overall."""
    rows = [{"month": month, "claimed": claimed, "redeemed": redeemed, "claimed_g": claimed_g,
             "redeemed_g": redeemed_g, "rate_percent": _percent(redeemed, claimed)}
            for month, claimed, redeemed, claimed_g, redeemed_g in session.execute(COUPONS)]
    claimed, redeemed = sum(r["claimed"] for r in rows), sum(r["redeemed"] for r in rows)
    return {"by_month": rows, "claimed": claimed, "redeemed": redeemed, "rate_percent": _percent(redeemed, claimed)}


def _percent(part: int, whole: int) -> str | None:
    """A share as a percentage with one decimal, as text (exact in JSON), or None when there is no whole."""
    return None if not whole else f"{part * 100 / whole:.1f}"


def market(session) -> list[dict]:
    return stats.monthly(session)


def pool(session) -> dict:
    rows = [{"month": month, "donated_g": donated, "offered_g": offered, "returned_g": returned, "sold_g": sold,
             "proceeds_fen": proceeds, "balance_g": balance}
            for month, donated, offered, returned, sold, proceeds, balance in session.execute(POOL)]
    return {"by_month": rows, "donated_g": sum(r["donated_g"] for r in rows), "sold_g": sum(r["sold_g"] for r in rows),
            "proceeds_fen": sum(r["proceeds_fen"] for r in rows), "balance_g": rows[-1]["balance_g"] if rows else 0}


def retirements(session, limit: int | None = None, offset: int = 0) -> dict:
    """Newest first: {"total": n, "items": [...]}; every one when `limit` is None."""
    query, params = (RETIREMENTS_ALL, {}) if limit is None else (RETIREMENTS_PAGE, {"limit": limit, "offset": offset})
    items, total = [], 0
    for row in session.execute(query, params):
        total = row.total
        items.append({"number": row.number, "date": row.created_at.isoformat(), "amount_g": row.amount_g,
                      "beneficiary": row.beneficiary, "purpose": row.purpose, "serials": row.serials.split(" ")})
    if not items and offset:  # a page past the end still says how many there are
        total = session.scalar(text("SELECT count(*) FROM retirements"))
    return {"total": total, "items": items}


def verifications(session, limit: int = 10) -> list[dict]:
    return [{"verified_at": at.isoformat(), "ok": ok, "method": method, "failed": list(failed), "chain_seq": seq}
            for at, ok, method, failed, seq in session.execute(VERIFICATIONS, {"limit": limit})]


def checkpoint(checkpoint_dir: str) -> dict | None:
    """The audit chain's latest head as written down outside the database: the same record
    GET /api/v1/audit-checkpoint serves (seq, hash, sealed_at)."""
    return checkpoints.latest(checkpoint_dir)


def figures(session, checkpoint_dir: str) -> dict:
    """Everything on the page but the retirements' pages, in one dict (a handful of queries)."""
    return {"flows": flows(session), "coupons": coupons(session), "market": market(session), "pool": pool(session),
            "verifications": verifications(session), "checkpoint": checkpoint(checkpoint_dir)}
