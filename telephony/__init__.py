"""Telephony: the AMI codec and link, AsyncAGI call I/O, dialplan rendering and the fake PBX."""
