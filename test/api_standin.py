#!/usr/bin/python3
"""A stand-in for Vapi's REST API, for test/api_sync.sh.

Serves GET /call/{id} and GET /call (filters createdAtGt/Ge/Lt/Le, limit;
newest first, ties in a fixed order) from the Call objects it is given, in
the shape of the Call type of @vapi-ai/server-sdk, behind a Bearer key, and
answers Vapi's way: 401 {"message", "error", "statusCode"} for a bad key,
404 for an unknown call, 400 for a limit over 1000.

Control (no key needed, for the test only):
  POST /_control {"key": ..., "calls": [...], "script": {path: [action...]}}
      replaces what it names; a script's actions are used up one request
      at a time for that exact path, then the path behaves normally.
      Actions: {"status": N, "body": "...", "retry_after": "..."},
      {"sleep": seconds} (then the normal answer), {"raw": "text"} (200
      with that body), {"huge": bytes, "length": true|false}.
  GET /_log     every API request so far: {"requests": [{"path", "query"}]}
  POST /_reset_log

Usage: api_standin.py PORT_FILE [CERT KEY]
  binds 127.0.0.1 on a free port and writes it to PORT_FILE; with CERT and
  KEY it speaks TLS (a self-signed certificate: a client must refuse it)
"""
import json
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LOCK = threading.Lock()
STATE = {"key": None, "calls": [], "script": {}, "log": []}


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, headers=None, length=True):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(data)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_json(self, status, obj, headers=None):
        self.send(status, json.dumps(obj), headers)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        with LOCK:
            if self.path == "/_control":
                for k in ("key", "calls", "script"):
                    if k in body:
                        STATE[k] = body[k]
            elif self.path == "/_reset_log":
                STATE["log"] = []
            else:
                return self.send_json(404, {"message": "Cannot POST " + self.path,
                                            "error": "Not Found", "statusCode": 404})
        self.send_json(200, {"ok": True})

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_log":
            with LOCK:
                return self.send_json(200, {"requests": STATE["log"]})
        with LOCK:
            STATE["log"].append({"path": url.path, "query": url.query})
            actions = STATE["script"].get(url.path) or []
            action = actions.pop(0) if actions else None
            key = STATE["key"]
        if self.headers.get("Authorization") != "Bearer %s" % key:
            return self.send_json(401, {
                "message": "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.",
                "error": "Unauthorized", "statusCode": 401})
        if action is not None:
            if "sleep" in action:
                time.sleep(action["sleep"])
            elif "raw" in action:
                return self.send(200, action["raw"])
            elif "huge" in action:
                blob = '[{"id": "' + "x" * action["huge"] + '"}]'
                return self.send(200, blob, length=action.get("length", True))
            elif "status" in action:
                headers = {}
                if "retry_after" in action:
                    headers["Retry-After"] = action["retry_after"]
                return self.send(action["status"], action.get("body", json.dumps(
                    {"message": "scripted %d" % action["status"], "statusCode": action["status"]})),
                    headers)
        if url.path == "/call":
            return self.list_calls(parse_qs(url.query))
        if url.path.startswith("/call/"):
            call_id = unquote(url.path[len("/call/"):])
            with LOCK:
                found = [c for c in STATE["calls"] if c["id"] == call_id]
            if not found:
                return self.send_json(404, {"message": "Couldn't Get Call. Call Not Found.",
                                            "error": "Not Found", "statusCode": 404})
            return self.send_json(200, found[0])
        self.send_json(404, {"message": "Cannot GET " + url.path, "error": "Not Found",
                             "statusCode": 404})

    def list_calls(self, q):
        limit = int(q.get("limit", ["100"])[0])
        if limit < 1 or limit > 1000:
            return self.send_json(400, {"message": ["limit must not be greater than 1000"],
                                        "error": "Bad Request", "statusCode": 400})
        tests = {"createdAtGt": lambda a, b: a > b, "createdAtGe": lambda a, b: a >= b,
                 "createdAtLt": lambda a, b: a < b, "createdAtLe": lambda a, b: a <= b}
        with LOCK:
            calls = list(STATE["calls"])
        for name, test in tests.items():
            if name in q:
                bound = ts(q[name][0])
                calls = [c for c in calls if test(ts(c["createdAt"]), bound)]
        calls.sort(key=lambda c: (ts(c["createdAt"]), c["id"]), reverse=True)
        self.send_json(200, calls[:limit])


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that hangs up (a capped or cancelled transfer) is expected
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) > 3:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
