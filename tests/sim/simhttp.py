"""Tiny HTTP request/response model shared by the simulated endpoints.

Services (maa.py, and the Key Vault / IMDS / KDS emulators) implement
``handle(req: Request) -> Response`` and never touch sockets; the server
framework turns real HTTP into Request objects and back, and applies the
generic faults. Service-specific faults are asked for with
``faults.active(name)``.

Interface (kept stable for the server framework):
  Request(method, path, query, headers, body)
      path has no query string; query is {name: [values]} as parse_qs gives;
      headers is a case-insensitive mapping; body is bytes.
  Response(status, headers, body)
  json_response(status, obj), error_response(status, code, message)
  Faults: .active(name) -> bool, .set(name, on=True), .clear()
"""

import json

__all__ = ["Headers", "Request", "Response", "Faults", "json_response",
           "error_response", "text_response", "NO_FAULTS"]


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

    def get(self, key, default=None):
        return super().get(key.lower(), default)


class Request:
    def __init__(self, method, path, query=None, headers=None, body=b""):
        self.method = method.upper()
        self.path = path
        self.query = query or {}
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body or b""

    def query1(self, name, default=None):
        """First value of query parameter NAME."""
        vals = self.query.get(name)
        return vals[0] if vals else default

    def json(self):
        """Body parsed as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))


class Response:
    def __init__(self, status, headers=None, body=b""):
        self.status = int(status)
        self.headers = dict(headers or {})
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:200])


def json_response(status, obj, headers=None):
    h = {"Content-Type": "application/json; charset=utf-8"}
    h.update(headers or {})
    return Response(status, h, json.dumps(obj).encode("utf-8"))


def text_response(status, text, content_type="text/plain; charset=utf-8", headers=None):
    h = {"Content-Type": content_type}
    h.update(headers or {})
    return Response(status, h, text)


def error_response(status, code, message, headers=None):
    """Azure data-plane error body: {"error": {"code": ..., "message": ...}}."""
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


class Faults:
    """Set of active fault names. The server framework may replace this with
    one fed by a control endpoint or file; services only call active()."""

    def __init__(self, names=()):
        self._on = set(names)

    def active(self, name):
        return name in self._on

    def args(self, name):
        """Arguments of an active fault ({} here; the server's fault table has them)."""
        return {}

    def set(self, name, on=True):
        if on:
            self._on.add(name)
        else:
            self._on.discard(name)

    def clear(self):
        self._on.clear()


NO_FAULTS = Faults()
