#!/usr/bin/env python3
"""Run a command on a new pseudo-terminal, as a person at a terminal would:
answer each prompt matching --prompt with the password from the environment
variable PTY_RUN_PASSWORD, at most --answers times, and copy everything the
command writes to stdout. Exits with the command's status, 124 on timeout.
su and login read passwords only from a terminal."""
import argparse
import os
import pty
import re
import select
import signal
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompt", default=r"[Pp]assword[^\n]*: ?$")
    ap.add_argument("--answers", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command")
    password = os.environ.pop("PTY_RUN_PASSWORD", "")
    prompt = re.compile(args.prompt.encode(), re.M)

    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)

    out = sys.stdout.buffer
    pending = b""
    answered = 0
    deadline = time.monotonic() + args.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            out.write(b"\npty-run: timed out\n")
            out.flush()
            return 124
        r, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            break
        out.write(data)
        out.flush()
        pending = (pending + data)[-512:]
        if answered < args.answers and prompt.search(pending):
            os.write(fd, password.encode() + b"\n")
            answered += 1
            pending = b""
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main())
