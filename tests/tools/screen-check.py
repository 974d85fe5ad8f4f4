#!/usr/bin/env python3
"""Check what is on the emulated screen, by OCR of a QEMU screendump.

screen-check.py --png OUT.png [--timeout S] [--keys "u p t i m e ret"]
                [--expect REGEX]... [--reject REGEX]... -- QEMU [ARGS...]
    Boot QEMU (this adds -serial stdio and an HMP socket), wait for the
    monitor's `pagoda> ` prompt on COM1, optionally type KEYS on the PS/2
    keyboard (QEMU sendkey names) and wait for the next prompt, then take a
    `screendump` into OUT.png, quit QEMU and read the picture with tesseract.
    The OCR text goes to OUT.png.txt, COM1 to OUT.png.serial.
screen-check.py --image FILE [--expect REGEX]... [--reject REGEX]...
    Only the OCR check, on a picture already taken.

Every --expect regex must match a line of the OCR text, and no --reject
regex may. OCR is not exact (0 and 8 may come back as @ or 6), so the
expected lines are words, not hex numbers. Exits 0 when the check holds,
1 (printing why, with the OCR text) when it does not.
"""
import os, re, shutil, subprocess, sys, time

from hmp import Hmp
from serial_line import PROMPT, SerialLine


def ocr(image):
    if shutil.which("tesseract") is None:
        raise SystemExit("screen-check: tesseract is missing: install tesseract-ocr "
                         "(apt-get install tesseract-ocr)")
    out = subprocess.run(["tesseract", image, "-", "--psm", "6"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"tesseract failed on {image}: {out.stderr.strip()}")
    return out.stdout


def judge(text, expects, rejects):
    why = [f"missing /{e}/" for e in expects if not re.search(e, text, re.M)]
    why += [f"unexpected /{r}/" for r in rejects if re.search(r, text, re.M)]
    return why


def boot_and_shoot(png, timeout, keys, cmd):
    hmp_path = f"{png}.hmp.{os.getpid()}"
    if os.path.exists(hmp_path):
        os.unlink(hmp_path)
    cmd = cmd + ["-serial", "stdio", "-monitor", f"unix:{hmp_path},server,nowait"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    serial = SerialLine(proc.stdout, deadline)
    buf = serial.buf
    problems = []

    def wait_prompt(start):
        return serial.wait_prompt(start, alive=lambda: proc.poll() is None)

    # QEMU makes the socket before the guest runs: by the prompt it is there.
    mon = Hmp(hmp_path, timeout=20, tries=1)

    try:
        at = wait_prompt(0)
        if at < 0:
            problems.append(f"no `pagoda> ` prompt on COM1 within {timeout:.0f}s")
        else:
            if keys:
                for key in keys.split():
                    mon.cmd("sendkey " + key)
                    time.sleep(0.05)
                if wait_prompt(at + len(PROMPT)) < 0:
                    problems.append(f"no prompt came back after the keys {keys!r}")
            time.sleep(1.0)  # let the last write reach the screen
            mon.cmd(f"screendump {png} -f png")
            if not os.path.exists(png):
                problems.append("QEMU wrote no screendump")
            try:
                mon.cmd("quit")
            except OSError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    finally:
        if proc.poll() is None:
            proc.kill()
        mon.close()
        if os.path.exists(hmp_path):
            os.unlink(hmp_path)
        with open(png + ".serial", "wb") as f:
            f.write(bytes(buf))
    return problems


def main():
    args = sys.argv[1:]
    png = image = keys = None
    timeout, expects, rejects = 180.0, [], []
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--":
            break
        val = args.pop(0)
        if opt == "--png":
            png = val
        elif opt == "--image":
            image = val
        elif opt == "--timeout":
            timeout = float(val)
        elif opt == "--keys":
            keys = val
        elif opt == "--expect":
            expects.append(val)
        elif opt == "--reject":
            rejects.append(val)
        else:
            raise SystemExit(f"screen-check: unknown option {opt}")
    if image is None:
        if png is None or not args:
            raise SystemExit(__doc__)
        if os.path.exists(png):
            os.unlink(png)
        problems = boot_and_shoot(png, timeout, keys, args)
        if problems:
            print("\n".join(problems))
            return 1
        image = png
    text = ocr(image)
    if png:
        with open(png + ".txt", "w") as f:
            f.write(text)
    why = judge(text, expects, rejects)
    if why:
        print(f"{image}: " + "; ".join(why) + "\n--- OCR text ---\n" + text)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
