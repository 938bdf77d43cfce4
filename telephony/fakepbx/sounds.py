"""What the fake PBX can play, and for how long.

Asterisk's own prompts are known by the durations measured in the traces (endpos in 8 kHz samples);
vaxel's prompt set (sounds/) is added by directory, with each file's real length.
"""

from __future__ import annotations

import wave
from pathlib import Path

SAMPLE_RATE = 8000

# Measured on Asterisk 22 (tests/fixtures/asterisk/traces): STREAM FILE endpos or Playback duration.
ASTERISK_SOUNDS = {
    "beep": 0.44,  # endpos 3520
    "vm-intro": 5.66,  # endpos 45280
    "vm-enter-num-to-call": 2.1,
    "vm-goodbye": 0.88,
    "hello-world": 1.1,
}
DIGIT_SECONDS = 0.87  # SAY DIGITS 123 took 2.62 s
NUMBER_WORD_SECONDS = 0.9  # SAY NUMBER 42 ("forty" "two") took 1.82 s


class SoundLibrary:
    def __init__(self) -> None:
        self._durations: dict[str, float] = dict(ASTERISK_SOUNDS)

    def add(self, name: str, seconds: float) -> None:
        self._durations[name] = seconds

    def add_dir(self, root: Path, prefix: str = "vaxel") -> int:
        """Adds every WAV under root as `<prefix>/<lang>/<name>` (how vaxel's sound set is
        installed into Asterisk's sounds folder), with its real length."""
        n = 0
        for path in sorted(root.rglob("*.wav")):
            with wave.open(str(path)) as w:
                seconds = w.getnframes() / w.getframerate()
            rel = path.relative_to(root).with_suffix("")
            self._durations[f"{prefix}/{rel}" if prefix else str(rel)] = seconds
            n += 1
        return n

    def duration(self, name: str) -> float | None:
        """Seconds, or None when the file does not exist."""
        return self._durations.get(name)

    def say_number_seconds(self, number: str) -> float:
        digits = number.lstrip("-")
        words = 1 if len(digits) <= 1 or digits.endswith("0") else 2
        return NUMBER_WORD_SECONDS * max(words, len(digits) - 1)

    def say_digits_seconds(self, digits: str) -> float:
        return DIGIT_SECONDS * len(digits)
