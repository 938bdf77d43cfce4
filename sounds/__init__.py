"""The prompt sounds, sv and en, 8 kHz (.wav, .alaw, .ulaw), with manifest.json recording the
text and voice each was made from. A package so that an installed vaxel carries them too."""

from pathlib import Path

SOUNDS = Path(__file__).resolve().parent
