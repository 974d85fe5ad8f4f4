#!/usr/bin/env python3
"""serial-bridge.py HOST PORT: put an emulator's TCP serial line on this terminal.

Bochs's com1 in mode=socket-server listens on HOST:PORT; this connects (retrying
while the emulator starts), switches the terminal to raw mode so that arrows,
Backspace and Ctrl-U reach the kernel's line editor, and copies bytes both ways.
Ctrl-] leaves, as in telnet. It ends by itself when the emulator closes the line.
"""
import os
import select
import socket
import sys
import termios
import time
import tty


def connect(host, port, seconds=30):
    deadline = time.time() + seconds
    while True:
        try:
            return socket.create_connection((host, port), timeout=1)
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = connect(host, port)
    sock.setblocking(False)
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    if saved:
        tty.setraw(fd)
    try:
        while True:
            readable, _, _ = select.select([sock, fd], [], [])
            if sock in readable:
                data = sock.recv(4096)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if fd in readable:
                data = os.read(fd, 1024)
                if not data or b"\x1d" in data:  # EOF or Ctrl-]
                    break
                sock.sendall(data)
    finally:
        if saved:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        sock.close()


if __name__ == "__main__":
    main()
