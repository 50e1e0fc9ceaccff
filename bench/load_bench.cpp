// Load benchmark: drives the real gipam binary over its Unix socket with keep-alive connections
// and prints latency and throughput per workload, next to the floor a durable write costs on the
// same directory. Usage: gipam_load_bench DISK_DIR TMPFS_DIR [--quick] [serial|concurrent|thinking|openloop|scale|etcd]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "store/etcd/etcd_client.h"
#include "support/etcd_cluster.h"
#include "support/gipam_process.h"

namespace {

using namespace gipam::testing;
using Clock = std::chrono::steady_clock;

struct Stats {
    std::string workload;
    std::string operation;
    std::vector<double> micros;  // per operation
    double seconds = 0;          // wall time of the whole run, for throughput

    double percentile(double p) const {
        auto sorted = micros;
        std::sort(sorted.begin(), sorted.end());
        return sorted.empty() ? 0 : sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * sorted.size()))];
    }
    double opsPerSecond() const { return seconds > 0 ? micros.size() / seconds : 0; }
};

std::vector<Stats> results;
std::vector<std::pair<std::string, double>> figures;  // named single numbers

double timed(const std::function<void()>& work) {
    const auto start = Clock::now();
    work();
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

std::string field(const std::string& body, const std::string& key) {
    const auto at = body.find("\"" + key + "\":\"");
    if (at == std::string::npos) throw std::runtime_error("no " + key + " in " + body);
    const auto start = at + key.size() + 4;
    return body.substr(start, body.find('"', start) - start);
}

HttpResponse mustPost(HttpConnection& connection, const std::string& path, const std::string& body) {
    auto response = connection.post(path, body);
    if (response.status != 200) throw std::runtime_error(path + " failed: " + response.body);
    return response;
}

std::string poolBody(const std::string& pool, bool v6) {
    return R"({"AddressSpace":"gipam-local","Pool":")" + pool + R"(","SubPool":"","Options":{},"V6":)" +
           (v6 ? "true" : "false") + "}";
}
std::string addressBody(const std::string& poolId, const std::string& address = "") {
    return R"({"PoolID":")" + poolId + R"(","Address":")" + address + R"(","Options":null})";
}
std::string releaseBody(const std::string& poolId, const std::string& address) {
    return R"({"PoolID":")" + poolId + R"(","Address":")" + address + R"("})";
}
std::string bare(const std::string& cidr) {
    return cidr.substr(0, cidr.find('/'));
}

struct Daemon {
    std::filesystem::path dir;
    std::unique_ptr<GipamProcess> process;
    double startMillis = 0;

    Daemon(const std::filesystem::path& directory, const std::vector<std::string>& extra = {}) : dir(directory) {
        std::vector<std::string> args{
            "-v4",      "198.18.0.0/15",   "-v6",         "2001:db8::/48", "-file", (dir / "leases.json").string(),
            "--socket", socket().string(), "--log-level", "warning"};
        args.insert(args.end(), extra.begin(), extra.end());
        startMillis =
            timed([&] { process = std::make_unique<GipamProcess>(args, dir / "gipam.log", socket()); }) / 1000;
        if (!process->running()) throw std::runtime_error("gipam did not start: " + process->log());
    }
    ~Daemon() { process->stop(SIGTERM); }
    std::filesystem::path socket() const { return dir / "gipam.sock"; }
    HttpConnection connect() const { return HttpConnection::unix(socket()); }
    long rssKiB() const {
        std::ifstream status("/proc/" + std::to_string(process->pid()) + "/status");
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
        }
        return -1;
    }
};

std::filesystem::path freshDir(const std::filesystem::path& base, const std::string& name) {
    const auto dir = base / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

// The floor: what one durable replace of a file this size costs in this directory.
Stats measureFloor(const std::filesystem::path& dir, std::size_t bytes, int rounds, const std::string& label) {
    Stats stats{label, "floor write+fsync+rename+fsync(dir)", {}, 0};
    const std::string text(bytes, 'x');
    const auto target = dir / "floor.json";
    const auto temp = dir / "floor.json.tmp";
    const auto start = Clock::now();
    for (int i = 0; i < rounds; ++i) {
        stats.micros.push_back(timed([&] {
            const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (::write(fd, text.data(), text.size()) < 0) throw std::runtime_error("write failed");
            ::fsync(fd);
            ::close(fd);
            ::rename(temp.c_str(), target.c_str());
            const int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
            ::fsync(dirFd);
            ::close(dirFd);
        }));
    }
    stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return stats;
}

// One client's RequestAddress/ReleaseAddress pairs, one after another.
std::pair<Stats, Stats> serialAddresses(const Daemon& daemon, const std::string& workload, int rounds) {
    auto connection = daemon.connect();
    const auto pool = field(mustPost(connection, "/IpamDriver.RequestPool", poolBody("", true)).body, "PoolID");
    Stats request{workload, "RequestAddress", {}, 0}, release{workload, "ReleaseAddress", {}, 0};
    const auto start = Clock::now();
    for (int i = 0; i < rounds; ++i) {
        std::string address;
        request.micros.push_back(timed([&] {
            address = field(mustPost(connection, "/IpamDriver.RequestAddress", addressBody(pool)).body, "Address");
        }));
        release.micros.push_back(
            timed([&] { mustPost(connection, "/IpamDriver.ReleaseAddress", releaseBody(pool, bare(address))); }));
    }
    request.seconds = release.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return {request, release};
}

void serialWorkloads(const std::filesystem::path& base, const std::filesystem::path& tmpfs, int rounds) {
    Daemon daemon(freshDir(base, "serial"));
    auto connection = daemon.connect();
    const auto [request, release] = serialAddresses(daemon, "serial", rounds);
    results.push_back(request);
    results.push_back(release);

    Stats poolRequest{"serial", "RequestPool", {}, 0}, poolRelease{"serial", "ReleasePool", {}, 0};
    const auto poolStart = Clock::now();
    for (int i = 0; i < rounds / 2; ++i) {
        std::string id;
        poolRequest.micros.push_back(timed(
            [&] { id = field(mustPost(connection, "/IpamDriver.RequestPool", poolBody("", false)).body, "PoolID"); }));
        poolRelease.micros.push_back(
            timed([&] { mustPost(connection, "/IpamDriver.ReleasePool", R"({"PoolID":")" + id + R"("})"); }));
    }
    poolRequest.seconds = poolRelease.seconds = std::chrono::duration<double>(Clock::now() - poolStart).count();
    results.push_back(poolRequest);
    results.push_back(poolRelease);

    const auto floor =
        measureFloor(daemon.dir, std::filesystem::file_size(daemon.dir / "leases.json"), rounds, "serial");
    results.push_back(floor);
    figures.emplace_back("serial RequestAddress p50 / floor p50 (target <= 1.3)",
                         request.percentile(0.5) / floor.percentile(0.5));
    // What the durable path adds beyond the write itself: the same request on tmpfs is the rest.
    const Daemon memory(freshDir(tmpfs, "serial"));
    const auto onTmpfs = serialAddresses(memory, "serial, tmpfs", rounds).first;
    results.push_back(onTmpfs);
    figures.emplace_back("serial RequestAddress p50 / (floor p50 + the same on tmpfs p50) (target <= 1.05)",
                         request.percentile(0.5) / (floor.percentile(0.5) + onTmpfs.percentile(0.5)));
}

// Client counts take turns, round after round, each against its own daemon: the disk's speed
// drifts by tens of percent within seconds, and interleaving makes every count see the same
// drift. Every client makes the same number of requests per round. The ratio the project targets is the median over rounds of 8-client over 1-client
// throughput, each pair measured back to back.
void concurrentWorkloads(const std::filesystem::path& base, int requestsPerClient, int rounds) {
    const std::vector<int> clientCounts{1, 2, 8, 32};
    std::vector<std::unique_ptr<Daemon>> daemons;
    std::vector<std::string> pools;
    std::vector<Stats> stats;
    for (const int clients : clientCounts) {
        daemons.push_back(std::make_unique<Daemon>(freshDir(base, "concurrent" + std::to_string(clients))));
        auto connection = daemons.back()->connect();
        pools.push_back(field(mustPost(connection, "/IpamDriver.RequestPool", poolBody("", true)).body, "PoolID"));
        stats.push_back({std::to_string(clients) + " clients", "RequestAddress", {}, 0});
    }
    std::vector<double> ratios;
    for (int round = 0; round < rounds; ++round) {
        std::vector<double> opsPerSecond;
        for (std::size_t n = 0; n < clientCounts.size(); ++n) {
            const int clients = clientCounts[n];
            std::vector<std::vector<double>> latencies(clients);
            std::vector<std::thread> threads;
            // As many requests per client, so that no count's phase is too short to outlast a
            // stall of the disk.
            const int each = requestsPerClient;
            const auto start = Clock::now();
            for (int c = 0; c < clients; ++c) {
                threads.emplace_back([&, c] {
                    auto connection = daemons[n]->connect();
                    for (int i = 0; i < each; ++i) {
                        latencies[c].push_back(timed(
                            [&] { mustPost(connection, "/IpamDriver.RequestAddress", addressBody(pools[n])); }));
                    }
                });
            }
            for (auto& thread : threads) thread.join();
            const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
            stats[n].seconds += seconds;
            for (const auto& list : latencies) stats[n].micros.insert(stats[n].micros.end(), list.begin(), list.end());
            opsPerSecond.push_back(each * clients / seconds);
        }
        ratios.push_back(opsPerSecond[2] / opsPerSecond[0]);
    }
    results.insert(results.end(), stats.begin(), stats.end());
    std::sort(ratios.begin(), ratios.end());
    figures.emplace_back("8-client / 1-client RequestAddress throughput, median of " + std::to_string(rounds) +
                             " rounds (target >= 5)",
                         ratios[ratios.size() / 2]);
    figures.emplace_back("  lowest round", ratios.front());
    figures.emplace_back("  highest round", ratios.back());
}

// The durable 8-client throughput as a fraction of the same run on tmpfs: how much of the fsync
// group commit hides.
void durableFraction(const std::filesystem::path& disk, const std::filesystem::path& tmpfs, int requestsPerClient,
                     int rounds) {
    constexpr int kClients = 8;
    std::vector<double> fractions;
    for (int round = 0; round < rounds; ++round) {
        double opsPerSecond[2];
        for (int on = 0; on < 2; ++on) {
            const Daemon daemon(freshDir(on == 0 ? disk : tmpfs, "fraction"));
            auto setup = daemon.connect();
            const auto pool = field(mustPost(setup, "/IpamDriver.RequestPool", poolBody("", true)).body, "PoolID");
            std::vector<std::thread> threads;
            const auto start = Clock::now();
            for (int c = 0; c < kClients; ++c) {
                threads.emplace_back([&] {
                    auto connection = daemon.connect();
                    for (int i = 0; i < requestsPerClient; ++i) {
                        mustPost(connection, "/IpamDriver.RequestAddress", addressBody(pool));
                    }
                });
            }
            for (auto& thread : threads) thread.join();
            opsPerSecond[on] = kClients * requestsPerClient / std::chrono::duration<double>(Clock::now() - start).count();
        }
        fractions.push_back(opsPerSecond[0] / opsPerSecond[1]);
    }
    std::sort(fractions.begin(), fractions.end());
    figures.emplace_back("8-client RequestAddress throughput, disk / tmpfs, median of " + std::to_string(rounds) +
                             " rounds (1 = the fsync fully hidden)",
                         fractions[fractions.size() / 2]);
}

std::string metricsOf(const Daemon& daemon);
double sample(const std::string& metrics, const std::string& series);

// What dockerd's clients look like, rather than this benchmark's threads: separate processes,
// each with a pool of its own, in a closed loop of RequestAddress then ReleaseAddress on a
// kept-alive connection, pausing `think` (uniformly in [min, max]) between a reply and the next
// request. Returns the changes per second over `seconds`, and the changes per durable write
// from the daemon's own histogram (gipam_changes_per_durable_write).
struct ThinkingRun {
    double changesPerSecond = 0;
    double changesPerWrite = 0;
};
ThinkingRun thinkingClients(const Daemon& daemon, int clients, std::chrono::microseconds thinkMin,
                            std::chrono::microseconds thinkMax, double seconds) {
    int go[2], done[2];
    if (::pipe(go) != 0 || ::pipe(done) != 0) throw std::runtime_error("pipe failed");
    std::vector<pid_t> children;
    for (int c = 0; c < clients; ++c) {
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            long changes = -1;
            try {
                auto connection = daemon.connect();
                const auto pool =
                    field(mustPost(connection, "/IpamDriver.RequestPool", poolBody("", true)).body, "PoolID");
                std::minstd_rand random(static_cast<unsigned>(c + 1));
                std::uniform_int_distribution<long> pause(thinkMin.count(), thinkMax.count());
                const auto think = [&] {
                    if (thinkMax.count() > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause(random)));
                };
                char byte;
                if (::read(go[0], &byte, 1) != 1) ::_exit(1);
                changes = 0;
                const auto until = Clock::now() + std::chrono::duration<double>(seconds);
                while (Clock::now() < until) {
                    const auto address =
                        field(mustPost(connection, "/IpamDriver.RequestAddress", addressBody(pool)).body, "Address");
                    think();
                    mustPost(connection, "/IpamDriver.ReleaseAddress", releaseBody(pool, bare(address)));
                    think();
                    changes += 2;
                }
            } catch (const std::exception&) {
                changes = -1;
            }
            const bool written = ::write(done[1], &changes, sizeof changes) == sizeof changes;
            ::_exit(written && changes >= 0 ? 0 : 1);
        }
        children.push_back(pid);
    }
    ::close(go[0]);
    ::close(done[1]);
    // Every child has its pool before the clock starts.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto before = metricsOf(daemon);
    const auto start = Clock::now();
    if (::write(go[1], std::string(clients, 'g').data(), clients) != clients) throw std::runtime_error("go failed");
    long total = 0;
    for (int c = 0; c < clients; ++c) {
        long changes = -1;
        if (::read(done[0], &changes, sizeof changes) != sizeof changes || changes < 0) {
            throw std::runtime_error("a client process failed");
        }
        total += changes;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    for (const pid_t pid : children) ::waitpid(pid, nullptr, 0);
    ::close(go[1]);
    ::close(done[0]);
    const auto after = metricsOf(daemon);
    const double writes = sample(after, "gipam_changes_per_durable_write_count") -
                          sample(before, "gipam_changes_per_durable_write_count");
    const double written = sample(after, "gipam_changes_per_durable_write_sum") -
                           sample(before, "gipam_changes_per_durable_write_sum");
    return {total / elapsed, writes > 0 ? written / writes : 0};
}

// Group commit for any client: 8 client processes on the disk and on tmpfs, without think time,
// with 100-300 us and with 300-600 us of it, taking turns over `rounds` (medians printed).
void thinkingWorkloads(const std::filesystem::path& disk, const std::filesystem::path& tmpfs, double seconds,
                       int rounds) {
    constexpr int kClients = 8;
    struct Kind {
        const char* name;
        std::chrono::microseconds min, max;
    };
    using std::chrono::microseconds;
    for (const Kind kind : {Kind{"no think time", microseconds(0), microseconds(0)},
                            Kind{"100-300 us think time", microseconds(100), microseconds(300)},
                            Kind{"300-600 us think time", microseconds(300), microseconds(600)}}) {
        std::vector<double> fractions, perWrite, diskRates, tmpfsRates;
        for (int round = 0; round < rounds; ++round) {
            ThinkingRun runs[2];
            for (int on = 0; on < 2; ++on) {
                const Daemon daemon(freshDir(on == 0 ? disk : tmpfs, "thinking"));
                runs[on] = thinkingClients(daemon, kClients, kind.min, kind.max, seconds);
            }
            fractions.push_back(runs[0].changesPerSecond / runs[1].changesPerSecond);
            perWrite.push_back(runs[0].changesPerWrite);
            diskRates.push_back(runs[0].changesPerSecond);
            tmpfsRates.push_back(runs[1].changesPerSecond);
        }
        const auto median = [](std::vector<double> values) {
            std::sort(values.begin(), values.end());
            return values[values.size() / 2];
        };
        const std::string prefix = "8 client processes, " + std::string(kind.name) + ": ";
        figures.emplace_back(prefix + "changes/s on disk", median(diskRates));
        figures.emplace_back(prefix + "changes/s on tmpfs", median(tmpfsRates));
        figures.emplace_back(prefix + "disk / tmpfs, median of " + std::to_string(rounds) + " rounds (target >= 0.7)",
                             median(fractions));
        figures.emplace_back(prefix + "changes per durable write on disk (target >= 4)", median(perWrite));
    }
}

// Open-loop load, like dockerd starting many containers at once: changes (RequestAddress, then
// ReleaseAddress of what it got) are due at a fixed rate, Poisson, spread over 32 kept-alive
// connections with a pool each, whatever pace the answers keep. Latency counts from when a
// change was due, so a slow answer is charged for what queued behind it. On the disk and on
// tmpfs, at each rate, next to the floor.
void openLoopWorkloads(const std::filesystem::path& disk, const std::filesystem::path& tmpfs, double seconds) {
    constexpr int kConnections = 32;
    double floorMicros = 0;
    {
        const auto dir = freshDir(disk, "openloop-floor");
        floorMicros = measureFloor(dir, 4096, 300, "open loop").percentile(0.5);
    }
    for (const double rate : {1000.0, 4000.0, 8000.0}) {
        for (int on = 0; on < 2; ++on) {
            const Daemon daemon(freshDir(on == 0 ? disk : tmpfs, "openloop"));
            std::vector<std::vector<double>> latencies(kConnections);
            std::vector<std::thread> threads;
            const auto start = Clock::now() + std::chrono::milliseconds(200);  // every connection ready
            const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
            std::atomic<long> changes{0};
            for (int c = 0; c < kConnections; ++c) {
                threads.emplace_back([&, c] {
                    auto connection = daemon.connect();
                    const auto pool =
                        field(mustPost(connection, "/IpamDriver.RequestPool", poolBody("", true)).body, "PoolID");
                    std::mt19937_64 random(static_cast<unsigned>(c * 7919 + 1));
                    std::exponential_distribution<double> gap(rate / kConnections);
                    auto due = start;
                    auto answered = start;  // when the previous answer came
                    std::string held;
                    while (true) {
                        due += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(random)));
                        if (due >= end) break;
                        std::this_thread::sleep_until(due);
                        // Charged from when it was due if it queued behind a late answer; else from
                        // when it was sent, so that this thread waking late is not counted.
                        const auto from = answered > due ? due : Clock::now();
                        if (held.empty()) {
                            held = bare(field(mustPost(connection, "/IpamDriver.RequestAddress", addressBody(pool)).body,
                                              "Address"));
                        } else {
                            mustPost(connection, "/IpamDriver.ReleaseAddress", releaseBody(pool, held));
                            held.clear();
                        }
                        answered = Clock::now();
                        latencies[c].push_back(std::chrono::duration<double, std::micro>(answered - from).count());
                        changes.fetch_add(1, std::memory_order_relaxed);
                    }
                });
            }
            for (auto& thread : threads) thread.join();
            const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            Stats stats{"open loop " + std::to_string(static_cast<int>(rate)) + "/s, " + (on == 0 ? "disk" : "tmpfs"),
                        "change (from when it was due)", {}, elapsed};
            for (const auto& list : latencies) stats.micros.insert(stats.micros.end(), list.begin(), list.end());
            results.push_back(stats);
            if (on == 0) {
                const std::string prefix = "open loop " + std::to_string(static_cast<int>(rate)) + " changes/s, disk: ";
                figures.emplace_back(prefix + "achieved / offered (target >= 0.98)", changes / elapsed / rate);
                figures.emplace_back(prefix + "p50 / floor (target <= 1.5)", stats.percentile(0.5) / floorMicros);
                figures.emplace_back(prefix + "p99 / floor (target <= 3)", stats.percentile(0.99) / floorMicros);
            }
        }
    }
    figures.emplace_back("open loop: the floor on the disk, us p50", floorMicros);
}

// GET /metrics of a daemon, as text.
std::string metricsOf(const Daemon& daemon) {
    auto connection = daemon.connect();
    connection.sendRaw("GET /metrics HTTP/1.1\r\nHost: plugin.moby.localhost\r\n\r\n");
    const auto response = connection.readResponse();
    return response ? response->body : std::string();
}

// The value of one sample line ("name{labels} value"), 0 if absent.
double sample(const std::string& metrics, const std::string& series) {
    const auto at = metrics.find("\n" + series + " ");
    return at == std::string::npos ? 0 : std::stod(metrics.substr(at + series.size() + 2));
}

// Several hosts on one etcd member (GIPAM_BENCH_ETCD_MEMBERS=3: three): the baseline cost of
// etcd's own round trips, then gipam's shared-pool and host-pool RequestAddress beside them, then
// 3 hosts x 8 clients on one shared pool.
void etcdWorkloads(const std::filesystem::path& base, int requests, int contentionSeconds) {
    const char* members = std::getenv("GIPAM_BENCH_ETCD_MEMBERS");
    const int memberCount = members ? std::max(1, std::atoi(members)) : 1;
    EtcdCluster etcd(memberCount);
    const std::string ofEtcd = "etcd " + std::to_string(memberCount) + (memberCount == 1 ? " member, " : " members, ");
    if (!EtcdCluster::installed() || !etcd.waitHealthy()) throw std::runtime_error("etcd did not start");
    using gipam::store::Compare;
    using gipam::store::Operation;
    gipam::store::EtcdClient client(etcd.endpoints());
    Stats put{ofEtcd + "1 client", "gateway put (baseline)", {}, 0};
    Stats cas{ofEtcd + "1 client", "read + CAS txn (baseline)", {}, 0};
    Stats cas8{ofEtcd + "8 clients", "read + CAS txn (baseline)", {}, 0};
    const auto soon = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(3); };
    const auto readAndSwap = [&](const std::string& key) {
        const auto current = client.range(key, {}, soon());
        const std::int64_t revision = current.kvs.empty() ? 0 : current.kvs[0].modRevision;
        client.txn({{key, Compare::Target::Mod, Compare::Result::Equal, revision, {}, {}}},
                   {{Operation::Kind::Put, key, "v", {}, 0, 0}}, {}, soon());
    };
    for (int i = 0; i < requests; ++i) {
        put.micros.push_back(
            timed([&] { client.txn({}, {{Operation::Kind::Put, "/bench/put", "v", {}, 0, 0}}, {}, soon()); }));
        cas.micros.push_back(timed([&] { readAndSwap("/bench/cas"); }));
    }
    std::vector<std::thread> threads;
    std::mutex mutex;
    for (int c = 0; c < 8; ++c) {
        threads.emplace_back([&, c] {
            std::vector<double> mine;
            for (int i = 0; i < requests / 4; ++i) mine.push_back(timed([&] { readAndSwap("/bench/cas" + std::to_string(c)); }));
            std::lock_guard lock(mutex);
            cas8.micros.insert(cas8.micros.end(), mine.begin(), mine.end());
        });
    }
    for (auto& thread : threads) thread.join();
    threads.clear();

    const auto hostArgs = [&](const std::string& node) {
        return std::vector<std::string>{"--etcd-endpoints", etcd.endpointList(), "--node-id", node};
    };
    std::vector<std::unique_ptr<Daemon>> hosts;
    for (const auto* node : {"h1", "h2", "h3"}) {
        hosts.push_back(std::make_unique<Daemon>(freshDir(base, std::string("etcd-") + node), hostArgs(node)));
    }
    const std::string sharedBody =
        R"({"AddressSpace":"gipam-local","Pool":"198.19.0.0/16","SubPool":"","Options":{"gipam.network":"bench"},"V6":false})";
    std::string sharedPool;
    for (const auto& host : hosts) {
        auto connection = host->connect();
        sharedPool = field(mustPost(connection, "/IpamDriver.RequestPool", sharedBody).body, "PoolID");
    }
    Stats shared{"etcd shared pool, 1 client", "RequestAddress", {}, 0};
    Stats hostPool{"etcd host pool, 1 client", "RequestAddress", {}, 0};
    Stats filePool{"lease file alone, 1 client", "RequestAddress", {}, 0};
    {
        auto connection = hosts[0]->connect();
        const auto local = field(mustPost(connection, "/IpamDriver.RequestPool", poolBody("", true)).body, "PoolID");
        const Daemon alone(freshDir(base, "etcd-alone"));
        auto aloneConnection = alone.connect();
        const auto alonePool = field(mustPost(aloneConnection, "/IpamDriver.RequestPool", poolBody("", true)).body, "PoolID");
        for (int i = 0; i < requests; ++i) {
            shared.micros.push_back(timed([&] { mustPost(connection, "/IpamDriver.RequestAddress", addressBody(sharedPool)); }));
            hostPool.micros.push_back(timed([&] { mustPost(connection, "/IpamDriver.RequestAddress", addressBody(local)); }));
            filePool.micros.push_back(
                timed([&] { mustPost(aloneConnection, "/IpamDriver.RequestAddress", addressBody(alonePool)); }));
        }
    }

    // 3 hosts x 8 clients allocating in the one shared pool for a bounded time.
    std::vector<std::string> before;
    for (const auto& host : hosts) before.push_back(metricsOf(*host));
    // etcd answers /metrics chunked, which the test kit's client does not read: curl does.
    const auto etcdMetrics = [&] {
        const auto file = base / "etcd-metrics.txt";
        const auto command = "curl -s -m 5 " + etcd.endpoints().front() + "/metrics -o " + file.string();
        if (std::system(command.c_str()) != 0) return std::string();
        std::ifstream in(file);
        return "\n" + std::string(std::istreambuf_iterator<char>(in), {});
    };
    const auto etcdBefore = etcdMetrics();
    Stats contention{"etcd shared pool, 3 hosts x 8 clients", "RequestAddress", {}, 0};
    std::atomic<long> refused = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(contentionSeconds);
    const auto start = Clock::now();
    for (const auto& host : hosts) {
        for (int c = 0; c < 8; ++c) {
            threads.emplace_back([&, daemon = host.get()] {
                auto connection = daemon->connect();
                std::vector<double> mine;
                while (Clock::now() < deadline) {
                    int status = 0;
                    mine.push_back(timed([&] {
                        status = connection.post("/IpamDriver.RequestAddress", addressBody(sharedPool)).status;
                    }));
                    if (status != 200) ++refused;
                }
                std::lock_guard lock(mutex);
                contention.micros.insert(contention.micros.end(), mine.begin(), mine.end());
            });
        }
    }
    for (auto& thread : threads) thread.join();
    contention.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    double conflicts = 0, exhausted = 0, answered = 0, withinThree = 0;
    for (std::size_t h = 0; h < hosts.size(); ++h) {
        const auto after = metricsOf(*hosts[h]);
        const auto delta = [&](const std::string& series) { return sample(after, series) - sample(before[h], series); };
        conflicts += delta("gipam_store_conflicts_total");
        exhausted += delta("gipam_refusals_total{reason=\"contention\"}");
        answered += delta("gipam_store_conflicts_per_request_count");
        withinThree += delta("gipam_store_conflicts_per_request_bucket{le=\"3\"}");
    }
    results.insert(results.end(), {put, cas, cas8, shared, hostPool, filePool, contention});
    figures.emplace_back("etcd shared-pool RequestAddress p50 / read+CAS txn p50 (target <= 1.5)",
                         shared.percentile(0.5) / cas.percentile(0.5));
    figures.emplace_back("etcd host-pool RequestAddress p50 / lease file alone p50 (target ~1: no etcd round trip)",
                         hostPool.percentile(0.5) / filePool.percentile(0.5));
    figures.emplace_back("3 hosts x 8 clients: allocations/s in all (target >= 300)", contention.opsPerSecond());
    figures.emplace_back("3 hosts x 8 clients: RequestAddress p99 ms (target <= 50)", contention.percentile(0.99) / 1000);
    figures.emplace_back("3 hosts x 8 clients: share of requests with <= 3 conflicts (target >= 0.99)",
                         answered > 0 ? withinThree / answered : 0);
    figures.emplace_back("3 hosts x 8 clients: conflicts in all", conflicts);
    figures.emplace_back("3 hosts x 8 clients: refused after too many conflicts (target 0)", exhausted);
    figures.emplace_back("3 hosts x 8 clients: refused in all", static_cast<double>(refused));
    // Where the tail is: how the latencies spread, how many requests met conflicts (each one a
    // jittered pause of 1-64 ms doubling, then another transaction), and etcd's own disk.
    figures.emplace_back("3 hosts x 8 clients: RequestAddress p50 ms", contention.percentile(0.5) / 1000);
    figures.emplace_back("3 hosts x 8 clients: RequestAddress p90 ms", contention.percentile(0.9) / 1000);
    figures.emplace_back("3 hosts x 8 clients: RequestAddress p99.9 ms", contention.percentile(0.999) / 1000);
    figures.emplace_back("3 hosts x 8 clients: RequestAddress max ms", contention.percentile(1.0) / 1000);
    double none = 0, one = 0;
    for (std::size_t h = 0; h < hosts.size(); ++h) {
        const auto after = metricsOf(*hosts[h]);
        none += sample(after, "gipam_store_conflicts_per_request_bucket{le=\"0\"}") -
                sample(before[h], "gipam_store_conflicts_per_request_bucket{le=\"0\"}");
        one += sample(after, "gipam_store_conflicts_per_request_bucket{le=\"1\"}") -
               sample(before[h], "gipam_store_conflicts_per_request_bucket{le=\"1\"}");
    }
    figures.emplace_back("3 hosts x 8 clients: share of requests with no conflict", answered > 0 ? none / answered : 0);
    figures.emplace_back("3 hosts x 8 clients: share with 2 or more (each pause >= 2 ms)",
                         answered > 0 ? (answered - one) / answered : 0);
    const auto etcdAfter = etcdMetrics();
    const auto etcdDelta = [&](const std::string& series) { return sample(etcdAfter, series) - sample(etcdBefore, series); };
    for (const auto* name : {"etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"}) {
        const std::string series(name);
        const double count = etcdDelta(series + "_count");
        figures.emplace_back("3 hosts x 8 clients: " + series + " mean ms",
                             count > 0 ? etcdDelta(series + "_sum") / count * 1000 : 0);
        // The share of them slower than 32 ms: the bucket bounds etcd exports double from 1 ms.
        figures.emplace_back("3 hosts x 8 clients: " + series + " share above 32 ms",
                             count > 0 ? 1 - etcdDelta(series + "_bucket{le=\"0.032\"}") / count : 0);
    }
}

// A lease file holding `count` addresses of one pool, every third released when fragmented.
void writeLeases(const std::filesystem::path& file, const std::string& pool, const std::string& id,
                 const std::vector<std::string>& addresses) {
    std::ofstream out(file);
    out << R"({"format": 1, "v4": "198.18.0.0/15", "v4ab": 24, "v6": "2001:db8::/48", "v6ab": 64, "pools": [)"
        << R"({"id": ")" << id << R"(", "pool": ")" << pool << R"(", "addresses": [)";
    for (std::size_t i = 0; i < addresses.size(); ++i) out << (i ? ", \"" : "\"") << addresses[i] << '"';
    out << "]}]}\n";
}

std::vector<std::string> heldAddresses(bool v6, long count, bool fragmented) {
    std::vector<std::string> addresses;
    char text[64];
    for (long offset = 1; static_cast<long>(addresses.size()) < count; ++offset) {
        if (fragmented && offset % 3 == 0) continue;
        if (v6) {
            std::snprintf(text, sizeof text, "2001:db8:0:ff::%lx:%lx", offset >> 16, offset & 0xffff);
        } else {
            std::snprintf(text, sizeof text, "198.19.%ld.%ld", offset / 256, offset % 256);
        }
        addresses.emplace_back(text);
    }
    return addresses;
}

void scaleWorkloads(const std::filesystem::path& tmpfs, const std::vector<long>& counts, int rounds) {
    for (const bool v6 : {true, false}) {
        const std::string pool = v6 ? "2001:db8:0:ff::/64" : "198.19.0.0/16";
        const std::string id = "gipam-local/" + pool;
        double base = 0;
        for (const long wanted : counts) {
            for (const bool fragmented : {false, true}) {
                if (fragmented && wanted != counts.back()) continue;
                // A /16 has 65,534 hosts: 60,000 held, or 40,000 with every third of 60,000 released.
                const long count = v6 ? wanted : std::min(wanted, fragmented ? 40000L : 60000L);
                const auto dir = freshDir(tmpfs, "scale");
                writeLeases(dir / "leases.json", pool, id, heldAddresses(v6, count, fragmented));
                Daemon daemon(dir);
                auto connection = daemon.connect();
                const std::string label = pool + " " + std::to_string(count) + (fragmented ? " fragmented" : " held");
                Stats stats{label, "RequestAddress", {}, 0};
                const auto start = Clock::now();
                for (int i = 0; i < rounds; ++i) {
                    std::string address;
                    stats.micros.push_back(timed([&] {
                        address =
                            field(mustPost(connection, "/IpamDriver.RequestAddress", addressBody(id)).body, "Address");
                    }));
                    mustPost(connection, "/IpamDriver.ReleaseAddress", releaseBody(id, bare(address)));
                }
                stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
                results.push_back(stats);
                if (!fragmented && wanted == counts.front()) base = stats.percentile(0.5);
                if (!fragmented && wanted == counts.back()) {
                    figures.emplace_back(pool + " RequestAddress p50 at " + std::to_string(count) + " / at " +
                                             std::to_string(counts.front()) + " held, tmpfs (target <= 1.5)",
                                         stats.percentile(0.5) / base);
                }
                if (fragmented) {
                    figures.emplace_back(pool + " one change with " + std::to_string(count) +
                                             " fragmented leases, ms p50 (target <= 20)",
                                         stats.percentile(0.5) / 1000);
                    figures.emplace_back(
                        pool + " startup with " + std::to_string(count) + " fragmented leases, ms (target < 300)",
                        daemon.startMillis);
                    figures.emplace_back(pool + " resident memory with " + std::to_string(count) +
                                             " fragmented leases, MiB (target < 64)",
                                         daemon.rssKiB() / 1024.0);
                    figures.emplace_back(
                        pool + " lease file bytes with " + std::to_string(count) + " fragmented leases",
                        static_cast<double>(std::filesystem::file_size(dir / "leases.json")));
                }
            }
        }
    }
}

void print() {
    std::printf("%-34s %-38s %8s %10s %10s %10s %10s\n", "workload", "operation", "ops", "ops/s", "p50 us", "p99 us",
                "max us");
    for (const auto& s : results) {
        std::printf("%-34s %-38s %8zu %10.0f %10.0f %10.0f %10.0f\n", s.workload.c_str(), s.operation.c_str(),
                    s.micros.size(), s.opsPerSecond(), s.percentile(0.5), s.percentile(0.99), s.percentile(1.0));
    }
    std::printf("\n");
    for (const auto& [name, value] : figures) std::printf("%-90s %10.2f\n", name.c_str(), value);
    std::ostringstream json;
    json << "{\"results\": [";
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& s = results[i];
        json << (i ? ",\n  " : "\n  ") << "{\"workload\": \"" << s.workload << "\", \"operation\": \"" << s.operation
             << "\", \"ops\": " << s.micros.size() << ", \"ops_per_s\": " << s.opsPerSecond()
             << ", \"p50_us\": " << s.percentile(0.5) << ", \"p99_us\": " << s.percentile(0.99)
             << ", \"max_us\": " << s.percentile(1.0) << "}";
    }
    json << "],\n \"figures\": {";
    for (std::size_t i = 0; i < figures.size(); ++i) {
        json << (i ? ",\n  " : "\n  ") << "\"" << figures[i].first << "\": " << figures[i].second;
    }
    json << "}}\n";
    std::printf("\nJSON:\n%s", json.str().c_str());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: gipam_load_bench DISK_DIR TMPFS_DIR [--quick] [serial|concurrent|thinking|openloop|scale|etcd]\n";
        return 2;
    }
    bool quick = false;
    std::string only;  // one workload, or all when empty
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--quick") {
            quick = true;
        } else {
            only = arg;
        }
    }
    const auto wanted = [&](const char* name) { return only.empty() || only == name; };
    const std::filesystem::path disk = argv[1], tmpfs = argv[2];
    try {
        if (wanted("serial")) serialWorkloads(disk, tmpfs, quick ? 50 : 500);
        if (wanted("concurrent")) {
            concurrentWorkloads(disk, quick ? 32 : 320, quick ? 1 : 7);
            durableFraction(disk, tmpfs, quick ? 32 : 320, quick ? 1 : 5);
        }
        if (wanted("concurrent") || wanted("thinking")) thinkingWorkloads(disk, tmpfs, quick ? 1 : 3, quick ? 1 : 3);
        if (wanted("concurrent") || wanted("openloop")) openLoopWorkloads(disk, tmpfs, quick ? 1 : 4);
        if (wanted("etcd")) etcdWorkloads(disk, quick ? 100 : 500, quick ? 5 : 15);
        if (wanted("scale")) {
            scaleWorkloads(tmpfs, quick ? std::vector<long>{100, 10000} : std::vector<long>{100, 1000, 10000, 100000},
                           quick ? 20 : 200);
        }
    } catch (const std::exception& error) {
        std::cerr << "benchmark failed: " << error.what() << "\n";
        return 1;
    }
    print();
    return 0;
}
