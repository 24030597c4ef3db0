"""The public page's charts, drawn as SVG on the server (the page runs no script): grouped bars per
month, and the market's monthly volume with its VWAP line. Colours and proportions as the console's."""
from api.console.charts import HEIGHT, LEFT, PALETTE, WIDTH

BOTTOM, TOP, RIGHT = 28, 10, 96
MAX_BAR = 48  # px of the 720-wide drawing


def grouped_bars(rows: list[dict], keys: list[str]) -> dict:
    """One group of bars per month (rows' "month"), one bar per key (grams), on one scale."""
    peak = max([row[key] for row in rows for key in keys] + [1])
    plot, base = HEIGHT - BOTTOM - TOP, HEIGHT - BOTTOM
    slot = (WIDTH - LEFT) / max(len(rows), 1)
    width = min(max((slot - 6) / len(keys), 1), MAX_BAR)
    offset = (slot - width * len(keys)) / 2  # a few months' bars stay bars, centred on their month
    bars = []
    for index, row in enumerate(rows):
        for number, key in enumerate(keys):
            height = row[key] / peak * plot
            bars.append({"x": round(LEFT + index * slot + offset + number * width, 1), "y": round(base - height, 1),
                         "w": round(width, 1), "h": round(height, 1), "colour": PALETTE[number % len(PALETTE)],
                         "key": key, "month": row["month"], "grams": row[key]})
    return {"bars": bars, "ticks": _ticks(rows, slot), "peak_g": peak, "width": WIDTH, "height": HEIGHT, "base": base,
            "left": LEFT, "legend": [(key, PALETTE[number % len(PALETTE)]) for number, key in enumerate(keys)]}


def volume_and_vwap(rows: list[dict]) -> dict:
    """A bar per month (volume, left scale) and a line through its VWAP (right scale)."""
    peak_g = max([row["volume_g"] for row in rows] + [1])
    peak_price = max([row["vwap_fen_per_t"] for row in rows] + [1])
    plot, base = HEIGHT - BOTTOM - TOP, HEIGHT - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(rows), 1)
    bars, points = [], []
    for index, row in enumerate(rows):
        height, width = row["volume_g"] / peak_g * plot, min(max(slot - 6, 1), MAX_BAR)
        bars.append({"x": round(LEFT + index * slot + (slot - width) / 2, 1), "y": round(base - height, 1),
                     "w": round(width, 1), "h": round(height, 1), "row": row})
        points.append({"x": round(LEFT + index * slot + slot / 2, 1),
                       "y": round(base - row["vwap_fen_per_t"] / peak_price * plot, 1), "row": row})
    return {"bars": bars, "points": points, "line": " ".join(f"{p['x']},{p['y']}" for p in points),
            "ticks": _ticks(rows, slot), "peak_g": peak_g, "peak_price_fen_per_t": peak_price, "width": WIDTH,
            "height": HEIGHT, "base": base, "left": LEFT, "right": WIDTH - RIGHT, "volume_colour": PALETTE[0],
            "vwap_colour": PALETTE[1]}


def _ticks(rows: list[dict], slot: float) -> list[dict]:
    step = -(-len(rows) // 12) or 1  # at most a dozen labels; the latest month always has one
    return [{"x": round(LEFT + i * slot + slot / 2, 1), "label": row["month"]}
            for i, row in enumerate(rows) if (len(rows) - 1 - i) % step == 0]
