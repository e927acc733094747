"""Chinese line breaking for the kiosk's labels (行首行尾禁则).

Kivy breaks lines at spaces only, and cuts a run of Chinese characters wherever the width runs
out — so a line may start with "，" or "。" and end with "（" or "“". Chinese typesetting (GB/T
15834, W3C "Requirements for Chinese Text Layout" §3.1.7) forbids that: closing punctuation,
pause and stop marks never begin a line; opening brackets and quotation marks never end one.

:func:`break_lines` places the breaks itself: between any two Chinese characters, at spaces,
around Chinese next to Latin text — never before a no-start mark or after a no-end mark, which
travel with their neighbour (the last character of a line moves down with the mark rather than
the mark hanging alone). Latin words stay whole. Pure: it measures text through the function it
is given; :mod:`kiosk_app.textlayout` gives it the label's font.
"""

from __future__ import annotations

from collections.abc import Callable

# Marks that may not begin a line: closing brackets and quotes, pause/stop marks, the
# interpunct and the ellipsis/dash halves, full-width and ASCII forms.
NO_START = frozenset("，。、；：？！）］｝〕〉》」』】〙〗”’…—～·・％‰℃°,.;:?!)]}%")
# Marks that may not end a line: opening brackets and quotes.
NO_END = frozenset("（［｛〔〈《「『【〘〖“‘([{")


def is_cjk(ch: str) -> bool:
    """A character set solid, breakable on either side: Han, kana, Hangul, full-width forms and
    CJK punctuation."""
    code = ord(ch)
    return (
        0x2E80 <= code <= 0x9FFF  # radicals, CJK punctuation, kana, Han
        or 0xAC00 <= code <= 0xD7AF  # Hangul
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0xFE30 <= code <= 0xFE4F  # vertical forms, CJK compatibility forms
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x20000 <= code <= 0x3FFFF  # extension planes
        or ch in "“”‘’…—·"
    )


def has_cjk(text: str) -> bool:
    return any(is_cjk(ch) for ch in text)


def units(paragraph: str) -> list[str]:
    """The paragraph cut where a line may break: single Chinese characters, whole Latin words
    (with their ASCII marks), single spaces; a no-start mark joined to the unit before it, a
    no-end mark to the unit after it."""
    parts: list[str] = []
    word = ""
    for ch in paragraph:
        if ch == " " or is_cjk(ch):  # ASCII marks stay in their word: ¥3.50, 08:30, (Card)
            if word:
                parts.append(word)
                word = ""
            parts.append(ch)
        else:
            word += ch
    if word:
        parts.append(word)

    joined: list[str] = []
    carry = ""  # a unit ending in an opening mark, waiting for what it opens
    for unit in parts:
        if carry:
            if unit == " ":  # "（ " : no break after the mark, so none at the space either
                carry += unit
                continue
            unit, carry = carry + unit, ""
        if unit[0] in NO_START and joined:
            spaces = ""  # "wait !": no break at the space either
            while joined and joined[-1] == " ":
                spaces += joined.pop()
            if joined:
                unit = joined.pop() + spaces + unit
            else:  # spaces opening the paragraph
                joined.extend(spaces)
        if unit[-1] in NO_END:
            carry = unit
            continue
        joined.append(unit)
    if carry:  # the paragraph ends with an opening mark: it stays with what precedes it
        if joined and joined[-1] != " ":
            joined[-1] += carry
        else:
            joined.append(carry)
    return joined


def break_lines(text: str, width: float, measure: Callable[[str], float]) -> str:
    """``text`` with a newline wherever a line of at most ``width`` (as ``measure`` gives a
    string's width) must end, by the rules above; existing newlines stay. A unit wider than the
    line (a long number or address) gets a line of its own."""
    if width <= 0:
        return text
    out: list[str] = []
    for paragraph in text.split("\n"):
        lines: list[str] = []
        line = ""
        for unit in units(paragraph):
            if unit == " ":
                if line:
                    line += unit
                continue
            # The whole candidate line is measured (kerning, and the layout measures it so too).
            if line and measure(line + unit) > width:
                lines.append(line.rstrip(" "))
                line = unit
            else:
                line += unit
        lines.append(line.rstrip(" "))
        out.append("\n".join(lines))
    return "\n".join(out)
