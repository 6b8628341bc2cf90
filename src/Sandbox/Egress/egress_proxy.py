# Egress proxy: the only way out of a session whose network is an allow list.
#
# The engine starts it for the life of one session, in its own hardened container on two networks: the session's
# internal network (no route anywhere, no host address; the session reaches this proxy by a fixed name) and the
# operator's egress network. Its configuration arrives as JSON lines on stdin (secret values included, so they are in
# no environment, file or `docker inspect` output):
#   {"port": 3128, "allow": [{"host": "*.example.org", "port": null}], "permitted": ["10.1.2.3/32"],
#    "secrets": [{"name": "gh", "host": "api.example.com", "header": "Authorization", "value": "...",
#                 "cert": "PEM", "key": "PEM"}], "upstream_ca": "PEM or null", "max_connections": 64}
# and later {"type": "update", "allow": [...]} to change the allow list while the session runs.
#
# It serves HTTP proxy requests (absolute-form, plain HTTP) and CONNECT tunnels. A request goes out only when its host
# is a name (never an IP literal) matching an allowed pattern and port (no port in a pattern: 80 and 443), and every
# address the name resolves to is public (or inside an operator-permitted range; loopback and link-local never). The
# connection is made to the address that was checked, so a second lookup cannot swap it (DNS rebinding). In a CONNECT
# tunnel the TLS server name the client sends must be the name it asked for. For a host that carries a secret, the
# tunnel is terminated with a certificate of the session's own CA (which only that sandbox trusts), the secret header
# is set on every request, and the request goes on over verified TLS; every other tunnel is passed through untouched.
# Each allowed or refused connection is one JSON line on stdout (the engine writes it to the session's history);
# never a header, a body or a secret.
import ipaddress, json, os, select, socket, ssl, sys, tempfile, threading, http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
       "transfer-encoding", "upgrade", "content-length"}
NEVER = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128",
                                           "100.100.100.200/32", "fd00:ec2::254/128")]
OUT_LOCK = threading.Lock()


def emit(msg):
    with OUT_LOCK:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()


def clean(text, limit=255):
    return "".join(c if 32 < ord(c) < 127 else "?" for c in str(text)[:limit])


CFG = json.loads(sys.stdin.buffer.readline())
ALLOW = CFG.get("allow") or []
PERMITTED = [ipaddress.ip_network(n, strict=False) for n in CFG.get("permitted") or []]
SLOTS = threading.BoundedSemaphore(int(CFG.get("max_connections", 64)))
SECRETS = {}
_dir = tempfile.mkdtemp()
UPSTREAM_TLS = ssl.create_default_context()
if CFG.get("upstream_ca"):
    UPSTREAM_TLS.load_verify_locations(cadata=CFG["upstream_ca"])
for s in CFG.get("secrets") or []:
    # The leaf certificate and key live in this container's private tmpfs only as long as it takes to load them.
    cert, key = os.path.join(_dir, "c.pem"), os.path.join(_dir, "k.pem")
    with open(cert, "w") as f:
        f.write(s["cert"])
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(s["key"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    os.unlink(cert)
    os.unlink(key)
    SECRETS[s["host"].lower()] = {"name": s["name"], "header": s["header"], "value": s["value"], "tls": ctx}
CFG.pop("secrets", None)


def read_updates():
    global ALLOW
    for line in sys.stdin.buffer:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("type") == "update":
            ALLOW = msg.get("allow") or []
            emit({"type": "updated", "count": len(ALLOW)})
    os._exit(0)  # the engine let go of us: nothing may run unsupervised


def host_matches(pattern, host):
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def port_matches(pattern, port):
    p = pattern.get("port")
    return port in (80, 443) if p is None else p == "*" or p == port


def is_ip_literal(host):
    if ":" in host or host.startswith("["):
        return True
    try:
        socket.inet_aton(host)  # also 127.1, 0x7f000001, 2130706433: forms a resolver reads as addresses
        return True
    except OSError:
        return False


def check(host, port):
    """Returns (address, None) to connect to, or (None, reason)."""
    if not host or len(host) > 253:
        return None, "bad host name"
    if is_ip_literal(host):
        return None, "IP addresses are not allowed, only names on the allow list"
    if not all(c.isalnum() or c in "-." for c in host):
        return None, "bad host name"
    if not any(host_matches(p["host"], host) and port_matches(p, port) for p in ALLOW):
        return None, "%s:%d is not on this session's allow list" % (host, port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None, "%s does not resolve" % host
    addresses = [ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos]
    for a in addresses:
        if getattr(a, "ipv4_mapped", None):
            a = a.ipv4_mapped
        if any(a in n for n in NEVER):
            return None, "%s resolves to %s (loopback, link-local or metadata), which is never reachable" % (host, a)
        if not a.is_global and not any(a in n for n in PERMITTED):
            return None, "%s resolves to %s, a private or reserved address" % (host, a)
    return (infos[0][0], infos[0][4]), None


def connect(target):
    family, addr = target
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(addr)
    s.settimeout(300)
    return s


def peek_sni(sock):
    """The server name of a TLS ClientHello waiting on sock (without consuming it); '' when the client sent TLS without
    one; None when the first bytes are not TLS."""
    sock.settimeout(10)
    data = b""
    for _ in range(50):
        data = sock.recv(16384, socket.MSG_PEEK)
        if not data or data[0] != 0x16:
            return None
        if len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[3:5], "big"):
            break
        select.select([sock], [], [], 0.1)
    try:
        p = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        p += 1 + data[p]  # session id
        p += 2 + int.from_bytes(data[p:p + 2], "big")  # cipher suites
        p += 1 + data[p]  # compression methods
        end = p + 2 + int.from_bytes(data[p:p + 2], "big")
        p += 2
        while p + 4 <= end:
            kind, size = int.from_bytes(data[p:p + 2], "big"), int.from_bytes(data[p + 2:p + 4], "big")
            if kind == 0:
                q = p + 4 + 2
                if data[q] == 0:
                    n = int.from_bytes(data[q + 1:q + 3], "big")
                    return data[q + 3:q + 3 + n].decode("ascii", "replace").lower()
            p += 4 + size
    except IndexError:
        return None
    return ""


def pipe(a, b):
    socks = [a, b]
    while True:
        ready, _, _ = select.select(socks, [], [], 300)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


def event(method, host, port, allowed, reason=None, secret=None):
    msg = {"type": "conn", "method": clean(method, 16), "host": clean(host), "port": port, "allowed": allowed}
    if reason:
        msg["reason"] = clean(reason, 300)
    if secret:
        msg["secret"] = secret
    emit(msg)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox-egress-proxy"
    sys_version = ""
    timeout = 300

    def log_message(self, fmt, *args):
        pass

    def refuse(self, status, message, host="", port=0):
        event(self.command, host, port, False, message)
        body = ("sandbox egress: %s\n" % message).encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def handle_one_request(self):
        if not SLOTS.acquire(blocking=False):
            self.close_connection = True
            return
        try:
            super().handle_one_request()
        finally:
            SLOTS.release()

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]").lower().rstrip(".")
        if not port.isdigit():
            return self.refuse(400, "CONNECT needs host:port", host, 0)
        port = int(port)
        target, reason = check(host, port)
        if target is None:
            return self.refuse(403, reason, host, port)
        secret = SECRETS.get(host)
        try:
            upstream = None if secret else connect(target)
        except OSError as e:
            return self.refuse(502, "%s:%d unreachable (%s)" % (host, port, type(e).__name__), host, port)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        client = self.connection
        sni = peek_sni(client)
        if sni and sni != host:
            event("CONNECT", host, port, False, "the TLS server name %s is not the host asked for" % sni)
            if upstream:
                upstream.close()
            return
        if secret is None:
            event("CONNECT", host, port, True)
            try:
                pipe(client, upstream)
            except OSError:
                pass
            finally:
                upstream.close()
            return
        if sni is None:
            event("CONNECT", host, port, False, "a host with a secret takes TLS only")
            return
        event("CONNECT", host, port, True, secret=secret["name"])
        try:
            tls = secret["tls"].wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            Inner(tls, self.client_address, self.server, host, port, target, secret)
        except OSError:
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def forward(self):
        url = self.path
        if not url.startswith("http://"):
            return self.refuse(400, "only absolute http:// requests and CONNECT are proxied", "", 0)
        rest = url[7:]
        netloc, slash, path = rest.partition("/")
        netloc = netloc.rpartition("@")[2]
        host, colon, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
        if not colon:
            host, port = netloc, "80"
        host = host.strip("[]").lower().rstrip(".")
        if not port.isdigit():
            return self.refuse(400, "bad port", host, 0)
        port = int(port)
        target, reason = check(host, port)
        if target is None:
            return self.refuse(403, reason, host, port)
        secret = SECRETS.get(host)
        event(self.command, host, port, True, secret=secret and secret["name"])
        relay(self, host, port, "/" + path, target, secret, tls=False)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = forward


class Inner(BaseHTTPRequestHandler):
    """Requests inside a terminated tunnel to a host that carries a secret."""
    protocol_version = "HTTP/1.1"
    timeout = 300

    def __init__(self, sock, addr, server, host, port, target, secret):
        self.host, self.port, self.target, self.secret = host, port, target, secret
        super().__init__(sock, addr, server)

    def log_message(self, fmt, *args):
        pass

    def forward(self):
        relay(self, self.host, self.port, self.path if self.path.startswith("/") else "/", self.target, self.secret, tls=True)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = forward


class PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target, host, port, tls):
        super().__init__(host, port, timeout=300)
        self.target, self.tls = target, tls

    def connect(self):
        self.sock = connect(self.target)
        if self.tls:
            self.sock = UPSTREAM_TLS.wrap_socket(self.sock, server_hostname=self.host)


def relay(h, host, port, path, target, secret, tls):
    length = h.headers.get("content-length")
    chunked = "chunked" in (h.headers.get("transfer-encoding") or "").lower()
    # The Host header names the host that was checked, whatever the client wrote (no fronting another site).
    headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP and k.lower() != "host"}
    headers["Host"] = host if port in (80, 443) else "%s:%d" % (host, port)
    if secret:
        headers = {k: v for k, v in headers.items() if k.lower() != secret["header"].lower()}
        headers[secret["header"]] = secret["value"]
    conn = PinnedHTTP(target, host, port, tls)
    try:
        try:
            conn.putrequest(h.command, path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            elif length is not None:
                conn.putheader("Content-Length", length)
            conn.endheaders()
            if chunked:
                while True:
                    line = h.rfile.readline(1024)
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    data = h.rfile.read(size + 2) if size else h.rfile.readline(1024)
                    conn.send(line + data)
                    if size == 0:
                        break
            elif length:
                left = int(length)
                while left > 0:
                    data = h.rfile.read(min(left, 65536))
                    if not data:
                        break
                    conn.send(data)
                    left -= len(data)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException, ValueError) as e:
            body = ("sandbox egress: %s:%d unreachable (%s)\n" % (host, port, type(e).__name__)).encode()
            h.send_response(502)
            h.send_header("content-length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            h.close_connection = True
            return
        h.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                h.send_header(k, v)
        if h.command == "HEAD" or resp.status in (204, 304):
            h.send_header("content-length", "0")
            h.end_headers()
            return
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        h.close_connection = True
    finally:
        conn.close()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


if __name__ == "__main__":
    srv = Server(("0.0.0.0", int(CFG.get("port", 3128))), Handler)
    threading.Thread(target=read_updates, daemon=True).start()
    emit({"type": "ready", "port": srv.server_address[1]})
    srv.serve_forever()
