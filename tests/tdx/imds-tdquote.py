#!/usr/bin/python3
"""IMDS /acc/tdquote fixture (azure-wire-formats.md §5.1) for the TDX tests.

Checks every request strictly -- POST /acc/tdquote, Content-Type exactly
application/json (else 415 as the real endpoint answers a charset), Metadata:
true, a JSON body with exactly {"report": base64url-without-padding of a
1024-byte TDREPORT (REPORTTYPE 0x81)} -- and answers {"quote": base64url} with
a real quote from the testdata. --fail-first N answers 503 N times first.
Writes the port it listens on to --port-file and one line per request to --log.
"""
import argparse, base64, json, re, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--quote", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--fail-first", type=int, default=0)
args = ap.parse_args()
QUOTE = open(args.quote, "rb").read()
state = {"failures": args.fail_first}


def log(line):
    with open(args.log, "a") as f:
        f.write(line + "\n")


class H(BaseHTTPRequestHandler):
    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reject(self, status, why):
        log("REJECT %d %s" % (status, why))
        self.answer(status, {"error": why})

    def do_GET(self):
        self.reject(405, "GET not allowed")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        if self.path != "/acc/tdquote":
            return self.reject(404, "path %r" % self.path)
        ct = self.headers.get_all("Content-Type") or []
        if ct != ["application/json"]:
            return self.reject(415, "Unknown media type %r" % ct)
        if self.headers.get("Metadata") != "true":
            return self.reject(400, "Metadata header missing")
        try:
            body = json.loads(raw)
        except ValueError:
            return self.reject(400, "body is not JSON")
        if not isinstance(body, dict) or list(body) != ["report"] or not isinstance(body["report"], str):
            return self.reject(400, "body must be exactly {\"report\": string}")
        rep = body["report"]
        if not re.fullmatch(r"[A-Za-z0-9_-]+", rep):
            return self.reject(400, "report is not unpadded base64url")
        td = base64.urlsafe_b64decode(rep + "=" * (-len(rep) % 4))
        if len(td) != 1024 or td[0] != 0x81:
            return self.reject(400, "report is not a 1024-byte TDREPORT (%d bytes)" % len(td))
        if state["failures"] > 0:
            state["failures"] -= 1
            log("BUSY 503")
            return self.answer(503, {"error": "busy"})
        log("OK report %s accept=%s" % (td[0x80:0x90].hex(), self.headers.get("Accept")))
        self.answer(200, {"quote": base64.urlsafe_b64encode(QUOTE).decode().rstrip("=")})

    def log_message(self, *a):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
