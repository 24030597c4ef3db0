"""The registry's invariants (DOMAIN.md §5), each checked with a query anyone can run."""
from flask import current_app
from sqlalchemy import text

from accounting.ledger import checkpoints
from accounting.ledger.audit import verify_chain
from accounting.ledger.models import VERIFICATION_METHODS, RegistryVerification
from config.extensions import db

# Each query returns the rows that break the invariant (capped at 20 for the report).
CHECKS = [
    ("1 entries of every transaction sum to zero", """
        SELECT transaction_id AS id, SUM(amount_g) AS detail FROM journal_entries
        GROUP BY transaction_id HAVING SUM(amount_g) <> 0"""),
    ("2 no balance below zero but the issuance account's", """
        SELECT id, balance_g AS detail FROM accounts WHERE kind <> 'issuance' AND balance_g < 0"""),
    ("3 balance = sum of entries = units in active blocks held", """
        SELECT a.id, a.balance_g || ' / ' || COALESCE(e.total, 0) || ' / ' || COALESCE(b.units, 0) AS detail
        FROM accounts a
        LEFT JOIN (SELECT account_id, SUM(amount_g) AS total FROM journal_entries GROUP BY account_id) e
               ON e.account_id = a.id
        LEFT JOIN (SELECT account_id, SUM(last_serial - first_serial + 1) AS units FROM credit_blocks
                   WHERE status <> 'split' GROUP BY account_id) b ON b.account_id = a.id
        WHERE a.balance_g <> COALESCE(e.total, 0)
           OR (a.kind <> 'issuance' AND a.balance_g <> COALESCE(b.units, 0))"""),
    ("4 blocks of a batch never overlap and cover exactly its quantity", """
        SELECT id, detail FROM (
            SELECT b.id, 'covers ' || COALESCE(SUM(k.last_serial - k.first_serial + 1), 0)
                         || ' of ' || b.quantity_g AS detail,
                   CASE WHEN COALESCE(SUM(k.last_serial - k.first_serial + 1), 0) <> b.quantity_g
                          OR COALESCE(MIN(k.first_serial), 1) <> 1
                          OR COALESCE(MAX(k.last_serial), b.quantity_g) <> b.quantity_g
                        THEN 1 ELSE 0 END AS broken
            FROM issuance_batches b LEFT JOIN credit_blocks k ON k.batch_id = b.id AND k.status <> 'split'
            WHERE b.status = 'issued' GROUP BY b.id, b.quantity_g
            UNION ALL
            SELECT batch_id, 'overlap at serial ' || first_serial, 1 FROM (
                SELECT batch_id, first_serial,
                       LAG(last_serial) OVER (PARTITION BY batch_id ORDER BY first_serial) AS previous_last
                FROM credit_blocks WHERE status <> 'split') s
            WHERE first_serial <= previous_last
        ) checks WHERE broken = 1"""),
    ("5 total issued = reductions in issued batches; none twice", """
        SELECT b.id, b.quantity_g || ' issued, ' || COALESCE(SUM(e.reduction_g), 0) || ' reduced' AS detail
        FROM issuance_batches b LEFT JOIN (
            SELECT issuance_batch_id AS batch_id, reduction_g,
                   CASE WHEN status <> 'issued' THEN 1 ELSE 0 END AS not_issued
            FROM green_events WHERE issuance_batch_id IS NOT NULL
            UNION ALL  -- a month archived to a file: its batches' totals as they were when it left
            SELECT t.batch_id, t.reduction_g, t.not_issued FROM event_archive_batches t
            JOIN event_archives a ON a.month = t.month AND a.restored_at IS NULL
        ) e ON e.batch_id = b.id
        WHERE b.status = 'issued'
        GROUP BY b.id, b.quantity_g
        HAVING b.quantity_g <> COALESCE(SUM(e.reduction_g), 0) OR SUM(e.not_issued) > 0
        UNION ALL
        SELECT -1, (SELECT COALESCE(SUM(quantity_g), 0) FROM issuance_batches WHERE status = 'issued')
                   || ' in batches, ' || -balance_g || ' debited to issuance'
        FROM accounts WHERE kind = 'issuance'
          AND -balance_g <> (SELECT COALESCE(SUM(quantity_g), 0) FROM issuance_batches WHERE status = 'issued')"""),
    ("6 retired and revoked units never move again", """
        SELECT k.id, 'moved after ' || k.status AS detail FROM credit_blocks k
        JOIN block_movements m ON m.block_id = k.id
        JOIN block_movements first_final ON first_final.block_id = k.id
        JOIN accounts final_account ON final_account.id = first_final.to_account_id
                                   AND final_account.kind IN ('retirement', 'revocation')
        WHERE k.status IN ('retired', 'revoked') AND m.transaction_id > first_final.transaction_id
        UNION ALL
        SELECT k.id, 'a ' || k.status || ' block held by a holder' FROM credit_blocks k
        JOIN accounts a ON a.id = k.account_id
        WHERE (k.status = 'retired' AND a.kind <> 'retirement') OR (k.status = 'revoked' AND a.kind <> 'revocation')"""),
    ("7 every movement carries an idempotency key, used once", """
        SELECT MIN(id) AS id, idempotency_scope || ':' || idempotency_key AS detail FROM journal_transactions
        GROUP BY idempotency_scope, idempotency_key HAVING COUNT(*) > 1
        UNION ALL
        SELECT id, 'no key' FROM journal_transactions WHERE idempotency_key IS NULL OR idempotency_key = ''"""),
]

# The market's (MARKET.md): money beside credits, in the same journal transactions. Checked after 8.
MARKET_CHECKS = [
    ("9 money entries of every transaction sum to zero; money = its entries; none below zero but the bank's", """
        SELECT transaction_id AS id, 'money entries sum to ' || SUM(amount_fen) AS detail FROM money_entries
        GROUP BY transaction_id HAVING SUM(amount_fen) <> 0
        UNION ALL
        SELECT a.id, a.money_fen || ' held, entries say ' || COALESCE(e.total, 0) FROM accounts a
        LEFT JOIN (SELECT account_id, SUM(amount_fen) AS total FROM money_entries GROUP BY account_id) e
               ON e.account_id = a.id
        WHERE a.money_fen <> COALESCE(e.total, 0)
        UNION ALL
        SELECT id, 'money ' || money_fen || ', reserved ' || reserved_fen FROM accounts
        WHERE kind <> 'bank' AND (money_fen < 0 OR reserved_fen > money_fen)"""),
    ("10 reserved money = open bids' reservations; escrowed credits = open listings and auctions", """
        SELECT a.id, a.reserved_fen || ' reserved, open bids hold ' || COALESCE(b.total, 0) AS detail
        FROM accounts a
        LEFT JOIN (SELECT b.bidder_account_id, SUM(b.reserved_fen) AS total FROM market_bids b
                   JOIN market_auctions x ON x.id = b.auction_id WHERE x.cleared_at IS NULL
                   GROUP BY b.bidder_account_id) b ON b.bidder_account_id = a.id
        WHERE a.reserved_fen <> COALESCE(b.total, 0)
        UNION ALL
        SELECT a.id, 'market account holds ' || a.balance_g || ' g, owes ' || COALESCE(o.owed, 0) FROM accounts a
        LEFT JOIN (SELECT escrow_account_id, CASE WHEN status = 'open' THEN remaining_g ELSE 0 END AS owed
                   FROM market_listings
                   UNION ALL
                   SELECT escrow_account_id, CASE WHEN cleared_at IS NULL THEN quantity_g ELSE 0 END
                   FROM market_auctions) o ON o.escrow_account_id = a.id
        WHERE a.kind = 'market' AND a.balance_g <> COALESCE(o.owed, 0)"""),
    ("11 every fill moved its credits and its money in one transaction; fills sum to their order", """
        SELECT o.id, 'fills ' || COALESCE(SUM(f.quantity_g), 0) || ' g ' || COALESCE(SUM(f.amount_fen), 0)
                     || ' fen, order ' || o.filled_g || ' g ' || o.cost_fen || ' fen' AS detail
        FROM market_orders o LEFT JOIN market_fills f ON f.order_id = o.id
        GROUP BY o.id HAVING COALESCE(SUM(f.quantity_g), 0) <> o.filled_g
            OR COALESCE(SUM(f.amount_fen), 0) <> o.cost_fen OR COALESCE(SUM(f.fee_fen), 0) <> o.fee_fen
        UNION ALL
        SELECT f.id, 'fill of ' || f.quantity_g || ' g; its escrow gave ' || COALESCE(-e.amount_g, 0)
        FROM market_fills f JOIN market_orders o ON o.id = f.order_id JOIN market_listings l ON l.id = f.listing_id
        LEFT JOIN journal_entries e ON e.transaction_id = o.transaction_id AND e.account_id = l.escrow_account_id
        WHERE COALESCE(-e.amount_g, 0) <> f.quantity_g
        UNION ALL
        SELECT s.order_id, 'seller ' || s.seller || ' due ' || s.due || ' fen, received ' || COALESCE(m.amount_fen, 0)
        FROM (SELECT f.order_id, o.transaction_id, l.seller_account_id AS seller, SUM(f.amount_fen) AS due
              FROM market_fills f JOIN market_orders o ON o.id = f.order_id JOIN market_listings l ON l.id = f.listing_id
              GROUP BY f.order_id, o.transaction_id, l.seller_account_id) s
        LEFT JOIN money_entries m ON m.transaction_id = s.transaction_id AND m.account_id = s.seller
        WHERE COALESCE(m.amount_fen, 0) <> s.due
        UNION ALL
        SELECT o.id, 'buyer paid ' || COALESCE(-m.amount_fen, 0) || ', got ' || COALESCE(e.amount_g, 0)
                     || ' g; order ' || (o.cost_fen + o.fee_fen) || ' fen, ' || o.filled_g || ' g'
        FROM market_orders o
        LEFT JOIN money_entries m ON m.transaction_id = o.transaction_id AND m.account_id = o.buyer_account_id
        LEFT JOIN journal_entries e ON e.transaction_id = o.transaction_id AND e.account_id =
             CASE WHEN NOT o.retired THEN o.buyer_account_id
                  ELSE (SELECT id FROM accounts WHERE kind = 'retirement') END
        WHERE COALESCE(-m.amount_fen, 0) <> o.cost_fen + o.fee_fen OR COALESCE(e.amount_g, 0) <> o.filled_g
        UNION ALL
        SELECT w.auction_id, 'bidder ' || w.bidder || ' won ' || w.won || ' g for ' || w.paid || ' fen; got '
                             || COALESCE(e.amount_g, 0) || ' g, paid ' || COALESCE(-m.amount_fen, 0)
        FROM (SELECT b.auction_id, x.clear_transaction_id AS transaction_id, b.bidder_account_id AS bidder,
                     SUM(b.allocated_g) AS won, SUM(b.amount_fen + b.fee_fen) AS paid
              FROM market_bids b JOIN market_auctions x ON x.id = b.auction_id WHERE x.cleared_at IS NOT NULL
              GROUP BY b.auction_id, x.clear_transaction_id, b.bidder_account_id) w
        LEFT JOIN journal_entries e ON e.transaction_id = w.transaction_id AND e.account_id = w.bidder
        LEFT JOIN money_entries m ON m.transaction_id = w.transaction_id AND m.account_id = w.bidder
        WHERE COALESCE(e.amount_g, 0) <> w.won OR COALESCE(-m.amount_fen, 0) <> w.paid"""),
]


# Every journal transaction's header (kind, key, request, memo, time) is the one its audit record
# carries (the ledger's functions write both at once): an owner's edit of a header shows here.
HEADERS = """
    SELECT t.id, 'header differs from its audit record' AS detail FROM journal_transactions t
    LEFT JOIN audit_records a ON a.payload ? 'key' AND (a.payload->>'transaction')::bigint = t.id
    WHERE a.id IS NULL OR a.payload->>'kind' IS DISTINCT FROM t.kind
       OR a.payload->>'scope' IS DISTINCT FROM t.idempotency_scope OR a.payload->>'key' IS DISTINCT FROM t.idempotency_key
       OR a.payload->>'request_hash' IS DISTINCT FROM t.request_hash OR a.payload->>'memo' IS DISTINCT FROM t.memo
       OR (a.payload->>'at')::timestamptz IS DISTINCT FROM t.created_at
    ORDER BY t.id"""


def verify_registry(checkpoint_dir: str | None = None) -> list[dict]:
    """Every invariant with ok/failed, how many rows break it, and the first few of them.

    Invariant 8 walks the chain against the heads written down outside the database
    (AUDIT_CHECKPOINT_DIR) and checks every journal header against its sealed record."""
    report = _checked(CHECKS)
    heads = checkpoints.read_all(checkpoint_dir or current_app.config["AUDIT_CHECKPOINT_DIR"])
    chain = verify_chain(heads)
    headers = db.session.execute(text(HEADERS)).all()
    unwritten = chain["sealed"] > 0 and not heads
    problems = ([f"seq {seq}" for seq in chain["broken_at"]] + [f"transaction {row[0]}: {row[1]}" for row in headers]
                + (["no chain head written down outside the database"] if unwritten else []))
    report.append({
        "invariant": "8 the audit chain verifies from its first record to its last",
        "ok": chain["ok"] and not headers and not unwritten, "violations": len(problems), "examples": problems[:20],
        "sealed": chain["sealed"], "head_hash": chain["head_hash"], "unsealed": chain["unsealed"],
        "oldest_unsealed_seconds": chain["oldest_unsealed_seconds"],
        "checkpoint": heads[-1] if heads else None,
    })
    return report + _checked(MARKET_CHECKS)


def verify_and_record(method: str, actor_id: int | None = None,
                      checkpoint_dir: str | None = None) -> tuple[list[dict], RegistryVerification]:
    """verify_registry, and a row saying when it ran, how (cli, api, console, beat), its result and
    which invariants failed, so anyone can see when the registry was last checked (flushed)."""
    if method not in VERIFICATION_METHODS:
        raise ValueError(f"unknown verification method {method!r}")
    report = verify_registry(checkpoint_dir)
    [chain] = [check for check in report if check["invariant"].startswith("8 ")]
    run = RegistryVerification(ok=all(check["ok"] for check in report), method=method, actor_id=actor_id,
                               failed=[check["invariant"] for check in report if not check["ok"]],
                               chain_seq=chain["sealed"] or None)
    db.session.add(run)
    db.session.flush()
    return report, run


def _checked(checks) -> list[dict]:
    report = []
    for name, query in checks:
        rows = db.session.execute(text(query)).all()
        report.append({"invariant": name, "ok": not rows, "violations": len(rows),
                       "examples": [f"{row[0]}: {row[1]}" for row in rows[:20]]})
    return report
