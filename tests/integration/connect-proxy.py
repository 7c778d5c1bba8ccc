#!/usr/bin/env python3
"""An HTTP CONNECT proxy on loopback for tests: writes its port to PORTFILE
once it listens, logs one line "CONNECT host:port" per request to LOGFILE
(flushed at once), and tunnels the bytes both ways."""
import os
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client, log, lock):
    with client:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        with lock:
            log.write(line + "\n")
            log.flush()
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = parts[1].rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except (OSError, ValueError):
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        upstream.settimeout(None)
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                upstream.sendall(rest)
            t = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
            t.start()
            pipe(client, upstream)
            t.join(10)


def main():
    portfile, logfile = sys.argv[1], sys.argv[2]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    lock = threading.Lock()
    log = open(logfile, "a", encoding="utf-8")
    with open(portfile + ".tmp", "w", encoding="ascii") as f:
        f.write(f"{srv.getsockname()[1]}\n")
    os.rename(portfile + ".tmp", portfile)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(client, log, lock), daemon=True).start()


if __name__ == "__main__":
    main()
