"""Rendering what a real Asterisk needs from the configuration: the dialplan (extensions) and the
controller's AMI user (manager.conf). The fake PBX runs the very same rendered dialplan.

The settings live in `telephony.yaml` beside the rest of the configuration (see
config/exempelkommun/telephony.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import jinja2
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from config.durations import parse_duration
from config.errors import ConfigError, Problem
from config.messages import explain, field_names
from config.schema import IvrConfig
from config.yamlstrict import Document, load

# Event classes the engine reads, and the action classes it needs (Asterisk's manager.c,
# res_agi.c, manager_bridges.c: an action is allowed with any one of its classes).
READ_CLASSES = ("system", "call", "agi")  # no dialplan (Newexten, VarSet), no dtmf: unused
WRITE_CLASSES = ("call", "originate", "agi", "reporting")
ACTION_AUTHORITY = {
    "originate": {"originate"}, "agi": {"agi"}, "redirect": {"call"},
    "hangup": {"system", "call"}, "setvar": {"call"}, "getvar": {"call", "reporting"},
    "bridge": {"call"}, "status": {"system", "call", "reporting"},
    "coreshowchannels": {"system", "reporting"}, "corestatus": {"system", "reporting"},
    "musiconholdstart": {"call"}, "musiconholdstop": {"call"},
    "devicestatelist": {"call", "reporting"}, "pjsipshowcontacts": {"system"},
    "command": {"command"}, "ping": set(), "events": set(), "login": set(), "logoff": set(),
}

# The events the engine reads: manager.conf event filters (Asterisk 22's structured form), so
# Asterisk never formats and sends the other ~50 events of a call (Newexten, VarSet, Dial*,
# Newstate, MusicOnHold*, AGIExec*, DeviceStateChange...). Filters apply to events only; the
# responses and listings of actions (Status, CoreShowChannels) always arrive.
EVENT_FILTERS = (
    ("name(AsyncAGIStart)", ""),
    ("name(AsyncAGIExec)", ""),
    ("name(AsyncAGIEnd)", ""),
    ("name(OriginateResponse),header(Response),method(exact)", "Failure"),  # success: BridgeEnter
    ("name(Hangup)", ""),
    # the caller entering the agent's bridge (the agent answered), from the menus' context or
    # back from the partner's or a transfer's Dial (a caller not reached there waits in line
    # again), and a citizen called back entering the agent's bridge from the callback context
    ("name(BridgeEnter),header(Context),method(regex)",
     "^vaxel-(inbound|partner|transfer|hold|agent-hold|callback)$"),
)


def device_filter(settings: DialplanSettings) -> tuple[str, str]:
    """The agents' phones registering and going away (no offer to a phone that cannot ring),
    and no other device's state changes (a citizen's phone has two a call)."""
    devices = "|".join(re.escape(a.device) for a in settings.agents) or "(none)"
    return ("name(DeviceStateChange),header(Device),method(regex)", f"^({devices})$")

# Where a caller runs AsyncAGI in [vaxel-inbound] (the next priority hangs up).
INBOUND_AGI_PRIORITY = 6

_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,40}$")
_DEVICE = re.compile(r"^(PJSIP|SIP|IAX2|Local)/[A-Za-z0-9._@-]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _number(v: object) -> str:
    if not isinstance(v, str) or not _NUMBER.match(v):
        raise ValueError(f"a phone number is a quoted string of digits, not {v!r}")
    return v


PhoneNumber = Annotated[str, BeforeValidator(_number)]


def _ring(v: object) -> float:
    seconds = parse_duration(v)
    if not 1 <= seconds <= 300:
        raise ValueError(f"{v} is not a ring time: a phone rings for 1 s to 5 minutes "
                         '(for example "20s")')
    return seconds


def _lease(v: object) -> float:
    seconds = parse_duration(v)
    if seconds < 5:
        raise ValueError(
            f"a lease of {v} is too short: under 5 s callers would reach the fallback whenever "
            "the controller is briefly busy, and 0 s switches the safety off altogether "
            '(TIMEOUT(absolute)=0); write "30s"')
    if seconds > 600:
        raise ValueError(f"a lease of {v} is too long: callers of a dead controller would wait "
                         'that long in silence before the fallback; at most "10m" ("30s" is usual)')
    return seconds


RingTime = Annotated[float, BeforeValidator(_ring)]


class Partner(_Model):
    trunk: str = Field(pattern=r"^[A-Za-z0-9._-]+$")  # the partner's PJSIP endpoint
    numbers: list[PhoneNumber] = Field(min_length=1)  # the allowlist
    ring: RingTime = 30.0

    def trunk_dial(self, number: str) -> str:
        return f"PJSIP/{number}@{self.trunk}"


class Outbound(_Model):
    """Calls vaxel makes or sends on (callbacks, transfers, duty lines): the trunk they leave
    by, and the number they show (the municipality's, so the citizen knows who calls)."""

    trunk: str = Field(pattern=r"^[A-Za-z0-9._-]+$")  # the operator's PJSIP endpoint
    caller_id: PhoneNumber
    name: str = Field("Kommunen", pattern=r"^[^\x00-\x1f<>\"]{1,40}$")  # shown with it
    ring: RingTime = 30.0  # a transfer's number rings this long

    def dial(self, number: str) -> str:
        if not _NUMBER.match(number):  # checked before (queues/callback.py): never text
            raise ValueError(f"not a number to dial: {number!r}")
        return f"PJSIP/{number}@{self.trunk}"


class Fallback(_Model):
    partner: str | None = None  # an allowlisted number, or none
    # a prompt of the configuration, played in the caller's language after (or instead of)
    # the partner: vaxel/<language>/<message>
    message: str = Field("fallback", pattern=r"^[a-z0-9][a-z0-9-]{0,60}$")

    @field_validator("partner", mode="before")
    @classmethod
    def _partner(cls, v: object) -> object:
        return None if v is None else _number(v)


class AgentDevice(_Model):
    id: str = Field(pattern=_ID.pattern)
    device: str = Field(pattern=_DEVICE.pattern)


class AmiUser(_Model):
    username: str = Field("vaxel", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    permit: str = "127.0.0.1/255.255.255.255"
    host: str = "127.0.0.1"  # where the controller finds Asterisk's AMI
    port: int = Field(5038, ge=1, le=65535)


class DialplanSettings(_Model):
    numbers: list[PhoneNumber]
    language: str = Field("sv", pattern=r"^[a-z]{2}$")
    lease: Annotated[float, BeforeValidator(_lease)] = 30.0
    agent_ring: RingTime = 20.0
    partner: Partner
    fallback: Fallback = Fallback()
    outbound: Outbound | None = None  # needed for callbacks
    agents: list[AgentDevice] = []
    ami: AmiUser = AmiUser()

    @field_validator("numbers")
    @classmethod
    def _some_numbers(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError('list the municipality\'s numbers, such as ["0812345"]')
        return v


def _settings_problems(settings: DialplanSettings, doc: Document) -> list[Problem]:
    """What no single value shows."""
    problems = []
    if settings.fallback.partner and settings.fallback.partner not in settings.partner.numbers:
        problems.append(doc.problem(("fallback", "partner"), (
            f"fallback.partner {settings.fallback.partner!r} is not in partner.numbers (the "
            "allowlist): the dialplan can dial nothing else")))
    first: dict[str, int] = {}
    for i, agent in enumerate(settings.agents):
        if agent.id in first:
            problems.append(doc.problem(("agents", i, "id"), (
                f"agents, item {i + 1}: {agent.id!r} is also item {first[agent.id] + 1}; "
                "give each agent one device")))
        first.setdefault(agent.id, i)
    return problems


class SettingsError(ConfigError):
    """The telephony settings are wrong (the administrator's fault); says where."""

    @classmethod
    def plain(cls, message: str, where: str = "telephony.yaml") -> SettingsError:
        return cls([Problem(where, 0, 0, message)])


SETTINGS_FILE = "telephony.yaml"


def read_settings(config_dir: Path) -> tuple[DialplanSettings, Document]:
    """telephony.yaml through the strict reader (duplicate keys, leading zeros, located errors)
    and its bounds; the document keeps each value's line for later checks."""
    path = config_dir / SETTINGS_FILE
    if not path.is_file():
        raise SettingsError.plain(
            "telephony.yaml is missing: it says how Asterisk reaches vaxel (numbers, lease, "
            "agents' phones, the partner trunk); copy config/exempelkommun/telephony.yaml",
            str(path))
    try:
        doc = load(path, display=str(path))
    except ConfigError as err:
        raise SettingsError(err.problems) from err
    if not doc.data:
        raise SettingsError.plain("the file is empty or missing its settings: see "
                                  "config/exempelkommun/telephony.yaml", str(path))
    if not isinstance(doc.data, dict):
        raise SettingsError([doc.problem((), "telephony.yaml is a mapping of settings "
                                             "(numbers:, partner:, agents: ...)")])
    try:
        settings = DialplanSettings.model_validate(doc.data)
    except ValidationError as err:
        raise SettingsError([doc.problem(loc, message) for loc, message
                             in explain(err.errors(), field_names(DialplanSettings))]) from err
    problems = _settings_problems(settings, doc)
    if problems:
        raise SettingsError(problems)
    return settings, doc


def load_settings(config_dir: Path) -> DialplanSettings:
    return read_settings(config_dir)[0]


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("telephony", "templates"),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)


def render_extensions(settings: DialplanSettings, source: str = "telephony.yaml",
                      languages: Mapping[str, str] | None = None) -> str:
    """The dialplan; `languages` gives a number its own starting language (the English line),
    as numbers.*.language of the configuration says (IvrConfig.languages())."""
    return _env().get_template("extensions_vaxel.conf.j2").render(
        settings=settings, source=source, languages=languages or {})


def cross_check(settings: DialplanSettings, doc: Document, config: IvrConfig,
                sections: Mapping[str, Document]) -> list[Problem]:
    """telephony.yaml against the rest of the configuration: the same numbers, every agent with
    a device and every device with an agent, the transfer numbers dialable."""
    problems = []

    def there(section: str, path: tuple[str | int, ...], message: str,
              severity: str = "error") -> None:
        document = sections.get(section)
        problems.append(document.problem(path, message, severity) if document is not None
                        else Problem(section, 0, 0, message, severity))

    for i, number in enumerate(settings.numbers):
        if number not in config.numbers:
            problems.append(doc.problem(("numbers", i), (
                f"{number} enters vaxel-inbound, but numbers: of the configuration does not "
                "say which menu its callers meet: add it there, or remove it here")))
    for number in config.numbers:
        if number not in settings.numbers:
            there("numbers", ("numbers", number), (
                f"{number} is not among telephony.yaml's numbers: the rendered dialplan would "
                "never send its calls to vaxel"))
    devices = {a.id: i for i, a in enumerate(settings.agents)}
    for agent in config.agents:
        if agent not in devices:
            there("agents", ("agents", agent), (
                f"agent {agent!r} has no phone: add {{id: {agent}, device: PJSIP/{agent}}} to "
                "agents: in telephony.yaml"))
    for agent, i in devices.items():
        if agent not in config.agents:
            problems.append(doc.problem(("agents", i, "id"), (
                f"agents, item {i + 1}: {agent!r} is not an agent of the configuration "
                "(agents:): nobody could log in to this phone")))
    fallback = settings.fallback.message
    if fallback not in config.prompts:
        problems.append(doc.problem(("fallback", "message"), (
            f"fallback.message {fallback!r} is not a prompt under prompts: of the "
            "configuration: callers of a stopped controller would hear nothing; add it there "
            "(with its sv and en texts) and run `vaxel sounds build`")))
    # what leaves by the outbound trunk: callbacks, transfer options, duty lines
    out: list[tuple[tuple[str, ...], str]] = [
        (("groups", gid), f"callbacks from {gid!r}") for gid, g in config.groups.items()
        if g.callback is not None]
    out += [(("groups", gid, "duty"), f"the duty line of {gid!r}")
            for gid, g in config.groups.items() if g.duty is not None]
    out += [(("numbers", n, "duty"), f"the duty line of {n}")
            for n, e in config.numbers.items() if e.duty is not None]
    for m, menu in config.menus.items():
        for k, o in menu.options.items():
            if not isinstance(o, str) and o.callback is not None:
                out.append((("menus", m, "options", k), f"callbacks from {o.callback!r}"))
            if not isinstance(o, str) and o.transfer is not None:
                out.append((("menus", m, "options", k), f"the transfer to {o.transfer}"))
    if out and settings.outbound is None:
        path, what = out[0]
        there(path[0], path, (
            f"{what} need{'s' if what.startswith('the') else ''} a way out: add outbound: "
            '{trunk: operator, caller_id: "0812345"} to telephony.yaml'))
    return problems


def render_manager(settings: DialplanSettings, secret: str, source: str = "telephony.yaml"
                   ) -> str:
    if not secret or any(c in secret for c in "\r\n;"):
        raise SettingsError.plain("the AMI secret must be a non-empty single line without ';'",
                                  "the AMI secret")
    return _env().get_template("manager_vaxel.conf.j2").render(
        settings=settings, secret=secret, source=source,
        read_classes=",".join(READ_CLASSES), write_classes=",".join(WRITE_CLASSES),
        event_filters=(*EVENT_FILTERS, device_filter(settings)))


def allowed(action: str, write_classes: tuple[str, ...] = WRITE_CLASSES) -> bool:
    """Whether an AMI user with these write classes may send the action."""
    need = ACTION_AUTHORITY.get(action.lower())
    if need is None:
        return False
    return not need or bool(need & set(write_classes))
