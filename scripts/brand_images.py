"""Draw every image in custom_components/plex_butler/brand/ from one geometry.

The mark is our own: a serving cloche (a butler's dome with a knob) on a plate,
orange on a dark rounded tile. It is not Plex's logo. Home Assistant serves these
files itself from 2026.3 on (its brands proxy) and picks them by name:

- ``icon.png`` 256x256 and ``icon@2x.png`` 512x512: square, for white grounds;
- ``logo.png`` and ``logo@2x.png``: the icon and the words "Plex Butler",
  landscape, 256 and 512 px high (the rule: shortest side 128-256, @2x double);
- ``dark_*``: the same for dark grounds. The tile turns a lighter slate so that
  it still stands out from Home Assistant's near-black dark theme, and the words
  turn white.

All are transparent around the tile or the words, trimmed to them, and saved as
optimized PNG. Everything is drawn four times larger and scaled down, which
smooths the edges. Run from the repository root, with Pillow (the test venv has
it): ``.venv/bin/python scripts/brand_images.py``; ``--check`` only reports
whether the files on disk match what it would draw.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import io
import math
from pathlib import Path
import sys

from PIL import Image, ImageDraw, ImageFont

BRAND_DIR = Path("custom_components/plex_butler/brand")
# The geometry below is in units of a 512 px icon.
UNIT = 512
SUPERSAMPLE = 4
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
)
WORDS = "Plex Butler"

ORANGE = (245, 166, 35, 255)
HIGHLIGHT = (255, 224, 170, 255)
PLATE = (229, 231, 235, 255)


@dataclass(frozen=True)
class Theme:
    """The colours that differ between the light and the dark variants."""

    prefix: str
    tile: tuple[int, int, int, int]
    words: tuple[int, int, int, int]


LIGHT = Theme(prefix="", tile=(31, 41, 55, 255), words=(31, 41, 55, 255))
DARK = Theme(prefix="dark_", tile=(55, 65, 81, 255), words=(243, 244, 246, 255))


def draw_icon(theme: Theme, size: int) -> Image.Image:
    """Return the square icon, ``size`` px wide."""
    big = draw_tile(theme, size * SUPERSAMPLE)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def draw_tile(theme: Theme, big: int) -> Image.Image:
    """Return the icon ``big`` px wide, not yet smoothed by scaling down."""
    k = big / UNIT
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [x0 * k, y0 * k, x1 * k, y1 * k]

    draw.rounded_rectangle(box(0, 0, UNIT, UNIT), radius=80 * k, fill=theme.tile)
    # The dome: the upper half of an ellipse standing on y = 336.
    cx, base, rx, ry = 256.0, 336.0, 141.0, 181.0
    draw.pieslice(box(cx - rx, base - ry, cx + rx, base + ry), 180, 360, fill=ORANGE)
    draw.rectangle(box(246, 128, 266, base - ry + 8), fill=ORANGE)  # the stem
    draw.ellipse(box(cx - 24, 96, cx + 24, 144), fill=ORANGE)  # the knob
    # A gleam along the dome's left shoulder.
    points = [
        (
            (cx + 107 * math.cos(math.radians(a))) * k,
            (base + 146 * math.sin(math.radians(a))) * k,
        )
        for a in (198 + step * 0.5 for step in range(89))
    ]
    draw.line(points, fill=HIGHLIGHT, width=round(10 * k), joint="curve")
    draw.rounded_rectangle(box(78, 348, 434, 378), radius=15 * k, fill=PLATE)
    return image


def find_font(explicit: str | None) -> str:
    """Return the path of the bold sans font for the words."""
    for candidate in (explicit,) if explicit else FONT_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit(
        "brand_images: DejaVu Sans Bold not found; install fonts-dejavu-core "
        "or pass --font PATH"
    )


def draw_logo(theme: Theme, height: int, font_path: str) -> Image.Image:
    """Return the icon followed by the words, ``height`` px high, trimmed."""
    big = height * SUPERSAMPLE
    icon = draw_tile(theme, big)
    font = ImageFont.truetype(font_path, round(big * 0.46))
    left, top, right, bottom = font.getbbox(WORDS)
    gap = round(big * 0.16)
    width = big + gap + math.ceil(right - left)
    image = Image.new("RGBA", (width, big), (0, 0, 0, 0))
    image.alpha_composite(icon, (0, 0))
    draw = ImageDraw.Draw(image)
    # Centre the ink of the words on the tile.
    draw.text(
        (big + gap - left, (big - (bottom - top)) / 2 - top),
        WORDS,
        font=font,
        fill=theme.words,
    )
    bbox = image.getbbox()
    if bbox is not None:
        image = image.crop(bbox)
    width = round(image.width * height / image.height)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def png_bytes(image: Image.Image) -> bytes:
    """Encode as an optimized PNG, with the same bytes on every run."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def render(font_path: str) -> dict[str, bytes]:
    """Return every brand file's name and content."""
    files: dict[str, bytes] = {}
    for theme in (LIGHT, DARK):
        files[f"{theme.prefix}icon.png"] = png_bytes(draw_icon(theme, 256))
        files[f"{theme.prefix}icon@2x.png"] = png_bytes(draw_icon(theme, 512))
        files[f"{theme.prefix}logo.png"] = png_bytes(draw_logo(theme, 256, font_path))
        files[f"{theme.prefix}logo@2x.png"] = png_bytes(
            draw_logo(theme, 512, font_path)
        )
    return files


def main() -> None:
    """Write the files, or with --check say which ones differ."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--font", default=None, help="a bold sans TrueType font")
    parser.add_argument(
        "--out", type=Path, default=BRAND_DIR, help="folder (default: %(default)s)"
    )
    args = parser.parse_args()
    files = render(find_font(args.font))
    stale = []
    for name, data in files.items():
        path = args.out / name
        if path.is_file() and path.read_bytes() == data:
            continue
        stale.append(name)
        if not args.check:
            path.write_bytes(data)
            with Image.open(io.BytesIO(data)) as image:
                print(f"wrote {path} ({image.width}x{image.height}, {len(data)} bytes)")
    if args.check and stale:
        print(f"brand_images: out of date: {', '.join(stale)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
