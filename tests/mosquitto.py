"""A real mosquitto for tests (integrations/broker.py): Debian's broker on a free port of
127.0.0.1 with a password file, anonymous clients refused."""

from integrations.broker import LocalBroker, free_port

USER, PASSWORD = "vaxel", "mqtt-s3cret"


def password_broker(folder):
    return LocalBroker(folder, {USER: PASSWORD})


__all__ = ["PASSWORD", "USER", "free_port", "password_broker"]
