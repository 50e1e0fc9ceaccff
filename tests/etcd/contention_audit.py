"""The contention test's audit: etcd's revisions sampled during the run, the end state read back,
and the checks of every acknowledged answer against it (see contention.py)."""

import collections
import ipaddress
import json
import threading
import time

from harness import NODE_SCOPES, PREFIX, START, TAP, block_of, expand, hold_of, limited
from contention_workload import STATIC_OFFSETS, STATIC_PER_HOST, norm


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
