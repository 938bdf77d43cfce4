import pytest

from config.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("2m", 120), ("1h30m", 5400), ("1.5h", 5400), ("250ms", 0.25), (" 2m 30s ", 150),
])
def test_durations_with_units_are_read(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["90", 90, 8.5, True, "", "m", "2x", "2m-"])
def test_anything_else_is_refused_saying_what_is_valid(bad):
    with pytest.raises(ValueError, match='"90s"'):
        parse_duration(bad)


def test_durations_are_printed_the_way_they_are_written():
    assert [format_duration(s) for s in (45, 120, 150)] == ["45s", "2m", "2m30s"]
