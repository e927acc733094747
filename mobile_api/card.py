"""My card and my account: status, balance and movements, and reporting the card lost."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint
from pydantic import Field

from server.apidoc import Schema, endpoint
from server.clock import utcnow
from server.credentials.service import holder_card
from server.extensions import db
from server.ledger import service as ledger
from server.registry import service as registry
from server.registry.rules import CardAction, CardState, card_state_name
from server.security.auth import current_actor, require
from server.security.pii import mask_bank_account
from server.security.rules import ActorKind

bp = Blueprint("card", __name__)
CARDHOLDER = (ActorKind.CARDHOLDER,)


class MyCardOut(Schema):
    id: int
    serial: str | None
    state: str
    state_name: str
    issuing_city: str
    bank_code: str
    bank_account_masked: str | None
    issued_on: date | None
    expires_on: date | None
    pin_locked: bool


def my_card_out(card) -> MyCardOut:
    account = registry.decrypt_bank_account(card)
    state = CardState(card.state)
    return MyCardOut(
        id=card.id,
        serial=card.serial,
        state=str(state),
        state_name=card_state_name(state),
        issuing_city=card.issuing_city,
        bank_code=card.bank_code,
        bank_account_masked=mask_bank_account(account) if account else None,
        issued_on=card.issued_on,
        expires_on=card.expires_on,
        pin_locked=card.pin_locked_at is not None,
    )


@bp.get("/card")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="我的社保卡（脱敏） My card (masked)", response=MyCardOut, errors=("ecard.no_card",)
)
def my_card():
    return my_card_out(holder_card(db.session, current_actor().id))


class MovementOut(Schema):
    entry_id: int
    amount_fen: int
    kind: str
    memo: str
    at: datetime


class AccountOut(Schema):
    balance_fen: int
    currency: str
    movements: list[MovementOut]
    next_before_id: int | None


class AccountQuery(Schema):
    limit: int = Field(default=20, ge=1, le=100)
    before_id: int | None = Field(default=None, ge=1)


@bp.get("/account")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="我的账户余额与收支明细 My account: balance and movements",
    query=AccountQuery,
    response=AccountOut,
    errors=("ecard.no_card",),
)
def my_account(query: AccountQuery):
    card = holder_card(db.session, current_actor().id)
    account = ledger.find_card_account(db.session, card.id)
    if account is None:
        return AccountOut(balance_fen=0, currency="CNY", movements=[], next_before_id=None)
    rows = ledger.movements(db.session, account.id, limit=query.limit, before_id=query.before_id)
    items = [
        MovementOut(
            entry_id=m.entry_id, amount_fen=m.amount_fen, kind=m.kind, memo=m.memo, at=m.created_at
        )
        for m in rows
    ]
    return AccountOut(
        balance_fen=account.balance_fen,
        currency=account.currency,
        movements=items,
        next_before_id=rows[-1].line_id if len(rows) == query.limit else None,
    )


class LossIn(Schema):
    reason: str | None = Field(default=None, max_length=100)


@bp.post("/card/report-loss")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="挂失实体卡（临时，立即停用电子凭证） Report my card lost (suspends it at once)",
    body=LossIn,
    response=MyCardOut,
    errors=("ecard.no_card", "card.invalid_transition"),
)
def report_loss(body: LossIn):
    card = holder_card(db.session, current_actor().id)
    card = registry.change_state(
        db.session,
        current_actor(),
        card.id,
        CardAction.REPORT_LOSS,
        utcnow(),
        body.reason or "持卡人手机挂失 reported lost by the holder",
    )
    return my_card_out(card)
