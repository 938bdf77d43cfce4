"""Where the tests find the recordings of a real Asterisk 22: copies kept in this repository
(tests/fixtures/asterisk, see its README), so a fresh clone tests itself with nothing beside it."""

from __future__ import annotations

from pathlib import Path

RECORDINGS = Path(__file__).resolve().parent / "fixtures" / "asterisk"
LAB_DIALPLAN = RECORDINGS / "lab-config" / "extensions.conf"
SIP_CONFIG = RECORDINGS / "sip-config"


def trace(name: str, *, raw: bool = True) -> Path:
    """The byte-exact chunk trace (`raw`) or the line trace of one recorded scenario."""
    folder = "traces" if name.startswith("p") else "sip-traces"  # p: Local channels only
    return RECORDINGS / folder / f"{name}.ami{'.raw' if raw else ''}.gz"


def all_raw_traces() -> list[Path]:
    return sorted(RECORDINGS.glob("traces/*.ami.raw.gz")) + sorted(
        RECORDINGS.glob("sip-traces/*.ami.raw.gz"))


def trace_name(path: Path) -> str:
    return path.name.removesuffix(".ami.raw.gz")
