"""ISO/IEC 7816-4 short APDUs: commands, responses, status words, and the commands the kiosk sends.

The card application ("SSC" one-card applet, AID ``A0 00 00 06 32 53 53 43 01``) answers:

- SELECT by AID ``00 A4 04 00 09 <AID> 00`` → FCI (``6F``) + 9000
- READ RECORD ``00 B2 <rec> 0C 00`` → record 1: serial (9 ASCII bytes); record 2: holder JSON
  (6A83 while not written)
- GET CHALLENGE ``00 84 00 00 08`` → 8 random bytes + 9000
- INTERNAL AUTHENTICATE ``00 88 00 00 08 <challenge> 00`` → counter (u32 BE) ‖ MAC (8) + 9000
- UPDATE RECORD ``00 DC 02 0C <Lc> <holder JSON>`` → 9000; 6985 once written

Pure standard library: the emulated card, the PC/SC reader and the tests share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

SSC_AID: Final = bytes.fromhex("A00000063253534301")
CHALLENGE_LEN: Final = 8
COUNTER_LEN: Final = 4
MAC_LEN: Final = 8
SERIAL_LEN: Final = 9

RECORD_SERIAL: Final = 1
RECORD_HOLDER: Final = 2
READ_SFI: Final = 1  # READ RECORD P2 = (1 << 3) | 4 = 0x0C
UPDATE_SFI: Final = 1  # UPDATE RECORD addresses the same record file: P2 = 0x0C
P2_RECORD_IN_P1: Final = 0x04  # P2 low bits 100: "record number given in P1"


class Ins(IntEnum):
    SELECT = 0xA4
    READ_RECORD = 0xB2
    UPDATE_RECORD = 0xDC
    GET_CHALLENGE = 0x84
    INTERNAL_AUTHENTICATE = 0x88
    GET_RESPONSE = 0xC0


class SW(IntEnum):
    """The status words this card speaks (SW1 SW2 as one integer)."""

    OK = 0x9000
    WRONG_LENGTH = 0x6700
    SECURITY_NOT_SATISFIED = 0x6982
    CONDITIONS_NOT_SATISFIED = 0x6985
    WRONG_DATA = 0x6A80
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    WRONG_P1P2 = 0x6A86
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00

    @property
    def meaning(self) -> tuple[str, str]:
        """``(zh, en)``: what the status word means."""
        return _MEANINGS[self]


_MEANINGS: Final[dict[SW, tuple[str, str]]] = {
    SW.OK: ("执行成功", "success"),
    SW.WRONG_LENGTH: ("长度错误", "wrong length"),
    SW.SECURITY_NOT_SATISFIED: ("安全状态不满足", "security status not satisfied"),
    SW.CONDITIONS_NOT_SATISFIED: ("使用条件不满足", "conditions of use not satisfied"),
    SW.WRONG_DATA: ("数据域参数错误", "incorrect data field"),
    SW.FILE_NOT_FOUND: ("文件或应用未找到", "file or application not found"),
    SW.RECORD_NOT_FOUND: ("记录未找到", "record not found"),
    SW.WRONG_P1P2: ("参数P1/P2错误", "incorrect parameters P1-P2"),
    SW.INS_NOT_SUPPORTED: ("指令不支持", "instruction not supported"),
    SW.CLA_NOT_SUPPORTED: ("类别不支持", "class not supported"),
}


def describe_sw(sw: int) -> tuple[str, str]:
    """``(zh, en)`` meaning of any status word, including the 61xx / 6Cxx families."""
    try:
        return SW(sw).meaning
    except ValueError:
        pass
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return (f"还有 {sw2 or 256} 字节数据", f"{sw2 or 256} more bytes available")
    if sw1 == 0x6C:
        return (f"Le 错误，应为 {sw2 or 256}", f"wrong Le, exact length is {sw2 or 256}")
    return (f"未知状态字 {sw:04X}", f"unknown status word {sw:04X}")


class CardError(Exception):
    """The card answered a status word other than 9000."""

    def __init__(self, sw: int, message: str | None = None) -> None:
        self.sw = sw
        zh, en = describe_sw(sw)
        super().__init__(message or f"card answered {sw:04X}: {en} ({zh})")

    @property
    def status(self) -> SW | None:
        """The status word as :class:`SW`, or ``None`` if it is not one the card defines."""
        try:
            return SW(self.sw)
        except ValueError:
            return None


class MalformedAPDU(ValueError):
    """Bytes that are not a short ISO 7816-4 command APDU (the card answers 6700)."""


@dataclass(frozen=True)
class CommandAPDU:
    """A short command APDU. ``le`` is 1..256 (256 is encoded as ``00``) or ``None`` (no Le)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must be one byte, got {value}")
        if len(self.data) > 255:
            raise ValueError("short APDU data is at most 255 bytes")
        if self.le is not None and not 1 <= self.le <= 256:
            raise ValueError("Le must be 1..256")

    def to_bytes(self) -> bytes:
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])
        return out

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    @classmethod
    def parse(cls, raw: bytes) -> CommandAPDU:
        """Decode a short APDU (cases 1–4); extended lengths are refused."""
        raw = bytes(raw)
        if len(raw) < 4:
            raise MalformedAPDU("an APDU has at least 4 header bytes")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise MalformedAPDU("extended-length APDUs are not supported")
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, data=body[1:])
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, data=body[1 : 1 + lc], le=body[-1] or 256)
        raise MalformedAPDU(f"Lc={lc} does not match the {len(body) - 1} bytes that follow")


@dataclass(frozen=True)
class ResponseAPDU:
    """A response: data field and status word."""

    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == SW.OK

    def to_bytes(self) -> bytes:
        return bytes(self.data) + bytes([self.sw1, self.sw2])

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseAPDU:
        raw = bytes(raw)
        if len(raw) < 2:
            raise ValueError("a response has at least the two status bytes")
        return cls(raw[:-2], raw[-2], raw[-1])

    @classmethod
    def status(cls, sw: int, data: bytes = b"") -> ResponseAPDU:
        return cls(bytes(data), sw >> 8, sw & 0xFF)

    def check(self) -> bytes:
        """The data if the status is 9000, else :class:`CardError`."""
        if not self.ok:
            raise CardError(self.sw)
        return self.data


# --- the commands the kiosk sends ----------------------------------------------------------------


def select_aid(aid: bytes = SSC_AID) -> CommandAPDU:
    """SELECT by DF name: ``00 A4 04 00 Lc AID 00``."""
    return CommandAPDU(0x00, Ins.SELECT, 0x04, 0x00, data=aid, le=256)


def read_record(record: int, sfi: int = READ_SFI) -> CommandAPDU:
    """READ RECORD ``record`` of the EF with short identifier ``sfi``: ``00 B2 rec 0C 00``."""
    return CommandAPDU(0x00, Ins.READ_RECORD, record, _record_p2(sfi), le=256)


def get_challenge(length: int = CHALLENGE_LEN) -> CommandAPDU:
    """GET CHALLENGE: ``00 84 00 00 08``."""
    return CommandAPDU(0x00, Ins.GET_CHALLENGE, 0x00, 0x00, le=length)


def internal_authenticate(challenge: bytes) -> CommandAPDU:
    """INTERNAL AUTHENTICATE: ``00 88 00 00 08 <challenge> 00``."""
    if len(challenge) != CHALLENGE_LEN:
        raise ValueError(f"the challenge must be {CHALLENGE_LEN} bytes")
    return CommandAPDU(0x00, Ins.INTERNAL_AUTHENTICATE, 0x00, 0x00, data=challenge, le=256)


def update_record(record: int, data: bytes, sfi: int = UPDATE_SFI) -> CommandAPDU:
    """UPDATE RECORD ``record`` of the EF ``sfi``: ``00 DC rec 0C Lc data``."""
    if not data:
        raise ValueError("UPDATE RECORD needs data")
    return CommandAPDU(0x00, Ins.UPDATE_RECORD, record, _record_p2(sfi), data=data)


def get_response(length: int, cla: int = 0x00) -> CommandAPDU:
    """GET RESPONSE (T=0, after 61xx): ``00 C0 00 00 Le``."""
    return CommandAPDU(cla, Ins.GET_RESPONSE, 0x00, 0x00, le=length or 256)


def _record_p2(sfi: int) -> int:
    if not 1 <= sfi <= 30:
        raise ValueError("SFI must be 1..30")
    return (sfi << 3) | P2_RECORD_IN_P1
