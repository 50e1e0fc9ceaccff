#include "main/config.h"

#include <unistd.h>

#include <grp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "ip/prefix.h"
#include "ipam/pool_options.h"
#include "store/etcd/etcd_client.h"

#ifndef GIPAM_VERSION
#define GIPAM_VERSION "dev"
#endif

namespace gipam::config {
namespace {

constexpr const char* kLongNames[] = {"address",   "file",    "v4",     "v4ab",           "v6",
                                      "v6ab",      "socket",  "socket-group", "spec-dir",   "name",
                                      "log-level", "log-split", "tls-cert",   "tls-key",    "tls-ca",
                                      "docker-tls-cert", "docker-tls-key", "metrics-address", "json",
                                      "verbose", "docker-host", "reserve-missing", "grace", "dry-run",
                                      "from-docker", "etcd-endpoints", "node-id", "etcd-prefix", "etcd-cacert",
                                      "etcd-cert", "etcd-key", "reconcile-interval", "help", "version"};

// The Go flag package accepts -name as well as --name; CLI11 only the latter.
std::vector<std::string> normalizeGoFlags(std::vector<std::string> args) {
    for (std::size_t i = 1; i < args.size(); ++i) {
        auto& arg = args[i];
        if (arg == "--") break;
        if (arg.size() < 3 || arg[0] != '-' || arg[1] == '-') continue;
        const auto name = arg.substr(1, arg.find('=') - 1);
        if (std::find(std::begin(kLongNames), std::end(kLongNames), name) != std::end(kLongNames)) arg.insert(0, "-");
    }
    return args;
}

// "-v4 X" or "GIPAM_V4=X", whichever supplied the value, for error messages.
std::string sourceOf(const CLI::Option& option, const std::vector<std::string>& args) {
    const std::string flag = option.get_name();
    for (const auto& arg : args) {
        if (arg == flag || arg.rfind(flag + "=", 0) == 0) return "-" + flag.substr(2);
    }
    return option.get_envname();
}

SupernetSetting parseSupernet(const CLI::Option& prefixOption, const CLI::Option& lengthOption,
                              const std::string& prefixText, int blockLength, ip::Family family,
                              const std::vector<std::string>& args) {
    const int maxLength = ipam::maxBlockLength(family);
    const auto lengthError = [&](const std::string& problem) {
        return UsageError(sourceOf(lengthOption, args) + " " + std::to_string(blockLength) + ": " + problem);
    };
    if (blockLength < 1 || blockLength > maxLength) {
        throw lengthError("block length must be 1 to " + std::to_string(maxLength) + " (a block must hold a host)");
    }
    SupernetSetting setting{std::nullopt, blockLength, prefixOption.count() > 0, lengthOption.count() > 0};
    if (prefixText.empty()) return setting;
    const std::string source = sourceOf(prefixOption, args);
    const ip::Prefix prefix = [&] {
        try {
            return ip::Prefix::parse(prefixText);
        } catch (const ip::ParseError& error) {
            throw UsageError(source + " " + prefixText + ": " + error.what());
        }
    }();
    if (prefix.family() != family) {
        throw UsageError(source + " " + prefixText + ": not an " + std::string(ip::familyName(family)) + " prefix");
    }
    if (blockLength <= prefix.length()) {
        throw lengthError("block length must be longer than the supernet's /" + std::to_string(prefix.length()));
    }
    setting.supernet = store::Supernet{prefix, blockLength};
    return setting;
}

void checkTls(const Config& config) {
    const int serverFiles = !config.tlsCertificate.empty() + !config.tlsKey.empty() + !config.tlsCa.empty();
    if (serverFiles != 0 && serverFiles != 3) {
        throw UsageError("--tls-cert, --tls-key and --tls-ca go together: gipam serves TLS only to clients with a "
                         "certificate from that CA");
    }
    if (serverFiles == 3 && config.address.empty()) {
        throw UsageError("--tls-cert needs -address: TLS is for TCP (the Unix socket has file permissions)");
    }
    if (config.dockerTlsCertificate.empty() != config.dockerTlsKey.empty()) {
        throw UsageError("--docker-tls-cert and --docker-tls-key go together");
    }
    if (!config.dockerTlsCertificate.empty() && serverFiles == 0) {
        throw UsageError("--docker-tls-cert needs --tls-cert, --tls-key and --tls-ca");
    }
}

}  // namespace

ParseResult parseCommandLine(std::vector<std::string> rawArgs) {
    const auto args = normalizeGoFlags(std::move(rawArgs));
    CLI::App app{
        "gipam: Docker IPAM plugin handing out dual-stack pools and addresses from supernets, "
        "with every change saved to a lease file before Docker gets its answer.",
        "gipam"};
    app.get_formatter()->column_width(34);
    // As with Go's flag package, a repeated flag takes its last value.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    Config config;
    std::string v4, v6, logLevel = "info";
    int v4ab = 24, v6ab = 64;
    app.add_option("--address", config.address,
                   "Listen on TCP host:port and write a spec file, instead of the Unix socket")
        ->envname("GIPAM_ADDRESS");
    app.add_option("--file", config.file, "Lease file (JSON); once it exists, supernet settings come from it")
        ->envname("GIPAM_FILE")
        ->capture_default_str();
    auto* v4Option =
        app.add_option("--v4", v4, "IPv4 supernet to cut pools from, e.g. 198.18.0.0/16")->envname("GIPAM_V4");
    auto* v4abOption =
        app.add_option("--v4ab", v4ab, "IPv4 block (pool) prefix length")->envname("GIPAM_V4AB")->capture_default_str();
    auto* v6Option =
        app.add_option("--v6", v6, "IPv6 supernet to cut pools from, e.g. 2001:db8::/56")->envname("GIPAM_V6");
    auto* v6abOption =
        app.add_option("--v6ab", v6ab, "IPv6 block (pool) prefix length")->envname("GIPAM_V6AB")->capture_default_str();
    app.add_option("--socket", config.socketPath, "Unix socket path (default /run/docker/plugins/<name>.sock)");
    std::string socketGroup;
    app.add_option("--socket-group", socketGroup,
                   "Group that may use the Unix socket (mode 0660; default: gipam's own group, root)");
    app.add_option("--spec-dir", config.specDir, "Directory for <name>.spec in TCP mode")->capture_default_str();
    app.add_option("--name", config.name, "Plugin name, as given to --ipam-driver")->capture_default_str();
    app.add_option("--log-level", logLevel, "debug, info, warning or error")->capture_default_str();
    app.add_flag("--log-split", config.logSplit,
                 "Info and debug lines on stdout, warnings and errors on stderr (a managed plugin: dockerd logs "
                 "its stdout at info, its stderr at error)");
    app.add_option("--tls-cert", config.tlsCertificate, "With -address: serve HTTPS with this certificate (PEM)")
        ->envname("GIPAM_TLS_CERT");
    app.add_option("--tls-key", config.tlsKey, "The certificate's private key (PEM)")->envname("GIPAM_TLS_KEY");
    app.add_option("--tls-ca", config.tlsCa, "CA whose client certificates are let in; every client needs one")
        ->envname("GIPAM_TLS_CA");
    app.add_option("--docker-tls-cert", config.dockerTlsCertificate,
                   "Client certificate dockerd on this host presents, written into the .json spec file")
        ->envname("GIPAM_DOCKER_TLS_CERT");
    app.add_option("--docker-tls-key", config.dockerTlsKey, "Its private key, for the spec file")
        ->envname("GIPAM_DOCKER_TLS_KEY");
    app.add_option("--metrics-address", config.metricsAddress,
                   "Also serve GET /metrics on this TCP host:port, for Prometheus (the plugin socket always has it)")
        ->envname("GIPAM_METRICS_ADDRESS");
    std::string etcdEndpoints;
    app.add_option("--etcd-endpoints", etcdEndpoints,
                   "Share one address plan with other hosts through etcd: its client URLs, comma-separated")
        ->envname("GIPAM_ETCD_ENDPOINTS");
    app.add_option("--node-id", config.nodeId, "This host's name in etcd (default: the hostname)")
        ->envname("GIPAM_NODE_ID");
    app.add_option("--etcd-prefix", config.etcdPrefix, "Prefix of gipam's keys in etcd")
        ->envname("GIPAM_ETCD_PREFIX")
        ->capture_default_str();
    app.add_option("--etcd-cacert", config.etcdCa, "CA that etcd's certificate comes from (https endpoints)")
        ->envname("GIPAM_ETCD_CACERT");
    app.add_option("--etcd-cert", config.etcdCertificate, "Client certificate for etcd")->envname("GIPAM_ETCD_CERT");
    app.add_option("--etcd-key", config.etcdKey, "Its private key")->envname("GIPAM_ETCD_KEY");
    app.add_option("--reconcile-interval", config.reconcileSeconds,
                   "Seconds between two reconciles of this node's claims in etcd with its lease file")
        ->envname("GIPAM_RECONCILE_INTERVAL")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    app.set_version_flag("--version", std::string("gipam ") + GIPAM_VERSION);
    // Commands run instead of the daemon, with the daemon's flags (-file, --socket, --name, -v4...).
    app.fallthrough();
    std::string dockerHost = "unix://" + config.dockerSocket;
    const auto dockerHostOption = [&](CLI::App* command) {
        command->add_option("--docker-host", dockerHost, "dockerd's Engine API socket")
            ->envname("DOCKER_HOST")
            ->capture_default_str();
    };
    auto* leases = app.add_subcommand(
        "leases", "Print the supernets and pools the lease file holds, with counts; safe beside a running gipam");
    leases->add_flag("-v,--verbose", config.verbose, "Also the held addresses, as runs");
    leases->add_flag("--json", config.json, "JSON for scripts (counts are decimal strings: a /64 holds 2^64)");
    auto* check = app.add_subcommand(
        "check", "Compare the lease file with Docker's networks: leaked, missing and foreign pools and addresses; "
                 "exit 1 if anything is found");
    dockerHostOption(check);
    check->add_flag("--json", config.json, "JSON for scripts");
    check->add_flag("--reserve-missing", config.reserveMissing,
                    "Hold every address Docker uses that gipam does not, through the running gipam (--socket)");
    auto* gc = app.add_subcommand(
        "gc", "Release, through the running gipam (--socket, root), what was leaked at two looks --grace apart");
    dockerHostOption(gc);
    gc->add_option("--grace", config.graceSeconds,
                   "Seconds between the two looks; covers a container or network still being set up")
        ->capture_default_str()
        ->check(CLI::Range(0, 86400));
    gc->add_flag("--dry-run", config.dryRun, "Say what would be released, release nothing");
    auto* rebuild = app.add_subcommand(
        "rebuild", "Write a new lease file from Docker's networks (-file must not exist, no gipam may run on it; "
                   "the supernets come from -v4/-v6)");
    dockerHostOption(rebuild);
    bool fromDocker = false;
    rebuild->add_flag("--from-docker", fromDocker, "Required: the source is dockerd's view")->required();
    auto* node = app.add_subcommand("node", "Hosts sharing an address plan in etcd (--etcd-endpoints)");
    auto* nodeRemove = node->add_subcommand(
        "remove", "Free in etcd every block and address a host held: only for a host that is gone for good");
    nodeRemove->add_option("NODE", config.removeNode, "The host's --node-id")->required();
    node->require_subcommand(1);
    for (auto* command : {leases, check, gc, rebuild, nodeRemove}) {
        command->footer("Also takes gipam's own flags, with their variables: -file (GIPAM_FILE), --socket, --name, "
                        "-v4, -v6, ... (gipam --help).");
    }
    app.footer("Flags also work with one dash (-v4), as in the Go gipam.");

    std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);
    try {
        app.parse(reversed);
    } catch (const CLI::ParseError& error) {
        if (error.get_exit_code() == 0) {
            app.exit(error);
            return {std::nullopt, 0};
        }
        std::cerr << "gipam: " << error.what() << "\n";
        return {std::nullopt, 2};
    }
    if (leases->parsed()) config.command = Command::Leases;
    if (check->parsed()) config.command = Command::Check;
    if (gc->parsed()) config.command = Command::Gc;
    if (rebuild->parsed()) config.command = Command::Rebuild;
    if (nodeRemove->parsed()) config.command = Command::NodeRemove;
    config.dockerSocket = dockerHost.rfind("unix://", 0) == 0 ? dockerHost.substr(7) : dockerHost;
    try {
        const bool talksToDocker = config.command == Command::Check || config.command == Command::Gc ||
                                   config.command == Command::Rebuild;
        if (talksToDocker && (config.dockerSocket.empty() || config.dockerSocket.front() != '/')) {
            throw UsageError("--docker-host " + dockerHost + ": gipam talks to dockerd on a Unix socket (unix:///path)");
        }
        if (!log::parseLevel(logLevel, config.logLevel)) {
            throw UsageError("--log-level " + logLevel + ": use debug, info, warning or error");
        }
        // Looked up only when given: a managed plugin's rootfs has no /etc/group.
        if (!socketGroup.empty()) {
            const group* entry = ::getgrnam(socketGroup.c_str());
            if (!entry) throw UsageError("--socket-group " + socketGroup + ": no such group");
            config.socketGroup = entry->gr_gid;
        }
        if (config.name.empty() || config.name.find('/') != std::string::npos) {
            throw UsageError("--name '" + config.name + "': must be a non-empty file name");
        }
        checkTls(config);
        for (std::size_t start = 0; start < etcdEndpoints.size();) {
            const auto comma = std::min(etcdEndpoints.find(',', start), etcdEndpoints.size());
            const auto endpoint = etcdEndpoints.substr(start, comma - start);
            if (!endpoint.empty()) {
                if (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0) {
                    throw UsageError("--etcd-endpoints " + etcdEndpoints + ": " + endpoint +
                                     " is not an http:// or https:// URL");
                }
                config.etcdEndpoints.push_back(endpoint);
            }
            start = comma + 1;
        }
        if (!config.etcdEndpoints.empty()) {
            try {
                store::EtcdClient::checkSettings(config.etcdEndpoints,
                                                 {config.etcdCa, config.etcdCertificate, config.etcdKey});
            } catch (const store::StoreError& error) {
                throw UsageError(error.what());
            }
        } else if (!config.etcdCa.empty() || !config.etcdCertificate.empty() || !config.etcdKey.empty()) {
            throw UsageError("--etcd-cacert, --etcd-cert and --etcd-key need --etcd-endpoints");
        }
        if (config.command == Command::NodeRemove && config.etcdEndpoints.empty()) {
            throw UsageError("node remove needs --etcd-endpoints (or GIPAM_ETCD_ENDPOINTS)");
        }
        if (config.nodeId.empty()) {
            char host[256] = {};
            ::gethostname(host, sizeof host - 1);
            config.nodeId = host;
        }
        if (config.nodeId.empty() || config.nodeId.find_first_of("/ ") != std::string::npos || config.nodeId == "swarm") {
            throw UsageError("--node-id '" + config.nodeId + "': must be non-empty, without '/' or spaces, and not "
                             "\"swarm\" (the holder of swarm pools' addresses)");
        }
        if (config.etcdPrefix.empty() || config.etcdPrefix.front() != '/' || config.etcdPrefix.back() == '/') {
            throw UsageError("--etcd-prefix '" + config.etcdPrefix + "': must start with '/' and not end with one");
        }
        config.v4 = parseSupernet(*v4Option, *v4abOption, v4, v4ab, ip::Family::V4, args);
        config.v6 = parseSupernet(*v6Option, *v6abOption, v6, v6ab, ip::Family::V6, args);
    } catch (const UsageError& error) {
        std::cerr << "gipam: " << error.what() << "\n";
        return {std::nullopt, 2};
    }
    if (config.socketPath.empty()) config.socketPath = "/run/docker/plugins/" + config.name + ".sock";
    return {config, 0};
}

store::Leases initialLeases(const Config& config) {
    if (!config.v4.supernet && !config.v6.supernet) {
        throw UsageError("no supernet configured: give -v4 and/or -v6 (or GIPAM_V4/GIPAM_V6)");
    }
    return {config.v4.supernet, config.v6.supernet, {}};
}

std::vector<std::string> differencesFromLeases(const Config& config, const store::Leases& leases) {
    std::vector<std::string> differences;
    const auto compare = [&](const SupernetSetting& setting, const std::optional<store::Supernet>& stored,
                             const std::string& name) {
        const std::string storedPrefix = stored ? stored->prefix.toString() : "unset";
        const std::string storedLength = stored ? std::to_string(stored->blockLength) : "unset";
        const std::string givenPrefix = setting.supernet ? setting.supernet->prefix.toString() : "unset";
        if (setting.prefixGiven && givenPrefix != storedPrefix) {
            differences.push_back("-" + name + " " + givenPrefix + " (lease file: " + storedPrefix + ")");
        }
        if (setting.blockLengthGiven && std::to_string(setting.blockLength) != storedLength) {
            differences.push_back("-" + name + "ab " + std::to_string(setting.blockLength) +
                                  " (lease file: " + storedLength + ")");
        }
    };
    compare(config.v4, leases.v4, "v4");
    compare(config.v6, leases.v6, "v6");
    return differences;
}

}  // namespace gipam::config
