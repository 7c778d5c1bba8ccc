#!/usr/bin/env python3
# A token endpoint that fails in one way per port, for provider-faults.sh.
#
#   fault-server.py CERTDIR PORTS-FILE REQUEST-LOG
#
# CERTDIR holds good.pem/good-key.pem (trusted, for 127.0.0.1) and
# untrusted, expired and otherhost .pem/-key.pem. Each mode gets a port on
# 127.0.0.1; "MODE PORT" lines go to PORTS-FILE (written whole, then renamed)
# and every request that got through TLS is logged as "MODE" to REQUEST-LOG.
import os
import socket
import ssl
import struct
import sys
import threading
import time

CERTDIR, PORTS_FILE, REQUEST_LOG = sys.argv[1:4]
REQUEST_MAX = 64 * 1024
log_lock = threading.Lock()

TRUNCATED = b'{"token_type":"Bearer","expires_in":3600,"id_token":"eyJhbGciOiJSUzI1NiJ9.eyJpc3Mi'
SLOW = b'{"token_type":"Bearer","expires_in":3600,"id_token":"a.b.c"}'
HUGE = 10 * 1024 * 1024


def log_request(mode):
    with log_lock, open(REQUEST_LOG, "a") as f:
        f.write(mode + "\n")


def read_request(conn):
    """The request's head and its Content-Length body; None when the peer gave up."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > REQUEST_MAX:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < min(length, REQUEST_MAX):
        chunk = conn.recv(4096)
        if not chunk:
            return None
        body += chunk
    return head


def answer(conn, status, headers=(), body=b"", length=True):
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    lines += list(headers)
    if length:
        lines.append(f"Content-Length: {len(body)}")
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def serve(mode, conn):
    if read_request(conn) is None:
        return
    log_request(mode)
    if mode == "slow-body":
        answer(conn, "200 OK", ["Content-Type: application/json", f"Content-Length: {len(SLOW)}"], length=False)
        for i in range(len(SLOW)):
            conn.sendall(SLOW[i:i + 1])
            time.sleep(1)
    elif mode == "status-500":
        answer(conn, "500 Internal Server Error", ["Content-Type: text/plain"], b"Internal Server Error")
    elif mode == "status-503":
        answer(conn, "503 Service Unavailable", ["Content-Type: text/plain"], b"Service Unavailable")
    elif mode == "status-429":
        answer(conn, "429 Too Many Requests", ["Content-Type: text/plain", "Retry-After: 1"], b"Too Many Requests")
    elif mode == "truncated":
        answer(conn, "200 OK", ["Content-Type: application/json"], TRUNCATED)
    elif mode == "huge":
        # No Content-Length: the client must stop reading on its own.
        answer(conn, "200 OK", ["Content-Type: application/json"], length=False)
        block = b" " * 65536
        conn.sendall(b'{"token_type":"Bearer","id_token":"a.b.c","padding":"')
        for _ in range(HUGE // len(block)):
            conn.sendall(block)
        conn.sendall(b'"}')
    elif mode == "reset":
        # The request was read; the answer is a TCP reset (SO_LINGER 0), no TLS alert, no HTTP.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif mode == "forbidden-empty":
        answer(conn, "403 Forbidden")
    else:
        # The certificate cases: a request means TLS let it through; answer nothing usable.
        answer(conn, "400 Bad Request", body=b"certificate accepted")


def handle(mode, conn, ctx):
    try:
        with conn:
            conn.settimeout(30)
            if mode == "black-hole":
                # Accepted, then silence: no TLS handshake, no answer, until the client leaves.
                while conn.recv(4096):
                    pass
                return
            with ctx.wrap_socket(conn, server_side=True) as tls:
                serve(mode, tls)
    except (OSError, ssl.SSLError, ValueError):
        pass


def context(name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(CERTDIR, name + ".pem"), os.path.join(CERTDIR, name + "-key.pem"))
    return ctx


def accept_loop(mode, sock, ctx):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=handle, args=(mode, conn, ctx), daemon=True).start()


MODES = {
    "black-hole": "good",
    "slow-body": "good",
    "status-500": "good",
    "status-503": "good",
    "status-429": "good",
    "truncated": "good",
    "huge": "good",
    "untrusted-ca": "untrusted",
    "expired": "expired",
    "other-host": "otherhost",
    "forbidden-empty": "good",
    "reset": "good",
}


def main():
    ports = []
    # Bound but never listening: a connection to it is refused, and no other program can take the port meanwhile.
    refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    refused.bind(("127.0.0.1", 0))
    ports.append(("refused", refused.getsockname()[1]))
    for mode, cert in MODES.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        ports.append((mode, sock.getsockname()[1]))
        threading.Thread(target=accept_loop, args=(mode, sock, context(cert)), daemon=True).start()
    with open(PORTS_FILE + ".tmp", "w") as f:
        for mode, port in ports:
            f.write(f"{mode} {port}\n")
    os.rename(PORTS_FILE + ".tmp", PORTS_FILE)
    threading.Event().wait()


if __name__ == "__main__":
    main()
