"""Market statistics per Asia/Shanghai day: every fill and every auction allocation is a trade
(an allocation dated at its clearing); turnover excludes fees; VWAP is Σ(q × p) / Σ q, rounded
half up to a whole fen per tonne."""
from datetime import date

from sqlalchemy import text

DAILY = text("""
    WITH trades AS (
        SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, quantity_g, price_fen_per_t, amount_fen
        FROM market_fills
        WHERE created_at >= (CAST(:first AS date)::timestamp AT TIME ZONE 'Asia/Shanghai')
          AND created_at < ((CAST(:last AS date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
        UNION ALL
        SELECT (a.cleared_at AT TIME ZONE 'Asia/Shanghai')::date, b.allocated_g, a.clearing_price_fen_per_t,
               b.amount_fen
        FROM market_bids AS b JOIN market_auctions AS a ON a.id = b.auction_id
        WHERE b.allocated_g > 0
          AND a.cleared_at >= (CAST(:first AS date)::timestamp AT TIME ZONE 'Asia/Shanghai')
          AND a.cleared_at < ((CAST(:last AS date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'))
    SELECT day, sum(quantity_g)::bigint, sum(amount_fen)::bigint,
           round(sum(quantity_g::numeric * price_fen_per_t) / sum(quantity_g))::bigint,
           max(price_fen_per_t), min(price_fen_per_t), count(*)
    FROM trades GROUP BY day ORDER BY day""")


def daily(session, first: date, last: date) -> list[dict]:
    rows = session.execute(DAILY, {"first": first, "last": last}).all()
    return [{"day": day, "volume_g": volume, "turnover_fen": turnover, "vwap_fen_per_t": vwap,
             "high_fen_per_t": high, "low_fen_per_t": low, "trades": trades}
            for day, volume, turnover, vwap, high, low, trades in rows]
