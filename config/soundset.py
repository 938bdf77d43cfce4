"""The prompt sound set (sounds/): which files the configuration needs, which are missing or say
an older text, and making them from their texts with espeak-ng and sox.

Each prompt exists per language as sounds/<lang>/<name>.wav (8 kHz, 16-bit, mono: what Asterisk
calls slin, cheap to play anywhere) and .alaw/.ulaw (G.711: played to A-law or mu-law calls with
no transcoding at all; Asterisk takes the cheapest format present). sounds/manifest.json records,
per file, the text and voice it was made from and its checksum, so a changed text is noticed.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from config.schema import IvrConfig
from ivr.phrases import part_texts

VOICES = {"sv": "sv", "en": "en-gb"}
SPEED = 150  # words a minute: slower than espeak's 175, as prompts should be
FORMATS = ("wav", "alaw", "ulaw")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Wanted:
    key: str  # "sv/huvudmeny", "en/num/3"
    text: str
    voice: str


def wanted(config: IvrConfig) -> dict[str, Wanted]:
    """Every sound the configuration and the phrases need, with its text."""
    out: dict[str, Wanted] = {}
    for name, text in config.prompts.items():
        out[f"sv/{name}"] = Wanted(f"sv/{name}", text.sv, VOICES["sv"])
        if text.en is not None:
            out[f"en/{name}"] = Wanted(f"en/{name}", text.en, VOICES["en"])
    for lang in ("sv", "en"):
        for part, said in part_texts(lang).items():
            out[f"{lang}/{part}"] = Wanted(f"{lang}/{part}", said, VOICES[lang])
    return out


def read_manifest(root: Path) -> dict[str, dict[str, object]]:
    path = root / MANIFEST
    if not path.exists():
        return {}
    data: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def status(root: Path, want: dict[str, Wanted]) -> tuple[list[str], list[str]]:
    """(missing, stale): keys with a file absent, or made from another text or voice."""
    manifest = read_manifest(root)
    missing, stale = [], []
    for key, w in want.items():
        if not all((root / f"{key}.{ext}").exists() for ext in FORMATS):
            missing.append(key)
        elif (manifest.get(key, {}).get("text") != w.text
              or manifest.get(key, {}).get("voice") != w.voice):
            stale.append(key)
    return missing, stale


def tools_missing() -> list[str]:
    return [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]


def _make(root: Path, w: Wanted) -> dict[str, object]:
    target = root / w.key
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", w.voice, "-s", str(SPEED), "-w", str(raw), w.text],
                       check=True, capture_output=True)
        wav = target.with_suffix(".wav")
        # 8 kHz mono 16-bit, normalised to -3 dBFS, with 100 ms of air at the end
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(wav),
                        "gain", "-n", "-3", "pad", "0", "0.1"], check=True, capture_output=True)
        for ext, kind in (("alaw", "al"), ("ulaw", "ul")):
            subprocess.run(["sox", str(wav), "-t", kind, str(target.with_suffix(f".{ext}"))],
                           check=True, capture_output=True)
    with wave.open(str(wav)) as f:
        seconds = f.getnframes() / f.getframerate()
    return {"text": w.text, "voice": w.voice, "engine": "espeak-ng, sox",
            "seconds": round(seconds, 3),
            "sha256": hashlib.sha256(wav.read_bytes()).hexdigest()}


def build(root: Path, want: dict[str, Wanted], workers: int = 4) -> tuple[list[str], int]:
    """Makes every missing or stale sound; returns (made, unchanged)."""
    missing_tools = tools_missing()
    if missing_tools:
        raise RuntimeError(f"{' and '.join(missing_tools)} not installed: the sounds are made "
                           "with Debian's espeak-ng and sox (apt-get install espeak-ng sox)")
    missing, stale = status(root, want)
    todo = sorted(set(missing) | set(stale))
    manifest = read_manifest(root)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for key, entry in zip(todo, pool.map(lambda k: _make(root, want[k]), todo),
                              strict=True):
            manifest[key] = entry
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).write_text(json.dumps(dict(sorted(manifest.items())), indent=1,
                                            ensure_ascii=False) + "\n", encoding="utf-8")
    return todo, len(want) - len(todo)
