"""The prompt sound set: every prompt of the example in both languages, real audio of the right
shape and length; made from the texts and remade when a text changes; played by the fake PBX
with its real length."""

import json
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from config.loader import load_folder
from config.soundset import FORMATS, read_manifest, status, wanted
from controller.cli import main
from ivr.phrases import MAX_NUMBER

ROOT = Path(__file__).resolve().parent.parent
SOUNDS = ROOT / "sounds"
EXAMPLE = ROOT / "config" / "exempelkommun"
CONFIG = load_folder(EXAMPLE).config


def keys():
    return sorted(wanted(CONFIG))


def test_every_prompt_of_the_example_exists_in_both_languages():
    for name, text in CONFIG.prompts.items():
        assert text.en is not None, name
        for lang in ("sv", "en"):
            for ext in FORMATS:
                assert (SOUNDS / lang / f"{name}.{ext}").is_file(), f"{lang}/{name}.{ext}"


def test_the_parts_of_numbers_positions_and_waits_exist():
    for lang in ("sv", "en"):
        for n in range(MAX_NUMBER + 1):
            assert (SOUNDS / lang / "num" / f"{n}.wav").is_file()
        for part in ("du-ar-nummer", "i-kon", "vantetid-ungefar", "minut", "minuter", "en"):
            assert (SOUNDS / lang / "phrase" / f"{part}.wav").is_file()


def test_the_manifest_matches_the_texts_and_the_files():
    missing, stale = status(SOUNDS, wanted(CONFIG))
    assert (missing, stale) == ([], [])
    import hashlib
    manifest = read_manifest(SOUNDS)
    for key in keys():
        assert manifest[key]["sha256"] == hashlib.sha256(
            (SOUNDS / f"{key}.wav").read_bytes()).hexdigest(), key


@pytest.mark.parametrize("key", [k for k in sorted(wanted(CONFIG)) if "/num/" not in k])
def test_each_sound_is_8_khz_mono_as_long_as_its_text_and_not_silent(key):
    text = wanted(CONFIG)[key].text
    with wave.open(str(SOUNDS / f"{key}.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        frames = w.getnframes()
    seconds = frames / 8000
    # spoken at 150 words a minute: roughly 10 to 20 characters a second, plus the 0.1 s tail
    assert len(text) / 25 + 0.1 <= seconds <= len(text) / 6 + 1.0, (key, seconds, len(text))
    for ext in ("alaw", "ulaw"):  # G.711: one byte a sample, the same length
        assert (SOUNDS / f"{key}.{ext}").stat().st_size == frames
    stat = subprocess.run(["sox", str(SOUNDS / f"{key}.wav"), "-n", "stat"],
                          capture_output=True, text=True, check=True).stderr
    rms = float(next(ln for ln in stat.splitlines() if ln.startswith("RMS     amplitude"))
                .split(":")[1])
    peak = float(next(ln for ln in stat.splitlines() if ln.startswith("Maximum amplitude"))
                 .split(":")[1])
    assert rms > 0.02 and peak > 0.3, (key, rms, peak)


def test_a_changed_text_is_reported_stale_and_only_it_is_remade(tmp_path):
    sounds = tmp_path / "sounds"
    shutil.copytree(SOUNDS, sounds)
    conf = tmp_path / "conf"
    shutil.copytree(EXAMPLE, conf)
    yaml_path = conf / "vaxel.yaml"
    yaml_path.write_text(yaml_path.read_text(encoding="utf-8").replace(
        "sv: Vi hörde inget val.", "sv: Vi hörde tyvärr inget val."), encoding="utf-8")
    assert main(["check", str(conf), "--sounds", str(sounds)]) == 1
    assert main(["sounds", "status", "--config", str(conf), "--sounds", str(sounds)]) == 1
    before = (sounds / "sv" / "stangt.wav").stat().st_mtime_ns
    assert main(["sounds", "build", "--config", str(conf), "--sounds", str(sounds)]) == 0
    assert read_manifest(sounds)["sv/inget-val"]["text"] == "Vi hörde tyvärr inget val."
    assert (sounds / "sv" / "stangt.wav").stat().st_mtime_ns == before  # untouched
    assert main(["check", str(conf), "--sounds", str(sounds)]) == 0


def test_the_fake_pbx_plays_a_prompt_for_its_real_length():
    from telephony.fakepbx.sounds import SoundLibrary

    library = SoundLibrary()
    library.add_dir(SOUNDS)
    with wave.open(str(SOUNDS / "sv" / "huvudmeny.wav")) as w:
        assert library.duration("vaxel/sv/huvudmeny") == pytest.approx(w.getnframes() / 8000)


def test_the_manifest_is_valid_json_with_texts_and_voices():
    data = json.loads((SOUNDS / "manifest.json").read_text(encoding="utf-8"))
    assert data["sv/huvudmeny"]["voice"] == "sv" and data["en/huvudmeny"]["voice"] == "en-gb"
    assert data["sv/num/21"]["text"] == "tjugoett"
