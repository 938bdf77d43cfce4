"""The configuration an administrator edits: numbers, prompts, menus, response groups, opening
hours, the crisis message, agents. Read by config/loader.py from every YAML file of a folder
(telephony.yaml aside); pydantic checks each value, config/checks.py the whole."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from config.durations import parse_duration
from ivr import model as ivr_model
from overflow.policy import Condition, Destination, Rule
from queues.callback import DEFAULT_PATTERNS, CallbackPolicy, NumberRules, check_pattern
from queues.group import DEFAULT_WIDENING, NO_WIDENING, GroupConfig, Strategy, WideningStep

NAME = r"^[a-z0-9][a-z0-9-]{0,60}$"
KEYS = "0123456789*#"
LANGUAGES = ("sv", "en")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(v: object) -> float:
    return parse_duration(v)


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError('this duration must be longer than zero (for example "2m")')
    return seconds


def _announce_interval(seconds: float) -> float:
    if seconds < 10:
        raise ValueError("announcements at most every 10 s: callers must hear the music and "
                         'their place, not only announcements (for example "60s")')
    return seconds


def _text(v: object) -> object:
    if isinstance(v, str) and not v.strip():
        raise ValueError("the prompt's text is empty: write what callers hear (its sound is "
                         "made from it)")
    return v


def _number(v: object) -> str:
    if not isinstance(v, str) or not re.match(r"^\+?[0-9]{2,20}$", v):
        raise ValueError(f"a phone number is a quoted string of digits, not {v!r}")
    return v


def _clock(v: str) -> dt.time:
    m = re.match(r"^([01]?[0-9]|2[0-4]):([0-5][0-9])$", v)
    if not m:
        raise ValueError(f'{v!r} is not a clock time; write "08:30"')
    h, mi = int(m.group(1)), int(m.group(2))
    return dt.time(23, 59, 59) if (h, mi) == (24, 0) else dt.time(h, mi)


def _ranges(v: object) -> object:
    """ "closed", or a list of "HH:MM-HH:MM"."""
    if v == "closed":
        return ()
    if not isinstance(v, list):
        raise ValueError('write "closed" or a list such as ["08:00-12:00", "13:00-16:30"]')
    out = []
    for item in v:
        if not isinstance(item, str) or item.count("-") != 1:
            raise ValueError(f'{item!r} is not a time range; write "08:00-16:30"')
        a, b = (_clock(x.strip()) for x in item.split("-"))
        if not a < b:
            raise ValueError(f"{item!r} ends before it starts")
        out.append((a, b))
    return tuple(out)


Duration = Annotated[float, BeforeValidator(_duration)]
PositiveDuration = Annotated[float, BeforeValidator(_duration), AfterValidator(_positive)]
Text = Annotated[str, BeforeValidator(_text)]
PhoneNumber = Annotated[str, BeforeValidator(_number)]
Ranges = Annotated[tuple[tuple[dt.time, dt.time], ...], BeforeValidator(_ranges)]
Name = Annotated[str, Field(pattern=NAME)]
def _share(v: object) -> object:
    """0.7, or "70%" as people write a goal."""
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            return float(v.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{v!r}: write a share such as 0.7 or \"70%\"") from None
    return v


Share = Annotated[float, BeforeValidator(_share), Field(ge=0.0, le=1.0)]  # 0.7 is 70 %


class PromptText(_Model):
    """What a prompt says, per language (the sound files are made from these texts)."""

    sv: Text
    en: Text | None = None


class Action(_Model):
    """Where a key leads: exactly one of these."""

    group: Name | None = None  # to a response group's line
    menu: Name | None = None  # to a submenu
    callback: Name | None = None  # offer a callback from this group instead of waiting
    message: Name | None = None  # play a prompt, then `then`
    then: Literal["hangup"] | Name = "hangup"  # after a message: hang up, or a menu
    transfer: PhoneNumber | None = None  # to an allowlisted number
    language: Literal["sv", "en"] | None = None  # switch language and repeat the menu
    # after a transfer that fails (busy, no answer, unreachable): a group, a callback or a
    # message; without it, the menu's on_timeout.then
    on_failure: Action | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        set_ = [k for k in ("group", "menu", "callback", "message", "transfer", "language")
                if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("an action is exactly one of group, menu, callback, message, "
                             f"transfer, language (here: {', '.join(set_) or 'none'})")
        if self.then != "hangup" and self.message is None:
            raise ValueError("'then' goes with 'message'")
        if self.on_failure is not None and self.transfer is None:
            raise ValueError("'on_failure' goes with 'transfer'")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("group", "menu", "callback", "message", "transfer", "language")
                    if getattr(self, k) is not None)


Option = Action | Literal["repeat", "back"]


class Retry(_Model):
    """What happens on silence (timeout) or a key with no option (invalid)."""

    retries: int = Field(2, ge=0, le=5)  # how many times the menu is offered again
    prompt: Name | None = None  # said before the menu is offered again
    then: Action  # after the last retry


class Menu(_Model):
    prompt: Name
    options: dict[str, Option]
    timeout: PositiveDuration = 6.0  # waiting for a key after the prompt
    on_timeout: Retry
    on_invalid: Retry

    @field_validator("options")
    @classmethod
    def _keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            if len(key) != 1 or key not in KEYS:
                raise ValueError(f"option key {key!r}: one of 0-9, * or #, quoted (\"1\")")
        if not v:
            raise ValueError("a menu needs at least one option")
        return v


class Hours(_Model):
    weekly: dict[str, Ranges]  # "mon", "mon-fri", "sat-sun"
    exceptions: dict[dt.date, Ranges] = {}
    holidays: Literal["closed", "open"] = "closed"  # Swedish public holidays
    eves: Literal["closed", "open"] = "closed"  # julafton, midsommarafton, nyårsafton
    bridge_days: Literal["normal"] | Ranges = "normal"  # klämdagar

    @field_validator("weekly")
    @classmethod
    def _days(cls, v: dict[str, Any]) -> dict[str, Any]:
        from ivr.hours import DAYS

        for spec in v:
            parts = spec.split("-")
            if not 1 <= len(parts) <= 2 or any(p not in DAYS for p in parts):
                raise ValueError(f"{spec!r}: a day is one of {', '.join(DAYS)}, or a range "
                                 "such as mon-fri")
        return v


    def schedule(self) -> Any:
        """As ivr.hours.Schedule, the form the IVR and the queues ask."""
        from ivr.hours import DAYS, Schedule

        weekly: dict[int, tuple[Any, ...]] = {}
        for spec, ranges in self.weekly.items():
            a, _, b = spec.partition("-")
            for day in range(DAYS.index(a), DAYS.index(b or a) + 1):
                weekly[day] = weekly.get(day, ()) + tuple(ranges)
        return Schedule(weekly, dict(self.exceptions), self.holidays == "closed",
                        self.eves == "closed",
                        None if self.bridge_days == "normal" else tuple(self.bridge_days))


class Entry(_Model):
    """A municipal number: the menu callers meet, and when."""

    menu: Name
    hours: Name | None = None  # always open without
    closed_prompt: Name | None = None  # played when closed, then the call ends
    language: Literal["sv", "en"] = "sv"
    # out of hours, callers go to this duty phone (jour, in duty_allowlist) instead of the
    # closed message, which they hear if it does not answer
    duty: PhoneNumber | None = None


class OverflowRule(_Model):
    when: Literal["ewt_over", "waiting_over", "no_agents", "closed", "crisis", "manual",
                  "overload"]
    limit: float | None = None
    to: str  # a group or "partner"

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, v: object) -> object:
        return parse_duration(v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _limit_fits(self) -> OverflowRule:
        if self.when == "ewt_over" and (self.limit is None or self.limit <= 0):
            raise ValueError('ewt_over needs a limit: the estimated wait, such as "3m"')
        if self.when == "waiting_over" and (self.limit is None or self.limit < 1
                                            or self.limit != int(self.limit)):
            raise ValueError("waiting_over needs a limit: a number of callers, such as 10")
        return self

    def core(self) -> Rule:
        return Rule(Condition(self.when), Destination(None if self.to == "partner" else self.to),
                    self.limit)


class Announce(_Model):
    """What waiting callers are told (see queues/announce.py for the guard rails)."""

    every: Annotated[float, BeforeValidator(_duration),
                     AfterValidator(_announce_interval)] = 60.0
    position: bool = True
    ewt: bool = True
    min_agents: int = Field(2, ge=1)  # serving agents needed before a wait is estimated


class Leave(_Model):
    """A key that takes a waiting caller out of the line."""

    key: str = Field(pattern=r"^[0-9*#]$")
    prompt: Name  # says the key, after each announcement
    then: Action  # a message and goodbye, or another group (keeping the wait)


def _pattern(v: object) -> object:
    if not isinstance(v, str):
        raise ValueError(f"a number pattern is a quoted string such as \"07XXXXXXXX\", not {v!r}")
    check_pattern(v)
    return v


class Callback(_Model):
    """Callbacks from a group's line (queues/callback.py): the request keeps the caller's
    place; an agent is called first, then the citizen."""

    attempts: int = Field(3, ge=1, le=10)  # calls to the citizen at most
    spacing: PositiveDuration = 600.0  # between attempts
    expires: PositiveDuration = 24 * 3600.0  # a request not reached by then ends as expired
    at_closing: Literal["wait", "expire"] = "wait"  # requests left at closing time
    ring: PositiveDuration = 30.0  # the citizen's phone rings this long
    target: PositiveDuration = 3600.0  # the callback service level: reached within this
    # offered to waiting callers (key `key`) once their estimated wait passes this
    offer_over: PositiveDuration | None = None
    key: str = Field("2", pattern=r"^[0-9]$")
    offer_at_closing: bool = True  # callers still in line at closing time are offered one
    name_prompt: Name | None = None  # the group's name, said to the agent before the call

    def core(self) -> CallbackPolicy:
        return CallbackPolicy(self.attempts, self.spacing, self.expires, self.at_closing,
                              self.ring, self.target)


class Transfers(_Model):
    """What an agent may send a caller on to from the panel, besides the directory and the
    transfer allowlist (queues/transfer.py)."""

    # numbers typed in the panel: patterns of the national form, as callbacks.numbers
    numbers: list[Annotated[str, BeforeValidator(_pattern)]] = []
    max_per_hour: int | None = Field(30, ge=0)  # transfers outside the directory, rolling hour


class Callbacks(_Model):
    """What every callback shares: the numbers that may ever be called back."""

    # Asterisk-style patterns of national numbers (X 0-9, Z 1-9, N 2-9, [..], . one or more, !
    # zero or more); premium-rate numbers (09...) are refused whatever they say
    numbers: list[Annotated[str, BeforeValidator(_pattern)]] = list(DEFAULT_PATTERNS)
    foreign: bool = False  # numbers outside Sweden

    def rules(self) -> NumberRules:
        return NumberRules(tuple(self.numbers), self.foreign)


class Group(_Model):
    name: str
    threshold: PositiveDuration = 120.0
    strategy: Strategy = Strategy.LONGEST_IDLE
    widening: list[tuple[Duration, Annotated[int, Field(ge=1, le=9)]]] | None = None
    hours: Name | None = None
    closed_prompt: Name | None = None
    full_prompt: Name | None = None  # heard when max_waiting callers wait already
    wrap_up: Duration = 0.0
    max_waiting: int | None = Field(None, ge=1, le=10_000)  # callers in line at most
    weight: float = Field(1.0, gt=0)
    expected_handle_time: PositiveDuration = 180.0
    ring: PositiveDuration | None = None  # an agent's phone rings (default: telephony.yaml)
    overflow: list[OverflowRule] = []
    script: str = ""  # the answer script (FAQ) shown to agents
    announce: Announce = Announce()
    leave: Leave | None = None
    callback: Callback | None = None  # callbacks offered while waiting, and their policy
    duty: PhoneNumber | None = None  # closed: callers go to this duty phone (duty_allowlist)

    def core(self, group_id: str) -> GroupConfig:
        """The routing core's view of this group."""
        if self.widening:
            widening = tuple(WideningStep(after, level) for after, level in self.widening)
        else:
            widening = DEFAULT_WIDENING if self.strategy is Strategy.SKILL_WIDENING \
                else NO_WIDENING
        return GroupConfig(group_id, self.name, self.threshold, self.strategy, widening,
                           self.max_waiting, self.wrap_up, self.weight,
                           self.expected_handle_time)

    def core_rules(self) -> tuple[Rule, ...]:
        return tuple(rule.core() for rule in self.overflow)


class Crisis(_Model):
    """The crisis message (lavinmeddelande), played before the menu while active."""

    active: bool = False
    prompt: Name | None = None
    expires: dt.datetime | None = None

    @model_validator(mode="after")
    def _prompt_when_active(self) -> Crisis:
        if self.active and self.prompt is None:
            raise ValueError("an active crisis message needs its prompt")
        return self

    def playing(self, now: dt.datetime) -> bool:
        return self.active and (self.expires is None or now < self.expires)


class Overload(_Model):
    """When Asterisk falls behind (a crisis: vaxel-on-asterisk/load), new callers hear
    `prompt` and the call ends, rather than piling more calls on a PBX that cannot keep up.
    Engaged when actions are answered `lag` late on average (or one waits that long), released
    below half of it once it has been on for `hold`."""

    lag: PositiveDuration = 2.0
    hold: PositiveDuration = 10.0
    prompt: Name | None = None  # none: new callers go on into the menus whatever the load
    # new callers skip the menus into this group's line (after `prompt`, then not hung up),
    # where its `overload` overflow rules (to the partner) apply: the crisis routing
    group: Name | None = None


class DirectoryEntry(_Model):
    """A person or a function of the municipality (config/directory.py)."""

    name: str = Field(min_length=1, max_length=100)
    number: PhoneNumber  # the direct number or the extension
    department: str = Field("", max_length=100)
    title: str = Field("", max_length=100)
    absence: str = Field("", max_length=200)  # "tillbaka 14:00", "på semester till 3 augusti"
    function: bool = False  # a function (a unit's reception), not a person


class Agent(_Model):
    name: str
    groups: dict[Name, Annotated[int, Field(ge=1, le=9)]]


EnvName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,60}$")]  # an environment variable
Callers = Literal["full", "pseudonym", "none"]


class Mqtt(_Model):
    """The broker the events go to (docs/asyncapi.yaml): off without this section."""

    host: str = Field(pattern=r"^[A-Za-z0-9.:-]{1,255}$")
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = Field(None, pattern=r"^[^\s]{1,100}$")
    password_env: EnvName | None = None  # the password is read from this variable, never YAML
    callers: Callers = "pseudonym"  # the caller's number: a wallboard needs none
    buffer: int = Field(50_000, ge=100, le=10_000_000)  # events kept while the broker is away


class Webhook(_Model):
    """A case system that takes the events as signed HTTP POSTs."""

    name: Name
    url: str = Field(pattern=r"^https?://[^\s]{1,2000}$")
    secret_env: EnvName  # the HMAC key is read from this variable, never YAML
    callers: Callers = "full"
    timeout: PositiveDuration = 10.0
    keep: PositiveDuration = 24 * 3600.0  # an undelivered event is tried this long


class Events(_Model):
    """Live events for the case system and wallboards (docs/events.md)."""

    site: Name = "kommun"  # vaxel/<site>/... on MQTT, "site" in every payload
    mqtt: Mqtt | None = None
    webhooks: list[Webhook] = []
    pseudonym_key_env: EnvName | None = None  # else a new key each start


class Retention(_Model):
    """How long the call log keeps what (docs/privacy.md): `vaxel maintenance` and the
    controller each night apply it."""

    pseudonymise_after: PositiveDuration = 90 * 86400.0  # callers' numbers become pseudonyms
    delete_after: PositiveDuration = 2 * 365 * 86400.0  # calls, their events and wrap-ups go

    @model_validator(mode="after")
    def _order(self) -> Retention:
        if self.delete_after < self.pseudonymise_after:
            raise ValueError("delete_after is sooner than pseudonymise_after: numbers would "
                             "be kept longer than the calls")
        return self


class Store(_Model):
    """The call log (docs/operations.md): an SQLite file in the state folder unless `url`
    names a database."""

    url: str | None = Field(None, pattern=r"^(sqlite|postgresql)(\+\w+)?://[^\s]{0,2000}$")
    password_env: EnvName | None = None  # the database password, never in the YAML
    retention: Retention = Retention()
    pseudonym_key_env: EnvName | None = None  # the key of the numbers' pseudonyms


class Goals(_Model):
    """The municipal goals the reports and the wallboard measure against (docs/kpi.md)."""

    answered_within: PositiveDuration = 120.0
    answered_target: Share = 0.70
    answered_aim: Share = 0.80
    first_contact_target: Share = 0.50
    first_contact_aim: Share = 0.70
    short_abandon: PositiveDuration = 5.0  # hung up sooner in line: counted apart


class Partner(_Model):
    max_concurrent: int | None = Field(None, ge=0)
    max_per_hour: int | None = Field(None, ge=0)


class Wallboard(_Model):
    """The wallboard's colours: amber from `*_warn`, red (and an alarm) from `*_alarm`."""

    waiting_warn: int = Field(3, ge=1)  # callers in one group's line
    waiting_alarm: int = Field(8, ge=1)
    wait_warn: PositiveDuration = 60.0  # the longest wait in a group's line
    wait_alarm: PositiveDuration = 120.0

    @model_validator(mode="after")
    def _ordered(self) -> Wallboard:
        if self.waiting_alarm < self.waiting_warn or self.wait_alarm < self.wait_warn:
            raise ValueError("an alarm level below its warning level")
        return self


PauseReason = Annotated[str, Field(pattern=r"^[^\x00-\x1f]{1,60}$")]


class Web(_Model):
    """The web pages (web/): sessions, the agents' pause reasons, the wallboard."""

    session: PositiveDuration = 8 * 3600.0  # a session unused this long must log in again
    # behind a reverse proxy on this host: the browser's address is the last X-Forwarded-For
    # (the proxy's own otherwise: every agent would share one address, and its login limit)
    proxy: bool = False
    pause_reasons: list[PauseReason] = ["lunch", "rast", "möte", "utbildning",
                                        "administration"]
    wallboard: Wallboard = Wallboard()


Role = Literal["agent", "supervisor", "admin"]


def _argon2(v: str) -> str:
    # never shown back: a password written here by mistake must not reach a log
    if not re.fullmatch(r"\$argon2(id|i|d)\$\S{10,500}", v):
        raise ValueError("not an argon2 hash: a user keeps the hash, never the password "
                         "(`vaxel user NAME --role ROLE` makes it)")
    return v


def _sha256(v: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", v):
        raise ValueError("not a SHA-256 (64 hex digits): a user keeps the token's hash, never "
                         "the token (`vaxel user NAME --role ROLE --token` makes both)")
    return v


class User(_Model):
    """Who may log in to the web and the API. The password is an argon2 hash
    (`vaxel user` makes it), never the password; an API token likewise only its SHA-256."""

    role: Role
    name: str | None = Field(None, max_length=100)
    agent: Name | None = None  # the agent this user is (required for the agent role)
    password: Annotated[str, AfterValidator(_argon2)]
    token_sha256: Annotated[str, AfterValidator(_sha256)] | None = None

    @model_validator(mode="after")
    def _agent_role(self) -> User:
        if self.role == "agent" and self.agent is None:
            raise ValueError("a user with the agent role names the agent they are (agent:)")
        return self


def _timezone(v: object) -> object:
    if not isinstance(v, str):
        raise ValueError('write a time zone name in quotes, such as "Europe/Stockholm"')
    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{v!r} is not a time zone; write one such as "
                         '"Europe/Stockholm"') from None
    return v


class IvrConfig(_Model):
    # the contact centre's own clock: opening hours, holidays and reports follow it, whatever
    # the server's time zone (a server in UTC would open an hour late in winter)
    timezone: Annotated[str, BeforeValidator(_timezone)] = "Europe/Stockholm"
    numbers: dict[PhoneNumber, Entry]
    prompts: dict[Name, PromptText]
    menus: dict[Name, Menu]
    groups: dict[Name, Group]
    hours: dict[Name, Hours] = {}
    crisis: Crisis = Crisis()
    agents: dict[Name, Agent] = {}
    partner: Partner = Partner()
    transfer_allowlist: list[PhoneNumber] = []
    duty_allowlist: list[PhoneNumber] = []  # the only numbers a duty line may name
    directory: dict[Name, DirectoryEntry] = {}  # the katalog: who calls can go on to
    transfers: Transfers = Transfers()
    callbacks: Callbacks = Callbacks()
    overload: Overload = Overload()
    events: Events = Events()
    store: Store = Store()
    goals: Goals = Goals()
    web: Web = Web()
    users: dict[Name, User] = {}

    def local_time(self, moment: dt.datetime) -> dt.datetime:
        """An aware moment as the centre's wall clock reads it (naive, as hours compare)."""
        return moment.astimezone(zoneinfo.ZoneInfo(self.timezone)).replace(tzinfo=None)

    def languages(self) -> dict[str, str]:
        """Each number's starting language, for the rendered dialplan."""
        return {number: entry.language for number, entry in self.numbers.items()}

    def plan(self) -> ivr_model.Plan:
        """The IVR's own model of this configuration (ivr/model.py); a Version compiles it
        once (a cached property here would travel with model_copy into another config)."""
        schedules = {name: h.schedule() for name, h in self.hours.items()}

        def action(a: Action) -> ivr_model.Action:
            return ivr_model.Action(a.group, a.menu, a.callback, a.message, a.then, a.transfer,
                                    a.language,
                                    action(a.on_failure) if a.on_failure is not None else None)

        def option(o: Option) -> ivr_model.Option:
            return action(o) if isinstance(o, Action) else o

        def retry(r: Retry) -> ivr_model.Retry:
            return ivr_model.Retry(r.retries, r.prompt, action(r.then))

        return ivr_model.Plan(
            numbers={n: ivr_model.Entry(e.menu, schedules.get(e.hours or ""), e.closed_prompt,
                                        e.language, e.duty) for n, e in self.numbers.items()},
            menus={name: ivr_model.Menu(m.prompt, {k: option(o) for k, o in m.options.items()},
                                        m.timeout, retry(m.on_timeout), retry(m.on_invalid))
                   for name, m in self.menus.items()},
            groups={gid: ivr_model.GroupDoor(schedules.get(g.hours or ""), g.closed_prompt,
                                             g.duty)
                    for gid, g in self.groups.items()},
            crisis=ivr_model.Crisis(self.crisis.active, self.crisis.prompt, self.crisis.expires))
