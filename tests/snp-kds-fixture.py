#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A stand-in for AMD KDS and Azure IMDS THIM on a loopback port, for tests.

    snp-kds-fixture.py --map MAP.json --port-file F --log F

MAP.json maps a request target (path with query string, exactly as the
client sends it) to a file whose bytes are the answer, e.g.
  {"/vcek/v1/Milan/3ac3...?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68": "vcek.der",
   "/vcek/v1/Milan/cert_chain": "chain.pem",
   "/vcek/v1/Milan/crl": "ark.crl",
   "/metadata/THIM/amd/certification": "thim.json"}
Anything else is 404. The first request to a target listed in
"__429_once__" is answered 429 with Retry-After: 0 (KDS does that). Every
request line is appended to the log; THIM requests must carry
"Metadata: true" (else 400).
"""
import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--map", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    with open(args.map) as f:
        mapping = json.load(f)
    once = set(mapping.pop("__429_once__", []))
    base = os.path.dirname(os.path.abspath(args.map))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def do_GET(self):
            with open(args.log, "a") as f:
                f.write(self.path + "\n")
            if self.path.startswith("/metadata/") and self.headers.get("Metadata") != "true":
                self.send_error(400, "Metadata header missing")
                return
            if self.path in once:
                once.discard(self.path)
                self.send_response(429)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            target = mapping.get(self.path)
            if target is None:
                self.send_error(404)
                return
            with open(os.path.join(base, target), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
