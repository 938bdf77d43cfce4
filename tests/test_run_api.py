"""`vaxel run` against the fake PBX over TCP, driven through its HTTP API by `vaxel agent` and
`vaxel status`: a real Asterisk can be tested unattended the same way."""

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import socket
import tempfile
from pathlib import Path

from config.loader import load_folder
from controller.cli import main
from controller.run import run_controller
from telephony.dialplan import load_settings, render_extensions, render_manager
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx
from telephony.fakepbx.actors import Caller, Phone

from .web_users import TOKENS, bearer, users_yaml
from .world import vaxeln_threshold_line

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "exempelkommun"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_url(url):
    """A GET with the administrator's API token, as Prometheus would send its own."""
    import urllib.request

    url = urllib.request.Request(url, headers=bearer("admin"))

    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def cli(*argv):
    """A `vaxel` command, as a terminal runs it (in a thread: the controller runs here)."""
    return asyncio.to_thread(main, list(argv))


@contextlib.asynccontextmanager
async def vaxel_running(folder, wallclock=None):
    """`vaxel run` on `folder` against a fake Asterisk on 127.0.0.1: (the PBX, the API's URL).
    The folder gets the web's users (Exempelkommun a copy of its own), and the `vaxel`
    commands the administrator's API token."""
    if folder == EXAMPLE:
        copy = Path(tempfile.mkdtemp(prefix="vaxel-run-")) / "kommun"
        shutil.copytree(EXAMPLE, copy)
        folder = copy
    (folder / "users.yaml").write_text(users_yaml(), encoding="utf-8")
    os.environ["VAXEL_API_TOKEN"] = TOKENS["admin"]
    settings = load_settings(folder)
    pbx = FakePbx(Dialplan.parse(render_extensions(settings)), time_scale=1.0)
    pbx.sounds.add_dir(ROOT / "sounds")
    user = AmiUser.from_conf(render_manager(settings, "s3cret"), settings.ami.username)
    server = AmiServer(pbx, {"vaxel": user})
    ami_port = await server.start()
    api_port = free_port()
    stop = asyncio.Event()
    running = asyncio.ensure_future(run_controller(folder, "127.0.0.1", api_port, ami_port,
                                                   ROOT / "sounds", stop, wallclock=wallclock))
    await asyncio.sleep(0.5)
    try:
        yield pbx, f"http://127.0.0.1:{api_port}"
    finally:
        del os.environ["VAXEL_API_TOKEN"]
        stop.set()
        assert await running == 0
        await server.stop()
        await pbx.close()


async def _calls(path):
    from store import schema
    from store.database import Database

    db = await Database.open(str(path))
    try:
        return await db.rows(schema.calls)
    finally:
        await db.close()


def test_vaxel_run_takes_calls_and_agents_act_through_the_api(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("VAXEL_AMI_SECRET", "s3cret")
    tuesday = dt.datetime(2026, 11, 24, 10, 0)  # open: today may be a Sunday

    async def scenario():
        async with vaxel_running(EXAMPLE, lambda: tuesday) as (pbx, api):
            Phone("anna", answer_after=0.2, talk=0.5).register(pbx)
            assert await cli("agent", "login", "anna", "--api", api) == 0
            assert await cli("agent", "pause", "anna", "--api", api) == 2  # no reason
            assert await cli("agent", "pause", "anna", "--reason", "lunch", "--api", api) == 0
            assert await cli("agent", "login", "nobody", "--api", api) == 1
            assert await cli("agent", "ready", "anna", "--api", api) == 0
            # a key while the menu plays (one pressed before it starts would be lost, as on
            # Asterisk)
            caller = Caller("2001", "0701112233", keys=((2.0, "1"),))
            ch = caller.dial(pbx)
            for _ in range(400):
                if ch.bridge is not None:
                    break
                await asyncio.sleep(0.05)
            assert ch.bridge is not None
            assert await cli("status", "--api", api) == 0
            os.environ["VAXEL_API_TOKEN"] = "vx_not_a_token"
            assert await cli("status", "--api", api) == 1
            os.environ["VAXEL_API_TOKEN"] = TOKENS["admin"]
            metrics = await asyncio.to_thread(read_url, f"{api}/metrics")
            assert "# TYPE vaxel_calls_total counter\nvaxel_calls_total 1\n" in metrics
            assert "vaxel_ami_connected 1\n" in metrics
            assert 'vaxel_events_dropped_total{subscriber="counters"} 0\n' in metrics
            assert "vaxel_store_connected 1\n" in metrics

    asyncio.run(asyncio.wait_for(scenario(), 60))
    out, err = capsys.readouterr()
    # the call log, in the state folder: the stop wrote the call still talking, answered
    log = Path(os.environ["VAXEL_STATE_DIR"]) / "vaxel.sqlite"
    assert f"call log sqlite+aiosqlite:///{log}: writing" in out
    calls = asyncio.run(_calls(log))
    assert [(c["outcome"], c["agent"], c["caller"], c["ended_at"]) for c in calls] == [
        ("answered", "anna", "0701112233", None)]
    copy = tmp_path / "kommun"
    shutil.copytree(EXAMPLE, copy)
    (copy / "users.yaml").write_text(users_yaml(), encoding="utf-8")
    checksum = load_folder(copy).checksum  # what `vaxel check` prints as the version
    assert f"configuration version {checksum} (activation 1)" in out
    assert "AMI 127.0.0.1:" in out and " up" in out.split("AMI 127.0.0.1:")[1].split("\n")[0]
    assert "barn-och-utbildning" in out and " open " in out  # the hours on a Tuesday at 10
    assert "anna: ready" in out and "anna: paused" in out
    assert "give --reason" in err and "unknown agent 'nobody'" in err
    assert "vaxel status: log in first" in err
    assert "barn-och-utbildning" in out and "agent anna" in out
    assert "s3cret" not in out + err


def test_vaxel_reload_activates_an_edited_folder_and_refuses_a_broken_one(monkeypatch, capsys,
                                                                          tmp_path):
    """Through the API (`vaxel reload`) and SIGHUP, as an administrator does it."""
    import os
    import shutil
    import signal

    monkeypatch.setenv("VAXEL_AMI_SECRET", "s3cret")
    folder = tmp_path / "kommun"
    shutil.copytree(EXAMPLE, folder)
    config = folder / "vaxel.yaml"

    async def scenario():
        async with vaxel_running(folder) as (_, api):
            assert await cli("reload", "--api", api) == 0  # nothing changed
            config.write_text(config.read_text().replace("name: Växeln", "name: Växeln (kväll)"))
            assert await cli("reload", "--api", api) == 0
            config.write_text(config.read_text().replace("threshold: 2m", "threshold: soon", 1))
            assert await cli("reload", "--api", api) == 1
            os.kill(os.getpid(), signal.SIGHUP)  # the same folder, still broken: refused, logged
            await asyncio.sleep(0.2)
            config.write_text(config.read_text().replace("threshold: soon", "threshold: 3m", 1))
            os.kill(os.getpid(), signal.SIGHUP)
            await asyncio.sleep(0.2)
            assert await cli("status", "--api", api) == 0

    asyncio.run(asyncio.wait_for(scenario(), 60))
    out, err = capsys.readouterr()
    assert "(activation 1) active: no change" in out
    assert "(activation 2) active:\n  group vaxeln: name: Växeln -> Växeln (kväll)" in out
    assert "the configuration was not accepted; the running one stays active" in err
    assert f"vaxel.yaml:{vaxeln_threshold_line()}:" in err
    assert "(activation 3)" in out  # the status after SIGHUP took the mended folder


def test_vaxel_run_refuses_an_events_secret_that_is_not_set(monkeypatch, tmp_path, caplog):
    from .world import config_copy

    monkeypatch.setenv("VAXEL_AMI_SECRET", "s3cret")
    monkeypatch.delenv("VAXEL_MQTT_PASSWORD", raising=False)
    folder = config_copy(tmp_path, append="events:\n  mqtt: {host: 127.0.0.1, username: v, "
                                          "password_env: VAXEL_MQTT_PASSWORD}\n")
    with caplog.at_level("ERROR"):
        assert asyncio.run(run_controller(folder, "127.0.0.1", free_port())) == 2
    assert "the MQTT password is read from $VAXEL_MQTT_PASSWORD, which is not set" in caplog.text
    assert "Traceback" not in caplog.text


def test_vaxel_run_refuses_to_start_without_the_secret(monkeypatch):
    monkeypatch.delenv("VAXEL_AMI_SECRET", raising=False)
    assert asyncio.run(run_controller(EXAMPLE, "127.0.0.1", free_port())) == 2


def test_vaxel_run_says_where_the_ami_is_and_why_it_cannot_connect(monkeypatch, caplog):
    monkeypatch.setenv("VAXEL_AMI_SECRET", "s3cret")
    dead = free_port()  # nothing listens there

    async def scenario():
        stop = asyncio.Event()
        running = asyncio.ensure_future(run_controller(EXAMPLE, "127.0.0.1", free_port(),
                                                       dead, None, stop))
        await asyncio.sleep(1.0)
        stop.set()
        return await running

    with caplog.at_level("WARNING"):
        assert asyncio.run(asyncio.wait_for(scenario(), 30)) == 0
    said = [r.getMessage() for r in caplog.records]
    assert f"AMI: cannot connect to 127.0.0.1:{dead}: Connection refused; trying again " \
           "every 15 s at most" in said
    assert not any("Traceback" in m for m in said)


def test_vaxel_run_refuses_a_broken_configuration_and_says_why(tmp_path, caplog):
    for f in EXAMPLE.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    tel = tmp_path / "telephony.yaml"
    tel.write_text(tel.read_text(encoding="utf-8").replace("lease: 30s", "lease: 0s"),
                   encoding="utf-8")
    with caplog.at_level("ERROR"):
        assert asyncio.run(run_controller(tmp_path, "127.0.0.1", free_port())) == 1
    assert "TIMEOUT(absolute)=0" in caplog.text and "telephony.yaml:" in caplog.text


def test_vaxel_agent_says_when_no_controller_runs(capsys):
    assert main(["agent", "login", "anna", "--api", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "no controller at" in capsys.readouterr().err




def test_the_log_is_written_by_its_own_thread_and_nothing_is_lost_at_the_end():
    import io
    import logging
    import threading

    from controller.logs import logging_off_the_loop

    sink = io.StringIO()
    writers = set()

    class Spy(io.StringIO):
        def write(self, text):
            writers.add(threading.current_thread().name)
            return sink.write(text)

    with logging_off_the_loop(logging.INFO, Spy()):
        for i in range(100):
            logging.getLogger("vaxel.calls").info("call vx-%d connected to anna", i)
    lines = sink.getvalue().splitlines()
    assert len(lines) == 100 and lines[-1].endswith("call vx-99 connected to anna")
    assert threading.current_thread().name not in writers
