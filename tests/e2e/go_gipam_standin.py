#!/usr/bin/env python3
"""Stand-in for the Go gipam (github.com/archekb/gipam), for tests/e2e/migration.sh.

Answers dockerd on a Unix socket the way the Go tool does (pkg/gipam/gipam.go,
pkg/leaser/{leaser,subnet}.go and go-plugins-helpers' encoder), and keeps its
state in the Go tool's lease-file format, rewritten after every change (the Go
tool saves every 30 s and at exit; saving at once lets the test read it any time).

  go_gipam_standin.py SOCKET LEASE_FILE V4 V4AB V6 V6AB LOG

Go behaviour kept on purpose, because gipam must cope with its results:
  * empty address-space names, RequiresMACAddress true;
  * Pool/SubPool/Options and the requested Address are ignored;
  * addresses come from the block's free list first (LIFO), then the next index,
    up to and including the IPv4 broadcast address;
  * a released block keeps its ID and goes to the top-level free list.
  * on SIGTERM it saves and exits without removing its socket (a Go process that
    returns from main leaves the socket file behind).
Not kept: the Go tool refuses IPv4 blocks when no v6 supernet is set (it checks
V6Pool for both families); the test configures a v6 supernet anyway.
"""
import ipaddress
import json
import os
import random
import signal
import socketserver
import string
import sys
import threading
from http.server import BaseHTTPRequestHandler

SOCKET, FILE, V4, V4AB, V6, V6AB, LOG = sys.argv[1:8]
LOCK = threading.Lock()
CT = "application/vnd.docker.plugins.v1.1+json"


def load():
    if os.path.exists(FILE):
        with open(FILE) as f:
            return json.load(f)
    return {"v6": V6, "v6ab": int(V6AB), "v4": V4, "v4ab": int(V4AB), "allocated": None, "free": None}


STATE = load()


def save():
    # Go's key order; v6idx/v4idx are omitempty, the lists are null when empty-and-nil.
    out = {"v6": STATE["v6"], "v6ab": STATE["v6ab"]}
    if STATE.get("v6idx"):
        out["v6idx"] = STATE["v6idx"]
    out.update({"v4": STATE["v4"], "v4ab": STATE["v4ab"]})
    if STATE.get("v4idx"):
        out["v4idx"] = STATE["v4idx"]
    out.update({"allocated": STATE["allocated"], "free": STATE["free"]})
    tmp = FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(out, indent=2))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, FILE)


class GoError(Exception):
    pass


def block_by_id(pool_id):
    for b in STATE["allocated"] or []:
        if b["id"] == pool_id:
            return b
    raise GoError(pool_id + " address block not found")


def request_pool(req):
    v = 6 if req.get("V6") else 4
    free = STATE["free"] or []
    for k, b in enumerate(free):          # getBlockFromFree: a released block, same ID
        if b["v"] == v:
            free[k] = free[-1]
            free.pop()
            break
    else:                                 # getBlockFromMainPool: the next /vNab
        key = "v%d" % v
        if not STATE[key]:
            raise GoError("Can't get new IPv%d address block from main pool" % v)
        net = ipaddress.ip_network(STATE[key])
        idx = STATE.get(key + "idx", 0)
        size = 1 << (net.max_prefixlen - STATE[key + "ab"])
        if (idx + 1) * size > net.num_addresses:
            raise GoError("Can't get new IPv%d address block from main pool %s" % (v, net))
        first = net.network_address + idx * size
        STATE[key + "idx"] = idx + 1
        rid = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(16))
        b = {"id": rid, "v": v, "pool": "%s/%d" % (first, STATE[key + "ab"]), "idx": 1,
             "allocated": None, "free": None}
    STATE["allocated"] = (STATE["allocated"] or []) + [b]
    return {"PoolID": b["id"], "Pool": b["pool"], "Data": None}


def request_address(req):
    b = block_by_id(req.get("PoolID", ""))
    if b["free"]:
        ip = b["free"].pop()
    else:
        net = ipaddress.ip_network(b["pool"])
        if b["idx"] >= net.num_addresses:  # Nth(idx) is nil past the last address
            raise GoError(b["id"] + " can't get ip address.")
        ip = str(net.network_address + b["idx"])   # the broadcast included
        b["idx"] += 1
    b["allocated"] = (b["allocated"] or []) + [ip]
    return {"Address": "%s/%s" % (ip, b["pool"].split("/")[1]), "Data": None}


def release_address(req):
    b = block_by_id(req.get("PoolID", ""))
    ip = req.get("Address", "").split("/")[0]
    if ip not in (b["allocated"] or []):
        raise GoError("Returned address not found in block " + b["id"])
    b["allocated"].remove(ip)
    b["free"] = (b["free"] or []) + [ip]
    return {}


def release_pool(req):
    b = block_by_id(req.get("PoolID", ""))
    STATE["allocated"].remove(b)
    b.update({"allocated": [], "free": [], "idx": 1})   # Subnet.Reset
    STATE["free"] = (STATE["free"] or []) + [b]
    return {}


ROUTES = {
    "/Plugin.Activate": lambda r: {"Implements": ["IpamDriver"]},
    "/IpamDriver.GetCapabilities": lambda r: {"RequiresMACAddress": True},
    "/IpamDriver.GetDefaultAddressSpaces": lambda r: {"LocalDefaultAddressSpace": "",
                                                      "GlobalDefaultAddressSpace": ""},
    "/IpamDriver.RequestPool": request_pool,
    "/IpamDriver.ReleasePool": release_pool,
    "/IpamDriver.RequestAddress": request_address,
    "/IpamDriver.ReleaseAddress": release_address,
}
CHANGES = {"/IpamDriver.RequestPool", "/IpamDriver.ReleasePool",
           "/IpamDriver.RequestAddress", "/IpamDriver.ReleaseAddress"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like Go's net/http

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = ROUTES.get(self.path)
        with LOCK:
            if route is None:
                code, text = 404, "404 page not found\n"
            else:
                try:
                    req = json.loads(body) if body.strip() else {}
                    code, text = 200, json.dumps(route(req), separators=(",", ":")) + "\n"
                    if self.path in CHANGES:
                        save()
                except GoError as e:
                    code, text = 500, json.dumps({"Err": str(e)}, separators=(",", ":")) + "\n"
            with open(LOG, "a") as log:
                log.write("%s %s -> %d %s" % (self.path, body.decode(errors="replace").strip(), code, text))
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", CT if code != 404 else "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self):   # client_address is "" on a Unix socket
        return "unix"

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def stop(*_):
    with LOCK:
        save()
    os._exit(0)   # like the Go tool: the socket file stays behind


if os.path.exists(SOCKET):
    os.unlink(SOCKET)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
with LOCK:
    save()
srv = Server(SOCKET, Handler)
srv.serve_forever()
