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

Files: this one drives the run (the schedule of kills, the phases, the report);
contention_workload.py has the client threads and the record of what each was told;
contention_audit.py the end state read back and the checks 1-5; harness.py the processes.
"""

import argparse
import collections
import ipaddress
import os
import random
import re
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PREFIX, REQUEST_TIMEOUT, TAP, EtcdCluster, Gipam, call, finish, get_text, harness_failed,  # noqa: E402
                     hold_of, limited, note_log, now, preflight, run_main, start_cluster, tail)
import contention_gc  # noqa: E402
import contention_identity  # noqa: E402
from contention_audit import RevisionSampler, State, audit, lost_grants, percentile, static_check  # noqa: E402
from contention_workload import (AUX_OFFSETS, HOSTS, SHARED_NAMES, STATIC_PER_HOST, THREADS_PER_HOST,  # noqa: E402
                                 Client, Run, norm)


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
