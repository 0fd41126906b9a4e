#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""simhttp: the small HTTP/HTTPS framework the simulated endpoints run on.

One Service per port.  A service is any object with ``name`` and
``handle(req: Request) -> Response``; SimServer hosts it on a loopback port
(plain HTTP, or TLS with the sim's test server certificate), logs every
request as one JSON line and applies the fault-injection table before and
after the service runs.

Faults (see FAULT_CATALOG) are switchable at run time, per service:
  * by a control request to the server itself:
        POST   /_sim/faults  {"name": "throttle", "args": {"retry_after": 2}}
        DELETE /_sim/faults            (clear all)   /_sim/faults/NAME (one)
        GET    /_sim/faults            (current table and the catalog)
  * or by editing the service's fault file (DIR/faults/SERVICE.json,
    {"NAME": {args}}), re-read whenever it changes; this is the only way to
    bring back a service that is "down" in refused mode (its port is closed).
Every fault takes optional common args: "path" (apply only to request paths
starting with it), "after" (let that many of those requests through first)
and "count" (apply to that many requests, then clear).  "stall" with
after=N-1 holds exactly the Nth request: a test kills its client mid-exchange.

Generic faults (down, slow, throttle, server_error, malformed) are applied
here for every endpoint; the service-specific ones (wrong_signature,
expired_token, wrong_nonce, wrong_transfer_key, revoked_key) are asked by the
services through the module-level ``faults.active(NAME)``, which answers for
the service handling the current request.
"""

import base64
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

__all__ = [
    "Request", "Response", "Headers", "json_response", "error_response", "text_response",
    "faults", "Faults", "NO_FAULTS", "FaultTable", "SimServer", "FAULT_CATALOG", "b64url", "b64url_decode",
]

MAX_BODY = 8 * 1024 * 1024

FAULT_CATALOG = {
    "down": "connection refused (args mode=refused, default) or accepted and closed "
            "without an answer (mode=closed)",
    "slow": "delay every answer by args.seconds (default 5)",
    "throttle": "429 with Retry-After: args.retry_after (default 1)",
    "server_error": "args.status (500 default, or 503) with the service's error body; "
                    "args.retry_after adds Retry-After",
    "malformed": "the service's answer with its body truncated and garbled",
    "stall": "hold the request unanswered (after logging a 'stalled' event) until the fault "
             "is cleared or args.seconds (default 60) pass, then answer it normally",
    "wrong_signature": "tokens / JWS / certificates the service signs carry a bad signature",
    "expired_token": "tokens the service issues are already expired",
    "wrong_nonce": "tokens the service issues echo a different nonce",
    "wrong_transfer_key": "released keys / sealed tokens are wrapped to a different RSA key",
    "revoked_key": "key release answers as if the key version were disabled",
    "no_identity": "IMDS: no managed identity is assigned to the VM (400 invalid_request "
                   "'Identity not found')",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text) -> bytes:
    if isinstance(text, str):
        text = text.encode("ascii")
    text = text.strip()
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


class Headers(dict):
    """Case-insensitive header mapping (keys stored lower-case)."""

    def __init__(self, items=None):
        super().__init__()
        if items:
            for k, v in (items.items() if hasattr(items, "items") else items):
                self[k] = v

    def __setitem__(self, key, value):
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def __contains__(self, key):
        return super().__contains__(key.lower())

    def __delitem__(self, key):
        super().__delitem__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)


class Request:
    """One HTTP request: method, path (no query), query (dict of lists),
    headers (case-insensitive), body (bytes)."""

    def __init__(self, method, path, query=None, headers=None, body=b"", target=None):
        self.method = method.upper()
        self.path = path
        self.query = query or {}
        self.headers = headers if isinstance(headers, Headers) else Headers(headers or {})
        self.body = body or b""
        self.target = target or path

    def query1(self, name, default=None):
        """First value of query parameter NAME."""
        v = self.query.get(name)
        return v[0] if v else default

    arg = query1

    def json(self):
        """Body parsed as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    @classmethod
    def from_target(cls, method, target, headers=None, body=b""):
        u = urllib.parse.urlsplit(target)
        return cls(method, u.path, urllib.parse.parse_qs(u.query, keep_blank_values=True),
                   headers, body, target)


class Response:
    def __init__(self, status, headers=None, body=b""):
        self.status = int(status)
        self.headers = dict(headers or {})
        self.body = body if isinstance(body, bytes) else str(body).encode("utf-8")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:200])


def text_response(status, text, content_type="text/plain; charset=utf-8", headers=None):
    h = {"Content-Type": content_type}
    h.update(headers or {})
    return Response(status, h, text)


def json_response(status, obj, headers=None):
    h = {"Content-Type": "application/json; charset=utf-8"}
    h.update(headers or {})
    return Response(status, h, json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def error_response(status, code, message, headers=None, inner=None):
    """The Azure data-plane error body {"error":{"code","message"}}."""
    err = {"code": code, "message": message}
    if inner:
        err["innererror"] = {"code": inner}
    return json_response(status, {"error": err}, headers)


# ---------------------------------------------------------------------------
# Fault injection


class FaultTable:
    """Active faults of one service: {name: args}.  Backed by a JSON file when
    a path is given (re-read whenever its mtime/size changes), else memory."""

    def __init__(self, path=None):
        self.path = path
        self._lock = threading.Lock()
        self._table = {}
        self._stamp = None

    def _reload(self):
        """Re-reads the file when its bytes changed (compared by content, so
        coarse mtimes or recycled inodes never hide a change)."""
        if not self.path:
            return
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raw = b""
        if raw == self._stamp:
            return
        data = {}
        if raw.strip():
            try:
                data = json.loads(raw.decode("utf-8"))
                if not isinstance(data, dict):
                    raise ValueError("not an object")
            except ValueError as e:
                print("simhttp: ignoring unreadable fault file %s: %s" % (self.path, e),
                      file=sys.stderr)
                data = {}
        self._table = {k: (v if isinstance(v, dict) else {}) for k, v in data.items()}
        self._stamp = raw

    def _store(self):
        if not self.path:
            return
        raw = json.dumps(self._table, indent=1, sort_keys=True).encode("utf-8")
        tmp = "%s.tmp.%d.%d" % (self.path, os.getpid(), threading.get_ident())
        with open(tmp, "wb") as f:
            f.write(raw)
        os.replace(tmp, self.path)
        self._stamp = raw

    def snapshot(self):
        with self._lock:
            self._reload()
            return {k: dict(v) for k, v in self._table.items()}

    def set(self, name, args=None):
        if name not in FAULT_CATALOG:
            raise KeyError(name)
        with self._lock:
            self._reload()
            self._table[name] = dict(args or {})
            self._store()

    def clear(self, name=None):
        with self._lock:
            self._reload()
            if name is None:
                self._table = {}
            else:
                self._table.pop(name, None)
            self._store()

    def admit(self, path):
        """The faults that apply to one request to PATH: a snapshot without
        those still letting requests through ("after"), whose counters this
        request counts down (atomically, so concurrent requests each count)."""
        with self._lock:
            self._reload()
            changed = False
            snap = {}
            for n, a in self._table.items():
                if _applies(a, path) and _num(a, "after", 0) >= 1:
                    a["after"] = int(_num(a, "after", 0)) - 1
                    changed = True
                    continue
                snap[n] = dict(a)
            if changed:
                self._store()
            return snap

    def consume(self, names):
        """One request was affected by NAMES: count down those with a count."""
        with self._lock:
            self._reload()
            changed = False
            for n in names:
                a = self._table.get(n)
                if a is None or "count" not in a:
                    continue
                a["count"] = int(a["count"]) - 1
                if a["count"] <= 0:
                    del self._table[n]
                changed = True
            if changed:
                self._store()


def write_fault_file(path, name, args=None, clear=False):
    """Edits a service's fault file directly (works while the service is down)."""
    t = FaultTable(path)
    if clear:
        t.clear(name)
    else:
        t.set(name, args)


class _FaultContext(threading.local):
    table = None
    snapshot = None
    path = ""
    hits = None


_ctx = _FaultContext()


def _applies(args, path):
    prefix = args.get("path")
    return not prefix or (path or "").startswith(prefix)


class Faults:
    """Fault names a service asks about with active(NAME).  Names set on the
    instance (set/clear, for unit tests that call handle() directly) are
    always active; otherwise the answer comes from the fault table of the
    SimServer handling the current request (thread-local), so every Faults
    instance, including the module-level ``faults`` and ``NO_FAULTS``, sees
    the faults switched on at run time."""

    def __init__(self, names=()):
        self._on = set(names)

    def set(self, name, on=True):
        if on:
            self._on.add(name)
        else:
            self._on.discard(name)

    def clear(self):
        self._on.clear()

    def active(self, name) -> bool:
        if name in self._on:
            return True
        snap = _ctx.snapshot
        if not snap or name not in snap or not _applies(snap[name], _ctx.path):
            return False
        _ctx.hits.add(name)
        return True

    def args(self, name) -> dict:
        snap = _ctx.snapshot or {}
        return dict(snap.get(name) or {})

    def current(self) -> dict:
        return dict(_ctx.snapshot or {})


faults = Faults()
NO_FAULTS = faults


def _num(args, key, default):
    try:
        return float(args.get(key, default))
    except (TypeError, ValueError):
        return float(default)


def _garble(body: bytes) -> bytes:
    """A malformed answer: the first half of the body, then bytes no parser takes."""
    return body[: len(body) // 2] + b"\x00\xff<<garbled>>"


# ---------------------------------------------------------------------------
# Server


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, sim):
        self.sim = sim
        super().__init__(addr, handler)

    def process_request_thread(self, request, client_address):
        try:
            if self.sim.ssl_ctx is not None:
                request.settimeout(15)
                request = self.sim.ssl_ctx.wrap_socket(request, server_side=True)
            self.finish_request(request, client_address)
        except (OSError, ssl.SSLError) as e:
            self.sim.log_event({"event": "connection-error", "client": client_address[0],
                                "error": str(e)})
        except Exception:  # pragma: no cover - logged, never kills the server
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request, client_address):
        import traceback
        self.sim.log_event({"event": "handler-exception",
                            "error": traceback.format_exc(limit=5)})


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cvm-sim"
    sys_version = ""

    def log_message(self, fmt, *args):  # silence the stderr access log
        pass

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if te == "chunked":
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
            return b"".join(chunks)
        if te:
            raise ValueError("unsupported Transfer-Encoding '%s'" % te)
        n = self.headers.get("Content-Length")
        if n is None:
            return b""
        n = int(n)
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad Content-Length %d" % n)
        return self.rfile.read(n)

    def _dispatch(self):
        sim = self.server.sim
        t0 = time.monotonic()
        try:
            body = self._read_body()
        except ValueError as e:
            self._send(Response(400, {"Content-Type": "text/plain"}, str(e).encode()), t0,
                       None, [], reason=str(e))
            self.close_connection = True
            return
        req = Request.from_target(self.command, self.path, Headers(self.headers.items()), body)
        if self.request_version == "HTTP/1.1" and "Host" not in req.headers:
            # RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host
            self._send(Response(400, {"Content-Type": "text/plain"}, b"missing Host header\n"),
                       t0, req, [], reason="missing Host header")
            self.close_connection = True
            return
        if req.path.startswith("/_sim/"):
            self._send(sim.control(req), t0, req, [])
            return
        snap = sim.faults.admit(req.path)
        _ctx.table, _ctx.snapshot, _ctx.path, _ctx.hits = sim.faults, snap, req.path, set()
        try:
            resp = self._apply_faults(sim, req, snap)
        finally:
            hits = sorted(_ctx.hits)
            _ctx.table = _ctx.snapshot = _ctx.hits = None
        if hits:
            sim.faults.consume(hits)
        if resp is None:  # "down" in closed mode: drop the connection unanswered
            sim.log_request(req, None, 0, t0, hits)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(resp, t0, req, hits)

    def _apply_faults(self, sim, req, snap):
        def on(name):
            if name in snap and _applies(snap[name], req.path):
                _ctx.hits.add(name)
                return True
            return False

        if on("down"):
            return None
        if on("stall"):
            sim.stall(req, snap["stall"])
        if on("slow"):
            time.sleep(_num(snap["slow"], "seconds", 5))
        if on("throttle"):
            ra = int(_num(snap["throttle"], "retry_after", 1))
            return sim.fault_error(429, ra)
        if on("server_error"):
            a = snap["server_error"]
            status = int(_num(a, "status", 500))
            ra = int(_num(a, "retry_after", 0)) if "retry_after" in a else None
            return sim.fault_error(status, ra)
        try:
            resp = sim.service.handle(req)
        except Exception:
            import traceback
            sim.log_event({"event": "service-exception", "path": req.path,
                           "error": traceback.format_exc(limit=8)})
            resp = error_response(500, "InternalServerError",
                                  "the simulated service failed; see its log")
        if on("malformed"):
            resp = Response(resp.status, resp.headers, _garble(resp.body))
        return resp

    def _send(self, resp, t0, req, hits, reason=None):
        body = resp.body if self.command != "HEAD" else b""
        try:
            self.send_response(resp.status)
            sent = {k.lower() for k in resp.headers}
            for k, v in resp.headers.items():
                self.send_header(k, str(v))
            if "content-length" not in sent:
                self.send_header("Content-Length", str(len(resp.body)))
            if "date" not in sent:
                self.send_header("Date", self.date_time_string())
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        self.server.sim.log_request(req, resp, len(resp.body), t0, hits, reason)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class SimServer:
    """Hosts one service on 127.0.0.1:PORT (PORT 0 = any free port)."""

    def __init__(self, service, port=0, host="127.0.0.1", tls=None, log_path=None,
                 faults_path=None, max_log=500):
        """tls: (certfile, keyfile) to serve HTTPS, None for plain HTTP."""
        self.service = service
        self.name = getattr(service, "name", type(service).__name__)
        self.host = host
        self.port = port
        self.faults = FaultTable(faults_path)
        self.log_path = log_path
        self.ssl_ctx = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(tls[0], tls[1])
            self.ssl_ctx = ctx
        self._log_lock = threading.Lock()
        self._recent = []
        self._max_log = max_log
        self._httpd = None
        self._thread = None
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher = None

    @property
    def scheme(self):
        return "https" if self.ssl_ctx else "http"

    @property
    def url(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    # -- lifecycle --------------------------------------------------------

    def _listen(self):
        httpd = _HTTPServer((self.host, self.port), _Handler, self)
        self.port = httpd.server_address[1]
        t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                             name="sim-%s" % self.name, daemon=True)
        t.start()
        self._httpd, self._thread = httpd, t

    def _close_listener(self):
        httpd, self._httpd = self._httpd, None
        if httpd:
            httpd.shutdown()
            httpd.server_close()

    def start(self):
        self._listen()
        if hasattr(self.service, "bind"):
            self.service.bind(self)
        self._watcher = threading.Thread(target=self._watch, daemon=True,
                                         name="sim-%s-faults" % self.name)
        self._watcher.start()
        return self

    def stop(self):
        self._stopping.set()
        with self._state_lock:
            self._close_listener()
        if self._watcher:
            self._watcher.join(2)

    def _watch(self):
        """Closes the port while "down" (mode refused) is set, reopens it after."""
        while not self._stopping.wait(0.05):
            down = self.faults.snapshot().get("down")
            refused = down is not None and down.get("mode", "refused") == "refused"
            with self._state_lock:
                if self._stopping.is_set():
                    return
                if refused and self._httpd:
                    self._close_listener()
                    self.log_event({"event": "down", "mode": "refused"})
                elif not refused and not self._httpd:
                    for _ in range(40):
                        try:
                            self._listen()
                            self.log_event({"event": "up"})
                            break
                        except OSError:
                            time.sleep(0.05)

    # -- logging ----------------------------------------------------------

    def log_event(self, rec):
        rec = dict(rec)
        rec.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        rec.setdefault("service", self.name)
        line = json.dumps(rec, sort_keys=True)
        with self._log_lock:
            self._recent.append(rec)
            del self._recent[: -self._max_log]
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def log_request(self, req, resp, nbytes, t0, hits, reason=None):
        hdrs = {}
        if req is not None:
            for k, v in req.headers.items():
                if k.lower() == "authorization":
                    v = v.split(" ", 1)[0] + " <%d chars>" % len(v)
                hdrs[k] = v
        rec = {
            "event": "request",
            "method": req.method if req else None,
            "target": req.target if req else None,
            "headers": hdrs,
            "request_bytes": len(req.body) if req else None,
            "status": resp.status if resp else None,
            "response_bytes": nbytes,
            "ms": round((time.monotonic() - t0) * 1000, 1),
            "faults": hits,
        }
        why = reason or (resp.headers.get("X-Sim-Reason") if resp else None)
        if why:
            rec["reason"] = why
        self.log_event(rec)

    def recent(self):
        with self._log_lock:
            return list(self._recent)

    # -- faults -----------------------------------------------------------

    def stall(self, req, args):
        """Holds REQ while "stall" is set (at most args.seconds): the
        'stalled' event tells a test the request arrived and is held."""
        self.log_event({"event": "stalled", "method": req.method, "target": req.target})
        end = time.monotonic() + _num(args, "seconds", 60)
        while time.monotonic() < end and not self._stopping.is_set():
            if "stall" not in self.faults.snapshot():
                return
            time.sleep(0.02)

    def fault_error(self, status, retry_after=None):
        h = {}
        if retry_after is not None:
            h["Retry-After"] = str(retry_after)
        shaper = getattr(self.service, "fault_response", None)
        if shaper:
            return shaper(status, h)
        code = {429: "TooManyRequests", 500: "InternalServerError",
                503: "ServiceUnavailable"}.get(status, "Error")
        return error_response(status, code, "fault injected by cvm-sim (%d)" % status, h)

    def control(self, req):
        """The /_sim/ control interface (never subject to faults)."""
        parts = [p for p in req.path.split("/") if p][1:]
        if parts == ["health"]:
            return json_response(200, {"service": self.name, "url": self.url})
        if parts == ["requests"] and req.method == "GET":
            return json_response(200, {"requests": self.recent()})
        if parts[:1] == ["faults"]:
            if req.method == "GET" and len(parts) == 1:
                return json_response(200, {"faults": self.faults.snapshot(),
                                           "catalog": FAULT_CATALOG})
            if req.method == "DELETE":
                self.faults.clear(parts[1] if len(parts) > 1 else None)
                return json_response(200, {"faults": self.faults.snapshot()})
            if req.method == "POST" and len(parts) == 1:
                try:
                    body = req.json()
                    name = body["name"]
                    args = body.get("args") or {}
                    if not isinstance(args, dict):
                        raise ValueError("args must be an object")
                    self.faults.set(name, args)
                except KeyError as e:
                    return error_response(400, "BadParameter",
                                          "unknown or missing fault name %s; known: %s"
                                          % (e, ", ".join(sorted(FAULT_CATALOG))))
                except ValueError as e:
                    return error_response(400, "BadParameter", "bad fault request: %s" % e)
                return json_response(200, {"faults": self.faults.snapshot()})
        return error_response(404, "NotFound", "no control route %s %s" % (req.method, req.path))
