"""Market statistics per Asia/Shanghai day or month: every fill and every auction allocation is a
trade (an allocation dated at its clearing); turnover excludes fees; VWAP is Σ(q × p) / Σ q, rounded
half up to a whole fen per tonne."""
from datetime import date

from sqlalchemy import text

# Every trade with its time; the one definition both periods aggregate (PostgreSQL pushes a period's
# bounds down into each branch).
TRADES = """
    SELECT created_at AS at, quantity_g, price_fen_per_t, amount_fen FROM market_fills
    UNION ALL
    SELECT a.cleared_at, b.allocated_g, a.clearing_price_fen_per_t, b.amount_fen
    FROM market_bids AS b JOIN market_auctions AS a ON a.id = b.auction_id
    WHERE b.allocated_g > 0 AND a.cleared_at IS NOT NULL"""
FIGURES = """sum(quantity_g)::bigint, sum(amount_fen)::bigint,
           round(sum(quantity_g::numeric * price_fen_per_t) / sum(quantity_g))::bigint,
           max(price_fen_per_t), min(price_fen_per_t), count(*)"""

DAILY = text(f"""
    WITH trades AS ({TRADES})
    SELECT (at AT TIME ZONE 'Asia/Shanghai')::date AS day, {FIGURES}
    FROM trades
    WHERE at >= (CAST(:first AS date)::timestamp AT TIME ZONE 'Asia/Shanghai')
      AND at < ((CAST(:last AS date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
    GROUP BY day ORDER BY day""")

MONTHLY = text(f"""
    WITH trades AS ({TRADES})
    SELECT to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month, {FIGURES}
    FROM trades GROUP BY month ORDER BY month""")

NAMES = ("volume_g", "turnover_fen", "vwap_fen_per_t", "high_fen_per_t", "low_fen_per_t", "trades")


def daily(session, first: date, last: date) -> list[dict]:
    rows = session.execute(DAILY, {"first": first, "last": last}).all()
    return [{"day": day, **dict(zip(NAMES, figures))} for day, *figures in rows]


def monthly(session) -> list[dict]:
    """Every month with trades since the market opened ('YYYY-MM', Asia/Shanghai), oldest first."""
    return [{"month": month, **dict(zip(NAMES, figures))} for month, *figures in session.execute(MONTHLY).all()]
