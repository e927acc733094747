"""Loss reporting and replacement with the cardholder at the kiosk: find the person → report the
card lost and/or replace it → the new card is issued on the spot (blank card, PIN) as in
:mod:`staff_issue`, whose step widgets this screen shares."""

from __future__ import annotations

from typing import ClassVar

from kiosk_app.controllers import staff as st
from kiosk_app.screens.base import Step
from kiosk_app.screens.staff_issue import StaffCardScreen


class StaffLostPerson(Step):
    pass


class StaffLossReplaceScreen(StaffCardScreen):
    heading_key = "staff.lost"
    find_say = "staff.lost.say_find"
    steps: ClassVar[dict[str, type[Step]]] = {**StaffCardScreen.steps, st.PERSON: StaffLostPerson}

    def person_say(self) -> str:
        if self.reported:
            return self.app.tr("staff.lost.reported")
        return self.app.tr("staff.lost.say_card")
