import pytest

from ivr.phrases import estimated_wait, number_words, position, words


@pytest.mark.parametrize(("n", "sv", "en"), [
    (1, "Du är nummer ett i kön.", "You are number one in the queue."),
    (2, "Du är nummer två i kön.", "You are number two in the queue."),
    (3, "Du är nummer tre i kön.", "You are number three in the queue."),
    (21, "Du är nummer tjugoett i kön.", "You are number twenty-one in the queue."),
])
def test_a_place_in_line(n, sv, en):
    assert words(position(n, "sv"), "sv") == sv
    assert words(position(n, "en"), "en") == en


@pytest.mark.parametrize(("minutes", "sv", "en"), [
    (0, "Beräknad väntetid är mindre än en minut.",
     "The estimated waiting time is less than one minute."),
    (1, "Beräknad väntetid är ungefär en minut.",
     "The estimated waiting time is about one minute."),
    (2, "Beräknad väntetid är ungefär två minuter.",
     "The estimated waiting time is about two minutes."),
    (4, "Beräknad väntetid är ungefär fyra minuter.",
     "The estimated waiting time is about four minutes."),
    (45, "Beräknad väntetid är ungefär fyrtiofem minuter.",
     "The estimated waiting time is about forty-five minutes."),
])
def test_the_estimated_wait_with_its_grammar(minutes, sv, en):
    assert words(estimated_wait(minutes, "sv"), "sv") == sv
    assert words(estimated_wait(minutes, "en"), "en") == en


def test_swedish_places_are_neuter_and_minutes_common_gender():
    assert "ett" in words(position(1, "sv"), "sv").split()
    assert "en minut." in words(estimated_wait(1, "sv"), "sv")


@pytest.mark.parametrize(("n", "sv", "en"), [
    (0, "noll", "zero"), (10, "tio", "ten"), (17, "sjutton", "seventeen"),
    (30, "trettio", "thirty"), (99, "nittionio", "ninety-nine"), (100, "hundra", "one hundred"),
])
def test_number_words(n, sv, en):
    assert (number_words(n, "sv"), number_words(n, "en")) == (sv, en)


def test_numbers_out_of_range_are_refused():
    with pytest.raises(ValueError):
        position(0, "sv")
    with pytest.raises(ValueError):
        estimated_wait(101, "en")
