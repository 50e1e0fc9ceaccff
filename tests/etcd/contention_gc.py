"""contention.py's last phase: what leaked, and `gipam gc` freeing it (standard library only).

After the churn and the audit, with every client stopped, the test knows what each client was
granted and has not released. A leak is what gipam holds and no client does:
  - address keys: a shared pool's address key in etcd that no client holds and that is not the
    pool's gateway or an aux address (held once for every host);
  - lease-file pools: a host-local pool of a lease file that no client of that host holds;
  - lease-file addresses: an address of a held host-local pool that no client holds (the pool's
    first address aside: the stand-in shows no gateway for host-local networks, and gipam then
    takes that address for the bridge's; those are counted apart and not checked);
  - block claims: a node's block claim in etcd for a pool no client of that node holds;
  - holds: pools/<ID>/holders/<node> keys and pool records of pools other than the shared ones.
Before looking, the test plants a few leaks of its own on each host (CONTENTION_PLANT=0 leaves them
out), as a dockerd that died between asking and using would: a shared-pool address asked for
dynamically and one by value, an address in a host-local pool a client holds, and a new host-local
pool with an address. So gc always has something to free, and a run without gc always fails.

Then, per host, a Docker Engine API stand-in (docker_standin.py) on a Unix socket shows that host's
networks as its clients hold them: each shared network with its gateway, aux addresses and the
addresses the host's clients hold; each host-local pool a client holds, with that client's
addresses. `gipam gc --grace 1` runs for every host at once, and the leaks are counted again: the
target is none. gc must free nothing in use: every client's grant and every gateway and aux
address is still held afterwards. CONTENTION_SKIP_GC=1 skips gc (to see the leak checks fail).
"""

import os
import threading

from docker_standin import DockerStandin, Network
from harness import NODE_SCOPES, PREFIX, START, TAP, call, limited


def owned(run):
    """What the clients hold: shared-pool (pool ID, address), host-pool (host, pool ID, address)
    and pools (host, pool ID)."""
    shared = {(t.pool_id, t.addr) for t in run.addr_tenures if t.end is None and t.shared}
    local = {(t.host, t.pool_id, t.addr) for t in run.addr_tenures if t.end is None and not t.shared}
    pools = {(t.host, t.pool_id) for t in run.pool_tenures if t.end is None}
    return shared | run.network_held(), local, pools


def leaks(run, state):
    """Kind -> lines, of every leak in state (see the module's doc)."""
    shared_owned, local_owned, pools_owned = owned(run)
    found = {"address keys": [], "lease-file pools": [], "lease-file addresses": [], "block claims": [],
             "holds": [], "first addresses": []}
    for (pid, address), (value, created) in sorted(state.address_keys.items()):
        if (pid, address) not in shared_owned:
            found["address keys"].append(f"{PREFIX}/pools/{pid}/addresses/{address} = {value} (created at revision "
                                         f"{created})")
    for host, pid, net, addresses in state.local:
        if (host, pid) not in pools_owned:
            found["lease-file pools"].append(f"{host}: pool {pid} with {len(addresses)} addresses")
            continue
        first = str(net[1]) if net.num_addresses > 2 else str(net[0])
        for address in sorted(addresses):
            if (host, pid, address) not in local_owned:
                kind = "first addresses" if address == first else "lease-file addresses"
                found[kind].append(f"{host}: {address} of {pid}")
    for _, holder, key in state.blocks:
        if holder.get("scope") in NODE_SCOPES and (holder.get("node"), holder.get("pool")) not in pools_owned:
            found["block claims"].append(f"{key} {holder}")
    for pid, nodes in sorted(state.holders.items()):
        if pid not in run.shared_ids:
            found["holds"] += [f"{PREFIX}/pools/{pid}/holders/{n}" for n in sorted(nodes)]
    found["holds"] += [f"{PREFIX}/pools/{pid} (a pool record)" for pid in sorted(state.pool_records)
                       if pid not in run.shared_ids]
    return found


def origin(run, sampler, pid, address, created):
    """Why an address key no client holds may be there: what happened to that address around the
    time its key was created (dated by the revision samples)."""
    when = next((t0 for t0, _, revision in sorted(sampler.samples) if revision >= created), None)
    if when is None:
        return "created after the last revision sample"
    if (pid, address) in run.logs_said_addr_held:
        return (f"created near t={when - START:.2f}s; gipam answered a release of it while etcd still showed it held "
                "(its log: \"is released here, but etcd still shows it held\"), leaving the delete to its reconcile")
    grants = [t for t in run.addr_tenures if (t.pool_id, t.addr) == (pid, address)]
    doubted = [t for t in grants if t.end in ("doubt", "pool_doubt")]
    if doubted:
        t = doubted[-1]
        return f"created near t={when - START:.2f}s; the release of {t} went unanswered"
    near = [(op, h, a) for op, h, p, a in run.unsure
            if p == pid and op == "RequestAddress" and a.kind == "doubt" and abs(a.t0 - when) < 3.0]
    if near:
        op, h, a = min(near, key=lambda n: abs(n[2].t0 - when))
        return f"created near t={when - START:.2f}s; a RequestAddress on {h} at t={a.t0 - START:.2f}s got no answer: {a.err[:80]}"
    return f"created near t={when - START:.2f}s; no unanswered request or release of it is known"


def counted(found, kinds):
    return ", ".join(f"{len(found[k])} {k}" for k in kinds)


NODE_KINDS = ("lease-file pools", "lease-file addresses", "block claims", "holds")


def plant(run, state, rng):
    """A few leaks on every host (see the module's doc): [(host, what, (pool ID, address) of a
    shared pool or None)], and problems."""
    planted, problems = [], []

    def ask(host, what, endpoint, payload):
        answer = call(run.hosts[host].sock, endpoint, payload)
        if answer.kind == "ok":
            granted = answer.body.get("Address")
            key = (payload["PoolID"], granted.split("/")[0]) if granted and payload["PoolID"] in run.shared_ids else None
            planted.append((host, what + ": " + (granted or answer.body.get("PoolID")), key))
        else:
            problems.append(f"{host}: {what}: {answer!r}")
        return answer

    taken = set(state.address_keys) | owned(run)[0]
    for host in sorted(run.hosts):
        pid = rng.choice(sorted(run.shared_ids))
        ask(host, f"shared pool {pid}, dynamic", "IpamDriver.RequestAddress",
            {"PoolID": pid, "Address": "", "Options": {}})
        free = [a for a in run.static_range[pid] if (pid, a) not in taken]
        if free:
            address = rng.choice(free)
            taken.add((pid, address))
            ask(host, f"shared pool {pid}, by value", "IpamDriver.RequestAddress",
                {"PoolID": pid, "Address": address, "Options": None})
        pools = sorted((t.pool_id, t.prefix) for t in run.pool_tenures if t.end is None and t.host == host)
        if pools:
            # By value, past the first address: gc takes that one for the bridge's (no gateway shown).
            pid, prefix = rng.choice(pools)
            held = {a for h, p, _, addresses in state.local if (h, p) == (host, pid) for a in addresses}
            free = [str(prefix[i]) for i in range(2, min(prefix.num_addresses - 1, 200)) if str(prefix[i]) not in held]
            if free:
                ask(host, f"host pool {pid} a client holds, by value", "IpamDriver.RequestAddress",
                    {"PoolID": pid, "Address": rng.choice(free), "Options": None})
        answer = ask(host, "a host pool", "IpamDriver.RequestPool",
                     {"AddressSpace": "gipam-local", "Pool": "", "SubPool": "", "Options": {}, "V6": False})
        if answer.kind == "ok":
            ask(host, "an address in it", "IpamDriver.RequestAddress",
                {"PoolID": answer.body["PoolID"], "Address": "", "Options": {}})
    return planted, problems


def docker_networks(run, host):
    """What host's dockerd would show: its clients' networks and containers, as they hold them."""
    held = [t for t in run.addr_tenures if t.end is None and t.host == host]
    networks = []
    for name, pid in sorted(run.shared.items()):
        addresses = run.network_addrs.get(pid, {})
        networks.append(Network(f"{host}-{name}", run.shared_prefix[pid], gateway=addresses.get("gateway"),
                                aux=addresses.get("aux"),
                                containers=[(f"{t.client}-{t.addr}", t.addr) for t in held if t.pool_id == pid]))
    for pool in sorted((t for t in run.pool_tenures if t.end is None and t.host == host), key=lambda t: t.pool_id):
        networks.append(Network(f"{pool.client}-{pool.prefix.network_address}", pool.prefix, driver="bridge",
                                containers=[(f"{t.client}-{t.addr}", t.addr) for t in held if t.pool_id == pool.pool_id]))
    return networks


def run_gc(run, root):
    """Stand-ins up, `gipam gc --grace 1` on every host at once: (stand-ins, {host: (code, output)})."""
    standins = {h: DockerStandin(os.path.join(root, f"docker-{h}.sock"), lambda h=h: docker_networks(run, h))
                for h in sorted(run.hosts)}
    for s in standins.values():
        s.start()
    results = {}

    def one(host):
        results[host] = run.hosts[host].gc(standins[host].path, grace=1)

    threads = [threading.Thread(target=one, args=(h,)) for h in standins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return standins, results


def gc_phase(run, sampler, read_state, lost_grants, rng, root, skip_gc, plant_leaks):
    """The phase; returns the stand-ins started (for the final cleanup)."""
    planted, problems = plant(run, read_state(), rng) if plant_leaks else ([], [])
    if plant_leaks:
        TAP.note(f"planted {len(planted)} leaks (granted, then dropped as by a dockerd that died): " +
                 "; ".join(f"{h} {w}" for h, w, _ in planted))
        for line in problems:
            TAP.note("  could not plant: " + line)
    state = read_state()
    before = leaks(run, state)
    planted_keys = sum(1 for _, _, key in planted if key and key in state.address_keys)
    churn = len(before["address keys"]) - planted_keys
    TAP.note(f"leaked before gc: {len(before['address keys'])} address keys in etcd that no client holds "
             f"({planted_keys} planted, {churn} from the churn); {counted(before, NODE_KINDS)}; "
             f"{len(before['first addresses'])} first addresses of host pools (not judged)")
    planted_set = {key for _, _, key in planted if key}
    for (pid, address), (value, created) in sorted(state.address_keys.items()):
        line = f"{PREFIX}/pools/{pid}/addresses/{address} = {value} (created at revision {created})"
        if line in before["address keys"] and (pid, address) not in planted_set:
            TAP.note(f"  from the churn: {line}: {origin(run, sampler, pid, address, created)}")
    for kind in NODE_KINDS + ("first addresses",):
        for line in limited(before[kind], 8):
            TAP.note(f"  {kind}: {line}")

    standins = {}
    if skip_gc:
        TAP.note("CONTENTION_SKIP_GC=1: gipam gc not run")
    else:
        standins, results = run_gc(run, root)
        failed = [f"{h}: exit {code}: " + " | ".join(out.strip().splitlines()[-3:])
                  for h, (code, out) in sorted(results.items()) if code != 0]
        for h, (code, out) in sorted(results.items()):
            lines = out.strip().splitlines()
            TAP.note(f"---- gipam gc on {h} (exit {code}): {len(lines)} lines ----")
            for line in limited(lines, 14):
                TAP.note("  " + line[:300])
        TAP.check(not failed, "gipam gc --grace 1 ran on every host, beside its gipam, with a Docker stand-in (exit 0)",
                  failed)
        unexpected = [f"{h}: {u}" for h, s in sorted(standins.items()) for u in s.unexpected]
        asked = {h: len(s.requests) for h, s in standins.items()}
        TAP.check(not unexpected, "the Docker stand-ins were asked only what gipam knows Docker for: GET /networks, "
                                  f"GET /networks/<id>?verbose=true of gipam's networks ({asked} requests)",
                  unexpected)

    state = read_state()
    after = leaks(run, state)
    TAP.check(not after["address keys"],
              f"no address key in etcd that no client holds after gipam gc (leaked before gc: "
              f"{len(before['address keys'])}, {planted_keys} of them planted; after gc: {len(after['address keys'])})",
              [f"{len(after['address keys'])} still leaked"] + limited(after["address keys"], 20))
    node_left = [f"{kind}: {line}" for kind in NODE_KINDS for line in after[kind]]
    TAP.check(not node_left, f"no node keeps leaked block claims, holds, lease-file pools or addresses after gipam gc "
                             f"(before: {counted(before, NODE_KINDS)}; after: {counted(after, NODE_KINDS)})",
              [f"{len(node_left)} still leaked"] + limited(node_left, 20))
    lost = lost_grants(run, state)
    TAP.check(not lost, "gipam gc freed nothing in use: every client's grant, and each shared pool's gateway and aux "
                        "addresses, still held", [f"{len(lost)} lost"] + limited([line for _, line in lost], 20))
    return list(standins.values())
