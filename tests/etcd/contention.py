#!/usr/bin/env python3
"""Contention and failure test of gipam's etcd backend, on real processes.

    python3 tests/etcd/contention.py /path/to/gipam [--duration 30] [--seed N]
        [--gipam-kills 2|3] [--etcd-kills 2] [--no-name-race]
    (exit 0 pass, 1 fail, 77 skip; takes ~40 s; root for gipam gc's admin API, which only root
    may use on the plugin socket)

A 3-member etcd cluster on free loopback ports and 3 gipam processes (hosts h1, h2, h3, each with
its own directory, lease file and Unix socket, --log-level debug) sharing one address plan in it.
Every host asks for the shared pool "lan-a" at once, then for "lan-b" at once: each name must give
one pool everywhere, a different one per name; right after its pool each host asks, as dockerd
does, for the gateway and two --aux-address values (by value, Options null): every host must get
the same ones, held once for every host in etcd. Names asked for by one host each (h2 "solo-x",
then h3 "solo-y"; then both at once) must get different pools too (--no-name-race leaves that
out); those pools are released again. Then 8 client threads per host (24 in all) run random
operations for --duration seconds: RequestPool of host-local pools (a fifth of them IPv6) and
ReleasePool of their own, RequestAddress in their own pools and in the two shared pools,
ReleaseAddress of what they got. 2 threads per host ask for their shared-pool addresses by value
instead (docker run --ip), from 32 addresses of each shared pool that all of them draw from: each
must get the address asked for, or be refused with an Err naming the node that holds it (counted
as expected, not as a failure; the run must see such collisions across hosts). Each thread only
ever touches its own pools and addresses, so every answer can be checked against what it was told.

Meanwhile (--seed repeats a schedule): a gipam is SIGKILLed and restarted at once, 2 or 3 times
(--gipam-kills), its clients then first releasing an address of a shared pool each (what dockerd
does after a plugin restart for containers that stopped meanwhile); one etcd member at a time is
SIGKILLed and restarted 3 s later, twice (--etcd-kills): first a random one, then the leader, right
after a gipam restarted, whose clients then first ask for a shared-pool address (the host knowing
least about its shared pools meets an election). Requests to a dead gipam fail: threads go on.
And (contention_identity.py): at 35% a second gipam starts as a running host's --node-id with a
fresh lease file of its own: it must exit non-zero ("is held by another live gipam") and change
nothing of that node's in etcd; at 60% a host's gipam is stopped, its lease file deleted and gipam
started again: it must exit non-zero within a few seconds ("does not know" / "belongs to another
instance", naming `gipam node remove`) with none of that node's keys in etcd changed; its lease
file is then put back and it starts normally.

Every acknowledged answer (200) is recorded with the time its request was sent and answered;
errors are not acknowledged, and a request that got no answer (gipam killed, timeout), or whose
Err says etcd may have applied it, is "in doubt". A background thread samples etcd's revision, to
date keys. After the clients stop and etcd is healthy, the audit, from each lease file and
everything under /gipam in etcd:
  1. no two pools overlap: host-local pools of the lease files, shared pools (once), etcd blocks;
  2. every host-local pool of a lease file has its block in etcd, naming that node and pool
     (shared ones: a cluster block, the pool record and a holder key each); and no block in etcd
     that neither a lease file nor a failed or unanswered RequestPool explains;
  3. no address (and no pool) was acknowledged to two clients at once: replaying the log, two
     grants of one address (dynamic or by value) are a DUPLICATE when neither holder could have
     released it before the other was granted it (the release, if any, was sent after the other
     grant was answered); and no client was granted a shared pool's gateway or aux address;
  4. every acknowledged grant not released since is held: in its host's lease file (host-local
     pools) or as its address key naming that host in etcd (shared pools); pools in lease files;
     each shared pool's gateway and aux addresses as keys held for every host;
  5. an address (or block) whose last grant was released, acknowledged, is held nowhere: in no
     lease file (unless an unanswered request may have taken it since), and for shared pools no
     address key created before that release was sent is left;
  plus: every request to a running gipam was answered within 10 s, every gipam still runs.
Then (contention_gc.py) the leaks: what gipam holds and no client does, counted ("leaked before
gc"; a few planted by the test on top, as by a dockerd that died after asking); `gipam gc --grace 1`
for every host, each with a Docker Engine API stand-in (docker_standin.py) showing that host's
networks, gateways, aux addresses and its clients' addresses; then none may be left, in etcd
(address keys, block claims, holds) or in the lease files, and gc must have freed nothing in use.
Prints the counts of acknowledged grants and releases, failures by kind, allocations per second,
latencies, and each host's gipam_store_conflicts_total (GET /metrics on its socket); on failure
the offending keys and addresses, and the lines of gipam's logs that name them.

Environment: CONTENTION_NO_ETCD=1 starts the gipams WITHOUT --etcd-endpoints (etcd still runs, for
the audit), to see this test fail: the hosts then hand out the same blocks and addresses.
CONTENTION_SKIP_GC=1 leaves gipam gc out, to see the leak checks fail; CONTENTION_PLANT=0 plants no
leaks (then only the churn's are counted and freed).
E2E_KEEP=1 keeps the scratch directory. Only 198.18.0.0/16 and 2001:db8:100::/56, loopback TCP.
"""

import argparse
import collections
import ipaddress
import json
import os
import random
import re
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (NODE_SCOPES, PREFIX, REQUEST_TIMEOUT, START, TAP, EtcdCluster, Gipam,  # noqa: E402
                     block_of, call, expand, finish, get_text, harness_failed, hold_of, limited, note_log, now,
                     preflight, run_main, start_cluster, tail)
import contention_gc  # noqa: E402
import contention_identity  # noqa: E402

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


class RevisionSampler(threading.Thread):
    """(sent, answered, revision) of etcd, every 0.2 s: dates keys by their create revision."""

    def __init__(self, cluster):
        super().__init__(name="revisions", daemon=True)
        self.cluster = cluster
        self.samples = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            t0 = time.monotonic()
            try:
                revision = self.cluster.revision()
                self.samples.append((t0, time.monotonic(), revision))
            except Exception:
                pass
            self.halt.wait(0.2)

    def before(self, t):
        """The highest revision surely reached at time t (a sample answered by then)."""
        best = None
        for t0, t1, revision in self.samples:
            if t1 <= t:
                best = revision if best is None else max(best, revision)
        return best

    def after(self, t):
        """The lowest revision surely not yet passed at time t (a sample sent after it)."""
        best = None
        for t0, t1, revision in self.samples:
            if t0 >= t:
                best = revision if best is None else min(best, revision)
        return best


# ---------------------------------------------------------------- the audit

def is_shared_record(pool):
    return "gipam.network" in (pool.get("options") or {}) or pool["id"].startswith("gipam-global/")


class State:
    """The end state: every lease file, and etcd."""

    def __init__(self, run, cluster):
        self.leases = {h: g.read_leases() for h, g in run.hosts.items()}
        self.kvs, self.revision = cluster.range(PREFIX + "/")
        self.local = []  # (host, pool ID, network, addresses) of host-local pools
        self.shared_local = []  # (host, pool ID, network) of shared pools in lease files
        self.held_local = collections.defaultdict(set)  # address -> {(host, pool ID)}
        for host, leases in self.leases.items():
            for pool in leases.get("pools", []):
                network = ipaddress.ip_network(pool["pool"])
                if is_shared_record(pool):
                    self.shared_local.append((host, pool["id"], network, pool.get("addresses", [])))
                    continue
                addresses = expand(pool.get("addresses", []), longest=1 << 16)
                self.local.append((host, pool["id"], network, addresses))
                for address in addresses:
                    self.held_local[address].add((host, pool["id"]))
        self.blocks = []  # (network, {pool, node, scope}, key)
        self.pool_records, self.holders, self.names = {}, collections.defaultdict(set), {}
        self.address_keys = {}  # (pool ID, address) -> (value, create revision)
        pools = PREFIX + "/pools/"
        for key, (value, created, _) in self.kvs.items():
            if key.startswith(PREFIX + "/blocks/"):
                network = block_of(key)
                try:
                    holder = json.loads(value)
                except ValueError:
                    holder = {"unreadable": value}
                self.blocks.append((network, holder, key))
            elif key.startswith(PREFIX + "/names/"):
                self.names[key[len(PREFIX + "/names/"):]] = value
            elif key.startswith(pools):
                rest = key[len(pools):]
                if "/addresses/" in rest:
                    pool_id, _, address = rest.partition("/addresses/")
                    self.address_keys[(pool_id, norm(address))] = (value, created)
                elif "/holders/" in rest:
                    pool_id, _, node = rest.partition("/holders/")
                    self.holders[pool_id].add(node)
                elif rest.endswith("/name"):
                    pass
                else:
                    self.pool_records[rest] = value

    def holds_local(self, host, pool_id, address):
        for h, pid, _, addresses in self.local:
            if h == host and pid == pool_id:
                return address in addresses
        return False


def lost_grants(run, state):
    """Acknowledged grants not released since that the end state does not hold, and shared pools'
    gateway and aux addresses it does not hold for every host: [((host, address, why), line)]."""
    lost = []
    for t in run.addr_tenures:
        if t.end is not None:
            continue
        if t.shared:
            found = state.address_keys.get((t.pool_id, t.addr))
            hold = hold_of(found[0]) if found else None
            if not hold or hold.get("holder") != t.host or hold.get("use") != "endpoint":
                lost.append(f"{t}: etcd has {found[0] if found else 'no key'} for it")
            else:
                continue
        elif not state.holds_local(t.host, t.pool_id, t.addr):
            lost.append(f"{t}: not in {t.host}'s lease file")
        else:
            continue
        lost[-1] = ((t.host, t.addr, lost[-1]), lost[-1])
    local_keys = {(h, pid) for h, pid, _, _ in state.local}
    for t in run.pool_tenures:
        if t.end is None and (t.host, t.pool_id) not in local_keys:
            line = f"{t}: not in {t.host}'s lease file"
            lost.append(((t.host, t.pool_id, line), line))
    for pid, address in sorted(run.network_held()):
        found = state.address_keys.get((pid, address))
        hold = hold_of(found[0]) if found else None
        if not hold or hold.get("use") != "shared":
            line = f"{address} of {pid}, its gateway or an aux address: etcd has {found[0] if found else 'no key'}"
            lost.append((("h1", address, line), line))
    return lost


def audit(run, cluster, sampler, state, logs_said_held, evidence):
    """Runs checks 1-5; appends (host, address or pool ID, why) to evidence for the log excerpts."""
    tenures = run.addr_tenures
    pool_tenures = run.pool_tenures

    # 1. overlaps in the end state
    items = [(net, f"{h}: host pool {pid} (lease file)", ("host", h, pid)) for h, pid, net, _ in state.local]
    seen_shared = {}
    for h, pid, net, _ in state.shared_local:
        seen_shared.setdefault(pid, (net, [])) [1].append(h)
    for pid, (net, hosts) in seen_shared.items():
        items.append((net, f"shared pool {pid} (lease files of {','.join(hosts)})", ("shared", pid)))
    overlaps = []
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            a, b = items[i], items[j]
            if a[0].version == b[0].version and a[0].overlaps(b[0]):
                overlaps.append(f"{a[1]} overlaps {b[1]}")
    blocks = [(net, holder, key) for net, holder, key in state.blocks if net is not None]
    for i in range(len(blocks)):
        for j in range(i + 1, len(blocks)):
            a, b = blocks[i], blocks[j]
            if a[0].version == b[0].version and a[0].overlaps(b[0]):
                overlaps.append(f"etcd {a[2]} {a[1]} overlaps etcd {b[2]} {b[1]}")
    for net, holder, key in blocks:
        for inet, what, ident in items:
            if net.version != inet.version or not net.overlaps(inet):
                continue
            if ident[0] == "host":
                mine = net == inet and holder.get("pool") == ident[2] and holder.get("node") == ident[1] \
                    and holder.get("scope") in NODE_SCOPES
            else:
                mine = net == inet and holder.get("pool") == ident[1] and holder.get("scope") == "cluster"
            if not mine:
                overlaps.append(f"etcd {key} {holder} overlaps {what}")
    TAP.check(not overlaps, f"no overlapping pools ({len(items)} pools in lease files, {len(blocks)} blocks in etcd)",
              [f"{len(overlaps)} overlaps"] + limited(overlaps, 20))

    # 2. etcd blocks agree with the lease files
    by_net = {}
    for net, holder, key in blocks:
        by_net.setdefault(net, []).append((holder, key))
    missing = []
    for h, pid, net, _ in state.local:
        found = by_net.get(net, [])
        if not any(hd.get("pool") == pid and hd.get("node") == h and hd.get("scope") in NODE_SCOPES for hd, _ in found):
            missing.append(f"{h}: host pool {pid} of the lease file: etcd has {found or 'no block'}")
    for pid, (net, hosts) in seen_shared.items():
        found = by_net.get(net, [])
        if not any(hd.get("pool") == pid and hd.get("scope") == "cluster" for hd, _ in found):
            missing.append(f"shared pool {pid}: etcd has {found or 'no block'}")
        if pid not in state.pool_records:
            missing.append(f"shared pool {pid}: no key {PREFIX}/pools/{pid}")
        for h in hosts:
            if h not in state.holders.get(pid, set()):
                missing.append(f"shared pool {pid} is in {h}'s lease file but etcd names holders "
                               f"{sorted(state.holders.get(pid, set()))}")
    TAP.check(not missing, f"every pool of the lease files has its block in etcd naming its node "
                           f"({len(state.local)} host-local, {len(seen_shared)} shared)", limited(missing, 20))

    local_keys = {(h, pid) for h, pid, _, _ in state.local}
    unsure_pool_hosts = {h for op, h, _, a in run.unsure if op == "RequestPool"}
    leaked, explained = [], []
    for net, holder, key in blocks:
        if holder.get("scope") in NODE_SCOPES:
            if (holder.get("node"), holder.get("pool")) in local_keys:
                continue
            text = f"{key} {holder}"
            if holder.get("pool") in logs_said_held.get(holder.get("node"), set()):
                explained.append(text + " (gipam logged that etcd still shows it held)")
            elif holder.get("node") in unsure_pool_hosts:
                explained.append(text + " (that host had RequestPools fail or go unanswered)")
            else:
                leaked.append(text)
        elif holder.get("pool") not in seen_shared:
            leaked.append(f"{key} {holder}: a cluster block no lease file holds")
    if explained:
        TAP.note(f"{len(explained)} blocks in etcd no lease file holds, each after a failed request (a leak "
                 "until that host restarts):")
        for line in limited(explained):
            TAP.note("  " + line)
    TAP.check(not leaked, "every block in etcd is held by a lease file's pool (or a failed request explains it)",
              [f"{len(leaked)} leaked"] + limited(leaked, 20))

    # 3. duplicates: replaying the acknowledged grants
    def together(a, b):
        """a and b surely overlapped in time: neither could have been released before the other was granted."""
        a_first = a.end is not None and a.r0 < b.g1
        b_first = b.end is not None and b.r0 < a.g1
        return not a_first and not b_first

    duplicates = []

    def grouped(items, key):
        """Tenures by key (an address, a block), oldest grant first."""
        groups = collections.defaultdict(list)
        for t in items:
            groups[key(t)].append(t)
        for group in groups.values():
            group.sort(key=lambda t: t.g0)
        return groups

    def overlapping_tenures(groups, label):
        """Pairs of tenures of one key that overlapped in time."""
        for what, group in groups.items():
            for i in range(len(group)):
                for j in range(i + 1, len(group)):
                    if together(group[i], group[j]):
                        yield what, group[j], f"DUPLICATE {label}{what}: {group[i]} / {group[j]}"

    by_address = grouped(tenures, lambda t: t.addr)
    by_block = grouped(pool_tenures, lambda t: t.prefix)
    for address, later, line in overlapping_tenures(by_address, ""):
        duplicates.append(line)
        if len(duplicates) <= 2:
            evidence.append((later.host, address, line))
    for _, _, line in overlapping_tenures(by_block, "pool "):
        duplicates.append(line)
    # A shared pool's gateway and aux addresses are every host's, all along: no client's as well.
    network_held = run.network_held()
    for t in tenures:
        if (t.pool_id, t.addr) in network_held:
            duplicates.append(f"DUPLICATE {t.addr}: the gateway or an aux address of {t.pool_id}, held for every "
                              f"host / {t}")
            if len(duplicates) <= 2:
                evidence.append((t.host, t.addr, duplicates[-1]))
    static = sum(1 for t in tenures if t.static)
    TAP.check(not duplicates, f"no address or pool acknowledged to two clients at once "
                              f"({len(tenures)} address grants, {static} of them by value, {len(pool_tenures)} pool "
                              f"grants replayed; {len(network_held)} gateway and aux addresses held for every host)",
              [f"{len(duplicates)} duplicates"] + limited(duplicates, 20))

    # 4. what is held is still held
    lost = lost_grants(run, state)
    if lost:
        evidence.append(lost[0][0])
    open_addresses = sum(1 for t in tenures if t.end is None)
    open_pools = sum(1 for t in pool_tenures if t.end is None)
    TAP.check(not lost, f"every acknowledged grant not released since is still held ({open_addresses} addresses, "
                        f"{open_pools} pools; shared pools' gateway and aux addresses)",
              [f"{len(lost)} lost"] + limited([line for _, line in lost], 20))

    # 5. what was released is not held: per address (and per block), its last acknowledged grant
    # decides; when that one was released (acknowledged), nothing may hold it at the end.
    unsure_addr = collections.defaultdict(list)  # pool ID -> answer times of failed/unanswered RequestAddress
    for op, h, pid, a in run.unsure:
        if op == "RequestAddress":
            unsure_addr[pid].append(a.t1)
    still, recreated = [], []
    checked = skipped = 0
    for address, group in by_address.items():
        last = max(group, key=lambda t: t.g1)
        if last.end not in ("released", "pool_released") or any(t.end is None for t in group):
            continue  # held (check 4), or released in doubt
        release_sent = last.r0
        release_answered = max(t.r1 for t in group)
        if last.shared:
            found = state.address_keys.get((last.pool_id, address))
            checked += 1
            if found is None:
                continue
            value, created = found
            reached = sampler.before(release_sent)
            ahead = sampler.after(release_answered)
            if reached is not None and created <= reached:
                if not still:
                    evidence.append((last.host, address, f"{last}: released, still in etcd"))
                said = (last.pool_id, address) in run.logs_said_addr_held
                still.append(f"{last}: etcd still has {PREFIX}/pools/{last.pool_id}/addresses/{address} = {value!r}, "
                             f"created at revision {created}, before the release was sent (etcd was at revision "
                             f"{reached} by then)" +
                             ("; gipam logged that it released it while etcd still showed it held" if said else ""))
            elif ahead is not None and created > ahead:
                recreated.append(f"{last}: etcd has it again ({value!r}, created at revision {created}, after "
                                 f"the release: revision {ahead} by then)")
            else:
                recreated.append(f"{last}: etcd has it ({value!r}, created at revision {created}; the revisions "
                                 f"around the release are unknown)")
            continue
        holders = state.held_local.get(address)
        if holders and any(t1 > release_sent for t1 in unsure_addr.get(last.pool_id, [])):
            skipped += 1  # an unanswered or failed request after the release may have taken it
            continue
        checked += 1
        if holders:
            if not still:
                evidence.append((last.host, address, f"{last}: released, still in a lease file"))
            still.append(f"{last}: still held in lease file(s) of {sorted(holders)}")
    for block, group in by_block.items():
        last = max(group, key=lambda t: t.g1)
        if last.end != "released" or any(t.end is None for t in group):
            continue
        holders = [(h, pid) for h, pid, net, _ in state.local if net.overlaps(block)]
        if holders and any(op == "RequestPool" and a.t1 > last.r0 for op, h, pid, a in run.unsure):
            skipped += 1
            continue
        checked += 1
        if holders:
            still.append(f"{last}: still in lease file(s) {holders}")
    if recreated:
        TAP.note(f"{len(recreated)} released shared-pool addresses are held by keys created after their release "
                 "(leaks of failed or unanswered requests):")
        for line in limited(recreated, 6):
            TAP.note("  " + line)
    TAP.check(not still, f"every address and pool whose last grant was released (acknowledged) is held nowhere "
                         f"({checked} checked, {skipped} skipped: maybe taken again by an unanswered request)",
              [f"{len(still)} still held"] + limited(still, 20))

    return bool(overlaps or missing or leaked or duplicates or lost or still)


def static_check(run):
    """Requests by value in shared pools: refused only when a node holds the address, naming it."""
    held_by = "refused: held by a node (by value)"
    availability = ("ok", held_by, "down (no listener)", "etcd unavailable")
    other = {k: n for k, n in run.static_counts.items() if k not in availability and not k.startswith("in doubt")}
    refusals = run.static_refusals
    cross = sum(1 for host, _, _, _, holder in refusals if holder != host)
    grants = collections.defaultdict(list)
    for t in run.addr_tenures:
        grants[(t.pool_id, t.addr)].append(t)
    unexplained, deferred = [], 0
    for host, pid, address, answer, holder in refusals:
        # A grant to a client of the named node that may have been held while the request ran.
        if not any(t.host == holder and t.g0 < answer.t1 and (t.end in (None, "doubt", "pool_doubt") or t.r1 > answer.t0)
                   for t in grants[(pid, address)]):
            if (pid, address) in run.logs_said_addr_held:
                deferred += 1
                continue
            unexplained.append(f"{host} asked for {address} of {pid} at t={answer.t0 - START:.3f}s: {answer.err[:160]}")
    TAP.note(f"requests by value in shared pools ({STATIC_PER_HOST} clients per host, {len(STATIC_OFFSETS)} addresses "
             f"per pool): {sum(run.static_counts.values())} sent, " +
             ", ".join(f"{n} {k}" for k, n in sorted(run.static_counts.items(), key=lambda x: -x[1])))
    if deferred:
        TAP.note(f"{deferred} refusals by value name a node that had released the address (answered 200) while etcd "
                 "still showed it held: the key stays until that node's reconcile")
    if unexplained:
        TAP.note(f"{len(unexplained)} refusals by value name a holder no client's grant explains (a leaked key of "
                 "that node, or a wrong refusal):")
        for line in limited(unexplained, 6):
            TAP.note("  " + line)
    problems = [f"{n} {k}" for k, n in other.items()] + run.static_mismatches
    if not cross:
        problems.append("no request by value met an address another host held: the load did not collide")
    TAP.check(not problems, f"requests by value in shared pools get the address asked for, or a refusal naming its "
                            f"holder ({len(refusals)} refusals, expected: {cross} naming another host, "
                            f"{len(refusals) - cross} the same host), and nothing else",
              [f"{len(problems)} problems"] + limited(problems, 20))


# ---------------------------------------------------------------- the run

def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gipam")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--gipam-kills", type=int, default=None, help="default: 2 or 3, at random")
    parser.add_argument("--etcd-kills", type=int, default=2)
    parser.add_argument("--no-name-race", action="store_true",
                        help="leave out the checks of names asked for by one host each (solo-*)")
    args = parser.parse_args()
    code = preflight(args.gipam)
    if code is not None:
        return code
    binary = os.path.abspath(args.gipam)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    gipam_kills = args.gipam_kills if args.gipam_kills is not None else rng.choice((2, 3))
    no_etcd = os.environ.get("CONTENTION_NO_ETCD") == "1"
    TAP.note(f"seed {seed} (--seed {seed} repeats the schedule), {args.duration:.0f} s, {gipam_kills} gipam kills, "
             f"{args.etcd_kills} etcd member kills{', gipam WITHOUT etcd (CONTENTION_NO_ETCD=1)' if no_etcd else ''}")

    root = tempfile.mkdtemp(prefix="gipam-contention.")
    cluster = EtcdCluster(root)
    hosts = {}
    extras = []  # gipams started besides the hosts' (a second one as a host's node ID)
    standins = []
    sampler = None
    clients = []
    failed_run = True
    try:
        start_cluster(cluster, root)
        for name in HOSTS:
            hosts[name] = Gipam(binary, root, name, None if no_etcd else cluster.endpoints())
            hosts[name].start()
        sampler = RevisionSampler(cluster)
        sampler.start()

        # The shared pools: every host asks for a name at the same time, one name after the other.
        def request_shared(host, name):
            return call(hosts[host].sock, "IpamDriver.RequestPool",
                        {"AddressSpace": "gipam-local", "Pool": "", "SubPool": "",
                         "Options": {"gipam.network": name}, "V6": False})

        def network_addresses(host, answer):
            """What dockerd asks right after a network's pool: its gateway, then each --aux-address
            by value (Options null), each within 100 ms of the answer before."""
            prefix = ipaddress.ip_network(answer.body["Pool"])
            pid = answer.body["PoolID"]
            asked = [call(hosts[host].sock, "IpamDriver.RequestAddress",
                          {"PoolID": pid, "Address": "",
                           "Options": {"RequestAddressType": "com.docker.network.gateway"}})]
            for offset in AUX_OFFSETS:
                asked.append(call(hosts[host].sock, "IpamDriver.RequestAddress",
                                  {"PoolID": pid, "Address": str(prefix[offset]), "Options": None}))
            return asked

        def at_once(asks, network=False):
            answers = {}

            def one(host, name):
                answers[(host, name)] = answer = request_shared(host, name)
                if network and answer.kind == "ok":
                    answers[(host, name, "addresses")] = network_addresses(host, answer)

            threads = [threading.Thread(target=one, args=ask) for ask in asks]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return answers

        shared, shared_prefix, network_addrs, problems, addr_problems = {}, {}, {}, [], []
        for name in SHARED_NAMES:
            got = at_once([(h, name) for h in HOSTS], network=True)
            pools = {k: a for k, a in got.items() if len(k) == 2}
            ids = {(a.body or {}).get("PoolID") for a in pools.values() if a.kind == "ok"}
            if any(a.kind != "ok" for a in pools.values()) or len(ids) != 1:
                problems.append(f"{name}: " + "; ".join(f"{h} {a!r}" for (h, _), a in pools.items()))
            else:
                shared[name] = ids.pop()
                prefix = ipaddress.ip_network(pools[(HOSTS[0], name)].body["Pool"])
                shared_prefix[shared[name]] = prefix
                # Every host gets the same gateway (the first address) and aux addresses: every host's.
                wanted = [str(prefix[1])] + [str(prefix[o]) for o in AUX_OFFSETS]
                for h in HOSTS:
                    answers = got.get((h, name, "addresses"), [])
                    granted = [norm(a.body["Address"].split("/")[0]) if a.kind == "ok" else repr(a) for a in answers]
                    if granted != wanted:
                        addr_problems.append(f"{name} on {h}: gateway and aux {granted}, not {wanted}")
                network_addrs[shared[name]] = {"gateway": wanted[0],
                                               "aux": {f"aux{i}": a for i, a in enumerate(wanted[1:])}}
        if len(set(shared.values())) != len(shared):
            problems.append(f"two names got the same pool: {shared}")
        TAP.check(not problems, "every host asking for a shared name at once gets the same pool, another for "
                                f"each name ({', '.join(f'{n}={p}' for n, p in shared.items())})", problems)
        if len(shared) < len(SHARED_NAMES):
            if no_etcd:  # each host has its own: go on with h1's, the audit shows the rest
                for name in SHARED_NAMES:
                    if name not in shared:
                        answer = request_shared("h1", name)
                        shared[name] = answer.body["PoolID"]
                        shared_prefix[shared[name]] = ipaddress.ip_network(answer.body["Pool"])
                        network_addrs[shared[name]] = {"gateway": None, "aux": {}}
            else:
                raise RuntimeError("no shared pools to test with")
        if not no_etcd:
            kvs, _ = cluster.range(PREFIX + "/")
            for pid, held in network_addrs.items():
                for address in [held["gateway"], *held["aux"].values()]:
                    value = kvs.get(f"{PREFIX}/pools/{pid}/addresses/{address}", ("",))[0]
                    if (hold_of(value) or {}).get("use") != "shared":
                        addr_problems.append(f"etcd {PREFIX}/pools/{pid}/addresses/{address} = {value!r}, "
                                             "not held for every host")
        TAP.check(not addr_problems, "each host's gateway and aux requests right after the pool (by value, Options "
                                     "null, within 100 ms) get the same addresses, held once for every host",
                  addr_problems)

        # Names asked for by one host each get a pool each: one after the other, then at once.
        for how, asks in (() if args.no_name_race else
                          (("one after the other", [("h2", "solo-x"), ("h3", "solo-y")]),
                           ("at once", [("h2", "solo-z"), ("h3", "solo-w")]))):
            if how == "at once":
                got = at_once(asks)
            else:
                got = {ask: request_shared(*ask) for ask in asks}
            ids = [(a.body or {}).get("PoolID") for a in got.values()]
            detail = [f"{h} asked for {n}: {a!r}" for (h, n), a in got.items()]
            if not no_etcd:
                kvs, _ = cluster.range(PREFIX + "/")
                detail += [f"etcd {k} = {v[0]!r}" for k, v in sorted(kvs.items())
                           if any(f"/{i}" in k for i in ids if i) and ("/names/" in k or k.endswith("/name")
                                                                       or "/holders/" in k)]
                detail += [f"etcd {k} = {v[0]!r}" for k, v in sorted(kvs.items()) if "/names/solo" in k]
            all_ok = all(a.kind == "ok" for a in got.values())
            TAP.check(all_ok and len(set(ids)) == len(ids) and not set(ids) & set(shared.values()),
                      f"shared names asked for by different hosts {how} get different pools ({', '.join(map(str, ids))})",
                      detail)
            for (h, n), a in got.items():  # out of the way of the rest
                if a.kind == "ok":
                    call(hosts[h].sock, "IpamDriver.ReleasePool", {"PoolID": a.body["PoolID"]})

        # A request by value within 100 ms of a shared pool's last answer on a host is taken for an
        # aux address of the network's create (src/ipam/sharing.h, kAuxAddressGap); containers come
        # later, so the clients (some asking by value) start well after that window.
        time.sleep(0.3)
        run = Run(hosts, shared, shared_prefix, network_addrs)
        for h in HOSTS:
            for i in range(THREADS_PER_HOST):
                clients.append(Client(run, h, i, rng.randrange(1 << 31), static=i < STATIC_PER_HOST))

        # The schedule of failures, as fractions of the run: (fraction, etcd member to kill or None,
        # gipam host to kill or None). The second etcd kill is of the leader, right after a gipam
        # restarted: that host, knowing least about its shared pools, meets an election.
        # Besides: a second gipam as a running host's node ID ("twin"), and a host restarted with
        # its lease file deleted ("wipe"), then put back (contention_identity.py).
        gipam_at = [0.12, 0.45, 0.75][:gipam_kills]
        etcd_at = [0.25, 0.45, 0.85][:args.etcd_kills]
        events = collections.defaultdict(lambda: [None, None, None])
        for i, fraction in enumerate(etcd_at):
            events[fraction][0] = "leader" if i % 2 else rng.choice(sorted(cluster.members))
        for fraction in gipam_at:
            events[fraction][1] = rng.choice(HOSTS)
        if not no_etcd:
            events[0.35][2] = ("twin", rng.choice(HOSTS))
            events[0.6][2] = ("wipe", rng.choice(HOSTS))
        began = time.monotonic()
        for c in clients:
            c.start()
        TAP.note(f"t={now():.1f}s: {len(clients)} clients started")
        for fraction in sorted(events):
            target, host_name, identity = events[fraction]
            wait = began + fraction * args.duration - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if identity and identity[0] == "twin":
                extras.append(contention_identity.twin_start(binary, root, cluster, hosts, identity[1], run, clients))
            elif identity:
                contention_identity.wiped_restart(cluster, hosts, identity[1])
            if host_name:
                host = hosts[host_name]
                host.kill()
                took = host.start()
                # Like dockerd after a plugin restart, with containers that stopped meanwhile: each
                # client's next step releases an address of a shared pool, if it holds one; or, when
                # an election follows, asks for one (with what the host knows least about).
                first = "request" if target else "release"
                for c in clients:
                    if c.host == host_name:
                        c.first_step = first
                TAP.note(f"t={now():.1f}s: SIGKILL gipam {host_name}, restarted; serving again after {took:.2f} s; "
                         f"its clients {first} a shared-pool address first")
            member = None
            if target:
                member = (cluster.leader() if target == "leader" else target) or rng.choice(sorted(cluster.members))
                cluster.kill(member)
                TAP.note(f"t={now():.1f}s: SIGKILL etcd member {member}{' (the leader)' if target == 'leader' else ''}")
            if member:
                time.sleep(3.0)
                cluster.start(member)
                took = cluster.wait_healthy(timeout=20)
                TAP.note(f"t={now():.1f}s: etcd member {member} restarted, cluster healthy after {took:.1f} s")
        wait = began + args.duration - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        run.stop.set()
        stopped = time.monotonic()
        for c in clients:
            c.join(REQUEST_TIMEOUT + 5)
        elapsed = stopped - began
        TAP.note(f"t={now():.1f}s: clients stopped after {elapsed:.1f} s")
        broken = [f"{c.name}: {c.error or 'still running'}" for c in clients if c.error or c.is_alive()]
        TAP.check(not broken, "every client thread ran to the end", broken)

        # Settle: etcd healthy, every gipam answering.
        cluster.wait_healthy(timeout=20)
        time.sleep(1.0)
        sampler.halt.set()
        sampler.join(5)
        dead = [f"{h}: exited with {g.proc.returncode}\n" + tail(g.log, 15) for h, g in hosts.items() if not g.alive()]
        TAP.check(not dead, "every gipam process still runs", dead)
        TAP.check(not run.timeouts, "every request to a running gipam was answered within "
                                    f"{REQUEST_TIMEOUT:.0f} s", [f"{len(run.timeouts)} timeouts"] + limited(run.timeouts))

        # Numbers.
        ops = ("RequestPool", "ReleasePool", "RequestAddress", "ReleaseAddress")
        for op in ops:
            kinds = {k[1]: n for k, n in run.counts.items() if k[0] == op}
            total = sum(kinds.values())
            TAP.note(f"{op}: {total} sent, " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda x: -x[1])))
        grants = run.counts[("RequestAddress", "ok")] + run.counts[("RequestPool", "ok")]
        releases = run.counts[("ReleaseAddress", "ok")] + run.counts[("ReleasePool", "ok")]
        shared_grants = sum(1 for t in run.addr_tenures if t.shared)
        TAP.note(f"acknowledged: {grants} grants ({run.counts[('RequestAddress', 'ok')]} addresses, {shared_grants} of them "
                 f"in shared pools; {run.counts[('RequestPool', 'ok')]} pools), {releases} releases "
                 f"({run.counts[('ReleaseAddress', 'ok')]} addresses, {run.counts[('ReleasePool', 'ok')]} pools)")
        TAP.note(f"address allocations/s: {run.counts[('RequestAddress', 'ok')] / elapsed:.1f} "
                 f"(shared pools {shared_grants / elapsed:.1f}); all acknowledged requests/s: "
                 f"{sum(run.counts[(op, 'ok')] for op in ops) / elapsed:.1f}")
        for op in ops:
            values = run.latency.get(op, [])
            if values:
                TAP.note(f"{op} latency (acknowledged): p50 {percentile(values, 0.5) * 1000:.1f} ms, "
                         f"p99 {percentile(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms")
        for h, g in hosts.items():
            try:
                status, text = get_text(g.sock, "/metrics")
                match = re.search(r"^gipam_store_conflicts_total (\S+)$", text, re.M)
                TAP.note(f"{h}: gipam_store_conflicts_total {match.group(1) if match else '(absent)'} "
                         f"(since its last start; {g.starts} starts)")
            except OSError as error:
                TAP.note(f"{h}: /metrics: {error}")

        # The audit.
        state = State(run, cluster)
        logs_said_held = collections.defaultdict(set)
        for h, g in hosts.items():
            with open(g.log, errors="replace") as f:
                for line in f:
                    match = re.search(r"warning: pool (\S+) is released here, but etcd still shows it held", line)
                    if match:
                        logs_said_held[h].add(match.group(1))
                    # A release answered 200 whose delete etcd did not take: left for reconcile.
                    match = re.search(r"address (\S+) of pool (\S+) is released here, but etcd still shows it held", line)
                    if match:
                        run.logs_said_addr_held.add((match.group(2), norm(match.group(1))))
        TAP.note(f"end state: etcd revision {state.revision}, {len(state.kvs)} keys, {len(state.blocks)} blocks, "
                 f"{len(state.address_keys)} shared-pool address keys; lease files hold {len(state.local)} host pools "
                 f"with {sum(len(a) for *_, a in state.local)} addresses")
        evidence = []
        bad = audit(run, cluster, sampler, state, logs_said_held, evidence)
        static_check(run)
        if not no_etcd:
            standins += contention_gc.gc_phase(run, sampler, lambda: State(run, cluster), lost_grants, rng, root,
                                               skip_gc=os.environ.get("CONTENTION_SKIP_GC") == "1",
                                               plant_leaks=os.environ.get("CONTENTION_PLANT", "1") != "0")
        failed_run = bad or TAP.failed > 0
        if failed_run:
            for host, needle, why in evidence:
                pattern = re.compile(r"(?<![0-9a-f.:])" + re.escape(needle) + r"(?![0-9a-f.:])")
                lines = [line.rstrip("\n") for line in open(hosts[host].log, errors="replace")
                         if pattern.search(line) or line.startswith("==== test")]
                TAP.note(f"---- {host}: gipam's log lines naming {needle} (last 14 of {len(lines)}), for: {why}")
                for line in lines[-14:]:
                    TAP.note("  " + line[:300])
            for h, g in hosts.items():
                note_log(f"{h}: warnings and errors of gipam's log", g.log,
                         ("gipam warning", "gipam error", "==== test"), 12)
    except (Exception, KeyboardInterrupt) as error:  # KeyboardInterrupt: SIGTERM, SIGALRM (watchdog)
        harness_failed(error)
        for h, g in hosts.items():
            TAP.note(f"---- {h}: last lines of gipam's log ----")
            for line in tail(g.log, 10).splitlines():
                TAP.note("  " + line)
        failed_run = True
    finally:
        if clients:
            for c in clients:
                c.run_.stop.set()
        if sampler:
            sampler.halt.set()
        finish(list(hosts.values()) + extras, cluster, root, standins)
    return 1 if failed_run or TAP.failed else 0


if __name__ == "__main__":
    run_main(main)  # a watchdog of 180 s: the finally above still stops every process
