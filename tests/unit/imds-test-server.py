#!/usr/bin/python3
"""A minimal IMDS managed-identity endpoint for test-release (plain HTTP on
loopback). Writes its port to --port-file. Routes:
  /metadata/identity/oauth2/token   400 {"error","error_description"} without
      "Metadata: true"; otherwise per the client_id query value:
        expiring  -> a token that expires in 60 s (inside the refresh margin)
        missing   -> 400 invalid_request "Identity not found"
        garbled   -> 200 with a body that is not JSON
        (else)    -> a token valid for an hour
  /last    the raw query string of the last token request
  /count   how many token requests were answered
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

state = {"count": 0, "last": ""}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/count":
            return self.send(200, str(state["count"]), "text/plain")
        if u.path == "/last":
            return self.send(200, state["last"], "text/plain")
        if u.path != "/metadata/identity/oauth2/token":
            return self.send(404, "{}")
        with lock:
            state["count"] += 1
            state["last"] = u.query
        if self.headers.get("Metadata") != "true":
            return self.send(400, json.dumps({"error": "invalid_request", "error_description":
                                              "Required metadata header not specified"}))
        q = parse_qs(u.query)
        who = (q.get("client_id") or [""])[0]
        if who == "missing":
            return self.send(400, json.dumps({"error": "invalid_request",
                                              "error_description": "Identity not found"}))
        if who == "garbled":
            return self.send(200, '{"access_token": "abc", "expi')
        life = 60 if who == "expiring" else 3600
        now = int(time.time())
        self.send(200, json.dumps({"access_token": "tok-%d-%s" % (state["count"], who),
                                   "expires_in": str(life), "expires_on": str(now + life),
                                   "resource": q.get("resource", [""])[0],
                                   "token_type": "Bearer"}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
