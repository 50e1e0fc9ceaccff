"""A stand-in for dockerd's Engine API on a Unix socket, for `gipam check` and `gipam gc` (standard
library only).

It answers exactly the calls src/reconcile/docker_view.cpp makes, with the fields it reads:
    GET /networks                     every network's summary (Id, Name, Scope, Driver, IPAM: Driver,
                                      Options, Config: Subnet, IPRange, Gateway, AuxiliaryAddresses);
                                      Containers is empty there, as in dockerd's list
    GET /networks/<id>?verbose=true   one network, with Containers {id: {Name, EndpointID,
                                      MacAddress, IPv4Address "a/len", IPv6Address}}
Anything else (another path or method, an unknown network ID) is answered 404 and kept in
`unexpected`, so that a test can tell when gipam asks for something this stand-in does not know.
Every request is kept in `requests` as (method, path, status).

The networks come from a callable, asked at each request (the test's view of what its "containers"
hold at that moment). Besides them, the stand-in always shows dockerd's own "bridge" network (IPAM
driver "default"), which gipam must leave alone; asking for its details counts as unexpected.

    standin = DockerStandin("/tmp/x/docker.sock", lambda: [Network("lan", "198.18.0.0/24",
                            gateway="198.18.0.1", aux={"a0": "198.18.0.250"},
                            containers=[("web-1", "198.18.0.7")])])
    standin.start()  ...  standin.stop()
"""

import hashlib
import http.server
import ipaddress
import json
import os
import socketserver
import threading
import urllib.parse


def _hex_id(text, length=64):
    return hashlib.sha256(text.encode()).hexdigest()[:length]


class Network:
    """One Docker network on the IPAM driver `ipam_driver`: one IPAM config (subnet, optional
    ip-range, gateway and aux addresses) and its containers, each (name, address) with one address."""

    def __init__(self, name, subnet, gateway=None, aux=None, containers=(), ip_range=None, ipam_driver="gipam",
                 driver="macvlan", scope="local"):
        self.name = name
        self.subnet = ipaddress.ip_network(subnet)
        self.gateway = gateway
        self.aux = dict(aux or {})
        self.containers = list(containers)
        self.ip_range = ip_range
        self.ipam_driver = ipam_driver
        self.driver = driver
        self.scope = scope
        self.id = _hex_id("network " + name)

    def json(self, verbose):
        config = {"Subnet": str(self.subnet)}
        if self.ip_range:
            config["IPRange"] = str(self.ip_range)
        if self.gateway:
            config["Gateway"] = str(self.gateway)
        if self.aux:
            config["AuxiliaryAddresses"] = {k: str(v) for k, v in self.aux.items()}
        containers = {}
        if verbose:
            for name, address in self.containers:
                address = ipaddress.ip_address(address)
                cidr = f"{address}/{self.subnet.prefixlen}"
                cid = _hex_id("container " + name + " " + self.name)
                containers[cid] = {"Name": name, "EndpointID": _hex_id("endpoint " + cid),
                                   "MacAddress": "02:42:" + ":".join(cid[i:i + 2] for i in range(0, 8, 2)),
                                   "IPv4Address": cidr if address.version == 4 else "",
                                   "IPv6Address": cidr if address.version == 6 else ""}
        return {"Name": self.name, "Id": self.id, "Created": "2024-01-01T00:00:00.000000000Z", "Scope": self.scope,
                "Driver": self.driver, "EnableIPv6": self.subnet.version == 6,
                "IPAM": {"Driver": self.ipam_driver, "Options": {}, "Config": [config]},
                "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
                "ConfigOnly": False, "Containers": containers, "Options": {}, "Labels": {}}


def _dockerd_bridge():
    return Network("bridge", "172.17.0.0/16", gateway="172.17.0.1", ipam_driver="default", driver="bridge")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class DockerStandin:
    def __init__(self, path, networks):
        self.path = path
        self.networks = networks  # a callable: the list of Network to show now
        self.requests = []
        self.unexpected = []
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    def _all(self):
        return [_dockerd_bridge()] + list(self.networks())

    def _answer(self, method, target):
        url = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        if method == "GET" and parts == ["networks"] and not url.query:
            return 200, [n.json(verbose=False) for n in self._all()]
        if method == "GET" and len(parts) == 2 and parts[0] == "networks" and query in ({}, {"verbose": ["true"]}):
            for network in self._all():
                if parts[1] in (network.id, network.name) and network.ipam_driver != "default":
                    return 200, network.json(verbose=True)
        return 404, {"message": f"the Docker stand-in does not answer {method} {target}"}

    def start(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def address_string(self):
                return "unix"

            def log_message(self, format, *args):
                pass

            def _reply(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                try:
                    status, body = standin._answer(self.command, self.path)
                except Exception as error:  # a bug of the stand-in: said, not hidden
                    status, body = 500, {"message": f"{type(error).__name__}: {error}"}
                with standin.lock:
                    standin.requests.append((self.command, self.path, status))
                    if status != 200:
                        standin.unexpected.append(f"{self.command} {self.path} -> {status}")
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Api-Version", "1.45")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(raw)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _reply

        if os.path.exists(self.path):
            os.unlink(self.path)
        self.server = _Server(self.path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="docker-standin", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if os.path.exists(self.path):
            os.unlink(self.path)
