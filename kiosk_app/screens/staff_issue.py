"""On-site issuance: find or register the person → apply (one person, one card) → read a blank
card → issue on the server and write the holder data → the holder sets a PIN → activated."""

from __future__ import annotations

from typing import ClassVar

from kivy.properties import BooleanProperty, StringProperty

from kiosk_app.controllers import staff as st
from kiosk_app.screens.base import KeypadStep, KioskScreen, Step
from kiosk_app.texts import state_name


class StaffFind(Step):
    pass


class StaffPerson(Step):
    pass


class StaffBlank(Step):
    pass


class StaffPersonalise(Step):
    pass


class StaffPin(KeypadStep):
    pass


class StaffDone(Step):
    pass


class StaffCardScreen(KioskScreen):
    """The steps shared by issuance and replacement (no kv rule of its own: subclasses have one)."""

    heading_key = "staff.issue"
    find_say = "staff.issue.say_find"
    steps: ClassVar[dict[str, type[Step]]] = {
        st.FIND: StaffFind,
        st.PERSON: StaffPerson,
        st.BLANK: StaffBlank,
        st.PERSONALISE: StaffPersonalise,
        st.PIN: StaffPin,
        st.PIN_CONFIRM: StaffPin,
        st.DONE: StaffDone,
    }
    person_line = StringProperty("")
    cards_line = StringProperty("")
    reason = StringProperty("")
    todo = StringProperty("")
    entry = StringProperty("")
    complete = BooleanProperty(False)
    not_found = BooleanProperty(False)
    busy = BooleanProperty(False)
    done_line = StringProperty("")
    can_report = BooleanProperty(False)
    can_replace = BooleanProperty(False)
    reported = BooleanProperty(False)

    def update(self) -> None:
        c = self.controller
        app = self.app
        self.busy = c.busy
        self.reason, self.todo = app.explain(c.notice)
        self.not_found = c.not_found
        self.entry = c.entry
        self.complete = c.complete and not c.busy
        person = c.person or {}
        self.person_line = (
            app.tr(
                "staff.issue.person",
                name=person.get("name", ""),
                id=person.get("id_number_masked", ""),
            )
            if person
            else ""
        )
        self.cards_line = "\n".join(
            app.tr(
                "staff.lost.card",
                serial=card.get("serial") or "—",
                state=state_name(card.get("state", ""), app.lang),
            )
            for card in c.cards
        )
        lost = c.lost_card
        self.can_report = bool(lost) and lost.get("state") == "active" and not c.busy
        self.can_replace = bool(lost) and not c.busy
        self.reported = c.reported
        serial = c.serial or (c.card_out or {}).get("serial") or ""
        self.done_line = app.tr("staff.issue.done", serial=serial)
        step = c.step if c.step in self.steps else st.FIND
        if c.step in (st.SIGNED_OUT, st.MENU):
            step = st.FIND
        self.show_step(step)
        self.say = self._say(step, serial)

    def _say(self, step: str, serial: str) -> str:
        app = self.app
        if self.busy:
            return app.tr("common.working")
        if step == st.FIND:
            return app.tr(self.find_say)
        if step == st.PERSON:
            return self.person_say()
        if step in (st.BLANK, st.PERSONALISE):
            return app.tr("staff.issue.say_blank")
        if step == st.PIN:
            return app.tr("staff.issue.say_pin", serial=serial)
        if step == st.PIN_CONFIRM:
            return app.tr("act.pin_confirm")
        return self.done_line

    def person_say(self) -> str:
        return self.app.tr("staff.issue.say_apply")

    def find(self) -> None:
        self.controller.find(self.step_widget.ids.id_number.text)

    def register(self) -> None:
        ids = self.step_widget.ids
        self.controller.register(ids.id_number.text, ids.name.text, ids.phone.text)

    def clear_view(self) -> None:
        if self.step_name in (st.FIND,) and self.step_widget is not None:
            for name in ("id_number", "name", "phone"):
                field = self.step_widget.ids.get(name)
                if field is not None:
                    field.text = ""
        # a fresh step widget next time: no typed text survives
        if self.step_widget is not None and self.step_widget.parent is not None:
            self.step_widget.parent.remove_widget(self.step_widget)
        self.step_name = ""
        self.step_widget = None


class StaffIssueScreen(StaffCardScreen):
    pass
