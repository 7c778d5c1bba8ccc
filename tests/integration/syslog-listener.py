#!/usr/bin/python3
"""Stand-in for syslogd in the tests' private /dev: receive datagrams on an
AF_UNIX socket and append each one as a line to a file, flushed at once so
tests can wait for a line."""

import os
import socket
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: syslog-listener.py SOCKET OUTPUT", file=sys.stderr)
        return 2
    path, output = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    # Every process may log, as with a real /dev/log.
    os.chmod(path, 0o666)
    with open(output, "ab", buffering=0) as out:
        while True:
            data = sock.recv(65536)
            line = data.rstrip(b"\0\n").replace(b"\n", b"\\n")
            out.write(line + b"\n")


if __name__ == "__main__":
    sys.exit(main())
