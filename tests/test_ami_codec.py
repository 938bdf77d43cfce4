"""The AMI codec against every recorded trace, split frames, garbage and large inputs."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.ami_codec import AmiParser, Banner, Garbage, Message, encode, encode_action
from telephony.errors import HeaderInjection
from telephony.trace import read_chunks, read_lines

from .recordings import all_raw_traces, trace, trace_name

TRACES = all_raw_traces()


def test_the_traces_are_there():
    assert len(TRACES) >= 28, "expected the recorded traces under tests/fixtures/asterisk"


def parse_conn(chunks, received):
    parser = AmiParser(server=not received)
    items = []
    for c in chunks:
        items += parser.feed(c.data)
    return items


@pytest.mark.parametrize("raw", TRACES, ids=trace_name)
def test_every_trace_parses_without_garbage_and_as_many_messages_as_it_has(raw):
    chunks = read_chunks(raw)
    lines = read_lines(raw.with_name(raw.name.replace(".ami.raw.gz", ".ami.gz")))
    assert chunks
    for conn in sorted({c.conn for c in chunks}):
        for received in (True, False):
            mine = [c for c in chunks if c.conn == conn and c.received is received]
            items = parse_conn(mine, received)
            assert not [i for i in items if isinstance(i, Garbage)]
            messages = [i for i in items if isinstance(i, Message)]
            # the line trace, split at its empty lines, says the same headers
            expected, current = [], []
            for ln in lines:
                if ln.conn != conn or ln.received is not received:
                    continue
                if ln.text == "":
                    if current:
                        expected.append(current)
                    current = []
                elif ": " in ln.text or ln.text.endswith(":"):
                    # "[LF]" marks a bare LF Asterisk put at the end of a line (PJSIPShowContacts
                    # "No Contacts found\n\r\n"): the parser takes it as the line's end
                    key, _, value = ln.text.removesuffix(" [LF]").partition(":")
                    current.append((key, value.removeprefix(" ")))
            assert [list(m.headers) for m in messages] == expected
            if received and mine and mine[0].data.startswith(b"Asterisk"):
                assert isinstance(items[0], Banner) and items[0].version == "11.0.0"


def p2_stream():
    chunks = read_chunks(trace("p2_asyncagi"))
    return b"".join(c.data for c in chunks if c.received and c.conn == "C1")


def test_a_stream_fed_byte_by_byte_parses_the_same_as_whole():
    data = p2_stream()[:20000]
    whole = AmiParser().feed(data)
    parser = AmiParser()
    pieces = []
    for i in range(len(data)):
        pieces += parser.feed(data[i:i + 1])
    assert pieces == whole and len(whole) > 20


def test_a_frame_split_at_every_byte_boundary_parses_the_same():
    frame = encode([("Event", "Newchannel"), ("CallerIDName", "Åsa Öberg-Ärlig"),
                    ("Channel", "PJSIP/1001-00000003")])
    expected = AmiParser(server=True).feed(frame)
    assert expected[0]["CallerIDName"] == "Åsa Öberg-Ärlig"
    for cut in range(len(frame) + 1):
        p = AmiParser(server=True)
        assert p.feed(frame[:cut]) + p.feed(frame[cut:]) == expected


def test_bare_lf_line_ends_are_accepted():
    items = AmiParser().feed(b"Asterisk Call Manager/11.0.0\nResponse: Success\nActionID: 1\n\n")
    assert items[1] == Message.of([("Response", "Success"), ("ActionID", "1")])


def test_garbage_is_reported_and_parsing_goes_on():
    p = AmiParser()
    items = p.feed(b"Asterisk Call Manager/11.0.0\r\nthis is not a header\r\nEvent: Ok\r\n\r\n")
    assert isinstance(items[1], Garbage)
    assert items[2] == Message.of([("Event", "Ok")])


def test_an_over_long_line_is_dropped_and_the_next_message_survives():
    p = AmiParser(max_line=1000)
    items = p.feed(b"Asterisk Call Manager/11.0.0\r\nEvent: Big\r\nData: " + b"x" * 5000)
    items += p.feed(b"x" * 5000 + b"\r\n\r\nEvent: Next\r\n\r\n")
    assert any(isinstance(i, Garbage) for i in items)
    assert items[-1] == Message.of([("Event", "Next")])


def test_a_missing_blank_line_before_an_event_starts_a_new_message():
    items = AmiParser().feed(b"Asterisk Call Manager/11.0.0\r\nEvent: A\r\nX: 1\r\n"
                             b"Event: B\r\n\r\n")
    assert [m.event for m in items[1:]] == ["A", "B"]


def test_originate_response_keeps_its_own_response_header():
    msg = b"Event: OriginateResponse\r\nResponse: Failure\r\nReason: 3\r\n\r\n"
    (m,) = AmiParser().feed(b"Asterisk Call Manager/11.0.0\r\n" + msg)[1:]
    assert m.event == "OriginateResponse" and m["Response"] == "Failure" and m["Reason"] == "3"


def test_the_first_of_two_action_ids_wins():
    (m,) = AmiParser(server=True).feed(b"Action: Ping\r\nActionID: a\r\nActionID: b\r\n\r\n")
    assert m.action_id == "a" and m.get_all("actionid") == ["a", "b"]


def test_no_banner_is_reported_but_not_fatal():
    items = AmiParser().feed(b"HTTP/1.1 400 Bad Request\r\n\r\nEvent: X\r\n\r\n")
    assert isinstance(items[0], Garbage) and items[-1].event == "X"


@given(st.binary(max_size=2000), st.integers(1, 64))
@settings(max_examples=300, deadline=None)
def test_any_bytes_in_any_chunks_only_ever_yield_items(data, step):
    p = AmiParser()
    for i in range(0, len(data), step):
        for item in p.feed(data[i:i + step]):
            assert isinstance(item, Banner | Message | Garbage)


@given(st.lists(st.tuples(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
    st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]),
            max_size=40).map(str.strip)),
    min_size=1, max_size=12), st.integers(1, 50))
@settings(max_examples=300, deadline=None)
def test_encode_then_parse_is_the_identity_in_any_chunking(headers, step):
    headers = [("Action", "Test"), *headers]
    data = encode(headers)
    p = AmiParser(server=True)
    items = []
    for i in range(0, len(data), step):
        items += p.feed(data[i:i + step])
    assert items == [Message.of(headers)]


def test_header_values_with_line_breaks_are_refused():
    with pytest.raises(HeaderInjection, match="line break"):
        encode_action("Originate", "1", [("CallerID", "x\r\nAction: Hangup")])
    with pytest.raises(HeaderInjection):
        encode([("Bad\nName", "v")])
