"""The theme's numbers: contrast of every text/background pair, size steps, the CJK font."""

from __future__ import annotations

import pytest

from kiosk_app import theme


@pytest.mark.parametrize(("text", "background"), theme.TEXT_PAIRS)
def test_every_text_colour_has_at_least_7_to_1_contrast(text, background):
    ratio = theme.contrast(theme.rgba(text), theme.rgba(background))
    assert ratio >= theme.MIN_CONTRAST, f"{text} on {background}: {ratio:.2f}:1"


def test_contrast_formula_matches_wcag_reference_values():
    assert theme.contrast((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)
    assert theme.contrast((1, 1, 1), (1, 1, 1)) == pytest.approx(1.0)
    grey = tuple(0x76 / 255 for _ in range(3))  # #767676 is the classic 4.54:1 on white
    assert theme.contrast(grey, (1, 1, 1)) == pytest.approx(4.54, abs=0.01)


def test_every_colour_used_as_text_is_in_a_checked_pair():
    checked = {t for t, _ in theme.TEXT_PAIRS}
    assert {"text", "header_text", "primary_text", "secondary_text", "ok", "error"} <= checked


def test_text_sizes():
    large, xlarge = theme.FONT_SP["large"], theme.FONT_SP["xlarge"]
    assert min(large.values()) >= theme.MIN_TEXT_SP
    assert min(v for k, v in large.items() if k != "note") >= theme.MIN_MAIN_SP
    for role, points in large.items():
        assert xlarge[role] >= points * theme.XLARGE_FACTOR
    assert theme.BUTTON_DP["large"] >= theme.MIN_TOUCH_DP
    assert theme.KEY_DP["large"] >= theme.MIN_TOUCH_DP


def test_a_missing_cjk_font_says_what_to_install(tmp_path):
    with pytest.raises(theme.FontMissing, match="fonts-wqy-microhei"):
        theme.find_cjk_font((str(tmp_path / "none.ttc"),))


def test_the_first_installed_font_is_used(tmp_path):
    font = tmp_path / "wqy-microhei.ttc"
    font.write_bytes(b"x")
    assert theme.find_cjk_font((str(tmp_path / "none.ttc"), str(font))) == str(font)
