"""The client bench/peers/run drives each IPAM driver with: Docker's JSON over a kept-alive Unix
socket.
  driver.py cpu NAME SOCKET PID PAIRS       server CPU (user, system) per change, from /proc/PID/stat
  driver.py side NAME SOCKET OPTION N R SEC  RequestAddress p50 over N, ReleaseAddress p50 over R,
                                             then 8 clients' changes per second over SEC seconds
"""
import http.client, json, os, socket, statistics, sys, threading, time


class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("x", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def post(connection, path, body):
    connection.request("POST", path, json.dumps(body))
    response = connection.getresponse()
    answer = json.loads(response.read() or b"{}")
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {answer}")
    return answer


def new_pool(connection, option):
    space = post(connection, "/IpamDriver.GetDefaultAddressSpaces", {}).get("LocalDefaultAddressSpace", "")
    options = {option: "bench"} if option else {}
    return post(connection, "/IpamDriver.RequestPool",
                {"AddressSpace": space, "Pool": "", "SubPool": "", "Options": options, "V6": False})["PoolID"]


def pair(connection, pool):
    address = post(connection, "/IpamDriver.RequestAddress", {"PoolID": pool, "Address": "", "Options": {}})["Address"]
    post(connection, "/IpamDriver.ReleaseAddress", {"PoolID": pool, "Address": address.split("/")[0]})


def cpu_of(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu(name, path, pid, pairs):
    connection = Unix(path)
    pool = new_pool(connection, "")
    for _ in range(50):
        pair(connection, pool)
    before, start = cpu_of(pid), time.time()
    for _ in range(pairs):
        pair(connection, pool)
    after, wall = cpu_of(pid), time.time() - start
    user, system = ((after[k] - before[k]) / (2 * pairs) * 1e6 for k in (0, 1))
    print(f"{name:10s} server CPU per change: user {user:6.1f} us, system {system:6.1f} us; "
          f"wall {wall / (2 * pairs) * 1e6:6.1f} us ({2 * pairs} changes)")


def side(name, path, option, requests, releases, seconds):
    connection = Unix(path)
    pool = new_pool(connection, option)
    held, requested, released = [], [], []
    for _ in range(requests):
        start = time.perf_counter()
        held.append(post(connection, "/IpamDriver.RequestAddress",
                         {"PoolID": pool, "Address": "", "Options": {}})["Address"].split("/")[0])
        requested.append(time.perf_counter() - start)
    for address in held[:releases]:
        start = time.perf_counter()
        post(connection, "/IpamDriver.ReleaseAddress", {"PoolID": pool, "Address": address})
        released.append(time.perf_counter() - start)
    changes = [0] * 8

    def client(k):
        mine = Unix(path)
        end = time.time() + seconds
        while time.time() < end:
            pair(mine, pool)
            changes[k] += 2

    start = time.time()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"{name:14s} RequestAddress p50 {statistics.median(requested) * 1e3:8.2f} ms (first {requests}), "
          f"ReleaseAddress p50 {statistics.median(released) * 1e3:8.2f} ms ({releases}), "
          f"8 clients {sum(changes) / (time.time() - start):8.1f} changes/s")


if __name__ == "__main__":
    if sys.argv[1] == "cpu":
        cpu(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        side(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]))
