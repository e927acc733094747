"""Chinese line breaking (行首行尾禁则) for the kiosk's labels, with a fixed-advance font."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_app.linebreak import NO_END, NO_START, break_lines, has_cjk, is_cjk, units


def advance(text: str) -> float:
    """A monospaced stand-in for the font: Chinese (full-width) 2, anything else 1."""
    return float(sum(2 if is_cjk(ch) else 1 for ch in text))


SENTENCE = (
    "请将社保卡放在读卡区，听到提示音后取回。如需帮助，请按下方的呼叫按钮（工作人员马上就来）。"
)


def lines_of(text: str, width: float) -> list[str]:
    return break_lines(text, width, advance).split("\n")


def test_a_pause_mark_moves_down_with_the_character_before_it():
    # Ten characters fit: filling each line would start the second one with "，".
    lines = lines_of(SENTENCE, 20)
    assert lines[:2] == ["请将社保卡放在读卡", "区，听到提示音后取"]
    assert "".join(lines) == SENTENCE


def test_an_opening_bracket_moves_down_with_the_character_after_it():
    # Filling the first line would end it with "（"; "来）。" travel together too.
    lines = lines_of("请按下方的呼叫按钮（工作人员马上就来）。", 20)
    assert lines == ["请按下方的呼叫按钮", "（工作人员马上就", "来）。"]


def test_latin_words_numbers_and_times_stay_whole():
    text = "车费¥3.50，08:30到达 Guangzhou Metro Line 3，谢谢。"
    for width in range(8, 40):
        for line in lines_of(text, width):
            for token in ("¥3.50", "08:30", "Guangzhou", "Metro"):
                head = token[: len(token) // 2]
                assert not (line.endswith(head) and token not in line and head in text), (
                    width,
                    line,
                )
        assert "".join(lines_of(text, width)).replace(" ", "") == text.replace(" ", "")


def test_english_wraps_at_spaces_and_existing_newlines_stay():
    text = "Please insert your card,\nthen wait for the beep."
    assert lines_of(text, 18) == ["Please insert your", "card,", "then wait for the", "beep."]


def test_a_unit_wider_than_the_line_gets_a_line_of_its_own():
    lines = lines_of("卡号 1234567890123456789 已激活", 10)
    assert lines == ["卡号", "1234567890123456789", "已激活"]


def test_without_chinese_or_width_nothing_changes():
    assert not has_cjk("Entry granted")
    assert break_lines(SENTENCE, 0, advance) == SENTENCE


chinese = st.sampled_from("社保卡乘车博物馆图书馆请按下方的呼叫按钮工作人员")
marks = st.sampled_from(sorted(NO_START | NO_END))
latin = st.sampled_from(["OK", "Metro", "¥3.50", "08:30", " "])
texts = st.lists(st.one_of(chinese, chinese, chinese, marks, latin), min_size=1, max_size=60).map(
    "".join
)


@settings(max_examples=300, deadline=None)
@given(text=texts, width=st.integers(min_value=4, max_value=40))
def test_no_line_starts_with_a_closing_mark_or_ends_with_an_opening_one(text, width):
    lines = lines_of(text, width)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost or added
    for before, after in pairwise(lines):
        if before and after:
            assert after[0] not in NO_START or not before, (before, after)
            assert before[-1] not in NO_END, (before, after)
    for line in lines:
        if advance(line) > width:  # only a unit too wide for any line has a line of its own
            assert len(units(line)) == 1, line
