"""The contention test's workload: the client threads, what each was told, and the run's record
of it (see contention.py)."""

import collections
import ipaddress
import random
import re
import threading
import time

from harness import START, call


SHARED_NAMES = ("lan-a", "lan-b")
HOSTS = ("h1", "h2", "h3")
THREADS_PER_HOST = 8
STATIC_PER_HOST = 2  # of the THREADS_PER_HOST: ask for shared-pool addresses by value (docker run --ip)
STATIC_OFFSETS = range(200, 232)  # the addresses they all draw from, in each shared pool
AUX_OFFSETS = (250, 251)  # each shared pool's --aux-address values, asked for right after the gateway


# ---------------------------------------------------------------- the clients

class Tenure:
    """One acknowledged grant (of an address or a pool) to one client, and how it ended."""
    __slots__ = ("what", "host", "client", "pool_id", "prefix", "addr", "shared", "static", "g0", "g1",
                 "end", "r0", "r1", "failed_releases")

    def __init__(self, what, host, client, pool_id, prefix, addr, shared, answer, static=False):
        self.what, self.host, self.client, self.pool_id = what, host, client, pool_id
        self.prefix, self.addr, self.shared, self.static = prefix, addr, shared, static
        self.g0, self.g1 = answer.t0, answer.t1
        self.end = None  # None: still held; released, doubt (release unanswered), pool_released, pool_doubt
        self.r0 = self.r1 = None
        self.failed_releases = 0

    def close(self, end, answer):
        self.end, self.r0, self.r1 = end, answer.t0, answer.t1

    def __str__(self):
        thing = f"{self.addr} of {self.pool_id}" if self.what == "addr" else f"pool {self.pool_id}"
        if self.static:
            thing += " (by value)"
        text = f"{thing} to {self.client} granted [{self.g0 - START:.3f},{self.g1 - START:.3f}]"
        if self.end:
            text += f", {self.end} [{self.r0 - START:.3f},{self.r1 - START:.3f}]"
        return text


class Run:
    def __init__(self, hosts, shared, shared_prefix, network_addrs):
        self.hosts = hosts  # name -> Gipam
        self.shared = shared  # name -> pool ID (the same on every host)
        self.shared_ids = set(shared.values())
        self.shared_prefix = shared_prefix  # pool ID -> its network
        # pool ID -> {"gateway": address, "aux": {name: address}}: held once for every host
        self.network_addrs = network_addrs
        self.static_range = {pid: [str(net[i]) for i in STATIC_OFFSETS] for pid, net in shared_prefix.items()}
        self.stop = threading.Event()
        self.paused = {h: threading.Event() for h in hosts}  # set: that host's clients wait
        self.lock = threading.Lock()
        self.addr_tenures = []
        self.pool_tenures = []
        self.unsure = []  # (op, host, pool ID or None, answer) of failed or unanswered grants
        self.counts = collections.Counter()
        self.static_counts = collections.Counter()  # by category, of requests by value in shared pools
        self.static_refusals = []  # (host, pool ID, address, answer, the holder named)
        self.static_mismatches = []  # granted another address than the one asked for
        self.logs_said_addr_held = set()  # (pool ID, address): "released here, but etcd still shows it held"
        self.latency = collections.defaultdict(list)
        self.timeouts = []

    def network_held(self):
        """{(pool ID, address)} of every shared pool's gateway and aux addresses."""
        return {(pid, a) for pid, held in self.network_addrs.items()
                for a in [held["gateway"], *held["aux"].values()] if a}

    def record(self, op, host, answer, pool_id=None, address=None):
        category = categorize(answer)
        with self.lock:
            self.counts[(op, category)] += 1
            if address is not None:
                self.static_counts[category] += 1
                match = re.search(r"is held by node ([^\s,;()]+)", answer.err or "")
                if answer.kind == "err" and match:
                    self.static_refusals.append((host, pool_id, address, answer, match.group(1)))
            if answer.kind == "ok":
                self.latency[op].append(answer.t1 - answer.t0)
            if answer.kind == "doubt" and "timeout" in answer.err and self.hosts[host].alive():
                self.timeouts.append(f"{op} on {host} ({pool_id}) at t={answer.t0 - START:.2f}s: {answer.err}")
            if op in ("RequestPool", "RequestAddress") and answer.kind in ("err", "doubt"):
                self.unsure.append((op, host, pool_id, answer))


def categorize(answer):
    if answer.kind == "ok":
        return "ok"
    if answer.kind == "down":
        return "down (no listener)"
    text = answer.err
    if answer.kind == "doubt":
        if "may have applied" in text:
            return "in doubt (etcd outcome unknown)"
        return "in doubt (" + ("timeout" if "timeout" in text else "connection lost") + ")"
    if "unreachable" in text or "etcd" in text and ("could not" in text or "refused" in text):
        return "etcd unavailable"
    if "gave up after" in text:
        return "contention (gave up)"
    if "no free" in text:
        return "exhausted"
    if "unknown pool" in text:
        return "unknown pool"
    if "is held by node" in text:
        return "refused: held by a node (by value)"
    return "other: " + text[:100]


def norm(addr):
    return str(ipaddress.ip_address(addr))


class Client(threading.Thread):
    def __init__(self, run, host, index, seed, static=False):
        super().__init__(name=f"{host}.c{index}", daemon=True)
        self.run_ = run
        self.host = host
        self.sock = run.hosts[host].sock
        self.rng = random.Random(seed)
        self.static = static  # asks for shared-pool addresses by value, from run.static_range
        self.pools = {}  # pool ID -> Tenure: this client's own host-local pools
        self.held = {}  # (pool ID, address) -> Tenure
        self.error = None
        self.first_step = None  # "release" or "request" (in a shared pool), set when its gipam restarted
        self.idle = threading.Event()  # set while its host is paused and it sends nothing

    def run(self):
        try:
            while not self.run_.stop.is_set():
                if self.run_.paused[self.host].is_set():
                    self.idle.set()
                    time.sleep(0.02)
                    continue
                self.idle.clear()
                answer = self.step()
                if answer is not None and answer.kind == "down":
                    time.sleep(self.rng.uniform(0.05, 0.2))
                else:
                    time.sleep(self.rng.uniform(0.015, 0.06))  # ~450 requests/s in all: kind to 2 cores
        except Exception as error:  # a bug of the test: reported, fails the run
            self.error = f"{type(error).__name__}: {error}"
            raise

    def step(self):
        rng = self.rng
        first, self.first_step = self.first_step, None
        if first == "release":
            shared = sorted(k for k, t in self.held.items() if t.shared)
            if shared:
                return self.release_address(rng.choice(shared))
        elif first == "request":
            return self.request_address(self.run_.shared[rng.choice(SHARED_NAMES)])
        pools, held = len(self.pools), len(self.held)
        r = rng.random()
        if pools == 0 or (pools < 3 and r < 0.05):
            return self.request_pool()
        if pools >= 2 and r < 0.08:
            return self.release_pool()
        if held and rng.random() < min(0.85, 0.1 + held / 16):
            return self.release_address()
        return self.request_address()

    def request_pool(self):
        v6 = self.rng.random() < 0.2
        answer = call(self.sock, "IpamDriver.RequestPool",
                      {"AddressSpace": "gipam-local", "Pool": "", "SubPool": "", "Options": {}, "V6": v6})
        self.run_.record("RequestPool", self.host, answer)
        if answer.kind == "ok":
            pool_id, prefix = answer.body["PoolID"], answer.body["Pool"]
            tenure = Tenure("pool", self.host, self.name, pool_id, ipaddress.ip_network(prefix), None, False, answer)
            with self.run_.lock:
                self.run_.pool_tenures.append(tenure)
            self.pools[pool_id] = tenure  # one already there would be a duplicate: the audit finds it
        return answer

    def release_pool(self):
        pool_id = self.rng.choice(sorted(self.pools))
        tenure = self.pools[pool_id]
        answer = call(self.sock, "IpamDriver.ReleasePool", {"PoolID": pool_id})
        self.run_.record("ReleasePool", self.host, answer, pool_id)
        if answer.kind in ("ok", "doubt"):
            tenure.close("released" if answer.kind == "ok" else "doubt", answer)
            del self.pools[pool_id]
            for key in [k for k in self.held if k[0] == pool_id]:
                self.held.pop(key).close("pool_released" if answer.kind == "ok" else "pool_doubt", answer)
        elif answer.kind == "err":
            tenure.failed_releases += 1
        return answer

    def request_address(self, pool_id=None):
        own = sorted(self.pools)
        if pool_id:
            pass
        elif own and self.rng.random() < 0.5:
            pool_id = self.rng.choice(own)
        else:
            pool_id = self.run_.shared[self.rng.choice(SHARED_NAMES)]
        wanted = None
        if self.static and pool_id in self.run_.shared_ids:
            # docker run --ip: by value, Options null, long after the network's create
            wanted = self.rng.choice([a for a in self.run_.static_range[pool_id] if (pool_id, a) not in self.held])
            payload = {"PoolID": pool_id, "Address": wanted, "Options": None}
        else:
            payload = {"PoolID": pool_id, "Address": "", "Options": {}}
        answer = call(self.sock, "IpamDriver.RequestAddress", payload)
        self.run_.record("RequestAddress", self.host, answer, pool_id, address=wanted)
        if answer.kind == "ok":
            addr = norm(answer.body["Address"].split("/")[0])
            if wanted is not None and addr != wanted:
                with self.run_.lock:
                    self.run_.static_mismatches.append(f"{self.name} asked for {wanted} of {pool_id}, got {answer!r}")
            shared = pool_id in self.run_.shared_ids
            prefix = ipaddress.ip_network(answer.body["Address"], strict=False)
            tenure = Tenure("addr", self.host, self.name, pool_id, prefix, addr, shared, answer, static=wanted is not None)
            with self.run_.lock:
                self.run_.addr_tenures.append(tenure)
            self.held[(pool_id, addr)] = tenure
        return answer

    def release_address(self, key=None):
        key = key or self.rng.choice(sorted(self.held))
        tenure = self.held[key]
        answer = call(self.sock, "IpamDriver.ReleaseAddress", {"PoolID": key[0], "Address": key[1]})
        self.run_.record("ReleaseAddress", self.host, answer, key[0])
        if answer.kind in ("ok", "doubt"):
            tenure.close("released" if answer.kind == "ok" else "doubt", answer)
            del self.held[key]
        elif answer.kind == "err":
            tenure.failed_releases += 1  # kept: tried again later
        return answer
