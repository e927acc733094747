"""A PC/SC card reader through pyscard (the optional ``pcsc`` extra: ``pip install '.[pcsc]'``).

pyscard is imported only when a reader is used, so this module imports without it. The reader
speaks the same APDUs as the emulated one and takes care of the transport's status words itself:

- ``61xx`` (T=0: ``xx`` more bytes waiting): it sends GET RESPONSE ``00 C0 00 00 xx`` until the
  card answers something else, and returns all the data with the last status word;
- ``6Cxx`` (wrong Le, the exact length is ``xx``): it sends the same command again once, with
  ``Le = xx``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from kiosk_app.devices.apdu import CommandAPDU, MalformedAPDU, get_response
from kiosk_app.devices.reader import CardFault, CardReader, CardRemoved, NoCard, ReaderUnavailable

log = logging.getLogger(__name__)

INSTALL_HINT = "pyscard is not installed: pip install 'ssc-onecard[pcsc]' (and run pcscd)"
MAX_GET_RESPONSES = 64  # 64 × 256 bytes is far more than any answer of this card


class Connection(Protocol):
    """The part of pyscard's ``CardConnection`` this reader uses."""

    def connect(self, *args: Any, **kwargs: Any) -> Any: ...
    def transmit(self, command: list[int], *args: Any) -> tuple[list[int], int, int]: ...
    def getATR(self) -> list[int]: ...
    def disconnect(self) -> Any: ...


def available_readers() -> list[str]:
    """Names of the PC/SC readers attached (``[]`` if none).

    Raises :class:`ReaderUnavailable` when pyscard is missing or the PC/SC service is down."""
    try:
        from smartcard.System import readers
    except ImportError as exc:
        raise ReaderUnavailable(INSTALL_HINT) from exc
    try:
        return [str(reader) for reader in readers()]
    except Exception as exc:  # pyscard raises its own classes when pcscd is not running
        raise ReaderUnavailable(f"the PC/SC service cannot be reached: {exc}") from exc


def _pyscard_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = []
    try:
        from smartcard.Exceptions import SmartcardException

        errors.append(SmartcardException)
        from smartcard.pcsc.PCSCExceptions import BaseSCardException

        errors.append(BaseSCardException)
    except ImportError:
        pass
    return tuple(errors)


class PcscReader(CardReader):
    """One PC/SC reader (by name, or the first one attached).

    ``connection_factory`` (tests) returns an object shaped like pyscard's connection;
    ``card_errors`` are the exceptions that mean "no card / card gone" (default: pyscard's)."""

    def __init__(
        self,
        reader_name: str | None = None,
        *,
        protocol: str | None = None,
        connection_factory: Callable[[], Connection] | None = None,
        card_errors: tuple[type[BaseException], ...] | None = None,
        poll_interval_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if protocol not in (None, "T0", "T1"):
            raise ValueError("protocol is 'T0', 'T1' or None (both)")
        self.reader_name = reader_name
        self.protocol = protocol
        self._factory = connection_factory
        self._card_errors = card_errors if card_errors is not None else _pyscard_errors()
        self._poll = poll_interval_s
        self._sleep = sleep
        self._clock = clock
        self._conn: Connection | None = None

    # --- CardReader ------------------------------------------------------------------------------

    def card_present(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.getATR()
                return True
            except self._card_errors:
                self.disconnect()
                return False
        try:
            self._connect()
        except NoCard:
            return False
        return True

    def wait_for_card(self, timeout_s: float) -> bool:
        deadline = self._clock() + timeout_s
        while True:
            if self.card_present():
                return True
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            self._sleep(min(self._poll, remaining))

    def transmit(self, apdu: bytes) -> bytes:
        conn = self._conn if self._conn is not None else self._connect()
        try:
            return self._exchange(conn, bytes(apdu))
        except self._card_errors as exc:
            self.disconnect()
            raise CardRemoved(f"the card went away: {exc}") from exc

    def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.disconnect()
        except Exception as exc:  # a reader unplugged mid-way: nothing left to close
            log.debug("PC/SC disconnect failed: %s", exc)

    # --- transport -------------------------------------------------------------------------------

    def _exchange(self, conn: Connection, command: bytes) -> bytes:
        data, sw1, sw2 = conn.transmit(list(command))
        if sw1 == 0x6C:
            command = _with_le(command, sw2)
            data, sw1, sw2 = conn.transmit(list(command))
        collected = bytes(data)
        rounds = 0
        while sw1 == 0x61:
            rounds += 1
            if rounds > MAX_GET_RESPONSES:
                raise CardFault(0x6100 | sw2, "the card never stopped answering 61xx")
            more = get_response(sw2, cla=command[0] & 0x03).to_bytes()
            data, sw1, sw2 = conn.transmit(list(more))
            if sw1 == 0x6C:
                data, sw1, sw2 = conn.transmit(list(_with_le(more, sw2)))
            collected += bytes(data)
        return collected + bytes([sw1, sw2])

    def _connect(self) -> Connection:
        conn = (self._factory or self._default_factory)()
        try:
            if self.protocol is None:
                conn.connect()
            else:
                conn.connect(protocol=_protocol_constant(self.protocol))
        except self._card_errors as exc:
            raise NoCard(f"no card on the reader: {exc}") from exc
        self._conn = conn
        return conn

    def _default_factory(self) -> Connection:
        try:
            from smartcard.System import readers
        except ImportError as exc:
            raise ReaderUnavailable(INSTALL_HINT) from exc
        try:
            attached = list(readers())
        except Exception as exc:
            raise ReaderUnavailable(f"the PC/SC service cannot be reached: {exc}") from exc
        chosen = _choose(attached, self.reader_name)
        if chosen is None:
            names = ", ".join(str(reader) for reader in attached) or "none"
            raise ReaderUnavailable(f"reader {self.reader_name!r} not found (attached: {names})")
        return chosen.createConnection()


def _choose(attached: list[Any], name: str | None) -> Any:
    if not attached:
        return None
    if name is None:
        return attached[0]
    for reader in attached:
        if str(reader) == name:
            return reader
    for reader in attached:
        if name.lower() in str(reader).lower():
            return reader
    return None


def _with_le(command: bytes, le: int) -> bytes:
    """``command`` with its Le set to ``le`` (0 meaning 256), as 6Cxx asks."""
    try:
        parsed = CommandAPDU.parse(command)
    except MalformedAPDU:
        return command
    return CommandAPDU(
        parsed.cla, parsed.ins, parsed.p1, parsed.p2, parsed.data, le or 256
    ).to_bytes()


def _protocol_constant(name: str) -> int:
    from smartcard.CardConnection import CardConnection

    return CardConnection.T0_protocol if name == "T0" else CardConnection.T1_protocol
