#!/usr/bin/python3
"""Log in to an sshd with keyboard-interactive and run one command.

Answers prompts that ask for a password with $SSH_CLIENT_PASSWORD (kept out
of argv, so ps does not show it). Any other prompt is answered by the first
--respond REGEX PROGRAM whose REGEX matches the round's instructions or the
prompt: PROGRAM runs with the instruction text in $SSH_INSTRUCTIONS and the
prompt in $SSH_PROMPT, and the first line of its output is the answer (an
empty line is "press Enter"). That is how a device-flow test approves the
code the server shows before answering.

Every round is written to --transcript as one JSON line: name, instructions,
prompts as [text, echo], and whether it was answered.

Exit status: the command's exit status; 5 when authentication was refused;
2 for usage, connection or host key errors; 3 when a prompt had no answer.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys

import paramiko

EXIT_REFUSED = 5
EXIT_ERROR = 2
EXIT_UNANSWERED = 3


class Unanswered(Exception):
    pass


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--host-key", required=True, help="the server's public host key file")
    p.add_argument("--transcript", required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--respond", nargs=2, action="append", default=[], metavar=("REGEX", "PROGRAM"))
    p.add_argument("--password-regex", default=r"(?i)password")
    p.add_argument("command")
    return p.parse_args()


def load_host_key(path):
    with open(path) as f:
        kind, data = f.read().split()[:2]
    return kind, data


class Handler:
    def __init__(self, args, transcript):
        self.args = args
        self.transcript = transcript
        self.password = os.environ.get("SSH_CLIENT_PASSWORD")
        self.password_re = re.compile(args.password_regex)
        self.responders = [(re.compile(r), prog) for r, prog in args.respond]
        self.failure = None

    def answer(self, instructions, prompt):
        for regex, program in self.responders:
            if regex.search(instructions) or regex.search(prompt):
                env = dict(os.environ, SSH_INSTRUCTIONS=instructions, SSH_PROMPT=prompt)
                env.pop("SSH_CLIENT_PASSWORD", None)
                out = subprocess.run(program, shell=True, env=env, check=True, stdout=subprocess.PIPE,
                                     timeout=self.args.timeout, text=True).stdout
                return out.split("\n", 1)[0]
        if self.password is not None and self.password_re.search(prompt):
            return self.password
        raise Unanswered(prompt)

    def __call__(self, name, instructions, prompts):
        record = {"name": name, "instructions": instructions,
                  "prompts": [[text, bool(echo)] for text, echo in prompts], "answered": False}
        try:
            answers = [self.answer(instructions, text) for text, _ in prompts]
            record["answered"] = True
            return answers
        except Exception as e:
            # The transport thread swallows exceptions; remember why, and let
            # the server see an empty answer and refuse.
            self.failure = e
            return [""] * len(prompts)
        finally:
            self.transcript.write(json.dumps(record) + "\n")
            self.transcript.flush()


def run_command(transport, command, timeout):
    chan = transport.open_session(timeout=timeout)
    chan.settimeout(timeout)
    chan.exec_command(command)
    out = chan.makefile("rb")
    err = chan.makefile_stderr("rb")
    sys.stdout.buffer.write(out.read())
    sys.stderr.buffer.write(err.read())
    status = chan.recv_exit_status()
    chan.close()
    return status


def main():
    args = parse_args()
    kind, expected = load_host_key(args.host_key)
    with open(args.transcript, "a") as transcript:
        handler = Handler(args, transcript)
        try:
            sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        except OSError as e:
            print(f"ssh-client: cannot connect to {args.host}:{args.port}: {e}", file=sys.stderr)
            return EXIT_ERROR
        transport = paramiko.Transport(sock)
        transport.banner_timeout = args.timeout
        transport.auth_timeout = args.timeout
        try:
            transport.start_client(timeout=args.timeout)
            key = transport.get_remote_server_key()
            if key.get_name() != kind or key.get_base64() != expected:
                print(f"ssh-client: the server's host key is not {args.host_key}", file=sys.stderr)
                return EXIT_ERROR
            try:
                transport.auth_interactive(args.user, handler)
            except paramiko.AuthenticationException as e:
                if isinstance(handler.failure, Unanswered):
                    print(f"ssh-client: no answer for the prompt {str(handler.failure)!r}", file=sys.stderr)
                    return EXIT_UNANSWERED
                if handler.failure is not None:
                    print(f"ssh-client: answering a prompt failed: {handler.failure}", file=sys.stderr)
                    return EXIT_ERROR
                print(f"ssh-client: authentication refused: {e}", file=sys.stderr)
                return EXIT_REFUSED
            if not transport.is_authenticated():
                print("ssh-client: authentication refused", file=sys.stderr)
                return EXIT_REFUSED
            return run_command(transport, args.command, args.timeout)
        except (paramiko.SSHException, OSError, EOFError) as e:
            print(f"ssh-client: {type(e).__name__}: {e}", file=sys.stderr)
            return EXIT_ERROR
        finally:
            transport.close()


if __name__ == "__main__":
    sys.exit(main())
