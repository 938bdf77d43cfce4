"""A real mosquitto for tests: Debian's broker on a free port of 127.0.0.1, with a password file
(anonymous clients refused), started and stopped (and restarted on the same port) by the test."""

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

USER, PASSWORD = "vaxel", "mqtt-s3cret"


def binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                          if Path("/usr/sbin/mosquitto").exists() else None)
    if found is None:
        raise RuntimeError("mosquitto is not installed: `make test` installs it "
                           "(.ci/system-packages)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        passwords = folder / "passwords"
        passwords.write_text("")
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([passwd, "-b", str(passwords), USER, PASSWORD], check=True,
                       capture_output=True)
        passwords.chmod(0o600)
        self.conf = folder / "mosquitto.conf"
        # as root mosquitto would become the user `mosquitto`, who cannot read the test's files
        self.conf.write_text(f"user {getpass.getuser()}\n"
                             f"listener {self.port} 127.0.0.1\nallow_anonymous false\n"
                             f"password_file {passwords}\npersistence false\n"
                             f"log_dest file {folder / 'mosquitto.log'}\n")

    def start(self) -> None:
        self.process = subprocess.Popen([binary(), "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto did not start: {self.process.stderr.read()!r}")
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
