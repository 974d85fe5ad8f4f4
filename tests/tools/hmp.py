"""QEMU's human monitor (HMP) over a UNIX socket, for the test tools.

QEMU started with `-monitor unix:PATH,server,nowait` listens on PATH; every
answer, like the banner before the first command, ends with the `(qemu) `
prompt. Used by monitor-drive.py (sendkey, screen reads, nmi) and
screen-check.py (sendkey, screendump, quit):

    mon = Hmp(path)
    mon.cmd("sendkey ret")
    mon.close()
"""
import re
import socket
import time

PROMPT = b"(qemu) "
# QEMU's monitor edits its line with terminal escapes; answers come without.
_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Hmp:
    def __init__(self, path, timeout=10.0, tries=100):
        """A monitor at the socket PATH, connected on the first command.
        Each read waits up to TIMEOUT seconds (socket.timeout past that);
        the connection is tried TRIES times, 0.1 s apart, since QEMU makes
        the socket a moment after it starts (OSError once they are spent)."""
        self.path, self.timeout, self.tries = path, timeout, tries
        self.sock = None

    def cmd(self, line):
        """Run one monitor command; its output up to the next prompt, as
        text without terminal escapes. Raises OSError when the monitor is
        gone."""
        if self.sock is None:
            self._connect()
            self._read()  # the banner
        self.sock.sendall(line.encode() + b"\n")
        return self._read()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _connect(self):
        sock = socket.socket(socket.AF_UNIX)
        for attempt in range(self.tries):
            try:
                sock.connect(self.path)
                break
            except OSError:
                if attempt == self.tries - 1:
                    sock.close()
                    raise
                time.sleep(0.1)
        self.sock = sock

    def _read(self):
        out = b""
        self.sock.settimeout(self.timeout)
        while not out.endswith(PROMPT):
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            out += chunk
        return _ESCAPE.sub("", out.decode(errors="replace"))
