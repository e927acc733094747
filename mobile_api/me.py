"""The signed-in cardholder: who I am and my cards, masked."""

from __future__ import annotations

from datetime import date

from flask import Blueprint

from server.apidoc import Schema, endpoint
from server.extensions import db
from server.registry import service
from server.registry.models import Person
from server.registry.rules import CardState, card_state_name
from server.security.auth import current_actor, require
from server.security.pii import mask_id_number, mask_name, mask_phone
from server.security.rules import ActorKind

bp = Blueprint("me", __name__)


class MyCard(Schema):
    id: int
    serial: str | None
    state: str
    state_name: str
    issuing_city: str
    expires_on: date | None


class MeOut(Schema):
    name_masked: str
    id_number_masked: str
    phone_masked: str | None
    city_code: str
    cards: list[MyCard]


@bp.get("/me")
@require("cardholder.self", actors=(ActorKind.CARDHOLDER,))
@endpoint(summary="我的信息与社保卡（脱敏） Me and my cards (masked)", response=MeOut)
def me():
    person = db.session.get(Person, current_actor().id)
    phone = service.decrypt_phone(person)
    return MeOut(
        name_masked=mask_name(person.name),
        id_number_masked=mask_id_number(service.decrypt_id_number(person)),
        phone_masked=mask_phone(phone) if phone else None,
        city_code=person.city_code,
        cards=[
            MyCard(
                id=c.id,
                serial=c.serial,
                state=c.state,
                state_name=card_state_name(c.state),
                issuing_city=c.issuing_city,
                expires_on=c.expires_on,
            )
            for c in person.cards
            if c.state not in (CardState.REPLACED, CardState.CANCELLED)
        ],
    )
