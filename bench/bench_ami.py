"""AMI event ingest: through the whole link (TCP, panoramisk's transport, our protocol, the
codec, matching, the event queue) against the bare sans-I/O parser on the same bytes, in one run.

The events are the real mix Asterisk 22 sent for 200 calls (traces/p8_throughput), repeated to
N events. Aim: at least 50,000 events/s per core through the link, and at least half the bare
parser's rate.

    python bench/bench_ami.py [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from telephony.ami_codec import AmiParser, Message
from telephony.ami_link import AmiLink
from telephony.trace import read_chunks

RECORDINGS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "asterisk"


def event_bytes(n: int) -> tuple[bytes, int]:
    chunks = read_chunks(RECORDINGS / "traces" / "p8_throughput.ami.raw.gz")
    stream = b"".join(c.data for c in chunks if c.received)
    stream = stream[stream.index(b"\r\n") + 2:]  # without the banner
    parser = AmiParser(server=True)  # no banner expected
    per_copy = sum(1 for m in parser.feed(stream) if isinstance(m, Message) and m.event)
    copies = max(1, n // per_copy)
    return stream * copies, per_copy * copies


def bare(data: bytes, n: int) -> float:
    parser = AmiParser()
    t0 = time.perf_counter()
    parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    count = 0
    for i in range(0, len(data), 65536):
        count += len(parser.feed(data[i:i + 65536]))
    dt = time.perf_counter() - t0
    assert count >= n
    return dt


def linearity() -> float:
    """Work per byte must not grow with the size of one message: a 4 MB message fed in 1 KB
    pieces should cost about 16x a 256 KB one, not 256x. Returns the ratio of the two times."""
    def cost(n_lines: int) -> float:
        data = b"Event: Big\r\n" + b"Line: " + b"y" * 40 + b"\r\n"
        data = b"Asterisk Call Manager/11.0.0\r\n" + data * n_lines + b"\r\n"
        best = float("inf")
        for _ in range(3):
            p = AmiParser()
            t0 = time.perf_counter()
            for i in range(0, len(data), 1024):
                p.feed(data[i:i + 1024])
            best = min(best, time.perf_counter() - t0)
        return best
    return cost(24000) / cost(1500)  # 16x the input


async def through_link(data: bytes, n: int) -> tuple[float, float]:
    start_sending = asyncio.Event()
    finished = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        login = await reader.readuntil(b"\r\n\r\n")
        aid = next(ln.split(b": ", 1)[1] for ln in login.split(b"\r\n")
                   if ln.lower().startswith(b"actionid"))
        writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\n\r\n")
        listing = await reader.readuntil(b"\r\n\r\n")
        aid = next(ln.split(b": ", 1)[1] for ln in listing.split(b"\r\n")
                   if ln.lower().startswith(b"actionid"))
        writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\nEventList: start\r\n\r\n"
                     b"Event: CoreShowChannelsComplete\r\nActionID: " + aid +
                     b"\r\nEventList: Complete\r\nListItems: 0\r\n\r\n")
        await start_sending.wait()
        for i in range(0, len(data), 65536):
            writer.write(data[i:i + 65536])
            await writer.drain()
        await reader.read()  # until the link hangs up
        writer.close()
        finished.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = AmiLink("127.0.0.1", port, "bench", "x", queue_size=n + 10, ping_interval=3600)
    await link.start()
    await link.events.get()  # LinkUp
    t0 = time.perf_counter()
    c0 = time.process_time()
    start_sending.set()
    got = 0
    while got < n:
        await link.events.get()
        got += 1
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await link.close()
    await asyncio.wait_for(finished.wait(), 5)
    server.close()
    return dt, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300_000)
    args = ap.parse_args()
    data, n = event_bytes(args.events)
    print(f"{n:,} events ({len(data) / 1e6:.1f} MB, the p8 mix of Asterisk 22 events)")
    bare_dt = min(bare(data, n) for _ in range(3))
    link_dt, link_cpu = asyncio.run(through_link(data, n))
    bare_rate, link_rate = n / bare_dt, n / link_dt
    print(f"  bare parser:   {bare_rate:>10,.0f} events/s")
    print(f"  through link:  {link_rate:>10,.0f} events/s  (wall; CPU of this process "
          f"{link_cpu:.2f} s, the sending server included)")
    print(f"  ratio link / bare: {link_rate / bare_rate:.2f}")
    growth = linearity()
    print(f"  one message 16x larger costs {growth:.1f}x the time (linear: about 16; "
          f"aim < 40: {'met' if growth < 40 else 'MISSED'})")
    print(f"aim >= 50,000 events/s through the link: {'met' if link_rate >= 50_000 else 'MISSED'};"
          f" aim ratio >= 0.5: {'met' if link_rate / bare_rate >= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
