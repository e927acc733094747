"""What every screen shares: it renders its controller's state, says in one sentence what to do
next (``say``; read aloud when switched on), and swaps a step widget in its ``content`` box."""

from __future__ import annotations

from typing import Any, ClassVar

from kivy.app import App
from kivy.properties import ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen


class Step(BoxLayout):
    """One step's widgets; ``screen`` is the screen showing it (kv: ``root.screen.…``)."""

    screen = ObjectProperty(None)


class KioskScreen(Screen):
    controller = ObjectProperty(None, allownone=True)
    say = StringProperty("")
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
        return self.step_widget

    def clear_view(self) -> None:
        """Wipe what the screen itself holds (typed text); controllers clear their own data."""

    def call_staff(self, topic: str = "other") -> None:
        self.app.call_staff(topic)
