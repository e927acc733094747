"""Shared widgets of the kiosk (styled in ``widgets.kv``): text roles, big flat buttons, the
result icon (✓ / ✗ drawn, not a font glyph), the card illustration, the PIN/ID keypad and the
notice panel. Sizes and colours come from the app (``app.fs_*``, ``app.colour(...)``)."""

from __future__ import annotations

from kivy.event import EventDispatcher
from kivy.properties import (
    BooleanProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.textinput import TextInput
from kivy.uix.widget import Widget


class KText(Label):
    """Main text: instructions, messages (≥ 30 sp at 大)."""

    role = "main"


class KTitle(Label):
    role = "main"


class KNote(Label):
    """Secondary lines only (≥ 24 sp)."""

    role = "note"


class KButton(ButtonBehavior, Label):
    """A flat button with words; ``kind`` picks the colours. At least 60×60 dp."""

    role = "main"
    kind = OptionProperty("primary", options=("primary", "secondary", "ok", "danger"))


class KeyButton(KButton):
    """One key of the keypad."""


class ResultIcon(Widget):
    """A big ✓ in a green disc, or a ✗ in a red disc (drawn with lines)."""

    ok = BooleanProperty(True)


class CardPicture(Widget):
    """A social security card lying on the reader, with an arrow: where to put the card."""


class NoticePanel(BoxLayout):
    """What happened and what to do, with a ✗ icon and an optional "call staff" button."""

    reason = StringProperty("")
    todo = StringProperty("")
    show_call = BooleanProperty(False)
    call_action = ObjectProperty(None, allownone=True)

    def call(self) -> None:
        if self.call_action is not None:
            self.call_action()


class EntryDisplay(Label):
    """The six boxes of the keypad's entry: characters, or dots for a PIN."""

    role = "main"
    entry = StringProperty("")
    masked = BooleanProperty(False)


class PinPad(BoxLayout, EventDispatcher):
    """A 3×4 keypad (1–9, X or blank, 0, delete). Fires ``on_key(key)``."""

    allow_x = BooleanProperty(False)
    __events__ = ("on_key",)

    def press(self, key: str) -> None:
        self.dispatch("on_key", key)

    def on_key(self, key: str) -> None:
        pass


class KInput(TextInput):
    """A one-line text field with large type (staff screens)."""

    role = "main"
