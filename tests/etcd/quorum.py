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
  - RequestPool of a new host-local pool on h1 and RequestAddress in S on h1 fail within 3.5 s,
    with an Err naming etcd and one of the endpoint URLs;
  - ReleaseAddress in S on h2 is answered within 3.5 s, the address released on h2 (Docker does
    not retry a release), with a warning that etcd still shows it held;
  - the lease files changed only by P's addresses, and, once the members are back, etcd holds
    exactly the keys it held before, less the released address of h2 (freed by h2 within
    SETTLE_WITHIN s, gipam not restarted): no block of the failed RequestPool (unless a lease
    file's pool holds it), no address key of the failed RequestAddress;
  - the members restarted (SIGCONT, or started again on their data dirs), requests that need etcd
    succeed again within 10 s without restarting gipam; h2 can then take an address in S again,
    and a new RequestPool on h2 gets a block distinct from every other, held in etcd by h2.
Last, one member silent (SIGSTOP of the first endpoint; quorum kept) just after h2 restarted,
holding 5 of the 6 addresses of a shared /29: RequestAddress there succeeds, with the free one
(a write whose answer is lost is read back; the key h2 held before its restart is not its own).
Prints how long every failing request took, and how long recovery took.

Environment: QUORUM_KEEP_QUORUM=1 stops only 1 member of 3 (etcd keeps its quorum), to see this
test fail: the requests that should fail then succeed. QUORUM_FAIL_WITHIN=S changes the 3.5 s
bound on failing requests. E2E_KEEP=1 keeps the scratch directory.
Only 198.18.0.0/16 and 2001:db8:100::/56, loopback TCP.
"""

import ipaddress
import json
import os
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PREFIX, TAP, EtcdCluster, Gipam, block_of, call, expand, finish, harness_failed,  # noqa: E402
                     note_log, preflight, run_main, start_cluster, tail)

SETTLE_WITHIN = 5.0  # seconds after recovery by which a release etcd missed is settled there
FAIL_WITHIN = float(os.environ.get("QUORUM_FAIL_WITHIN", "3.5"))  # seconds a request needing etcd may take to fail
FAST = 1.0  # seconds a request in a host-local pool may take
RECOVERY_WITHIN = 10.0


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
    released = release_address(h2, setup.s_id, setup.s_h2)
    took = released.t1 - released.t0
    measured.append((f"{how}: ReleaseAddress {setup.s_h2} in S on h2 (answered ok, settled later)", took))
    TAP.check(released.kind == "ok" and took < FAIL_WITHIN and "etcd still shows it held" in tail(h2.log, 10),
              f"ReleaseAddress {setup.s_h2} in S on h2 is answered ok within {FAIL_WITHIN} s, warning that etcd "
              f"still shows it held ({took:.2f} s)", [repr(released)] + tail(h2.log, 4).splitlines())
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

    # The failed requests left nothing in etcd: the keys are those of before, plus the grant above,
    # less h2's release (settled by h2 by itself).
    released_key = f"{PREFIX}/pools/{setup.s_id}/addresses/{setup.s_h2}"
    settled = None
    while time.monotonic() - back_at < RECOVERY_WITHIN + SETTLE_WITHIN:
        if released_key not in cluster.range(released_key)[0]:
            settled = time.monotonic() - back_at
            break
        time.sleep(0.25)
    measured.append((f"{how}: settled (members back -> h2's released key gone)", settled if settled is not None else float("nan")))
    TAP.check(settled is not None and settled <= RECOVERY_WITHIN + SETTLE_WITHIN,
              f"h2 frees {released_key} in etcd by itself once the members are back "
              f"({'%.2f s' % settled if settled is not None else 'never'})", tail(h2.log, 6).splitlines())
    time.sleep(1.0)  # a proposal the survivor kept would be committed by now
    etcd_after, revision_after = cluster.range(PREFIX + "/")
    leases_after = {h.name: h.read_leases() for h in (h1, h2)}
    held_blocks = {ipaddress.ip_network(p["pool"]) for leases in leases_after.values() for p in leases.get("pools", [])}
    changes = []
    for key in sorted(set(etcd_before) | set(etcd_after)):
        old, new = etcd_before.get(key), etcd_after.get(key)
        if old == new or key.startswith(f"{PREFIX}/nodes/"):
            continue  # a node's registration is put again when its liveness lease expired meanwhile
        if old is None and key in expected_new:
            if json.loads(new[0]).get("holder") != "h1":
                changes.append(f"key {key} of h1's new address = {new[0]!r}, not held by h1")
            continue
        if key == released_key and new is None:
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
    code = preflight(binary)
    if code is not None:
        return code
    binary = os.path.abspath(binary)
    keep_quorum = os.environ.get("QUORUM_KEEP_QUORUM") == "1"
    root = tempfile.mkdtemp(prefix="gipam-quorum.")
    cluster = EtcdCluster(root)
    hosts = []
    measured = []
    try:
        start_cluster(cluster, root)
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
        harness_failed(error)
    finally:
        if TAP.failed:
            for h in hosts:
                note_log(f"{h.name}: gipam's log, warnings and grants", h.log,
                         ("gipam warning", "gipam error", "gipam info: Request", "gipam info: Release"), 16)
        finish(hosts, cluster, root)
    return 1 if TAP.failed else 0


if __name__ == "__main__":
    run_main(main)  # a watchdog of 180 s: the finally above still stops every process
