"""An organization's market statement of a period: every movement of its credits and of its money,
one line per journal transaction, with what it was (order, deposit, withdrawal, auction …)."""
from datetime import date, timedelta

from sqlalchemy import text

from accounting.business_day import day_start
from config.extensions import db

HEADER = ["time", "type", "transaction_id", "credits_g", "money_fen", "reference", "memo"]

LINES = text("""
    WITH moved AS (
        SELECT transaction_id, sum(amount_g) AS credits_g, 0 AS money_fen FROM journal_entries
        WHERE account_id = :account GROUP BY transaction_id
        UNION ALL
        SELECT transaction_id, 0, sum(amount_fen) FROM money_entries
        WHERE account_id = :account GROUP BY transaction_id)
    SELECT t.created_at, t.kind, t.id, sum(m.credits_g)::bigint, sum(m.money_fen)::bigint,
           coalesce('order ' || o.id, 'deposit ' || d.bank_reference, 'withdrawal ' || w.id,
                    'auction ' || a.id, 'listing ' || l.id) AS reference, t.memo
    FROM moved AS m JOIN journal_transactions AS t ON t.id = m.transaction_id
    LEFT JOIN market_orders AS o ON o.transaction_id = t.id
    LEFT JOIN market_deposits AS d ON d.transaction_id = t.id
    LEFT JOIN market_withdrawals AS w ON w.transaction_id = t.id
    LEFT JOIN market_auctions AS a ON a.clear_transaction_id = t.id OR a.opened_in = t.id
    LEFT JOIN market_listings AS l ON l.opened_in = t.id
    WHERE t.created_at >= :start AND t.created_at < :end
    GROUP BY t.id, o.id, d.bank_reference, w.id, a.id, l.id
    ORDER BY t.id""")


def statement_rows(account_id: int, first: date, last: date) -> list[list]:
    rows = db.session.execute(LINES, {"account": account_id, "start": day_start(first),
                                      "end": day_start(last + timedelta(days=1))}).all()
    return [[at.isoformat(), kind, transaction, credits, money, reference, memo]
            for at, kind, transaction, credits, money, reference, memo in rows]


def statement_totals(rows: list[list]) -> list[list]:
    """The period's net movement per type: what an enterprise reconciles with its bank and books."""
    totals: dict[str, list[int]] = {}
    for row in rows:
        credits, money = totals.setdefault(row[1], [0, 0])
        totals[row[1]] = [credits + row[3], money + row[4]]
    return [[], ["total", "type", "", "credits_g", "money_fen", "", ""]] + [
        ["total", kind, "", credits, money, "", ""] for kind, (credits, money) in sorted(totals.items())]
