"""The kiosk's words: each entry is one language per side (no "待上门 Assigned" mixes)."""

from __future__ import annotations

import re

import pytest

from kiosk_app import texts

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z]+")
PLACEHOLDER = re.compile(r"\{[^}]*\}")
# The language switch is written in the language it switches to; the keypad has an X key.
SELF_NAMED = {"lang.switch"}
ZH_WORDS = {"X"}


def pairs():
    for key, pair in texts.TEXTS.items():
        if key not in SELF_NAMED:
            yield key, pair
    for code, (reason, action) in texts.CODE_TEXTS.items():
        yield f"{code} (reason)", reason
        yield f"{code} (action)", action
    yield "generic (reason)", texts.GENERIC[0]
    yield "generic (action)", texts.GENERIC[1]
    for state, (name, action) in texts.STATE_TEXTS.items():
        yield f"state {state}", name
        yield f"state {state} (action)", action
    yield from texts.PIN_PROBLEM_TEXTS.items()
    yield from texts.DOORSTEP_STATUS_TEXTS.items()


def test_chinese_has_no_english_words_and_english_no_chinese():
    mixed = []
    for key, pair in pairs():
        zh, en = (PLACEHOLDER.sub("", side) for side in pair)
        if not set(LATIN_WORD.findall(zh)) <= ZH_WORDS or CJK.search(en):
            mixed.append((key, pair))
    assert len(list(pairs())) > 150 and mixed == []


@pytest.mark.parametrize(
    ("status_name", "zh", "en"),
    [("待上门 Assigned", "待上门", "Assigned"), ("暂缓", "暂缓", "暂缓"), ("", "paused", "paused")],
)
def test_an_unknown_doorstep_status_falls_back_to_the_servers_name(status_name, zh, en):
    assert texts.doorstep_status("paused", status_name, "zh") == zh
    assert texts.doorstep_status("paused", status_name, "en") == en
