#!/usr/bin/env python3
"""Quorum loss test of gipam's etcd backend, on real processes.

    python3 tests/etcd/quorum.py /path/to/gipam
    (exit 0 pass, 1 fail, 77 skip; root not needed; takes ~40 s)

A 3-member etcd cluster on free loopback ports and 2 gipam processes (hosts h1, h2, each with its
own directory, lease file and Unix socket) sharing one address plan in it. Set up: on h1 a
host-local pool P with a few addresses, and a shared pool S ("gipam.network": "lan") on both
hosts with an address each. Then, twice (first 2 members SIGSTOPped, the leader among them: the
survivor is a follower; then 2 members SIGKILLed, the survivor being the leader), with etcd
without quorum:
  - RequestAddress/ReleaseAddress in P on h1 still succeed, each in < 1 s, also while a request
    that needs etcd is waiting on the same gipam;
  - RequestPool of a new host-local pool on h1, RequestAddress in S on h1 and ReleaseAddress in S
    on h2 fail within 3.5 s, with an Err naming etcd and one of the endpoint URLs;
  - the lease files changed only by P's addresses, and, once the members are back, etcd holds
    exactly the keys it held before: no block of the failed RequestPool (unless a lease file's
    pool holds it), no address key of the failed RequestAddress, S's address on h2 still there;
  - the members restarted (SIGCONT, or started again on their data dirs), requests that need etcd
    succeed again within 10 s without restarting gipam; h2 can then release its address in S, and
    a new RequestPool on h2 gets a block distinct from every other, held in etcd by h2.
Last, one member silent (SIGSTOP of the first endpoint; quorum kept) just after h2 restarted,
holding 5 of the 6 addresses of a shared /29: RequestAddress there succeeds, with the free one
(a write whose answer is lost is read back; the key h2 held before its restart is not its own).
Prints how long every failing request took, and how long recovery took.

Environment: QUORUM_KEEP_QUORUM=1 stops only 1 member of 3 (etcd keeps its quorum), to see this
test fail: the requests that should fail then succeed. QUORUM_FAIL_WITHIN=S changes the 3.5 s
bound on failing requests. E2E_KEEP=1 keeps the scratch directory.
Only 198.18.0.0/16 and 2001:db8:100::/56, loopback TCP.
"""

import base64
import collections
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import ipaddress

V4_SUPER = "198.18.0.0/16"
V6_SUPER = "2001:db8:100::/56"
PREFIX = "/gipam"
REQUEST_TIMEOUT = 10.0
FAIL_WITHIN = float(os.environ.get("QUORUM_FAIL_WITHIN", "3.5"))  # seconds a request needing etcd may take to fail
FAST = 1.0  # seconds a request in a host-local pool may take
RECOVERY_WITHIN = 10.0
START = time.monotonic()


# ---------------------------------------------------------------- reporting

class Tap:
    def __init__(self):
        self.count = 0
        self.failed = 0

    def check(self, passed, what, detail=None):
        self.count += 1
        lines = [] if detail is None else ([detail] if isinstance(detail, str) else list(detail))
        if passed:
            print(f"ok {self.count} - {what}", flush=True)
        else:
            self.failed += 1
            first = lines[0] if lines else "failed"
            print(f"not ok {self.count} - {what}: {first}", flush=True)
            for line in lines[1:]:
                print(f"#   {line}", flush=True)
        return passed

    @staticmethod
    def note(text):
        for line in str(text).splitlines() or [""]:
            print(f"# {line}", flush=True)


TAP = Tap()


def now():
    return time.monotonic() - START


def limited(items, limit=12):
    items = list(items)
    shown = [str(item) for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"... and {len(items) - limit} more")
    return shown


# ---------------------------------------------------------------- etcd

def free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def unb64(text):
    return base64.b64decode(text).decode(errors="replace")


def prefix_end(prefix):
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class EtcdCluster:
    def __init__(self, root, size=3):
        ports = free_ports(2 * size)
        self.token = f"gipam-test-{os.getpid()}-{random.randrange(1 << 30)}"
        self.members = {}
        for i in range(size):
            name = f"m{i + 1}"
            self.members[name] = {
                "client": f"http://127.0.0.1:{ports[i]}",
                "peer": f"http://127.0.0.1:{ports[size + i]}",
                "data": os.path.join(root, name),
                "log": os.path.join(root, name + ".log"),
                "proc": None,
            }
        self.initial = ",".join(f"{n}={m['peer']}" for n, m in self.members.items())

    def endpoints(self):
        return [m["client"] for m in self.members.values()]

    def start(self, name):
        m = self.members[name]
        cmd = ["etcd", "--name", name, "--data-dir", m["data"],
               "--listen-client-urls", m["client"], "--advertise-client-urls", m["client"],
               "--listen-peer-urls", m["peer"], "--initial-advertise-peer-urls", m["peer"],
               "--initial-cluster", self.initial, "--initial-cluster-state", "new",
               "--initial-cluster-token", self.token, "--logger", "zap", "--log-outputs", "stderr"]
        with open(m["log"], "ab") as log:
            m["proc"] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)

    def kill(self, name, sig=signal.SIGKILL):
        proc = self.members[name]["proc"]
        if proc and proc.poll() is None:
            proc.send_signal(sig)
            if sig == signal.SIGKILL:
                proc.wait()

    def running(self):
        return [n for n, m in self.members.items() if m["proc"] and m["proc"].poll() is None]

    def healthy(self, names):
        cmd = ["etcdctl", "--endpoints", ",".join(self.members[n]["client"] for n in names),
               "--command-timeout=2s", "endpoint", "health"]
        try:
            done = subprocess.run(cmd, env=dict(os.environ, ETCDCTL_API="3"), capture_output=True,
                                  timeout=10, text=True)
        except subprocess.TimeoutExpired:
            return False, "etcdctl endpoint health timed out"
        return done.returncode == 0, (done.stdout + done.stderr).strip()

    def wait_healthy(self, names=None, timeout=20.0):
        names = list(names or self.members)
        began = time.monotonic()
        text = ""
        while time.monotonic() - began < timeout:
            ok, text = self.healthy(names)
            if ok:
                return time.monotonic() - began
            for n in names:
                proc = self.members[n]["proc"]
                if proc is None or proc.poll() is not None:
                    raise RuntimeError(f"etcd member {n} is not running:\n" + tail(self.members[n]["log"], 15))
            time.sleep(0.2)
        raise RuntimeError(f"etcd members {names} not healthy within {timeout} s: {text}")

    def post(self, path, body, timeout=3.0):
        errors = []
        for name in self.running():
            url = self.members[name]["client"] + path
            request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as answer:
                    return json.loads(answer.read())
            except (OSError, urllib.error.URLError, ValueError) as error:
                errors.append(f"{url}: {error}")
        raise RuntimeError("no etcd member answered: " + "; ".join(errors))

    def range(self, prefix):
        """Every key under prefix: {key: (value, create_revision, mod_revision)}, and the revision."""
        answer = self.post("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        kvs = {}
        for kv in answer.get("kvs", []):
            kvs[unb64(kv["key"])] = (unb64(kv.get("value", "")), int(kv.get("create_revision", 0)),
                                     int(kv.get("mod_revision", 0)))
        return kvs, int(answer["header"]["revision"])

    def revision(self):
        answer = self.post("/v3/kv/range", {"key": b64(PREFIX + "/config")}, timeout=1.0)
        return int(answer["header"]["revision"])

    def leader(self):
        for name in self.running():
            url = self.members[name]["client"] + "/v3/maintenance/status"
            try:
                request = urllib.request.Request(url, data=b"{}", headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=2) as answer:
                    status = json.loads(answer.read())
            except (OSError, ValueError):
                continue
            leader = status.get("leader")
            for other in self.running():
                try:
                    request = urllib.request.Request(self.members[other]["client"] + "/v3/maintenance/status",
                                                     data=b"{}", headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(request, timeout=2) as answer:
                        if json.loads(answer.read())["header"]["member_id"] == leader:
                            return other
                except (OSError, ValueError, KeyError):
                    continue
        return None

    def stop_all(self):
        for name in self.members:
            proc = self.members[name]["proc"]
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGKILL)
                proc.wait()


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(collections.deque(f, lines)).rstrip("\n")
    except OSError as error:
        return f"({path}: {error})"


# ---------------------------------------------------------------- gipam

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("plugin.moby.localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


class Answer:
    """kind: ok (200), err (refused with an Err), down (not connected: no effect), doubt (no answer)."""
    __slots__ = ("kind", "status", "body", "err", "t0", "t1")

    def __init__(self, kind, t0, t1, status=None, body=None, err=""):
        self.kind, self.t0, self.t1, self.status, self.body, self.err = kind, t0, t1, status, body, err

    def __repr__(self):
        return f"{self.kind} {self.status} {self.body if self.kind == 'ok' else self.err} ({self.t1 - self.t0:.3f} s)"


def call(sock, endpoint, payload, timeout=REQUEST_TIMEOUT):
    t0 = time.monotonic()
    conn = UnixHTTPConnection(sock, timeout)
    try:
        conn.connect()
    except OSError as error:
        return Answer("down", t0, time.monotonic(), err=f"{type(error).__name__}: {error}")
    try:
        conn.request("POST", "/" + endpoint, body=json.dumps(payload),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        kind = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
        return Answer("doubt", t0, time.monotonic(), err=f"no answer ({kind}: {error})")
    finally:
        conn.close()
    t1 = time.monotonic()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if status == 200 and isinstance(body, dict) and not body.get("Err"):
        return Answer("ok", t0, t1, status, body)
    err = body.get("Err", "") if isinstance(body, dict) else raw[:300].decode(errors="replace")
    # gipam says so when it cannot tell whether etcd applied its write.
    kind = "doubt" if "may have applied" in err else "err"
    return Answer(kind, t0, t1, status, body, err or f"HTTP {status}")


def get_text(sock, path, timeout=5.0):
    conn = UnixHTTPConnection(sock, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


class Gipam:
    def __init__(self, binary, root, name, endpoints):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "gipam.sock")
        self.leases = os.path.join(self.dir, "leases.json")
        self.log = os.path.join(self.dir, "gipam.log")
        self.args = [binary, "-v4", V4_SUPER, "-v6", V6_SUPER, "-file", self.leases, "--socket", self.sock,
                     "--node-id", name, "--log-level", "debug"]
        if endpoints:
            self.args += ["--etcd-endpoints", ",".join(endpoints)]
        self.proc = None
        self.starts = 0

    def start(self, timeout=15.0):
        with open(self.log, "ab") as log:
            log.write(f"==== test: start {self.starts + 1} at t={now():.2f}s\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        self.starts += 1
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gipam {self.name} exited with {self.proc.returncode}:\n" + tail(self.log, 20))
            try:
                status, _ = get_text(self.sock, "/metrics", timeout=2)
                if status == 200:
                    return time.monotonic() - began
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gipam {self.name} did not serve on {self.sock} within {timeout} s:\n" + tail(self.log, 20))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def read_leases(self):
        for _ in range(20):
            try:
                with open(self.leases) as f:
                    return json.load(f)
            except ValueError:
                time.sleep(0.05)  # replaced atomically, so this should not happen
        with open(self.leases) as f:
            return json.load(f)


# ---------------------------------------------------------------- the test

def request_pool(host, options=None, v6=False, pool=""):
    return call(host.sock, "IpamDriver.RequestPool",
                {"AddressSpace": "gipam-local", "Pool": pool, "SubPool": "", "Options": options or {}, "V6": v6})


def request_address(host, pool_id):
    return call(host.sock, "IpamDriver.RequestAddress", {"PoolID": pool_id, "Address": "", "Options": {}})


def release_address(host, pool_id, address):
    return call(host.sock, "IpamDriver.ReleaseAddress", {"PoolID": pool_id, "Address": address})


def address_of(answer):
    return str(ipaddress.ip_interface(answer.body["Address"]).ip)


def must(answer, what):
    if answer.kind != "ok":
        raise RuntimeError(f"{what}: {answer!r}")
    return answer


def names_etcd(err, endpoints):
    return "etcd" in err and any(e in err for e in endpoints)


def pools_of(leases):
    return {p["id"]: p for p in leases.get("pools", [])}


def expand(runs):
    out = set()
    for run in runs:
        first, _, last = run.partition("-")
        a = ipaddress.ip_address(first)
        b = ipaddress.ip_address(last) if last else a
        out.update(str(type(a)(n)) for n in range(int(a), int(b) + 1))
    return out


def block_of(key):
    match = re.fullmatch(re.escape(PREFIX) + r"/blocks/([46])/([0-9a-f]+)/(\d+)", key)
    if not match:
        return None
    value = int(match.group(2), 16)
    address = ipaddress.IPv4Address(value) if match.group(1) == "4" else ipaddress.IPv6Address(value)
    return ipaddress.ip_network(f"{address}/{match.group(3)}")


def lease_diff(before, after, allowed_pool=None, allowed_addresses=None):
    """What changed between two lease files, but P's addresses becoming allowed_addresses."""
    problems = []
    b, a = pools_of(before), pools_of(after)
    for pid in sorted(set(b) | set(a)):
        if pid not in a:
            problems.append(f"pool {pid} disappeared")
        elif pid not in b:
            problems.append(f"pool {pid} appeared: {a[pid]}")
        elif pid == allowed_pool:
            got = expand(a[pid].get("addresses", []))
            if got != allowed_addresses:
                problems.append(f"pool {pid} holds {sorted(got)}, expected {sorted(allowed_addresses)}")
            if {k: v for k, v in a[pid].items() if k not in ("addresses", "next")} != \
                    {k: v for k, v in b[pid].items() if k not in ("addresses", "next")}:
                problems.append(f"pool {pid} changed: {b[pid]} -> {a[pid]}")
        elif a[pid] != b[pid]:
            problems.append(f"pool {pid} changed: {b[pid]} -> {a[pid]}")
    for key in ("v4", "v6", "v4ab", "v6ab"):
        if before.get(key) != after.get(key):
            problems.append(f"{key} changed: {before.get(key)} -> {after.get(key)}")
    return problems


class Setup:
    def __init__(self, cluster, h1, h2):
        self.cluster, self.h1, self.h2 = cluster, h1, h2
        self.endpoints = cluster.endpoints()
        answer = must(request_pool(h1), "RequestPool P on h1")
        self.p_id = answer.body["PoolID"]
        self.p_held = {address_of(must(request_address(h1, self.p_id), "RequestAddress in P")) for _ in range(3)}
        s1 = must(request_pool(h1, {"gipam.network": "lan"}), "RequestPool lan on h1")
        s2 = must(request_pool(h2, {"gipam.network": "lan"}), "RequestPool lan on h2")
        TAP.check(s1.body["PoolID"] == s2.body["PoolID"], f"both hosts get the same shared pool lan "
                                                          f"({s1.body['PoolID']})", [f"h1 {s1!r}", f"h2 {s2!r}"])
        self.s_id = s1.body["PoolID"]
        self.s_h1 = address_of(must(request_address(h1, self.s_id), "RequestAddress in S on h1"))
        self.s_h2 = address_of(must(request_address(h2, self.s_id), "RequestAddress in S on h2"))
        TAP.note(f"P = {self.p_id} on h1 holding {sorted(self.p_held)}; S = {self.s_id} (lan), h1 holds "
                 f"{self.s_h1}, h2 holds {self.s_h2}")


def timed_fail(what, answer, endpoints, failures):
    took = answer.t1 - answer.t0
    failures.append((what, took))
    TAP.note(f"{what}: {answer.kind} after {took:.3f} s: {answer.err or answer.body}")
    # "doubt" is a refusal too: gipam's Err then says etcd may have applied the write.
    return TAP.check(answer.kind in ("err", "doubt") and took < FAIL_WITHIN and names_etcd(answer.err, endpoints),
                     f"{what} fails within {FAIL_WITHIN} s naming etcd and an endpoint ({took:.2f} s)",
                     f"{answer!r}")


def variant(setup, how, keep_quorum, measured):
    cluster, h1, h2 = setup.cluster, setup.h1, setup.h2
    endpoints = setup.endpoints
    TAP.note(f"==== {how} 2 of 3 members" + (" (QUORUM_KEEP_QUORUM=1: only 1)" if keep_quorum else ""))
    leader = cluster.leader()
    others = [n for n in sorted(cluster.members) if n != leader]
    # SIGSTOP: the leader and a follower stop, a follower is left. SIGKILL: the followers die,
    # the leader is left (and steps down: no quorum).
    victims = [leader, others[0]] if how == "SIGSTOP" else others
    if keep_quorum:
        victims = victims[:1]
    etcd_before, revision_before = cluster.range(PREFIX + "/")
    leases_before = {h.name: h.read_leases() for h in (h1, h2)}
    sig = signal.SIGSTOP if how == "SIGSTOP" else signal.SIGKILL
    for name in victims:
        cluster.kill(name, sig)
    stopped_at = time.monotonic()
    TAP.note(f"{how} etcd members {', '.join(victims)} (leader was {leader}); "
             f"{', '.join(n for n in cluster.members if n not in victims)} left")

    # Host-local pool P: no etcd needed.
    p_expected = set(setup.p_held)
    answers = []
    for _ in range(2):
        a = request_address(h1, setup.p_id)
        answers.append(("RequestAddress in P", a))
        if a.kind == "ok":
            p_expected.add(address_of(a))
    victim = sorted(p_expected - setup.p_held)[:1] or sorted(p_expected)[:1]
    a = release_address(h1, setup.p_id, victim[0])
    answers.append((f"ReleaseAddress {victim[0]} in P", a))
    if a.kind == "ok":
        p_expected.discard(victim[0])
    slow = [f"{w}: {a!r}" for w, a in answers if a.kind != "ok" or a.t1 - a.t0 >= FAST]
    TAP.check(not slow, f"RequestAddress/ReleaseAddress in host-local pool P on h1 succeed in < {FAST} s each "
                        f"({', '.join(f'{a.t1 - a.t0:.3f}' for _, a in answers)} s)", slow)

    # Requests that need etcd fail fast, naming it; meanwhile P keeps answering fast.
    failures = []
    pool_answer = {}

    def failing_pool():
        pool_answer["a"] = request_pool(h1)

    waiting = threading.Thread(target=failing_pool)
    waiting.start()
    time.sleep(0.3)
    during = []
    while waiting.is_alive() and len(during) < 6:
        a = request_address(h1, setup.p_id)
        during.append(a)
        if a.kind == "ok":
            p_expected.add(address_of(a))
            r = release_address(h1, setup.p_id, address_of(a))
            during.append(r)
            if r.kind == "ok":
                p_expected.discard(address_of(a))
        time.sleep(0.2)
    waiting.join()
    slow = [repr(a) for a in during if a.kind != "ok" or a.t1 - a.t0 >= FAST]
    TAP.check(during and not slow, f"P on h1 answers in < {FAST} s while h1 waits on etcd for a RequestPool "
                                   f"({len(during)} requests, max {max((a.t1 - a.t0 for a in during), default=0):.3f} s)",
              slow or ["no request made while it waited"])
    timed_fail("RequestPool (host-local) on h1", pool_answer["a"], endpoints, failures)
    timed_fail("RequestAddress in S on h1", request_address(h1, setup.s_id), endpoints, failures)
    timed_fail(f"ReleaseAddress {setup.s_h2} in S on h2", release_address(h2, setup.s_id, setup.s_h2), endpoints, failures)
    timed_fail("RequestPool (host-local) on h2", request_pool(h2), endpoints, failures)
    measured.extend((f"{how}: {w}", t) for w, t in failures)

    # Nothing changed but P's addresses.
    leases_now = {h.name: h.read_leases() for h in (h1, h2)}
    problems = [f"h1: {p}" for p in lease_diff(leases_before["h1"], leases_now["h1"], setup.p_id, p_expected)]
    problems += [f"h2: {p}" for p in lease_diff(leases_before["h2"], leases_now["h2"])]
    TAP.check(not problems, f"the lease files changed only by P's addresses (P holds {len(p_expected)})", problems)
    setup.p_held = p_expected

    # Back: the members resume or restart on their data dirs. Requests needing etcd succeed again
    # by themselves (gipam is not restarted): tried from the moment the members are back.
    for name in victims:
        if how == "SIGSTOP":
            cluster.kill(name, signal.SIGCONT)
        else:
            cluster.start(name)
    back_at = time.monotonic()
    recovered = None
    tries = []
    while time.monotonic() - back_at < RECOVERY_WITHIN + 5:
        a = request_address(h1, setup.s_id)
        tries.append(a)
        if a.kind == "ok":
            recovered = a.t1 - back_at
            break
        time.sleep(0.25)
    took = cluster.wait_healthy(timeout=20)
    TAP.note(f"etcd members back {back_at - stopped_at:.1f} s after they stopped; cluster healthy "
             f"{time.monotonic() - back_at:.2f} s after that")
    measured.append((f"{how}: recovery (members back -> first RequestAddress in S on h1 answered ok)",
                     recovered if recovered is not None else float("nan")))
    TAP.check(recovered is not None and recovered <= RECOVERY_WITHIN,
              f"RequestAddress in S on h1 succeeds again within {RECOVERY_WITHIN:.0f} s of the members being back, "
              f"gipam not restarted ({'%.2f s' % recovered if recovered is not None else 'never'}, {len(tries)} tries)",
              [repr(a) for a in tries[-4:]] + tail(h1.log, 6).splitlines())
    expected_new = set()
    if recovered is not None:
        new_address = address_of(tries[-1])
        expected_new.add(f"{PREFIX}/pools/{setup.s_id}/addresses/{new_address}")
        TAP.check(new_address not in (setup.s_h1, setup.s_h2), f"the new address {new_address} of S is held by "
                  f"no one else", f"h1 holds {setup.s_h1}, h2 {setup.s_h2}")

    # The failed requests left nothing in etcd: the keys are those of before, plus the grant above.
    time.sleep(1.0)  # a proposal the survivor kept would be committed by now
    etcd_after, revision_after = cluster.range(PREFIX + "/")
    leases_after = {h.name: h.read_leases() for h in (h1, h2)}
    held_blocks = {ipaddress.ip_network(p["pool"]) for leases in leases_after.values() for p in leases.get("pools", [])}
    changes = []
    for key in sorted(set(etcd_before) | set(etcd_after)):
        old, new = etcd_before.get(key), etcd_after.get(key)
        if old == new:
            continue
        if old is None and key in expected_new:
            if new[0] != "h1":
                changes.append(f"key {key} of h1's new address = {new[0]!r}, not 'h1'")
            continue
        if old is None:
            net = block_of(key)
            extra = " (a block no lease file's pool holds)" if net and net not in held_blocks else ""
            changes.append(f"new key {key} = {new[0]!r}{extra}")
        elif new is None:
            changes.append(f"key {key} = {old[0]!r} is gone")
        else:
            changes.append(f"key {key}: {old[0]!r} -> {new[0]!r}")
    missing_new = [f"no key {k}" for k in expected_new if k not in etcd_after]
    TAP.check(not changes and not missing_new, f"after recovery etcd holds the keys of before the failed requests, "
                                               f"and the new grant's ({len(etcd_after)} keys, revision "
                                               f"{revision_before} -> {revision_after})", changes + missing_new)
    if recovered is not None:
        setup.s_h1 = address_of(tries[-1])

    a = release_address(h2, setup.s_id, setup.s_h2)
    key = f"{PREFIX}/pools/{setup.s_id}/addresses/{setup.s_h2}"
    left = cluster.range(key)[0].get(key)
    TAP.check(a.kind == "ok" and left is None, f"h2 releases {setup.s_h2} of S now: its key is gone",
              [repr(a), f"etcd has {left}"])
    if a.kind == "ok":
        setup.s_h2 = address_of(must(request_address(h2, setup.s_id), "RequestAddress in S on h2"))
    a = request_pool(h2)
    detail = [repr(a)]
    ok = a.kind == "ok"
    if ok:
        new = ipaddress.ip_network(a.body["Pool"])
        kvs, _ = cluster.range(PREFIX + "/blocks/")
        blocks = [(block_of(k), v[0]) for k, v in kvs.items()]
        leases = {h.name: h.read_leases() for h in (h1, h2)}
        others = [(h, p["id"], ipaddress.ip_network(p["pool"])) for h, l in leases.items() for p in l["pools"]
                  if not (h == "h2" and p["id"] == a.body["PoolID"])]
        clash = [f"{h} {pid}" for h, pid, net in others if net.overlaps(new)]
        clash += [f"etcd block {net} {v}" for net, v in blocks if net.overlaps(new) and
                  not (net == new and json.loads(v).get("node") == "h2" and json.loads(v).get("pool") == a.body["PoolID"])]
        mine = [v for net, v in blocks if net == new]
        ok = not clash and len(mine) == 1
        detail += clash + [f"etcd blocks for it: {mine}"]
    TAP.check(ok, f"a new RequestPool on h2 gets a block distinct from every other, held in etcd by h2 "
                  f"({a.body['Pool'] if a.kind == 'ok' else a.err})", detail)


def silent_member(setup, measured):
    """One member silent (quorum kept) and a host that just restarted: a write whose answer is lost
    is read back, and that must not take a key the host held before its restart for its own."""
    cluster, h2 = setup.cluster, setup.h2
    TAP.note("==== 1 of 3 members silent (SIGSTOP, quorum kept), h2 just restarted")
    tiny = "198.18.250.0/29"
    t_id = must(request_pool(h2, {"gipam.network": "tiny"}, pool=tiny), f"RequestPool {tiny} (tiny) on h2").body["PoolID"]
    hosts_of_pool = {str(a) for a in ipaddress.ip_network(tiny).hosts()}
    held = {address_of(must(request_address(h2, t_id), "RequestAddress in tiny")) for _ in range(len(hosts_of_pool) - 1)}
    free = hosts_of_pool - held
    h2.kill()
    h2.start()
    # A gipam starts with the first endpoint, and stays with the last one that answered.
    silent = "m1"
    cluster.kill(silent, signal.SIGSTOP)
    TAP.note(f"h2 holds {sorted(held)} of shared pool {t_id} (free: {sorted(free)}); h2 restarted, "
             f"SIGSTOP {silent} ({cluster.members[silent]['client']}, the first endpoint)")
    try:
        a = request_address(h2, t_id)
    finally:
        cluster.kill(silent, signal.SIGCONT)
    cluster.wait_healthy(timeout=20)
    measured.append(("1 member silent: RequestAddress in tiny on the restarted h2", a.t1 - a.t0))
    granted = address_of(a) if a.kind == "ok" else None
    kvs, _ = cluster.range(f"{PREFIX}/pools/{t_id}/addresses/")
    keys = {k.rsplit("/", 1)[1]: v for k, v in kvs.items()}
    TAP.check(granted is None or granted in free,
              f"with one member silent, the restarted h2 is not granted an address it holds already "
              f"({granted or a.err[:80]} in {a.t1 - a.t0:.2f} s)",
              [f"{a!r}", f"h2 held {sorted(held)} before its restart",
               f"etcd: {', '.join(f'{k}={v[0]!r} (created at revision {v[1]})' for k, v in sorted(keys.items()))}"]
              + [line for line in tail(h2.log, 40).splitlines() if "tiny" in line or "250." in line][-6:])
    TAP.check(a.kind == "ok", f"with one member of three silent, RequestAddress on h2 succeeds "
                              f"({a.t1 - a.t0:.2f} s)", repr(a))


def main():
    if len(sys.argv) != 2:
        print("usage: quorum.py /path/to/gipam", file=sys.stderr)
        return 1
    binary = sys.argv[1]
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        print(f"not ok 1 - gipam binary {binary} is not executable")
        print("0 passed, 1 failed")
        return 1
    for tool in ("etcd", "etcdctl"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is not installed (Debian packages etcd-server, etcd-client)")
            return 77
    binary = os.path.abspath(binary)
    keep_quorum = os.environ.get("QUORUM_KEEP_QUORUM") == "1"
    root = tempfile.mkdtemp(prefix="gipam-quorum.")
    cluster = EtcdCluster(root)
    hosts = []
    measured = []
    try:
        for name in cluster.members:
            cluster.start(name)
        took = cluster.wait_healthy(timeout=30)
        TAP.note(f"etcd cluster of 3 healthy in {took:.1f} s: {','.join(cluster.endpoints())} (dir {root})")
        hosts = [Gipam(binary, root, name, cluster.endpoints()) for name in ("h1", "h2")]
        for h in hosts:
            h.start()
        setup = Setup(cluster, *hosts)
        for how in ("SIGSTOP", "SIGKILL"):
            variant(setup, how, keep_quorum, measured)
        alive = [f"{h.name} exited with {h.proc.returncode}" for h in hosts if not h.alive()]
        TAP.check(not alive, "both gipam processes ran throughout (never restarted)", alive)
        silent_member(setup, measured)
        TAP.note("measured:")
        for what, took in measured:
            TAP.note(f"  {what}: {took:.3f} s")
    except (Exception, KeyboardInterrupt) as error:  # KeyboardInterrupt: SIGTERM, SIGALRM (watchdog)
        TAP.check(False, "harness", [f"{type(error).__name__}: {error}"] + str(error).splitlines()[1:])
    finally:
        if TAP.failed:
            for h in hosts:
                lines = [line.rstrip("\n") for line in open(h.log, errors="replace")
                         if line.startswith(("gipam warning", "gipam error", "gipam info: Request", "gipam info: Release"))
                         and "does not exist: starting with no pools" not in line]
                TAP.note(f"---- {h.name}: gipam's log, warnings and grants (last 16 of {len(lines)}) ----")
                for line in lines[-16:]:
                    TAP.note("  " + line[:300])
        for h in hosts:
            h.stop()
        cluster.stop_all()
        if os.environ.get("E2E_KEEP") == "1":
            TAP.note(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        TAP.note(f"elapsed {time.monotonic() - START:.0f}s")
        print(f"{TAP.count - TAP.failed} passed, {TAP.failed} failed", flush=True)
    return 1 if TAP.failed else 0


def on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(180)  # a watchdog: the finally above still stops every process
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupted:
        print(f"not ok - interrupted ({interrupted})")
        sys.exit(1)
