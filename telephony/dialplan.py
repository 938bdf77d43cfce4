"""Rendering what a real Asterisk needs from the configuration: the dialplan (extensions) and the
controller's AMI user (manager.conf). The fake PBX runs the very same rendered dialplan.

The settings live in `telephony.yaml` beside the rest of the configuration (see
config/exempelkommun/telephony.yaml).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import jinja2
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from config.durations import parse_duration

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
    # the caller entering the agent's bridge (the agent answered)
    ("name(BridgeEnter),header(Context),method(exact)", "vaxel-inbound"),
)

# Where a caller runs AsyncAGI in [vaxel-inbound] (the next priority hangs up).
INBOUND_AGI_PRIORITY = 5

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


class Partner(_Model):
    trunk: str = Field(pattern=r"^[A-Za-z0-9._-]+$")  # the partner's PJSIP endpoint
    numbers: list[PhoneNumber]  # the allowlist
    ring: float = 30.0

    _ring = field_validator("ring", mode="before")(lambda v: parse_duration(v))

    def trunk_dial(self, number: str) -> str:
        return f"PJSIP/{number}@{self.trunk}"


class Fallback(_Model):
    partner: str | None = None  # an allowlisted number, or none
    message: str = "vaxel/sv/fallback"  # played after (or instead of) the partner

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
    lease: float = 30.0
    agent_ring: float = 20.0
    partner: Partner
    fallback: Fallback = Fallback()
    agents: list[AgentDevice] = []
    ami: AmiUser = AmiUser()

    _durations = field_validator("lease", "agent_ring", mode="before")(
        lambda v: parse_duration(v))

    def model_post_init(self, _: object) -> None:
        if self.fallback.partner and self.fallback.partner not in self.partner.numbers:
            raise ValueError(f"fallback.partner {self.fallback.partner!r} is not in "
                             "partner.numbers (the allowlist)")
        ids = [a.id for a in self.agents]
        if len(set(ids)) != len(ids):
            raise ValueError("agents: the same id twice")


class SettingsError(ValueError):
    """The telephony settings are wrong (the administrator's fault); says where."""


def load_settings(config_dir: Path) -> DialplanSettings:
    path = config_dir / "telephony.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return DialplanSettings.model_validate(raw)
    except OSError as err:
        raise SettingsError(f"{path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise SettingsError(f"{path}: {err}") from err
    except ValidationError as err:
        lines = [f"{path}: {'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}"
                 for e in err.errors()]
        raise SettingsError("\n".join(lines)) from err


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("telephony", "templates"),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)


def render_extensions(settings: DialplanSettings, source: str = "telephony.yaml") -> str:
    return _env().get_template("extensions_vaxel.conf.j2").render(settings=settings,
                                                                   source=source)


def render_manager(settings: DialplanSettings, secret: str, source: str = "telephony.yaml"
                   ) -> str:
    if not secret or any(c in secret for c in "\r\n;"):
        raise SettingsError("the AMI secret must be a non-empty single line without ';'")
    return _env().get_template("manager_vaxel.conf.j2").render(
        settings=settings, secret=secret, source=source,
        read_classes=",".join(READ_CLASSES), write_classes=",".join(WRITE_CLASSES),
        event_filters=EVENT_FILTERS)


def allowed(action: str, write_classes: tuple[str, ...] = WRITE_CLASSES) -> bool:
    """Whether an AMI user with these write classes may send the action."""
    need = ACTION_AUTHORITY.get(action.lower())
    if need is None:
        return False
    return not need or bool(need & set(write_classes))
