"""Read-aloud: espeak-ng when installed (one utterance at a time, never raising), else silence."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kiosk_app.devices import speaker as speaker_module
from kiosk_app.devices.speaker import EspeakSpeaker, SilentSpeaker, default_speaker, voice_for


class FakeProcess:
    def __init__(self, command, **options) -> None:
        self.command, self.options = command, options
        self.running = True
        self.killed = False

    def poll(self):
        return None if self.running else 0

    def kill(self):
        self.killed, self.running = True, False

    def wait(self, timeout=None):
        return 0


class FakePopen:
    def __init__(self) -> None:
        self.processes: list[FakeProcess] = []

    def __call__(self, command, **options):
        process = FakeProcess(command, **options)
        self.processes.append(process)
        return process


def test_without_espeak_ng_the_speaker_is_silent(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert isinstance(default_speaker(True), SilentSpeaker)


def test_with_espeak_ng_the_speaker_uses_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/bin/espeak-ng")
    chosen = default_speaker(True)
    assert isinstance(chosen, EspeakSpeaker)
    assert chosen.executable == "/opt/bin/espeak-ng"


def test_read_aloud_switched_off_is_silent_even_with_espeak_ng(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/bin/espeak-ng")
    assert isinstance(default_speaker(False), SilentSpeaker)


@pytest.mark.parametrize(
    ("lang", "voice"), [("zh", "cmn"), ("zh-CN", "cmn"), ("en", "en"), ("en-GB", "en")]
)
def test_the_voice_follows_the_language(lang, voice):
    assert voice_for(lang) == voice


def test_the_espeak_ng_command_line():
    espeak = EspeakSpeaker("espeak-ng", rate=140)
    assert espeak.command("请把社保卡放在读卡区", "zh") == [
        "espeak-ng",
        "-v",
        "cmn",
        "-s",
        "140",
        "-b",
        "1",
        "--",
        "请把社保卡放在读卡区",
    ]
    assert espeak.command("-rf /", "en")[-2:] == ["--", "-rf /"]  # text is never an option


def test_say_starts_espeak_without_waiting_and_kills_the_previous_utterance():
    popen = FakePopen()
    espeak = EspeakSpeaker("espeak-ng", popen=popen)
    espeak.say("第一句", "zh")
    espeak.say("Second  sentence\n", "en")
    first, second = popen.processes
    assert first.killed and not second.killed
    assert second.command[2] == "en" and second.command[-1] == "Second sentence"
    assert second.options["stdout"] is subprocess.DEVNULL
    espeak.stop()
    assert second.killed


def test_a_failing_espeak_never_raises_into_the_ui():
    def broken(*args, **kwargs):
        raise OSError("exec format error")

    espeak = EspeakSpeaker("espeak-ng", popen=broken)
    espeak.say("您好", "zh")
    espeak.stop()


def test_empty_text_only_stops():
    popen = FakePopen()
    espeak = EspeakSpeaker("espeak-ng", popen=popen)
    espeak.say("您好", "zh")
    espeak.say("   ", "zh")
    assert len(popen.processes) == 1 and popen.processes[0].killed


def test_the_silent_speaker_remembers_the_last_request():
    silent = SilentSpeaker()
    silent.say("您好", "zh")
    assert silent.last == ("您好", "zh")
    silent.stop()
    assert silent.last is None
    assert speaker_module.VOICES == {"zh": "cmn", "en": "en"}
