"""contention.py's node-identity scenarios, run midway through its churn (standard library only).

  twin_start:     while node H's gipam runs, a second gipam starts as --node-id H with a fresh lease
                  file and socket of its own: it must exit non-zero at start saying that the node ID
                  "is held by another live gipam", and nothing of node H's may change in etcd (H's
                  clients are paused meanwhile, so that H's own keys stand still), and H still serves.
  wiped_restart:  H's gipam is stopped (SIGTERM), its lease file deleted (a copy kept), and gipam
                  started again as H: it must exit non-zero within a few seconds saying the lease
                  file "does not know" etcd's claims of H or "belongs to another instance" of H, and
                  naming `gipam node remove H`; no key of H's may change in etcd meanwhile (its
                  blocks, addresses, holds, its node record). Then the lease file is put back and H
                  started normally, so the run goes on.
Each reports its checks through harness.TAP and returns what it started, for the final cleanup.
"""

import json
import os
import shutil
import time

from harness import PREFIX, REQUEST_TIMEOUT, TAP, Gipam, compare_keys, get_text, limited, node_keys, now

REFUSED_WITHIN = 6.0  # seconds: "within a few seconds"


def pause(run, clients, host, timeout=REQUEST_TIMEOUT + 2):
    """Holds host's clients between two requests; True once every one of them is idle."""
    run.paused[host].set()
    mine = [c for c in clients if c.host == host]
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if all(c.idle.is_set() or not c.is_alive() for c in mine):
            return True
        time.sleep(0.01)
    return False


def resume(run, host):
    run.paused[host].clear()


def serves(gipam):
    try:
        status, _ = get_text(gipam.sock, "/metrics", timeout=3)
        return gipam.alive() and status == 200
    except OSError:
        return False


def said(text, limit=4):
    """gipam's error lines in text (what a refused start logged), else its last lines."""
    lines = [line for line in text.splitlines() if line.startswith("gipam error")] or text.splitlines()[-limit:]
    return [line[:400] for line in lines[-limit:]]


def summary(keys):
    kinds = {"blocks": 0, "addresses": 0, "holds": 0, "node": 0}
    for key in keys:
        if key.startswith(PREFIX + "/blocks/"):
            kinds["blocks"] += 1
        elif "/addresses/" in key:
            kinds["addresses"] += 1
        elif key.startswith(PREFIX + "/nodes/"):
            kinds["node"] += 1
        else:
            kinds["holds"] += 1
    return ", ".join(f"{n} {k}" for k, n in kinds.items())


def twin_start(binary, root, cluster, hosts, host, run, clients):
    first = hosts[host]
    quiet = pause(run, clients, host)
    try:
        before = node_keys(cluster.range(PREFIX + "/")[0], host)
        twin = Gipam(binary, root, f"{host}-twin", cluster.endpoints(), node_id=host)
        code, took, text = twin.start_refused(timeout=10.0)
        after = node_keys(cluster.range(PREFIX + "/")[0], host)
        still = serves(first)
    finally:
        resume(run, host)
    TAP.note(f"t={now():.1f}s: a second gipam as node {host} (fresh lease file {twin.leases}) exited with {code} "
             f"after {took:.2f} s")
    refused = code not in (None, 0) and "is held by another live gipam" in text
    TAP.check(refused and took <= REFUSED_WITHIN,
              f"a second gipam as node {host}, with a fresh lease file and socket of its own, while {host}'s runs: "
              f"exits non-zero within {REFUSED_WITHIN:.0f} s saying the node ID is held by another live gipam",
              [f"exit {code} after {took:.2f} s; it logged:"] + said(text))
    changes = compare_keys(before, after)
    problems = list(changes)
    if not quiet:
        problems.append(f"{host}'s clients did not go idle (a request of theirs may have changed these)")
    if not still:
        problems.append(f"{host}'s gipam no longer serves on {first.sock}")
    if f"{PREFIX}/nodes/{host}/alive" not in before:
        problems.append(f"etcd had no {PREFIX}/nodes/{host}/alive while {host}'s gipam ran")
    TAP.check(not problems, f"meanwhile nothing of node {host}'s changed in etcd ({summary(before)}) and its gipam "
                            "still serves", [f"{len(problems)} problems"] + limited(problems, 20))
    return twin


def wiped_restart(cluster, hosts, host):
    g = hosts[host]
    g.stop()
    stopped = g.proc.returncode
    kvs, _ = cluster.range(PREFIX + "/")
    before = node_keys(kvs, host)
    saved = g.leases + ".saved"
    shutil.copy2(g.leases, saved)
    with open(saved) as f:
        instance = (json.load(f).get("node") or {}).get("instance")
    os.remove(g.leases)
    code, took, text = g.start_refused(timeout=10.0)
    after = node_keys(cluster.range(PREFIX + "/")[0], host)
    TAP.note(f"t={now():.1f}s: gipam {host} stopped (exit {stopped}), its lease file deleted, started again: "
             f"exited with {code} after {took:.2f} s")
    message = ("does not know" in text or "belongs to another instance" in text) and \
        f"gipam node remove {host}" in text
    TAP.check(code not in (None, 0) and message and took <= REFUSED_WITHIN,
              f"gipam {host} restarted with its lease file deleted exits non-zero within {REFUSED_WITHIN:.0f} s, "
              f"saying the lease file does not know etcd's claims (or belongs to another instance) and naming "
              f"`gipam node remove {host}`",
              [f"exit {code} after {took:.2f} s; it logged:"] + said(text) +
              ([f"etcd still had {PREFIX}/nodes/{host}/alive after a clean stop: "
                f"{before[PREFIX + '/nodes/' + host + '/alive'][0]}"]
               if f"{PREFIX}/nodes/{host}/alive" in before else []))
    problems = compare_keys(before, after)
    record = after.get(f"{PREFIX}/nodes/{host}")
    try:
        recorded = json.loads(record[0]).get("instance") if record else None
    except ValueError:
        recorded = record[0]
    if recorded != instance:
        problems.append(f"etcd's {PREFIX}/nodes/{host} records instance {recorded}, the lease file had {instance}")
    TAP.check(not problems, f"meanwhile no key of node {host}'s changed in etcd ({summary(before)})",
              [f"{len(problems)} changes"] + limited(problems, 20))
    shutil.copy2(saved, g.leases)  # over the new one the refused start wrote
    try:
        took = g.start()
        TAP.check(True, f"gipam {host} with its lease file put back starts and serves ({took:.2f} s)")
    except RuntimeError as error:
        TAP.check(False, f"gipam {host} with its lease file put back starts and serves", str(error).splitlines())
        g.start()  # once more: the run needs it; a second failure ends the run
