"""The kiosk's elderly-friendly theme (MIIT 2021 适老化 guidance, WCAG 2.2 AAA where it fits).

- Designed for a 1920×1080 touch screen, usable in portrait (1080×1920).
- Two text sizes: 大 (large, the normal one) and 特大 (extra large, 1.3× or more).
  No text under 24 sp; main text and button labels at least 30 sp at 大.
- Touch targets at least 60×60 dp with space between them; one tap, no gestures.
- Every text/background pair has a contrast of at least 7:1 (checked in a test with
  :func:`contrast`); never colour alone: results carry an icon AND words.

No Kivy import: sizes are plain numbers (sp / dp) that the app turns into pixels.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final

MIN_TEXT_SP: Final = 24
MIN_MAIN_SP: Final = 30
XLARGE_FACTOR: Final = 1.3
MIN_TOUCH_DP: Final = 60
SPACING_DP: Final = 24
MIN_CONTRAST: Final = 7.0

SIZE_NAMES: Final = ("large", "xlarge")

# Font sizes in sp at 大. 特大 multiplies by XLARGE_FACTOR and rounds up.
_LARGE: Final = {
    "note": 26,  # secondary lines (never the instruction)
    "body": 32,  # instructions, messages
    "button": 36,  # button labels
    "title": 44,  # screen titles, results
    "keypad": 48,  # keypad digits and the entry display
    "huge": 120,  # the help ticket number
}
FONT_SP: Final = {
    "large": dict(_LARGE),
    "xlarge": {k: math.ceil(v * XLARGE_FACTOR) for k, v in _LARGE.items()},
}
# Touch target heights in dp (both sizes keep ≥ MIN_TOUCH_DP; 特大 grows with the text).
BUTTON_DP: Final = {"large": 96, "xlarge": 120}
KEY_DP: Final = {"large": 110, "xlarge": 130}
# A portrait screen has height to spare: bigger keys, easier to hit.
KEY_DP_PORTRAIT: Final = {"large": 130, "xlarge": 150}

# Colours (sRGB hex). Text colours and the backgrounds they are drawn on.
COLOURS: Final = {
    "bg": "#FBFAF6",  # warm white screen background
    "text": "#111111",
    "header_bg": "#0B3A82",
    "header_text": "#FFFFFF",
    "primary_bg": "#0B3A82",  # main buttons
    "primary_text": "#FFFFFF",
    "secondary_bg": "#E6EAF1",  # lesser buttons (home, back, switches)
    "secondary_text": "#111111",
    "ok": "#0B5D2A",  # ✓ and the "go in" words
    "ok_bg": "#E7F4EA",
    "error": "#9A1010",  # ✗ and the reason
    "error_bg": "#FBEAEA",
    "warn_bg": "#FFF3CC",  # idle warning
    "panel_bg": "#EDEBE4",  # demo side panel
    "disabled_bg": "#D5D8DE",
    "disabled_text": "#2B2B2B",
}

# Every (text, background) pair the screens use: the contrast test covers each of them.
TEXT_PAIRS: Final = [
    ("text", "bg"),
    ("header_text", "header_bg"),
    ("primary_text", "primary_bg"),
    ("secondary_text", "secondary_bg"),
    ("ok", "bg"),
    ("ok", "ok_bg"),
    ("text", "ok_bg"),
    ("error", "bg"),
    ("error", "error_bg"),
    ("text", "error_bg"),
    ("text", "warn_bg"),
    ("primary_text", "primary_bg"),
    ("text", "panel_bg"),
    ("disabled_text", "disabled_bg"),
    ("primary_text", "ok"),
    ("primary_text", "error"),
]


def rgba(name: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    value = COLOURS[name].lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b, alpha)


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def relative_luminance(rgb: tuple[float, ...]) -> float:
    r, g, b = (_linear(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: tuple[float, ...], background: tuple[float, ...]) -> float:
    """WCAG 2.x contrast ratio (1 … 21)."""
    a, b = relative_luminance(foreground), relative_luminance(background)
    light, dark = max(a, b), min(a, b)
    return (light + 0.05) / (dark + 0.05)


# --- the CJK font ------------------------------------------------------------------------------

# Debian / Ubuntu paths, then a few other distributions'. WenQuanYi Micro Hei's first face is the
# Chinese one; Noto Sans CJK's .ttc starts with Japanese, so its SC-only files come first.
FONT_CANDIDATES: Final = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/opentype/noto/NotoSansSC-Regular.otf",
    "/usr/share/fonts/noto-cjk/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


class FontMissing(RuntimeError):
    pass


def find_cjk_font(candidates: tuple[str, ...] = FONT_CANDIDATES) -> str:
    """The first installed CJK font, or :class:`FontMissing` saying what to install."""
    for candidate in candidates:
        if Path(candidate).is_file():
            return candidate
    raise FontMissing(
        "no Chinese font found; install one: `apt-get install fonts-wqy-microhei` "
        "(or fonts-noto-cjk). Looked in: " + ", ".join(candidates)
    )
