"""Draw the app's PNG icons (public/icons/) from the same shapes as public/icons/icon.svg.

Run once by hand when the icon changes: `.venv/bin/python resident-app/make-icons.py` (Pillow is
already a dependency of the platform); the PNGs are committed like any other source asset.
"""
from pathlib import Path

from PIL import Image, ImageDraw

GREEN, PALE = (31, 122, 77), (232, 245, 236)
ICONS = Path(__file__).parent / "public" / "icons"
SCALE = 4  # drawn large and scaled down, for smooth edges


def leaf(draw: ImageDraw.ImageDraw, size: int, inset: float) -> None:
    """The leaf of icon.svg, drawn within the square shrunk by `inset` on each side."""
    def at(x: float, y: float) -> tuple[float, float]:
        return (inset + x / 512 * (size - 2 * inset), inset + y / 512 * (size - 2 * inset))

    unit = (size - 2 * inset) / 512
    # The SVG's path: a drop whose round bottom is a circle of radius 136 centred at (256, 304).
    draw.ellipse([*at(120, 168), *at(392, 440)], fill=PALE)
    draw.polygon([at(256, 96), at(128, 260), at(384, 260)], fill=PALE)
    width = round(24 * unit)
    for start, end in (((256, 176), (256, 424)), ((256, 300), (192, 244)), ((256, 356), (328, 292))):
        draw.line([at(*start), at(*end)], fill=GREEN, width=width)
        for x, y in (start, end):
            cx, cy = at(x, y)
            draw.ellipse([cx - width / 2, cy - width / 2, cx + width / 2, cy + width / 2], fill=GREEN)


def icon(size: int, maskable: bool) -> Image.Image:
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:  # full bleed; the leaf inside the safe zone (the middle 80%)
        draw.rectangle([0, 0, big, big], fill=GREEN)
        leaf(draw, big, big * 0.14)
    else:
        draw.rounded_rectangle([0, 0, big - 1, big - 1], radius=big * 96 // 512, fill=GREEN)
        leaf(draw, big, 0)
    return image.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    icon(192, False).save(ICONS / "icon-192.png", optimize=True)
    icon(512, False).save(ICONS / "icon-512.png", optimize=True)
    icon(512, True).save(ICONS / "icon-maskable-512.png", optimize=True)
    print("icons written to", ICONS)
