#!/usr/bin/env python3
"""Drive the Pagoda monitor over a serial line, one command per prompt.

monitor-drive.py [--timeout S] [--status N] [--log LOG] [--hmp SOCKET]
                 [--tcp HOST:PORT] [--var NAME=VALUE]... SCRIPT -- CMD...

CMD is an emulator whose COM1 is its stdin/stdout (QEMU -serial stdio), or
a TCP server at HOST:PORT with --tcp (Bochs com1 mode=socket-server). The
SCRIPT holds one directive per line:
    > LINE      wait for the `pagoda> ` prompt, then type LINE and Enter
    ? REGEX     the answer to the last LINE (up to the next prompt) matches
    ! REGEX     ... and does not match
    = BYTES     like >, but raw bytes with Python escapes and no Enter added
                (\\x1b[A\\r is Up then Enter)
    k KEYS      like >, but pressed on the PS/2 keyboard through QEMU's
                monitor (needs --hmp SOCKET): sendkey names, e.g. "h e l p ret"
    s REGEX     the VGA text screen (read from guest memory at 0xB8000
                through QEMU's monitor) matches REGEX
    h COMMAND   run COMMAND in QEMU's monitor (needs --hmp SOCKET), e.g.
                "nmi"; what the kernel prints then is checked with w
    w REGEX     wait (up to 30 s) until the serial output since the last h
                matches REGEX
    # comment
A `?` regex's named groups, (?P<pa>0x[0-9a-f]+), become variables that
later lines and regexes use as ${pa}; so does --var NAME=VALUE.
After the script the emulator must exit with --status (default 33, the
success status `halt` gives under QEMU). Every answer must come back with a
prompt, except after the last line (halt). Prints one line per failed
check and exits 1 on any failure; the whole conversation goes to LOG.
"""
import re, socket, subprocess, sys, time

from hmp import Hmp
from serial_line import PROMPT, SerialLine


def main():
    args = sys.argv[1:]
    timeout, want, log, hmp_path, env, tcp = 90.0, 33, None, None, {}, None
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--":
            break
        val = args.pop(0)
        if opt == "--timeout":
            timeout = float(val)
        elif opt == "--status":
            want = int(val)
        elif opt == "--log":
            log = val
        elif opt == "--hmp":
            hmp_path = val
        elif opt == "--tcp":
            tcp = val
        elif opt == "--var":
            k, v = val.split("=", 1)
            env[k] = v
    script, cmd = args[0], args[args.index("--") + 1:]
    steps = []
    with open(script) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            steps.append((line[0], line[2:]))

    deadline = time.monotonic() + timeout
    if tcp:
        # COM1 is a TCP server in the emulator (Bochs socket-server): the
        # emulator's own output is not the serial line.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        host, port = tcp.rsplit(":", 1)
        line = None
        while line is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                line = socket.create_connection((host, int(port)), timeout=1)
            except OSError:
                time.sleep(0.5)
        if line is None:
            print("could not connect to the serial line at " + tcp)
            proc.kill()
            return 1
        line.setblocking(True)
        serial_in = line
        send = line.sendall
        end_input = lambda: None
    else:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        serial_in = proc.stdout

        def send(data):
            proc.stdin.write(data)
            proc.stdin.flush()

        end_input = proc.stdin.close
    serial = SerialLine(serial_in, deadline)
    buf, read_some, wait_prompt = serial.buf, serial.read_some, serial.wait_prompt
    failures = []

    pos = 0          # where the answer to the last line starts
    answer = None    # the text of that answer, once its prompt came back
    last_line = None
    sent_at = 0

    def close_answer():
        nonlocal answer, pos
        if answer is not None or last_line is None:
            return
        i = wait_prompt(sent_at)
        if i < 0:
            if not is_last:  # after the last line (halt, reboot) none is due
                failures.append(f"no prompt came back after {last_line!r}")
            answer = buf[sent_at:].decode(errors="replace")
            pos = len(buf)
        else:
            answer = buf[sent_at:i].decode(errors="replace")
            pos = i + len(PROMPT)
        # Drop the echo of what we typed: the answer is what follows it.
        answer = answer.replace("\r", "")
        answer = answer.split("\n", 1)[1] if "\n" in answer else ""

    mon = Hmp(hmp_path, timeout=10, tries=100)

    def screen():
        words = []
        for line in mon.cmd("xp /2000hx 0xb8000").splitlines():
            if re.match(r"^[0-9a-f]+:", line):
                words += [int(w, 16) for w in line.split(":", 1)[1].split()]
        text = "".join(chr(w & 0xFF) if 0x20 <= (w & 0xFF) < 0x7F else " " for w in words)
        return "\n".join(text[i:i + 80].rstrip() for i in range(0, len(text), 80))

    def subst(text):
        return re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), m.group(0)), text)

    mark, last_hmp = 0, None
    last_send = max((n for n, (k, _) in enumerate(steps) if k in ">=k"), default=-1)
    is_last = False
    for step, (kind, text) in enumerate(steps):
        text = subst(text)
        if kind in ">=k":
            close_answer()
            if last_line is None:
                i = wait_prompt(0)
                if i < 0:
                    failures.append("the first prompt never came")
                    break
                pos = i + len(PROMPT)
            time.sleep(0.05)
            if kind == "k":
                for key in text.split():
                    mon.cmd("sendkey " + key)
                    time.sleep(0.02)
            elif kind == ">":
                send(text.encode() + b"\r")
            else:
                send(text.encode().decode("unicode_escape").encode("latin-1"))
            # The answer starts after our echoed line.
            sent_at = pos
            last_line, answer = text, None
            is_last = step == last_send
        elif kind == "h":
            close_answer()
            settle = time.monotonic() + 0.3  # what came before belongs to the last answer
            while time.monotonic() < settle:
                read_some(0.1)
            mark = len(buf)
            last_hmp = text
            mon.cmd(text)
        elif kind == "w":
            limit = min(deadline, time.monotonic() + 30)
            hit = None
            while True:
                hit = re.search(text, buf[mark:].decode(errors="replace").replace("\r", ""), re.M)
                if hit or time.monotonic() >= limit:
                    break
                read_some(min(1.0, max(0.01, limit - time.monotonic())))
            if not hit:
                failures.append(f"after {last_hmp!r} in QEMU's monitor: missing /{text}/")
            settle = time.monotonic() + 0.3  # the rest of the message
            while time.monotonic() < settle:
                read_some(0.1)
            pos = len(buf)  # later answers start after this output
        elif kind == "s":
            close_answer()
            shot = screen()
            if not re.search(text, shot, re.M):
                failures.append(f"VGA screen: missing /{text}/; it shows:\n{shot}")
        elif kind in "?!":
            close_answer()
            hit = re.search(text, answer or "", re.M)
            if hit:
                env.update({k: v for k, v in hit.groupdict().items() if v is not None})
            if kind == "?" and not hit:
                failures.append(f"{last_line!r}: missing /{text}/")
            if kind == "!" and hit:
                failures.append(f"{last_line!r}: unexpected /{text}/: {hit.group(0)!r}")

    # Let the emulator finish (the last line is normally halt).
    end_input()
    while time.monotonic() < deadline and proc.poll() is None:
        read_some(0.5)
    if proc.poll() is None:
        proc.kill()
        failures.append(f"the emulator did not exit within {timeout:.0f}s")
    else:
        while read_some(0.1):
            pass
        if proc.returncode != want:
            failures.append(f"the emulator exited with {proc.returncode}, wanted {want}")
    if log:
        with open(log, "wb") as f:
            f.write(bytes(buf))
    for f in failures:
        print(f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
