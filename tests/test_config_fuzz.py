"""Property: whatever an administrator does to the example's files (a line deleted, doubled or
shifted, a value replaced, a quote removed or left open, a key misspelt), `vaxel check` answers
with located errors in words or with OK: never a traceback."""

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.errors import ConfigError
from controller.cli import main
from controller.configuration import load_configuration

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "exempelkommun"
FILES = {p.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLE.glob("*.yaml"))}
VALUES = ["", "0", "-1", "02", "0701234567", "yes", "8:30", "[]", "{}", "null", "x", "'open",
          '"open', "1e999", ".inf", ".nan", "0s", "-5m", "99999999999", "[a, b]", "{a: 1}",
          "true", "2026-02-30", "*alias", "&anchor x", "@x", "Bad Name", "\t1", "- item"]
LIBRARY_WORDING = re.compile(r"String should match|Input should be|\[key\]|validation error|"
                             r"Traceback|literal\[|function-after")

mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10_000)),
    st.tuples(st.just("double"), st.integers(0, 10_000)),
    st.tuples(st.just("indent"), st.integers(0, 10_000), st.sampled_from([-2, -1, 1, 2, 4])),
    st.tuples(st.just("value"), st.integers(0, 10_000), st.sampled_from(VALUES)),
    st.tuples(st.just("unquote"), st.integers(0, 10_000)),
    st.tuples(st.just("misspell"), st.integers(0, 10_000)),
)


def mutate(text: str, how: tuple) -> str:
    lines = text.splitlines()
    i = how[1] % len(lines)
    line = lines[i]
    kind = how[0]
    if kind == "delete":
        del lines[i]
    elif kind == "double":
        lines.insert(i, line)
    elif kind == "indent":
        lines[i] = " " * max(0, len(line) - len(line.lstrip()) + how[2]) + line.lstrip()
    elif kind == "value" and ": " in line:
        key, _, _ = line.partition(": ")
        lines[i] = f"{key}: {how[2]}"
    elif kind == "unquote":
        lines[i] = line.replace('"', "", 1)
    elif kind == "misspell" and ":" in line and line.strip():
        key, colon, rest = line.partition(":")
        stripped = key.strip()
        if len(stripped) > 2:
            lines[i] = key.replace(stripped, stripped[:-1]) + colon + rest
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file=st.sampled_from(sorted(FILES)), mutations=st.lists(mutation, min_size=1,
                                                                max_size=3))
def test_a_mutated_example_is_accepted_or_refused_with_located_words(file, mutations):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, text in FILES.items():
            for how in mutations if name == file else ():
                text = mutate(text, how)
            (folder / name).write_text(text, encoding="utf-8")
        try:
            load_configuration(folder)
        except ConfigError as err:
            assert err.errors
            for p in err.errors:
                text = str(p)
                assert text.startswith(str(folder)), text
                assert p.message and not LIBRARY_WORDING.search(p.message), text
                if p.file.endswith(".yaml") and p.line == 0:
                    # no single place: said of the whole file (empty, missing a section)
                    assert "the file" in p.message or "section" in p.message \
                        or "missing" in p.message, text


def test_vaxel_check_exits_1_with_words_on_a_broken_folder(tmp_path, capsys):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text.replace("lease: 30s", "lease: [30s"), encoding="utf-8")
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "telephony.yaml:" in err and "1 error: the configuration was not accepted" in err
