# Model proxy: the only way out of an agent run's network.
#
# The engine starts it, for the length of one agent run, in its own hardened container attached to two networks: the
# run's internal network (where the session container reaches it by a fixed name) and an egress network. It reads its
# configuration as one JSON line on stdin (so the API key is in no environment, file or `docker inspect` output):
#   {"port": 8080, "upstream": "https://api.anthropic.com", "auth_header": "x-api-key", "auth_value": "sk-...",
#    "max_body": 33554432, "allowed_paths": ["/v1/messages", "/v1/models*"]}
# and then forwards plain HTTP requests from the agent to that one upstream only, and only for the allowed paths (a
# trailing * allows a prefix; none given allows every path), replacing whatever credential the agent sent with the
# real one: the key can serve model calls, not the provider's other APIs (files, batches, administration). The agent therefore never holds the key: nothing in the sandbox can print, store or
# exfiltrate it. Requests whose path does not belong to the upstream are refused; responses (Server-Sent Events
# included) are streamed back as they arrive. It logs one line per request to stderr: method, path, status, never a
# header or a body.
import http.client, json, ssl, sys, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding",
       "upgrade", "host", "content-length", "x-api-key", "authorization"}


def load_config():
    line = sys.stdin.buffer.readline()
    cfg = json.loads(line)
    up = urllib.parse.urlsplit(cfg["upstream"])
    if up.scheme not in ("http", "https") or not up.hostname:
        raise SystemExit("upstream must be an http(s) URL")
    return cfg, up


CFG, UP = load_config()
BASE = UP.path.rstrip("/")
MAX_BODY = int(CFG.get("max_body", 32 << 20))
SLOTS = threading.BoundedSemaphore(int(CFG.get("max_connections", 16)))
TLS = ssl.create_default_context() if UP.scheme == "https" else None
ALLOWED = list(CFG.get("allowed_paths") or [])


def allowed(path):
    if not ALLOWED:
        return True
    for p in ALLOWED:
        if p.endswith("*") and path.startswith(p[:-1]) or path == p:
            return True
    return False


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox-model-proxy"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def refuse(self, status, message):
        body = json.dumps({"type": "error", "error": {"type": "proxy_error", "message": message}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        log("%s %s -> %d (%s)" % (self.command, self.path.split("?")[0][:200], status, message))

    def read_body(self):
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_BODY:
                    return None
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def forward(self):
        if not SLOTS.acquire(blocking=False):
            return self.refuse(503, "too many concurrent requests")
        try:
            self._forward()
        finally:
            SLOTS.release()

    def _forward(self):
        target = urllib.parse.urlsplit(self.path)
        if target.scheme or target.netloc or not target.path.startswith("/"):
            return self.refuse(400, "only origin-form requests to the model endpoint are forwarded")
        if not allowed(target.path) or "/../" in target.path + "/" or "%2e" in target.path.lower():
            return self.refuse(403, "this path is not one the sandbox forwards to the model endpoint")
        body = self.read_body()
        if body is None:
            return self.refuse(413, "request body too large")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = UP.netloc
        if CFG.get("auth_value"):
            headers[CFG.get("auth_header", "x-api-key")] = CFG["auth_value"]
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        port = UP.port or (443 if TLS else 80)
        conn = (http.client.HTTPSConnection(UP.hostname, port, timeout=600, context=TLS) if TLS
                else http.client.HTTPConnection(UP.hostname, port, timeout=600))
        try:
            try:
                conn.request(self.command, BASE + self.path, body=body, headers=headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                return self.refuse(502, "model endpoint unreachable: %s" % type(e).__name__)
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            log("%s %s -> %d" % (self.command, target.path[:200], resp.status))
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


if __name__ == "__main__":
    srv = Server(("0.0.0.0", int(CFG.get("port", 8080))), Handler)
    sys.stdout.write(json.dumps({"type": "ready", "port": srv.server_address[1]}) + "\n")
    sys.stdout.flush()
    srv.serve_forever()
