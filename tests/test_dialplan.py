"""The rendered Asterisk files: the dialplan runs in the fake PBX with scripted phones, and the
AMI user has exactly the rights the link needs."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from telephony.ami_codec import Message
from telephony.ami_link import ACTIONS, AmiLink
from telephony.callio import AgiCallIO
from telephony.dialplan import (
    INBOUND_AGI_PRIORITY,
    READ_CLASSES,
    WRITE_CLASSES,
    SettingsError,
    allowed,
    load_settings,
    render_extensions,
    render_manager,
)
from telephony.errors import ActionFailed
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx
from telephony.fakepbx.actors import Caller, Phone

from . import virtual_clock

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "exempelkommun"
SCALE = 0.05


def run(coro):
    return virtual_clock.run(asyncio.wait_for(coro, 60))


async def pbx_with(phones):
    settings = load_settings(EXAMPLE)
    pbx = FakePbx(Dialplan.parse(render_extensions(settings)), time_scale=SCALE)
    pbx.sounds.add("vaxel/sv/fallback", 2.0)
    for phone in phones:
        phone.register(pbx)
    user = AmiUser("s3cret", read=",".join(READ_CLASSES), write=",".join(WRITE_CLASSES))
    server = AmiServer(pbx, {"vaxel": user})
    link = AmiLink("127.0.0.1", await server.start(), "vaxel", "s3cret")
    await link.start()

    async def close():
        await link.close()
        await server.stop()
        await pbx.close()
    return pbx, link, close


async def until(link, pred, timeout=10):
    async def find():
        while True:
            ev = await link.events.get()
            if isinstance(ev, Message) and pred(ev):
                return ev
    return await asyncio.wait_for(find(), timeout)


def test_an_inbound_call_enters_agi_in_swedish_with_the_lease_armed():
    async def main():
        pbx, link, close = await pbx_with([])
        ch = Caller("2001", "0701112233", "Åsa").dial(pbx)
        start = await until(link, lambda m: m.event == "AsyncAGIStart")
        assert start["Channel"] == ch.name and start["CallerIDName"] == "Åsa"
        assert start["Priority"] == str(INBOUND_AGI_PRIORITY)
        assert ch.language == "sv" and ch.lease_deadline is not None
        await close()
    run(main())


def test_without_a_controller_the_lease_takes_the_caller_to_the_partner():
    async def main():
        trunk = Phone("partner-trunk", answer_after=0.5, talk=3)
        pbx, link, close = await pbx_with([trunk])
        seen = []
        pbx.listeners.append(lambda h: seen.append(dict(h).get("Exten"))
                             if h[0][1] == "Newexten" else None)
        Caller("2001", "0701112233").dial(pbx)
        # nobody renews the 30 s lease: T, then the fallback dials the partner
        await until(link, lambda m: m.event == "DialEnd" and m["DialStatus"] == "ANSWER")
        assert "T" in seen
        assert trunk.calls == 1
        await close()
    run(main())


def test_an_agent_leg_on_the_agents_phone_bridges_and_the_agents_hangup_ends_the_call():
    async def main():
        anna = Phone("anna", answer_after=0.5, talk=2)
        pbx, link, close = await pbx_with([anna])
        caller = Caller("2001", "0701112233").dial(pbx)
        await until(link, lambda m: m.event == "AsyncAGIStart")
        await link.action("Originate", [("Channel", "PJSIP/anna"),
                                        ("Application", "Bridge"), ("Data", caller.name),
                                        ("Async", "true"), ("ChannelId", "vx-leg-1")])
        enter = await until(link, lambda m: m.event == "BridgeEnter"
                            and m["Channel"] == caller.name)
        assert enter["Priority"] == str(INBOUND_AGI_PRIORITY + 1)  # next: Hangup()
        assert caller.lease_deadline is None  # bridging wiped the lease
        # anna hangs up after 2 s: the caller is hung up by the dialplan, not sent back to AGI
        gone = await until(link, lambda m: m.event in ("Hangup", "AsyncAGIStart")
                           and m["Channel"] == caller.name)
        assert gone.event == "Hangup" and gone["Cause"] == "16"
        await close()
    run(main())


def test_the_partner_context_dials_only_allowlisted_numbers():
    async def main():
        trunk = Phone("partner-trunk", busy=True)
        pbx, link, close = await pbx_with([trunk])
        caller = Caller("2001", "0701112233").dial(pbx)
        await until(link, lambda m: m.event == "AsyncAGIStart")
        with pytest.raises(ActionFailed, match="does not exist"):
            await link.action("Redirect", [("Channel", caller.name),
                                           ("Context", "vaxel-partner"),
                                           ("Exten", "0900123456"), ("Priority", "1")])
        await link.action("Redirect", [("Channel", caller.name), ("Context", "vaxel-partner"),
                                       ("Exten", "0701234567"), ("Priority", "1")])
        back = await until(link, lambda m: m.event == "AsyncAGIStart"
                           and m["Context"] == "vaxel-partner")
        io = AgiCallIO(link, back["Channel"])
        assert await io.get_variable("DIALSTATUS") == "BUSY"
        assert await io.get_variable("HANGUPCAUSE") == "17"
        await close()
    run(main())


def test_an_unregistered_agent_device_fails_at_once_with_reason_0():
    async def main():
        anna = Phone("anna")
        pbx, link, close = await pbx_with([anna])
        anna.unregister(pbx)
        await link.action("Originate", [("Channel", "PJSIP/anna"), ("Application", "Wait"),
                                        ("Data", "1"), ("Async", "true"),
                                        ("ActionID", "x")])
        resp = await until(link, lambda m: m.event == "OriginateResponse")
        assert (resp["Response"], resp["Reason"]) == ("Failure", "0")
        await close()
    run(main())


def test_the_ami_user_may_send_every_action_the_link_uses_and_nothing_it_does_not():
    for action in ACTIONS:
        assert allowed(action), action
    assert not allowed("command") and not allowed("updateconfig")
    text = render_manager(load_settings(EXAMPLE), "s3cret")
    assert "permit = 127.0.0.1/255.255.255.255" in text and "deny = 0.0.0.0/0.0.0.0" in text
    classes = {k.strip(): set(v.strip().split(","))
               for k, _, v in (ln.partition("=") for ln in text.splitlines())
               if k.strip() in ("read", "write")}
    assert classes == {"read": set(READ_CLASSES), "write": set(WRITE_CLASSES)}
    assert "all" not in classes["read"] | classes["write"]


def test_the_fake_refuses_actions_outside_the_users_rights():
    async def main():
        _, link, close = await pbx_with([])
        with pytest.raises(ActionFailed, match="Permission denied"):
            await link.action("Command", [("Command", "core stop now")])
        await close()
    run(main())


def test_bad_settings_are_reported_with_their_place(tmp_path):
    (tmp_path / "telephony.yaml").write_text(
        "numbers: [812345]\npartner: {trunk: t, numbers: ['0701']}\nlease: 30\n")
    with pytest.raises(SettingsError) as err:
        load_settings(tmp_path)
    text = str(err.value)
    assert "telephony.yaml:1:11: numbers, item 1: a phone number is a quoted string" in text
    assert "telephony.yaml:3:1: lease:" in text and '"90s"' in text


def test_a_fallback_partner_outside_the_allowlist_is_refused(tmp_path):
    (tmp_path / "telephony.yaml").write_text(
        "numbers: ['0812345']\npartner: {trunk: t, numbers: ['0701234567']}\n"
        "fallback: {partner: '0709999999'}\n")
    with pytest.raises(SettingsError, match=r"not in partner\.numbers"):
        load_settings(tmp_path)


def test_vaxel_dialplan_writes_both_files_and_needs_the_secret(tmp_path):
    env = {**os.environ, "VAXEL_AMI_SECRET": "s3cret"}
    cmd = [sys.executable, "-m", "controller.cli", "dialplan", "--config", str(EXAMPLE),
           "--out", str(tmp_path)]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    assert "[vaxel-inbound]" in (tmp_path / "extensions_vaxel.conf").read_text()
    manager = tmp_path / "manager_vaxel.conf"
    assert "secret = s3cret" in manager.read_text()
    assert manager.stat().st_mode & 0o077 == 0
    env.pop("VAXEL_AMI_SECRET")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "VAXEL_AMI_SECRET" in proc.stderr


def test_device_presence_is_listed_as_chan_pjsip_does():
    async def main():
        anna, bo = Phone("anna"), Phone("bo")
        pbx, link, close = await pbx_with([anna, bo])
        bo.unregister(pbx)
        items = await link.list_action("DeviceStateList")
        states = {m["Device"]: m["State"] for m in items}
        assert states == {"PJSIP/anna": "NOT_INUSE", "PJSIP/bo": "UNAVAILABLE"}
        await close()
    run(main())
