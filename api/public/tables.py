"""The public page's tables as CSV (grams, fen, ISO times): one download per table, each the same
figures the page shows, from the same cached computation."""
from api.csv_export import csv_text

FLOW_COLUMNS = ["issued_g", "retired_g", "redeemed_g", "donated_g"]


def _rows(items: list[dict], columns: list[str]):
    return ([item[column] for column in columns] for item in items)


def _flows(table: str, key: list[str]):
    return lambda figures, _: (key + FLOW_COLUMNS, _rows(figures["flows"][table], key + FLOW_COLUMNS))


def _verifications(figures, _):
    header = ["verified_at", "ok", "method", "failed", "chain_seq"]
    return header, ([v["verified_at"], "ok" if v["ok"] else "failed", v["method"], "; ".join(v["failed"]),
                     v["chain_seq"]] for v in figures["verifications"])


def _retirements(_, retirements):
    header = ["number", "date", "amount_g", "beneficiary", "purpose", "serials"]
    return header, ([r["number"], r["date"], r["amount_g"], r["beneficiary"], r["purpose"], " ".join(r["serials"])]
                    for r in retirements["items"])


COUPON_COLUMNS = ["month", "claimed", "redeemed", "rate_percent", "claimed_g", "redeemed_g"]
MARKET_COLUMNS = ["month", "volume_g", "turnover_fen", "vwap_fen_per_t", "high_fen_per_t", "low_fen_per_t", "trades"]
POOL_COLUMNS = ["month", "donated_g", "offered_g", "returned_g", "sold_g", "proceeds_fen", "balance_g"]

# name → (figures, retirements) → (header, rows); the retirements table alone needs every retirement.
TABLES = {
    "months": _flows("by_month", ["month"]),
    "methodologies": _flows("by_methodology", ["methodology", "name"]),
    "districts": _flows("by_district", ["district"]),
    "coupons": lambda figures, _: (COUPON_COLUMNS, _rows(figures["coupons"]["by_month"], COUPON_COLUMNS)),
    "market": lambda figures, _: (MARKET_COLUMNS, _rows(figures["market"], MARKET_COLUMNS)),
    "pool": lambda figures, _: (POOL_COLUMNS, _rows(figures["pool"]["by_month"], POOL_COLUMNS)),
    "verifications": _verifications,
    "retirements": _retirements,
}


def table_csv(name: str, figures: dict | None, retirements: dict | None) -> str:
    header, rows = TABLES[name](figures, retirements)
    return csv_text(header, rows)
