"""Bar charts drawn as SVG on the server: no JavaScript, no front-end build."""
from datetime import date, timedelta

PALETTE = ["#2e7d32", "#1565c0", "#f9a825", "#6a1b9a", "#c62828", "#00838f", "#ef6c00", "#4e342e", "#455a64"]
WIDTH, HEIGHT, LEFT, BOTTOM = 720, 220, 48, 28
RIGHT, MAX_TICKS = 96, 15  # room for the price scale on the right; at most this many day labels


def stacked_bars(series: dict) -> dict:
    """{day: {name: grams}} → bars and a legend with coordinates for the template."""
    days = sorted(series)
    names = sorted({name for values in series.values() for name in values})
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    peak = max([sum(values.values()) for values in series.values()] + [1])
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        y = HEIGHT - BOTTOM
        for name in names:
            grams = series[day].get(name, 0)
            if not grams:
                continue
            height = grams / peak * (HEIGHT - BOTTOM - 10)
            y -= height
            bars.append({"x": round(LEFT + index * slot + 2, 1), "y": round(y, 1), "w": round(slot - 4, 1),
                         "h": round(height, 1), "colour": colours[name], "label": f"{day} {name}: {grams} g"})
    ticks = [{"x": round(LEFT + i * slot + slot / 2, 1), "label": day.strftime("%m-%d")} for i, day in enumerate(days)]
    return {"bars": bars, "ticks": ticks, "legend": [(name, colours[name]) for name in names],
            "peak_kg": round(peak / 1000, 1), "width": WIDTH, "height": HEIGHT, "base": HEIGHT - BOTTOM}


def volume_and_vwap(items: list[dict], first: date, last: date) -> dict:
    """stats.daily's items → a bar per trading day (volume, left scale) and a line through its VWAP
    (right scale), on one slot per day of the period so quiet days show as gaps."""
    by_day = {item["day"]: item for item in items}
    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    peak_g = max([item["volume_g"] for item in items] + [1])
    peak_price = max([item["vwap_fen_per_t"] for item in items] + [1])
    plot = HEIGHT - BOTTOM - 10
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bars, points = [], []
    for index, day in enumerate(days):
        item = by_day.get(day)
        if item is None:
            continue
        height = item["volume_g"] / peak_g * plot
        bars.append({"x": round(LEFT + index * slot + 2, 1), "y": round(HEIGHT - BOTTOM - height, 1),
                     "w": round(max(slot - 4, 1), 1), "h": round(height, 1), "item": item})
        points.append({"x": round(LEFT + index * slot + slot / 2, 1),
                       "y": round(HEIGHT - BOTTOM - item["vwap_fen_per_t"] / peak_price * plot, 1), "item": item})
    step = -(-len(days) // MAX_TICKS)  # a label every few days, so thirty of them do not overlap; the last has one
    ticks = [{"x": round(LEFT + i * slot + slot / 2, 1), "label": day.strftime("%m-%d")}
             for i, day in enumerate(days) if (len(days) - 1 - i) % step == 0]
    return {"bars": bars, "points": points, "line": " ".join(f"{p['x']},{p['y']}" for p in points),
            "ticks": ticks, "peak_g": peak_g, "peak_price_fen_per_t": peak_price, "width": WIDTH, "height": HEIGHT,
            "base": HEIGHT - BOTTOM, "left": LEFT, "right": WIDTH - RIGHT, "volume_colour": PALETTE[0],
            "vwap_colour": PALETTE[1]}
