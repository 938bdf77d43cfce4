"""Telephony errors. Each says whose fault it is.

    TelephonyError
     ├── AmiProtocolError   the PBX sent something that is not AMI (the PBX's fault)
     ├── HeaderInjection    a header name or value holds CR or LF (the caller of the link's fault);
     │                      also a ValueError
     ├── ActionFailed       Asterisk answered `Response: Error` (carries the action and message)
     ├── ActionTimeout      no response in time (the link is probably dead)
     ├── ConnectionLost     the link dropped while the action was pending; it is NOT re-sent
     ├── LoginRefused       wrong user or secret (the administrator's fault)
     └── NotConnected       an action was sent while the link was down
"""

from __future__ import annotations


class TelephonyError(Exception):
    pass


class AmiProtocolError(TelephonyError):
    pass


class HeaderInjection(TelephonyError, ValueError):
    def __init__(self, name: str, value: str) -> None:
        super().__init__(f"AMI header {name!r} would carry a line break: {value!r}")
        self.name = name
        self.value = value


class ActionFailed(TelephonyError):
    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action} failed: {message}")
        self.action = action
        self.message = message


class ActionTimeout(TelephonyError):
    pass


class ConnectionLost(TelephonyError):
    pass


class LeftAgi(ConnectionLost):
    """The channel left AsyncAGI (hung up, bridged, redirected) before its command's result:
    the caller's doing, not the link's."""


class LoginRefused(TelephonyError):
    pass


class NotConnected(TelephonyError):
    pass
