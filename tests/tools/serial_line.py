"""The kernel's COM1 as the test tools read it: bytes kept from the start,
and waits for the monitor's `pagoda> ` prompt under one deadline.

Used by monitor-drive.py and screen-check.py. The source is anything with a
fileno() that select() takes: QEMU's stdout (-serial stdio) or a socket
(Bochs's com1 socket-server).
"""
import os
import select
import time

PROMPT = b"pagoda> "


class SerialLine:
    def __init__(self, source, deadline):
        """Read SOURCE until DEADLINE (a time.monotonic() value)."""
        self.source, self.deadline = source, deadline
        self.buf = bytearray()  # everything read so far

    def read_some(self, limit):
        """Wait up to LIMIT seconds for output and add it to buf. False at
        the end of the output, True otherwise (also when none came)."""
        r, _, _ = select.select([self.source], [], [], limit)
        if r:
            data = os.read(self.source.fileno(), 4096)
            if not data:
                return False
            self.buf.extend(data)
        return True

    def wait_prompt(self, start, alive=None):
        """The offset of the first prompt at or after START in buf, reading
        more until the deadline; -1 when none came by then, at the end of
        the output, or once ALIVE() (when given) is false."""
        while True:
            i = self.buf.find(PROMPT, start)
            if i >= 0:
                return i
            left = self.deadline - time.monotonic()
            if left <= 0 or (alive is not None and not alive()):
                return -1
            if not self.read_some(min(left, 1.0)):
                return -1
