"""What every screen shares: it renders its controller's state, says in one sentence what to do
next (``say``; read aloud when switched on), and swaps a step widget in its ``content`` box."""

from __future__ import annotations

from typing import Any, ClassVar

from kivy.app import App
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen


class Step(BoxLayout):
    """One step's widgets; ``screen`` is the screen showing it (kv: ``root.screen.…``)."""

    screen = ObjectProperty(None)


class KeypadStep(Step):
    """A step with a keypad (its kv names the ``words`` box, its ``spacer`` and the ``buttons``
    row). Landscape: the words with the buttons under them, the keypad beside. Portrait, top to
    bottom and kept together: the words, the keypad, the buttons (where the finger ends after
    the last digit), then the free space. The orientation is the app's at start (the window
    does not turn while the kiosk runs)."""

    def on_kv_post(self, base_widget: Any) -> None:
        super().on_kv_post(base_widget)
        if App.get_running_app().portrait:
            words, buttons, spacer = self.ids.words, self.ids.buttons, self.ids.spacer
            words.remove_widget(buttons)
            words.remove_widget(spacer)
            words.size_hint_y = None
            words.bind(minimum_height=words.setter("height"))
            words.height = words.minimum_height
            self.add_widget(buttons, index=0)  # index 0: the last child, at the bottom
            self.add_widget(spacer, index=0)


class KioskScreen(Screen):
    controller = ObjectProperty(None, allownone=True)
    say = StringProperty("")
    # Whether the shown step fills the content box (a keypad, a result) or is a short form that
    # keeps its own height, with its message right under it (kv: ``root.step_fills``).
    step_fills = BooleanProperty(True)
    steps: ClassVar[dict[str, type[Step]]] = {}

    def __init__(self, **kwargs: Any) -> None:
        self.app = App.get_running_app()
        self.step_name = ""
        self.step_widget: Step | None = None
        super().__init__(**kwargs)
        if hasattr(self.controller, "subscribe"):
            self.controller.subscribe(self.refresh)
        self.app.bind(lang=self.refresh)

    def refresh(self, *_args: Any) -> None:
        self.update()
        if self.app.current == self.name:
            self.app.say(self.say)

    def update(self) -> None:
        """Copy the controller's state into properties; choose the step; set ``say``."""

    def show_step(self, name: str) -> Step | None:
        if name == self.step_name:
            return self.step_widget
        content = self.ids.get("content")
        if content is None:
            return None
        content.clear_widgets()
        self.step_name = name
        self.step_widget = self.steps[name](screen=self)
        content.add_widget(self.step_widget)
        self.step_fills = self.step_widget.size_hint_y is not None
        return self.step_widget

    def clear_view(self) -> None:
        """Wipe what the screen itself holds (typed text); controllers clear their own data."""

    def call_staff(self, topic: str = "other") -> None:
        self.app.call_staff(topic)
