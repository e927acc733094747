"""Demo cards from demo_cards.json, with counters and holder records that survive a restart."""

from __future__ import annotations

import json
import os
import stat

import pytest

from kiosk_app.devices import emulated
from kiosk_app.devices.card_session import answer_challenge, personalise, read_card
from kiosk_app.devices.emulated import DemoCardStore, EmulatedReader
from kiosk_app.devices.reader import ReaderUnavailable

CHALLENGE = bytes(8)


def demo_document() -> dict:
    return {
        "version": 1,
        "cards": [
            {
                "serial": "A10000001",
                "label_zh": "王奶奶（已激活）",
                "label_en": "Grandma Wang (active)",
                "key": "11" * 32,
                "story": "active",
            },
            {
                "serial": "A10000002",
                "label_zh": "陈伯（待激活）",
                "label_en": "Uncle Chen (to activate)",
                "key": "22" * 32,
                "story": "issued",
            },
        ],
        "blank_stock": [{"serial": "K00000001", "key": "33" * 32}],
    }


@pytest.fixture
def paths(tmp_path):
    cards = tmp_path / "demo_cards.json"
    cards.write_text(json.dumps(demo_document()), encoding="utf-8")
    return cards, tmp_path / "state" / "card_state.json"


def load(paths) -> DemoCardStore:
    return DemoCardStore.load(*paths)


def tap(store: DemoCardStore, serial: str) -> int:
    reader = EmulatedReader()
    reader.place(store.card(serial))
    return answer_challenge(reader, CHALLENGE).counter


def test_the_store_lists_the_demo_cards_and_the_blank_stock(paths):
    store = load(paths)
    assert store.serials() == ["A10000001", "A10000002", "K00000001"]
    assert [entry.story for entry in store.entries] == ["active", "issued", "blank"]
    assert store.entries[2].blank and "K00000001" in store.entries[2].label_zh
    assert store.message is None
    assert store.card("A10000001").key == bytes([0x11]) * 32


def test_the_same_serial_is_the_same_card(paths):
    store = load(paths)
    assert store.card("A10000001") is store.card("A10000001")
    with pytest.raises(KeyError):
        store.card("Z99999999")


def test_counters_continue_after_the_kiosk_restarts(paths):
    store = load(paths)
    assert [tap(store, "A10000001") for _ in range(3)] == [1, 2, 3]
    assert tap(store, "A10000002") == 1
    restarted = load(paths)
    assert tap(restarted, "A10000001") == 4
    assert tap(restarted, "A10000002") == 2
    assert tap(restarted, "K00000001") == 1


def test_the_state_file_is_written_atomically_and_privately(paths):
    store = load(paths)
    tap(store, "A10000001")
    state_path = paths[1]
    assert json.loads(state_path.read_text())["cards"]["A10000001"]["counter"] == 1
    assert stat.S_IMODE(os.stat(state_path).st_mode) == 0o600
    assert os.listdir(state_path.parent) == [state_path.name]  # no temporary file left behind


def test_a_counter_that_cannot_be_saved_is_never_answered(paths, monkeypatch):
    store = load(paths)
    tap(store, "A10000001")

    def disk_full(path, document):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(emulated, "_atomic_write_json", disk_full)
    with pytest.raises(ReaderUnavailable):
        tap(store, "A10000001")
    monkeypatch.undo()
    assert tap(load(paths), "A10000001") == 2  # a restarted kiosk does not repeat 1


def test_a_personalised_blank_card_keeps_its_holder_after_a_restart(paths):
    store = load(paths)
    reader = EmulatedReader()
    reader.place(store.card("K00000001"))
    personalise(reader, {"name": "李明", "city": "440100"})
    reader.place(load(paths).card("K00000001"))
    assert read_card(reader).holder == {"name": "李明", "city": "440100"}


def test_a_missing_demo_file_gives_an_empty_store_that_says_why(tmp_path):
    store = DemoCardStore.load(tmp_path / "demo_cards.json", tmp_path / "state.json")
    assert len(store) == 0 and store.entries == []
    assert "flask seed demo" in store.message
    assert "demo_cards.json" in store.message


@pytest.mark.parametrize(
    "document",
    [
        {"version": 2, "cards": []},
        {"version": 1, "cards": [{"serial": "A1", "label_zh": "x", "label_en": "x", "key": "zz"}]},
        {"version": 1, "cards": [], "blank_stock": [{"serial": "K00000001", "key": "11" * 16}]},
        {"version": 1, "cards": [{"serial": "A10000001", "key": "11" * 32}]},
    ],
)
def test_an_invalid_demo_file_gives_an_empty_store_that_says_why(tmp_path, document):
    cards = tmp_path / "demo_cards.json"
    cards.write_text(json.dumps(document), encoding="utf-8")
    store = DemoCardStore.load(cards, tmp_path / "state.json")
    assert store.entries == []
    assert "demo_cards.json" in store.message


def test_a_corrupt_state_file_stops_the_store_rather_than_restarting_counters(paths):
    paths[1].parent.mkdir()
    paths[1].write_text("{not json", encoding="utf-8")
    with pytest.raises(RuntimeError):
        load(paths)
