"""The events on a real mosquitto (Debian's broker, a password file, a free local port): a whole
call in order, retained state for a late subscriber, the will when the controller dies, the
broker restarted during calls, and a full buffer counted."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap

import aiomqtt
import pytest

from agents import AgentState
from controller import events as ev
from controller.bus import Bus
from integrations.mqtt import MqttPublisher, MqttTarget
from telephony.fakepbx.actors import Caller

from .mosquitto import PASSWORD, USER, free_port, password_broker
from .test_asyncapi import validate
from .world import ROOT, World, config_copy, run

SITE = "test"


@pytest.fixture
def broker(tmp_path):
    b = password_broker(tmp_path)
    b.start()
    yield b
    b.stop()


def mqtt_config(tmp_path, port, extra=""):
    return config_copy(tmp_path, append=textwrap.dedent(f"""
        events:
          site: {SITE}
          mqtt:
            host: 127.0.0.1
            port: {port}
            username: {USER}
            password_env: VAXEL_MQTT_PASSWORD
        {extra}"""))


ENV = {"VAXEL_MQTT_PASSWORD": PASSWORD}


class Watcher:
    """A subscriber, as a wallboard or a case system is one."""

    def __init__(self, port, topic="vaxel/#"):
        self.port, self.topic = port, topic
        self.messages: list[tuple[str, bytes, bool]] = []

    async def __aenter__(self):
        self._client = aiomqtt.Client("127.0.0.1", self.port, username=USER, password=PASSWORD)
        await self._client.__aenter__()
        await self._client.subscribe(self.topic, qos=1)
        self._task = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self):
        async for m in self._client.messages:
            self.messages.append((str(m.topic), m.payload, m.retain))

    async def __aexit__(self, *exc):
        self._task.cancel()
        await self._client.__aexit__(None, None, None)

    def events(self, prefix):
        return [json.loads(p) for t, p, _ in self.messages if t.startswith(prefix)]

    def retained(self):
        return {t: p for t, p, r in self.messages if r}


def test_a_whole_call_in_order_with_the_callers_number_pseudonymised(broker, tmp_path):
    folder = mqtt_config(tmp_path / "c", broker.port)

    async def main():
        async with World(folder, environ=ENV) as w, Watcher(broker.port) as watch:
            await w.until(lambda: w.centre.integrations["mqtt"].statistics()["connected"])
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            call_id = f"vx-{ch.uniqueid}"
            await w.until(lambda: any(e["event"] == "CallEnded"
                                      for e in watch.events(f"vaxel/{SITE}/calls/")))
            got = watch.events(f"vaxel/{SITE}/calls/{call_id}/")
            assert [e["event"] for e in got] == [type(e).__name__ for e in w.events_of(call_id)]
            assert [e["seq"] for e in got] == sorted(e["seq"] for e in got)
            assert all(e["schema"] == 1 and e["site"] == SITE and e["call_id"] == call_id
                       for e in got)
            for body in got + watch.events(f"vaxel/{SITE}/agents/"):
                validate(body)  # as docs/asyncapi.yaml says
            arrived = got[0]
            assert arrived["caller"].startswith("p-") and "0701112233" not in json.dumps(got)
            topics = [t for t, _, _ in watch.messages if call_id in t]
            assert topics[0] == f"vaxel/{SITE}/calls/{call_id}/CallArrived"
            status = [p for t, p, _ in watch.messages if t == f"vaxel/{SITE}/status"]
            assert status[-1] == b"online"
    run(main())


def test_a_late_subscriber_gets_the_retained_state(broker, tmp_path):
    folder = mqtt_config(tmp_path / "c", broker.port)

    async def main():
        async with World(folder, environ=ENV) as w:
            w.ctl.agent_login("anna")
            w.ctl.agent_login("bo")
            w.ctl.agent_pause("bo", "lunch")
            publisher = w.centre.integrations["mqtt"]
            await w.until(lambda: publisher.statistics()["published"] >= 3)
            async with Watcher(broker.port) as late:
                await w.until(lambda: len(late.retained()) >= 3 + len(w.ctl.router.group_ids()))
                retained = late.retained()
            assert retained[f"vaxel/{SITE}/status"] == b"online"
            bo = json.loads(retained[f"vaxel/{SITE}/agents/bo"])
            assert (bo["state"], bo["reason"]) == ("paused", "lunch")
            assert json.loads(retained[f"vaxel/{SITE}/agents/anna"])["state"] == "ready"
            vaxeln = json.loads(retained[f"vaxel/{SITE}/groups/vaxeln"])
            assert vaxeln["logged_in"] == 1 and vaxeln["waiting"] == 0
    run(main())


def test_the_will_says_offline_when_the_controller_dies(broker, tmp_path):
    """`vaxel run` killed (SIGKILL: no goodbye of its own): the broker says it for it."""
    folder = mqtt_config(tmp_path / "c", broker.port)
    env = {**os.environ, **ENV, "VAXEL_AMI_SECRET": "s", "VAXEL_STATE_DIR": str(tmp_path),
           "PYTHONPATH": str(ROOT)}

    async def main():
        async with Watcher(broker.port, f"vaxel/{SITE}/status") as watch:
            # no Asterisk: the AMI link keeps trying, the events go to the broker meanwhile
            proc = subprocess.Popen([sys.executable, "-m", "controller.cli", "run", "--config",
                                     str(folder), "--api", f"127.0.0.1:{free_port()}",
                                     "--ami-port", str(free_port())], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(1000):
                    if [p for _, p, _ in watch.messages][-1:] == [b"online"]:
                        break
                    await asyncio.sleep(0.01)
                os.kill(proc.pid, signal.SIGKILL)
            finally:
                proc.wait()
            for _ in range(500):
                if [p for _, p, _ in watch.messages][-1:] == [b"offline"]:
                    break
                await asyncio.sleep(0.01)
            return [p for _, p, _ in watch.messages]

    assert asyncio.run(asyncio.wait_for(main(), 30)) == [b"online", b"offline"]


def test_a_clean_stop_says_offline_itself(broker, tmp_path):
    folder = mqtt_config(tmp_path / "c", broker.port)

    async def main():
        async with Watcher(broker.port, f"vaxel/{SITE}/status") as watch:
            async with World(folder, environ=ENV) as w:
                await w.until(lambda: w.centre.integrations["mqtt"].statistics()["connected"])
            for _ in range(200):
                if len(watch.messages) == 2:
                    break
                await asyncio.sleep(0.01)
            return [p for _, p, _ in watch.messages]

    # on the real clock: the stop waits for the broker's acknowledgements up to 5 s, which a
    # virtual clock would spend the moment the loop has nothing else to do
    assert asyncio.run(asyncio.wait_for(main(), 30)) == [b"online", b"offline"]


def test_the_broker_restarted_during_calls_affects_no_call_and_the_state_comes_back(
        broker, tmp_path):
    folder = mqtt_config(tmp_path / "c", broker.port)

    async def main():
        async with World(folder, environ=ENV) as w:
            publisher = w.centre.integrations["mqtt"]
            await w.until(lambda: publisher.statistics()["connected"])
            w.ctl.agent_login("anna")
            broker.stop()  # without persistence: it forgets the retained state
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            assert w.statistics()["answered"] == 1  # the call went on as ever
            anna = w.ctl.router.agents["anna"]
            await w.until(lambda: anna.state is AgentState.READY)
            assert not publisher.statistics()["connected"]
            assert publisher.statistics()["queued"] > 0  # the call's events wait
            broker.start()
            async with Watcher(broker.port) as watch:
                await w.until(lambda: publisher.statistics()["connected"], seconds=120)
                call_id = f"vx-{ch.uniqueid}"
                await w.until(lambda: any(e["event"] == "CallEnded" for e in watch.events(
                    f"vaxel/{SITE}/calls/{call_id}/")))
            got = [e["event"] for e in watch.events(f"vaxel/{SITE}/calls/{call_id}/")]
            assert got == [type(e).__name__ for e in w.events_of(call_id)]
            async with Watcher(broker.port, f"vaxel/{SITE}/agents/#") as late:
                await w.until(lambda: f"vaxel/{SITE}/agents/anna" in late.retained())
                retained = late.retained()
            assert json.loads(retained[f"vaxel/{SITE}/agents/anna"])["state"] == "ready"
            assert publisher.statistics()["dropped"] == 0 and publisher.stats.connects == 2
    run(main())


def test_a_backlog_goes_out_in_slices_in_order(broker):
    """3,500 events waiting when the broker comes: they go 1,000 at a time (a slice never
    stalls the loop), all of them, in order."""
    async def main():
        bus = Bus()
        publisher = MqttPublisher(MqttTarget("127.0.0.1", broker.port, SITE, USER, PASSWORD),
                                  bus.subscribe("mqtt"))
        sizes = []
        prepare = publisher._prepare
        publisher._prepare = lambda events: sizes.append(len(events)) or prepare(events)
        for n in range(3500):
            bus.publish(ev.CrisisSwitched(at=float(n), version=1, on=True))
        async with Watcher(broker.port, f"vaxel/{SITE}/centre/#") as watch:
            task = asyncio.get_running_loop().create_task(publisher.run())
            for _ in range(3000):
                if len(watch.messages) == 3500:
                    break
                await asyncio.sleep(0.01)
            publisher.stop()
            await task
        return sizes, [json.loads(p)["at"] for _, p, _ in watch.messages]

    sizes, ats = asyncio.run(asyncio.wait_for(main(), 60))
    assert sizes == [1000, 1000, 1000, 500] and ats == [float(n) for n in range(3500)]


def test_a_full_buffer_drops_the_newest_and_counts_them(tmp_path):
    """The broker away, 150 events for a buffer of 100: 50 counted as dropped, the 100 sent
    when it is back; publishing never waited."""
    b = password_broker(tmp_path)

    async def main():
        bus = Bus()
        publisher = MqttPublisher(MqttTarget("127.0.0.1", b.port, SITE, USER, PASSWORD),
                                  bus.subscribe("mqtt", limit=100))
        task = asyncio.get_running_loop().create_task(publisher.run())
        for n in range(150):
            bus.publish(ev.CrisisSwitched(at=float(n), version=1, on=n % 2 == 0))
        await asyncio.sleep(0.3)
        stats = publisher.statistics()
        assert (stats["connected"], stats["queued"], stats["dropped"]) == (False, 100, 50)
        b.start()
        async with Watcher(b.port, f"vaxel/{SITE}/centre/#") as watch:
            for _ in range(1000):
                if len(watch.messages) == 100:
                    break
                await asyncio.sleep(0.02)
            publisher.stop()
            await task
        return [json.loads(p)["at"] for _, p, _ in watch.messages], publisher.statistics()

    try:
        ats, stats = asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        b.stop()
    assert ats == [float(n) for n in range(100)]  # the oldest kept, in order
    assert stats["published"] >= 100 and stats["dropped"] == 50


def test_vaxel_status_and_metrics_show_the_publisher(broker, tmp_path, monkeypatch, capsys):
    from .test_run_api import cli, read_url, vaxel_running

    monkeypatch.setenv("VAXEL_AMI_SECRET", "s3cret")
    monkeypatch.setenv("VAXEL_MQTT_PASSWORD", PASSWORD)
    monkeypatch.setenv("VAXEL_STATE_DIR", str(tmp_path / "state"))
    folder = mqtt_config(tmp_path / "c", broker.port)

    async def scenario():
        async with vaxel_running(folder) as (_, api):
            assert await cli("agent", "login", "anna", "--api", api) == 0
            await asyncio.sleep(0.5)
            assert await cli("status", "--api", api) == 0
            return await asyncio.to_thread(read_url, f"{api}/metrics")

    metrics = asyncio.run(asyncio.wait_for(scenario(), 60))
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("mqtt:"))
    assert line.split(", ")[0].strip() == "mqtt: connected" and line.endswith("0 dropped")
    assert 'vaxel_integration_connected{target="mqtt"} 1\n' in metrics
    published = [ln for ln in metrics.splitlines()
                 if ln.startswith('vaxel_integration_published_total{target="mqtt"}')]
    assert published and float(published[0].split()[-1]) > 0
