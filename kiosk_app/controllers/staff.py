"""Staff mode: sign in (password + TOTP), on-site issuance, loss reporting and replacement, and
the list of door-to-door issuance requests. Uses the staff API with the staff member's token;
the card on the kiosk's reader is read (blank serial) and personalised (holder data) here."""

from __future__ import annotations

from typing import Any

from kiosk_app import texts
from kiosk_app.controllers.base import Controller, Notice, Runner
from kiosk_app.controllers.card import CardError, CardSession, DeviceError
from kiosk_app.controllers.times import format_window

SIGNED_OUT = "signed_out"
MENU = "menu"
FIND = "find"  # enter an ID number (issue, lost)
PERSON = "person"  # person shown; issue: apply / lost: choose a card
BLANK = "blank"  # place a blank card and read it
PERSONALISE = "personalise"  # issued on the server; writing the card failed, retry
PIN = "pin"
PIN_CONFIRM = "pin_confirm"
DONE = "done"

NBSP = "\u00a0"
USABLE_STATES = frozenset({"produced", "issued", "active", "suspended"})
LOST_STATES = frozenset({"active", "suspended"})


class StaffController(Controller):
    def __init__(
        self,
        api: Any,
        card: CardSession,
        city: str,
        bank_code: str = "icbc",
        runner: Runner | None = None,
    ):
        super().__init__(runner)
        self.api = api
        self.card = card
        self.city = city
        self.bank_code = bank_code
        self.step = SIGNED_OUT
        self.display_name = ""
        self._reset_task()

    def _reset_task(self) -> None:
        self.flow = ""  # "issue" | "lost" | "doorstep"
        self.person: dict[str, Any] | None = None
        self.card_out: dict[str, Any] | None = None
        self.serial = ""
        self.entry = ""
        self._pin = ""
        self.not_found = False
        self.reported = False
        self.doorstep_items: list[dict[str, Any]] = []
        self.doorstep_available = True
        self.doorstep_page = 1
        self.doorstep_next: int | None = None

    @property
    def signed_in(self) -> bool:
        return self.step != SIGNED_OUT

    def clear(self) -> None:
        """Forget everything and end the staff session (idle timeout, sign-out)."""
        was_signed_in = self.api.staff_signed_in
        self.step = SIGNED_OUT
        self.display_name = ""
        self._reset_task()
        super().clear()
        if was_signed_in:
            self.runner.submit(self.api.staff_sign_out, lambda _r, _e: None)

    # --- sign-in ------------------------------------------------------------------------------

    def sign_in(self, username: str, password: str, totp: str) -> None:
        username, totp = username.strip(), totp.strip()
        if not username or not password:
            self.notice = Notice("auth.invalid_credentials")
            self.changed()
            return
        if not (len(totp) == 6 and totp.isdigit()):
            self.notice = Notice("auth.totp_required" if not totp else "auth.totp_incorrect")
            self.changed()
            return
        self.run(lambda: self.api.staff_sign_in(username, password, totp), self._signed_in)

    def _signed_in(self, body: dict[str, Any]) -> None:
        user = body.get("user") or {}
        self.display_name = user.get("display_name") or user.get("username", "")
        self.step = MENU

    def sign_out(self) -> None:
        self.clear()

    def menu(self) -> None:
        if self.signed_in:
            self._reset_task()
            self.step = MENU
            self.notice = None
            self.changed()

    # --- find or register ---------------------------------------------------------------------

    def begin(self, flow: str) -> None:
        self._reset_task()
        self.flow = flow
        self.notice = None
        if flow == "doorstep":
            self.step = MENU
            self.load_doorstep()
            return
        self.step = FIND
        self.changed()

    def find(self, id_number: str) -> None:
        id_number = id_number.strip().upper()
        if not id_number:
            self.notice = Notice("person.invalid_id_number")
            self.changed()
            return
        self.not_found = False
        self.run(lambda: self.api.find_person(id_number), self._person, self._find_failed)

    def _find_failed(self, notice: Notice) -> None:
        self.notice = notice
        self.not_found = notice.code == "person.not_found"

    def register(self, id_number: str, name: str, phone: str = "") -> None:
        id_number, name = id_number.strip().upper(), name.strip()
        if not id_number or not name:
            self.notice = Notice("request.validation_failed")
            self.changed()
            return
        city = self.city
        self.run(
            lambda: self.api.register_person(id_number, name, city, phone.strip() or None),
            self._person,
        )

    def _person(self, person: dict[str, Any]) -> None:
        self.person = person
        self.not_found = False
        self.reported = False
        self.step = PERSON

    @property
    def cards(self) -> list[dict[str, Any]]:
        return list((self.person or {}).get("cards") or [])

    @property
    def pending_card(self) -> dict[str, Any] | None:
        """An application waiting for a card (applied, no serial yet)."""
        return next((c for c in self.cards if c.get("state") == "applied"), None)

    @property
    def usable_card(self) -> dict[str, Any] | None:
        return next((c for c in self.cards if c.get("state") in USABLE_STATES), None)

    @property
    def lost_card(self) -> dict[str, Any] | None:
        return next((c for c in self.cards if c.get("state") in LOST_STATES), None)

    # --- issue on site ------------------------------------------------------------------------

    def apply(self) -> None:
        """Apply for a card (the server refuses a second usable card: one person, one card)."""
        if self.person is None:
            return
        pending = self.pending_card
        if pending is not None:
            self._ready_for_blank(pending)
            self.changed()
            return
        person_id = self.person["id"]
        self.run(
            lambda: self.api.apply_card(person_id, self.city, self.bank_code),
            self._ready_for_blank,
        )

    def _ready_for_blank(self, card: dict[str, Any]) -> None:
        self.card_out = card
        self.step = BLANK
        self.notice = None

    def read_blank(self) -> None:
        """Read the blank card's serial, issue it on the server, then write the holder data."""
        if self.card_out is None:
            return
        card_id = self.card_out["id"]
        holder = self._holder_record()

        def work() -> dict[str, Any]:
            info = self.card.read()
            if info.holder is not None:
                raise CardError("card.blank_not_blank")
            serial = info.serial
            issued = self.api.issue_on_site(card_id, serial)
            try:
                self.card.write_holder(holder)
            except DeviceError:
                return {"card": issued, "written": False, "serial": serial}
            return {"card": issued, "written": True, "serial": serial}

        self.run(work, self._issued)

    def _holder_record(self) -> dict[str, Any]:
        person = self.person or {}
        return {"name": person.get("name", ""), "city": person.get("city_code") or self.city}

    def _issued(self, result: dict[str, Any]) -> None:
        self.card_out = result["card"]
        self.serial = result["serial"] or (self.card_out or {}).get("serial") or ""
        if result["written"]:
            self.step = PIN
            self.entry = ""
        else:
            self.step = PERSONALISE
            self.notice = Notice("card.write_failed")

    def personalise(self) -> None:
        holder = self._holder_record()
        self.run(lambda: self.card.write_holder(holder), self._personalised)

    def _personalised(self, _result: Any) -> None:
        self.step = PIN
        self.entry = ""

    # --- holder sets the PIN, staff activate --------------------------------------------------

    def press(self, key: str) -> None:
        if self.busy or self.step not in (PIN, PIN_CONFIRM):
            return
        if key == "del":
            self.entry = self.entry[:-1]
        elif key.isdigit() and len(self.entry) < 6:
            self.entry += key
        self.changed()

    @property
    def complete(self) -> bool:
        return len(self.entry) == 6

    def confirm(self) -> None:
        if not self.complete or self.busy or self.card_out is None:
            return
        if self.step == PIN:
            self._pin, self.entry = self.entry, ""
            self.step = PIN_CONFIRM
            self.notice = None
            self.changed()
            return
        pin, confirm, self.entry = self._pin, self.entry, ""
        self._pin = ""
        if pin != confirm:
            self.step = PIN
            self.notice = Notice("activation.pin_mismatch")
            self.changed()
            return
        card_id = self.card_out["id"]
        self.run(lambda: self.api.activate_card(card_id, pin), self._activated, self._pin_failed)

    def _activated(self, card: dict[str, Any]) -> None:
        self.card_out = card
        self.step = DONE

    def _pin_failed(self, notice: Notice) -> None:
        self.notice = notice
        if notice.code == "card.pin_weak":
            self.step = PIN

    # --- loss and replacement -----------------------------------------------------------------

    def report_loss(self) -> None:
        card = self.lost_card
        if card is None or card.get("state") != "active":
            return
        card_id = card["id"]
        self.run(lambda: self._loss_and_reload(card_id), self._reported)

    def _loss_and_reload(self, card_id: int) -> dict[str, Any]:
        self.api.report_loss(card_id, "持卡人在自助机办理挂失 reported at the kiosk")
        return self.api.get_person(self.person["id"])  # type: ignore[index]

    def _reported(self, person: dict[str, Any]) -> None:
        self.person = person
        self.reported = True

    def replace(self) -> None:
        card = self.lost_card
        if card is None:
            return
        card_id = card["id"]
        self.run(
            lambda: self.api.replace_card(card_id, "持卡人在自助机补换卡 replaced at the kiosk"),
            self._ready_for_blank,
        )

    # --- door-to-door requests ----------------------------------------------------------------

    def load_doorstep(self, page: int = 1) -> None:
        """One page of the door-to-door requests (what the server returns, as it returns it)."""
        self.flow = "doorstep"
        self.run(lambda: self.api.doorstep_requests(page), self._doorstep, self._doorstep_failed)

    def _doorstep(self, body: Any) -> None:
        items = body.get("items", []) if isinstance(body, dict) else body
        self.doorstep_items = list(items or [])
        self.doorstep_available = True
        if isinstance(body, dict):
            self.doorstep_page = int(body.get("page") or 1)
            self.doorstep_next = body.get("next_page")

    def _doorstep_failed(self, notice: Notice) -> None:
        if notice.code in ("request.not_found", "request.method_not_allowed"):
            self.doorstep_available = False
            self.doorstep_items = []
        else:
            self.notice = notice

    def doorstep_lines(self, lang: str) -> list[str]:
        return [doorstep_line(item, lang) for item in self.doorstep_items]


def doorstep_line(item: dict[str, Any], lang: str) -> str:
    """One request in one language: masked name, age, district, status, the planned visit
    window in Shanghai time (``11月30日 09:30–11:30`` / ``30 Nov 09:30–11:30``), the staff
    member."""
    age = item.get("age")
    window = format_window(item.get("planned_from"), item.get("planned_to"), lang)
    staff = str(item.get("assigned_to_name") or "")
    parts = [
        str(item.get("name_masked") or item.get("id") or ""),
        texts.tr("staff.doorstep.age", lang, age=age) if age is not None else "",
        str(item.get("district") or ""),
        texts.doorstep_status(str(item.get("status") or ""), item.get("status_name") or "", lang),
        texts.tr("staff.doorstep.visit", lang, window=window) if window else "",
        texts.tr("staff.doorstep.staff", lang, name=staff) if staff else "",
    ]
    # no-break spaces inside each part: a narrow screen wraps between the parts, never inside
    return "  ".join(p.replace(" ", NBSP) for p in parts if p)
