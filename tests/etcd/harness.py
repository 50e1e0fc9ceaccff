"""The harness that tests/etcd/contention.py and tests/etcd/quorum.py share (standard library only).

A 3-member etcd cluster on free loopback ports (EtcdCluster: start, SIGKILL/SIGSTOP/SIGCONT a member,
health by etcdctl, the leader, reads over etcd's JSON gateway), gipam processes (Gipam: start, kill,
restart, read the lease file), the Unix-socket HTTP client for gipam's plugin API (call, get_text),
a start that must be refused (Gipam.start_refused), `gipam gc` beside a running gipam (Gipam.gc),
lease-file runs and etcd keys (expand, block_of, hold_of, node_keys), TAP-style reporting (TAP), and
what every run does first and last (preflight, finish, run_main: the watchdog and signals). The
Docker Engine API stand-in that `gipam gc` and `gipam check` talk to is in docker_standin.py.

The scripts import it relative to their own directory, so they run from any directory:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
"""

import base64
import collections
import http.client
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

V4_SUPER = "198.18.0.0/16"
V6_SUPER = "2001:db8:100::/56"
PREFIX = "/gipam"
REQUEST_TIMEOUT = 10.0
NODE_SCOPES = ("node", "host")  # the scope of a block claim of one node's pool ("host": gipam 0.1)
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
    """One gipam process of host `name` (its directory, lease file, socket and log under root);
    --node-id is node_id, by default the name."""

    def __init__(self, binary, root, name, endpoints, node_id=None):
        self.name = name
        self.node_id = node_id or name
        self.binary = binary
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "gipam.sock")
        self.leases = os.path.join(self.dir, "leases.json")
        self.log = os.path.join(self.dir, "gipam.log")
        # The flags every command of gipam takes too (gipam gc, gipam check).
        self.flags = ["-v4", V4_SUPER, "-v6", V6_SUPER, "-file", self.leases, "--socket", self.sock,
                      "--node-id", self.node_id, "--log-level", "debug"]
        if endpoints:
            self.flags += ["--etcd-endpoints", ",".join(endpoints), "--etcd-prefix", PREFIX]
        self.args = [binary] + self.flags
        self.proc = None
        self.starts = 0

    def _spawn(self, what):
        with open(self.log, "ab") as log:
            log.write(f"==== test: {what} {self.starts + 1} at t={now():.2f}s\n".encode())
            log.flush()
            offset = log.tell()
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        self.starts += 1
        return offset

    def start_refused(self, timeout=10.0):
        """Starts gipam where it must refuse to start: (exit code, or None if it still ran after
        timeout s, then SIGKILLed; seconds until it exited; what it logged)."""
        offset = self._spawn("start (to be refused)")
        began = time.monotonic()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        took = time.monotonic() - began
        with open(self.log, errors="replace") as f:
            f.seek(offset)
            return code, took, f.read()

    def gc(self, docker_socket, grace=1, timeout=60.0, extra=()):
        """Runs `gipam gc --grace N` beside this gipam (its flags, Docker at docker_socket):
        (exit code, stdout + stderr)."""
        cmd = [self.binary, "gc", "--grace", str(grace), "--docker-host", "unix://" + docker_socket,
               *extra] + self.flags
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            return None, f"gipam gc did not end within {timeout} s: {error.stdout or ''}{error.stderr or ''}"
        return done.returncode, done.stdout + done.stderr

    def start(self, timeout=15.0):
        self._spawn("start")
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


# ---------------------------------------------------------------- lease files and etcd keys

def expand(runs, longest=None):
    """A lease file's address runs ("a-b" or "a") -> the set of addresses; a run spanning more than
    longest addresses raises ValueError."""
    out = set()
    for run in runs:
        first, _, last = run.partition("-")
        a = ipaddress.ip_address(first)
        b = ipaddress.ip_address(last) if last else a
        if longest is not None and int(b) - int(a) > longest:
            raise ValueError(f"run {run} is too long to expand")
        kind = type(a)
        out.update(str(kind(n)) for n in range(int(a), int(b) + 1))
    return out


def hold_of(value):
    """An address key's value -> {holder, node, use, handle, endpoint}; gipam 0.1's "<node>" and
    "<node> once" too; None for anything else."""
    try:
        hold = json.loads(value)
        if isinstance(hold, dict) and hold.get("holder"):
            return hold
        return None
    except ValueError:
        words = value.split(" ")
        if len(words) == 1 and words[0]:
            return {"holder": words[0], "node": words[0], "use": "endpoint"}
        if len(words) == 2 and words[1] == "once":
            return {"holder": words[0], "node": words[0], "use": "shared"}
        return None


def node_keys(kvs, node):
    """The keys of node in etcd (kvs as EtcdCluster.range gives them): its block claims, address
    holds, pool holds and copies, nodes/<node> and nodes/<node>/alive -> (value, mod revision)."""
    mine = {}
    for key, (value, _, modified) in kvs.items():
        if key.startswith(PREFIX + "/blocks/"):
            try:
                ours = json.loads(value).get("node") == node
            except (ValueError, AttributeError):
                ours = False
        elif key.startswith(PREFIX + "/pools/"):
            rest = key[len(PREFIX + "/pools/"):]
            if "/addresses/" in rest:
                hold = hold_of(value) or {}
                ours = node in (hold.get("holder"), hold.get("node"))
            else:
                ours = rest.endswith("/holders/" + node) or rest.endswith("/copies/" + node)
        else:
            ours = key in (f"{PREFIX}/nodes/{node}", f"{PREFIX}/nodes/{node}/alive")
        if ours:
            mine[key] = (value, modified)
    return mine


def compare_keys(before, after):
    """What changed between two node_keys: lines naming each key gone, changed or new."""
    lines = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            lines.append(f"gone: {key} = {before[key][0]!r} (mod revision {before[key][1]})")
        elif key not in before:
            lines.append(f"new: {key} = {after[key][0]!r} (mod revision {after[key][1]})")
        elif before[key] != after[key]:
            lines.append(f"changed: {key} = {before[key][0]!r} (mod revision {before[key][1]}) -> "
                         f"{after[key][0]!r} (mod revision {after[key][1]})")
    return lines


def block_of(key):
    """/gipam/blocks/4/c6120000/24 -> 198.18.0.0/24"""
    match = re.fullmatch(re.escape(PREFIX) + r"/blocks/([46])/([0-9a-f]+)/(\d+)", key)
    if not match:
        return None
    value = int(match.group(2), 16)
    address = ipaddress.IPv4Address(value) if match.group(1) == "4" else ipaddress.IPv6Address(value)
    return ipaddress.ip_network(f"{address}/{match.group(3)}")


# ---------------------------------------------------------------- a run: first and last

def preflight(binary):
    """None when the test can run; else, said, its exit code: 1 (no gipam binary), 77 (skip: no etcd)."""
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        print(f"not ok 1 - gipam binary {binary} is not executable")
        print("0 passed, 1 failed")
        return 1
    for tool in ("etcd", "etcdctl"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is not installed (Debian packages etcd-server, etcd-client)")
            return 77
    return None


def start_cluster(cluster, root):
    """Starts every member of cluster and waits until it is healthy."""
    for name in cluster.members:
        cluster.start(name)
    took = cluster.wait_healthy(timeout=30)
    TAP.note(f"etcd cluster of {len(cluster.members)} healthy in {took:.1f} s: {','.join(cluster.endpoints())} "
             f"(dir {root})")


def harness_failed(error):
    """A run that broke off (an exception, or SIGTERM/SIGALRM as KeyboardInterrupt): one failed check."""
    TAP.check(False, "harness", [f"{type(error).__name__}: {error}"] + str(error).splitlines()[1:])


def note_log(title, path, starts, last):
    """Notes the last lines of a gipam log that start with one of starts."""
    lines = [line.rstrip("\n") for line in open(path, errors="replace")
             if line.startswith(starts) and "does not exist: starting with no pools" not in line]
    TAP.note(f"---- {title} (last {last} of {len(lines)}) ----")
    for line in lines[-last:]:
        TAP.note("  " + line[:300])


def finish(gipams, cluster, root, standins=()):
    """Stops every gipam, Docker stand-in and etcd member, removes root (unless E2E_KEEP=1),
    prints the summary."""
    for g in gipams:
        g.stop()
    for s in standins:
        s.stop()
    cluster.stop_all()
    if os.environ.get("E2E_KEEP") == "1":
        TAP.note(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    TAP.note(f"elapsed {time.monotonic() - START:.0f}s")
    print(f"{TAP.count - TAP.failed} passed, {TAP.failed} failed", flush=True)


def on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_main(main, watchdog=180):
    """sys.exit(main()), SIGTERM and a watchdog (SIGALRM) raising KeyboardInterrupt in it: main's
    finally still stops every process."""
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(watchdog)
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupted:
        print(f"not ok - interrupted ({interrupted})")
        sys.exit(1)
