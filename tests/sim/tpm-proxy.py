#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""tpm-proxy: a fault-injecting proxy between a TPM client and a socket swtpm.

  tpm-proxy.py --upstream PORT --control FILE --log FILE [--port-file FILE]

Listens on two consecutive free loopback ports P, P+1 (the layout of
swtpm's --server / --ctrl ports, so `swtpm:host=127.0.0.1,port=P` reaches
it) and forwards them to the swtpm on PORT, PORT+1.  The control port is
piped through byte for byte; the command port is read frame by frame (a raw
TPM command: tag, size, command code; the answer likewise), which is where
faults are injected.  swtpm itself cannot answer TPM_RC_RETRY or die in the
middle of a command on cue; this can.

The fault is the JSON object in FILE, re-read whenever its bytes change
(a new object re-arms the counters):

  {"mode": "pass"}                       forward everything (also: no file)
  {"mode": "retry", "count": K}          answer TPM_RC_RETRY (0x922) to the
                                         first K commands, then forward;
                                         count -1 = every command
  {"mode": "drop"}                       forward the command to swtpm, then
                                         close the client's connection
                                         without its answer (swtpm "stopped
                                         mid-command"); every later command
                                         is dropped as well until re-armed
Optional in every mode: "cc": N (only commands with this command code count
and are faulted), "after": N (let the first N matching commands through).

Every command is logged to the log file as one JSON line
{"cc": "0x0000015e", "action": "pass|retry|drop"} so a test can show that
its fault was hit.  P is printed on stdout (and written to --port-file)
once both ports listen.
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading

TPM_RC_RETRY = 0x922
TPM_ST_NO_SESSIONS = 0x8001
HEADER = 10  # tag (2), size (4), command code / response code (4)
MAX_FRAME = 1 << 16


class Fault:
    """The fault in the control file, re-read when its bytes change."""

    def __init__(self, path):
        self.path = path
        self.raw = None
        self.spec = {"mode": "pass"}
        self.seen = 0     # matching commands so far
        self.faulted = 0  # matching commands faulted so far
        self.lock = threading.Lock()

    def _reload(self):
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raw = b""
        if raw == self.raw:
            return
        self.raw = raw
        try:
            spec = json.loads(raw) if raw.strip() else {"mode": "pass"}
        except ValueError:
            spec = {"mode": "pass"}
        self.spec = spec if isinstance(spec, dict) else {"mode": "pass"}
        self.seen = self.faulted = 0

    def action(self, cc):
        """'pass', 'retry' or 'drop' for a command with code cc."""
        with self.lock:
            self._reload()
            s = self.spec
            mode = s.get("mode", "pass")
            if mode not in ("retry", "drop"):
                return "pass"
            if s.get("cc") is not None and int(s["cc"]) != cc:
                return "pass"
            self.seen += 1
            if self.seen <= int(s.get("after", 0)):
                return "pass"
            count = int(s.get("count", -1 if mode == "drop" else 1))
            if count >= 0 and self.faulted >= count:
                return "pass"
            self.faulted += 1
            return mode


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(sock):
    """One TPM command or response, or None when the peer closed."""
    head = recv_exact(sock, HEADER)
    if head is None:
        return None
    size = struct.unpack(">I", head[2:6])[0]
    if size < HEADER or size > MAX_FRAME:
        return None
    rest = recv_exact(sock, size - HEADER)
    return None if rest is None else head + rest


class Proxy:
    def __init__(self, upstream, fault, log_path):
        self.upstream = upstream
        self.fault = fault
        self.log = open(log_path, "a", buffering=1)
        self.log_lock = threading.Lock()

    def note(self, cc, action):
        with self.log_lock:
            self.log.write(json.dumps({"cc": "0x%08x" % cc, "action": action}) + "\n")

    def serve_command(self, client):
        up = None
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream))
            while True:
                cmd = recv_frame(client)
                if cmd is None:
                    return
                cc = struct.unpack(">I", cmd[6:10])[0]
                act = self.fault.action(cc)
                self.note(cc, act)
                if act == "retry":
                    client.sendall(struct.pack(">HII", TPM_ST_NO_SESSIONS, HEADER, TPM_RC_RETRY))
                    continue
                up.sendall(cmd)
                rsp = recv_frame(up)
                if rsp is None or act == "drop":
                    return  # the TPM went away with the command in flight
                client.sendall(rsp)
        except OSError:
            return
        finally:
            for s in (client, up):
                if s is not None:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()

    def serve_control(self, client):
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream + 1))
        except OSError:
            client.close()
            return

        def pipe(a, b):
            try:
                while True:
                    data = a.recv(4096)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pipe, args=(up, client), daemon=True)
        t.start()
        pipe(client, up)
        t.join()
        client.close()
        up.close()

    def accept_loop(self, listener, handler):
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handler, args=(conn,), daemon=True).start()


def listen_pair():
    """Two listening sockets on consecutive loopback ports."""
    for _ in range(200):
        a = socket.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        b = socket.socket()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            b.bind(("127.0.0.1", port + 1))
        except OSError:
            a.close()
            b.close()
            continue
        a.listen(16)
        b.listen(16)
        return port, a, b
    raise SystemExit("tpm-proxy: no two consecutive free loopback ports")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", type=int, required=True, help="the swtpm's --server port")
    p.add_argument("--control", required=True, help="JSON fault file")
    p.add_argument("--log", required=True, help="one JSON line per command")
    p.add_argument("--port-file", help="write the listening port here")
    a = p.parse_args(argv)
    proxy = Proxy(a.upstream, Fault(a.control), a.log)
    port, cmd_sock, ctrl_sock = listen_pair()
    threading.Thread(target=proxy.accept_loop, args=(ctrl_sock, proxy.serve_control),
                     daemon=True).start()
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    print(port, flush=True)
    try:
        proxy.accept_loop(cmd_sock, proxy.serve_command)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
