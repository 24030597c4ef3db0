"""Stacked bar charts drawn as SVG on the server: no JavaScript, no front-end build."""
PALETTE = ["#2e7d32", "#1565c0", "#f9a825", "#6a1b9a", "#c62828", "#00838f", "#ef6c00", "#4e342e", "#455a64"]
WIDTH, HEIGHT, LEFT, BOTTOM = 720, 220, 48, 28


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
