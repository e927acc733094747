"""Widgets over or beside the screens: the idle warning and the demo reader panel."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

STORY_ORDER = ("issued", "active", "suspended", "sealed", "replaced", "cancelled")
PER_PAGE = 5


class IdleOverlay(FloatLayout):
    """Covers the screen: "Are you still there? N s" and a big 继续使用 / Keep using button."""


class DemoPanel(BoxLayout):
    """Demo only (``--demo-cards``): place a demo card or a blank card on the emulated reader, or
    take it away. Stands for the physical act of putting a card on the reader."""

    store = ObjectProperty(None)
    reader = ObjectProperty(None)
    entries = ListProperty([])
    placed_serial = StringProperty("")
    message = StringProperty("")
    page = NumericProperty(0)
    pages = NumericProperty(1)

    def __init__(self, **kwargs: Any) -> None:
        store = kwargs.get("store")
        entries = list(store.entries) if store is not None else []
        rank = {story: i for i, story in enumerate(STORY_ORDER)}
        # plain attributes, set before the kv rule (which reads them) is applied
        self.cards = sorted(
            (e for e in entries if not e.blank), key=lambda e: rank.get(e.story, len(rank))
        )
        self.blanks = [e for e in entries if e.blank]
        super().__init__(**kwargs)
        self.entries = entries
        self.pages = max(1, -(-len(self.cards) // PER_PAGE))
        self.message = (store.message or "") if store is not None else ""
        self.refresh()

    def on_kv_post(self, _base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._fill)
        self.bind(page=self._fill)
        self._fill()

    def _fill(self, *_args: Any) -> None:
        from kiosk_app.widgets import KButton

        app = App.get_running_app()
        grid = self.ids.cards
        grid.clear_widgets()
        for entry in self.visible(self.page):
            button = KButton(kind="primary", text=self.label(entry, app.lang))
            button.bind(on_release=lambda _b, serial=entry.serial: self.place(serial))
            grid.add_widget(button)

    def visible(self, page: int) -> list[Any]:
        return self.cards[page * PER_PAGE : (page + 1) * PER_PAGE]

    def turn(self, step: int) -> None:
        self.page = (self.page + step) % self.pages

    def place_blank(self) -> None:
        """The next blank card that has not been written yet."""
        for entry in self.blanks:
            card = self.store.card(entry.serial)
            if not card.personalised:
                self.reader.place(card)
                break
        self.refresh()

    def label(self, entry: Any, lang: str) -> str:
        return entry.label_en if lang == "en" else entry.label_zh

    def place(self, serial: str) -> None:
        self.reader.place(self.store.card(serial))
        self.refresh()

    def remove(self) -> None:
        self.reader.remove()
        self.refresh()

    def refresh(self, *_args: Any) -> None:
        card = getattr(self.reader, "card", None)
        self.placed_serial = card.serial if card is not None else ""

    def status(self, placed_serial: str, lang: str) -> str:
        app = App.get_running_app()
        if not placed_serial:
            return app.tr("demo.empty", lang)
        entry = next((e for e in self.entries if e.serial == placed_serial), None)
        label = self.label(entry, lang) if entry is not None else placed_serial
        return app.tr("demo.on_reader", lang, label=label)
