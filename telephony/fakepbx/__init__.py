"""A fake Asterisk 22 for tests and the demo: AMI over TCP, a real dialplan, scripted phones.

Faithful to tests/fixtures/asterisk/FACTS.md and the recorded traces, which tests replay against it.
"""

from telephony.fakepbx.dialplan import Dialplan
from telephony.fakepbx.manager_conf import AmiUser
from telephony.fakepbx.pbx import FakePbx, OriginateRequest
from telephony.fakepbx.server import AmiServer

__all__ = ["AmiServer", "AmiUser", "Dialplan", "FakePbx", "OriginateRequest"]
