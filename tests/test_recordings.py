"""The repository's copies of the recordings are the recorded bytes (tests/fixtures/asterisk)."""

import hashlib

import pytest

from telephony.trace import read_bytes

from .recordings import RECORDINGS

SUMS = [line.split("  ", 1) for line in
        (RECORDINGS / "SHA256SUMS").read_text(encoding="utf-8").splitlines() if line]


def copy_of(name: str):
    plain = RECORDINGS / name
    return plain if plain.exists() else plain.with_name(plain.name + ".gz")


def test_every_trace_the_tests_read_has_a_checksum():
    listed = {name for _, name in SUMS}
    kept = {str(p.relative_to(RECORDINGS)).removesuffix(".gz")
            for p in RECORDINGS.rglob("*") if p.is_file()} - {"README.md", "SHA256SUMS"}
    assert kept == listed


@pytest.mark.parametrize(("digest", "name"), SUMS, ids=[n for _, n in SUMS])
def test_the_copy_is_byte_exact(digest, name):
    assert hashlib.sha256(read_bytes(copy_of(name))).hexdigest() == digest
