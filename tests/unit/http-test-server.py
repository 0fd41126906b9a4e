#!/usr/bin/python3
"""Local HTTP/HTTPS server for the HTTP client's unit tests.

Writes "HTTP_PORT HTTPS_PORT" to --port-file once both listeners are up, and
the CA certificate of its TLS server to --ca-file. Routes:
  /ok                        200 "hello"
  /status/<code>             always <code>, with an Azure-style JSON error body
  /flaky/<key>/<n>/<code>    <code> for the first n requests of <key>, then 200
  /retry-after/<key>/<secs>  429 with Retry-After: <secs> once per <key>, then 200
  /slow/<secs>               waits, then 200
  /big/<bytes>               200 with a body of <bytes>; ?chunked=1 sends no Content-Length
  /echo                      200 with method, selected headers and body as JSON
  /count/<key>               how many requests <key> has seen (flaky/retry-after)
"""
import argparse
import datetime
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

counts = {}
lock = threading.Lock()


def bump(key):
    with lock:
        counts[key] = counts.get(key, 0) + 1
        return counts[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def send(self, code, body=b"", headers=None, chunked=False):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 65536):
                part = body[i:i + 65536]
                try:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                except (BrokenPipeError, ConnectionResetError):
                    return
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def error_body(self, code):
        return json.dumps({"error": {"code": "Status%d" % code,
                                     "message": "test server says %d" % code}}).encode()

    def route(self):
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if parts[0] == "ok":
            return self.send(200, b"hello", {"Content-Type": "text/plain"})
        if parts[0] == "status":
            code = int(parts[1])
            return self.send(code, self.error_body(code), {"Content-Type": "application/json"})
        if parts[0] == "flaky":
            key, n, code = parts[1], int(parts[2]), int(parts[3])
            if bump(key) <= n:
                return self.send(code, self.error_body(code), {"Content-Type": "application/json"})
            return self.send(200, b"recovered")
        if parts[0] == "retry-after":
            key, secs = parts[1], parts[2]
            if bump(key) == 1:
                return self.send(429, self.error_body(429), {"Retry-After": secs})
            return self.send(200, b"after")
        if parts[0] == "slow":
            time.sleep(float(parts[1]))
            return self.send(200, b"slow")
        if parts[0] == "big":
            return self.send(200, b"x" * int(parts[1]), chunked="chunked=1" in query)
        if parts[0] == "echo":
            out = {"method": self.command, "body": body.decode("latin-1"),
                   "headers": {k.lower(): v for k, v in self.headers.items()}}
            return self.send(200, json.dumps(out).encode(), {"Content-Type": "application/json"})
        if parts[0] == "count":
            with lock:
                return self.send(200, str(counts.get(parts[1], 0)).encode())
        return self.send(404, self.error_body(404))

    do_GET = do_POST = do_PUT = do_DELETE = route


def make_cert(ca_file):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    d = os.path.dirname(ca_file)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    with open(ca_file, "wb") as f:
        f.write(cert_pem)
    key_file = os.path.join(d, "server.key")
    with open(key_file, "wb") as f:
        f.write(key_pem)
    return ca_file, key_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--ca-file", required=True)
    args = ap.parse_args()
    cert, key = make_cert(args.ca_file)
    plain = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    for s in (plain, tls):
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (plain.server_address[1], tls.server_address[1]))
    os.rename(tmp, args.port_file)
    # exit when the parent (the test) goes away
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.2)
    sys.exit(0)


if __name__ == "__main__":
    main()
