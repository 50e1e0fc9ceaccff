#include "main/config.h"

#include <unistd.h>

#include <grp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>
#include <map>
#include <iostream>

#include "ip/prefix.h"
#include "ipam/pool_options.h"
#include "ipam/service.h"
#include "store/etcd/etcd_client.h"
#include "store/lease_codec.h"

#ifndef GIPAM_VERSION
#define GIPAM_VERSION "dev"
#endif

namespace gipam::config {
namespace {

// What settings parse into before they are checked and turned into a Config.
struct Raw {
    std::string v4, v6, logLevel = "info", socketGroup, etcdEndpoints, reuseDelay = "0", exclude;
    int v4ab = 24, v6ab = 64;
};

// Registers one setting with CLI11, bound to where its value goes.
using Bind = std::function<CLI::Option*(CLI::App&, Config&, Raw&, const std::string& name, const std::string& help)>;

template <typename Field>
Bind into(Field Config::*field) {
    return [field](CLI::App& app, Config& config, Raw&, const std::string& name, const std::string& help) {
        return app.add_option(name, config.*field, help);
    };
}

template <typename Field>
Bind raw(Field Raw::*field) {
    return [field](CLI::App& app, Config&, Raw& values, const std::string& name, const std::string& help) {
        return app.add_option(name, values.*field, help);
    };
}

Bind flag(bool Config::*field) {
    return [field](CLI::App& app, Config& config, Raw&, const std::string& name, const std::string& help) {
        return app.add_flag(name, config.*field, help);
    };
}

// The daemon's settings, which every command takes too: one row each, the one place that names
// a flag, its variable, whether --help shows its default, and its help (README's Options table
// is held against this by a test).
struct Setting {
    const char* flag;
    const char* variable;  // "" for none
    bool showDefault;
    const char* help;
    Bind bind;
};

const Setting kSettings[] = {
    {"address", "GIPAM_ADDRESS", false, "Listen on TCP host:port and write a spec file, instead of the Unix socket",
     into(&Config::address)},
    {"file", "GIPAM_FILE", true, "Lease file (JSON); once it exists, supernet settings come from it", into(&Config::file)},
    {"v4", "GIPAM_V4", false, "IPv4 supernet to cut pools from, e.g. 198.18.0.0/16", raw(&Raw::v4)},
    {"v4ab", "GIPAM_V4AB", true, "IPv4 block (pool) prefix length", raw(&Raw::v4ab)},
    {"v6", "GIPAM_V6", false, "IPv6 supernet to cut pools from, e.g. 2001:db8::/56", raw(&Raw::v6)},
    {"v6ab", "GIPAM_V6AB", true, "IPv6 block (pool) prefix length", raw(&Raw::v6ab)},
    {"exclude", "GIPAM_EXCLUDE", false,
     "Addresses never handed out, PREFIX|ADDRESS|FIRST-LAST,... (either family); no block is cut over them unless "
     "asked for by --subnet; kept in the lease file like the supernets",
     raw(&Raw::exclude)},
    {"socket", "", false, "Unix socket path (default /run/docker/plugins/<name>.sock)", into(&Config::socketPath)},
    {"socket-group", "", false, "Group that may use the Unix socket (mode 0660; default: gipam's own group, root)",
     raw(&Raw::socketGroup)},
    {"spec-dir", "", true, "Directory for <name>.spec in TCP mode", into(&Config::specDir)},
    {"name", "", true, "Plugin name, as given to --ipam-driver", into(&Config::name)},
    {"log-level", "", true, "debug, info, warning or error", raw(&Raw::logLevel)},
    {"log-split", "", false,
     "Info and debug lines on stdout, warnings and errors on stderr (a managed plugin: dockerd logs its stdout at "
     "info, its stderr at error)",
     flag(&Config::logSplit)},
    {"metrics-address", "GIPAM_METRICS_ADDRESS", false,
     "Also serve GET /metrics on this TCP host:port, for Prometheus (the plugin socket always has it)",
     into(&Config::metricsAddress)},
    {"tls-cert", "GIPAM_TLS_CERT", false, "With -address: serve HTTPS with this certificate (PEM)",
     into(&Config::tlsCertificate)},
    {"tls-key", "GIPAM_TLS_KEY", false, "The certificate's private key (PEM)", into(&Config::tlsKey)},
    {"tls-ca", "GIPAM_TLS_CA", false, "CA whose client certificates are let in; every client needs one",
     into(&Config::tlsCa)},
    {"docker-tls-cert", "GIPAM_DOCKER_TLS_CERT", false,
     "Client certificate dockerd on this host presents, written into the .json spec file",
     into(&Config::dockerTlsCertificate)},
    {"docker-tls-key", "GIPAM_DOCKER_TLS_KEY", false, "Its private key, for the spec file", into(&Config::dockerTlsKey)},
    {"etcd-endpoints", "GIPAM_ETCD_ENDPOINTS", false,
     "Share one address plan with other nodes through etcd: its client URLs, comma-separated",
     raw(&Raw::etcdEndpoints)},
    {"node-id", "GIPAM_NODE_ID", false, "This node's name in etcd (default: the hostname)", into(&Config::nodeId)},
    {"etcd-prefix", "GIPAM_ETCD_PREFIX", true, "Prefix of gipam's keys in etcd", into(&Config::etcdPrefix)},
    {"etcd-cacert", "GIPAM_ETCD_CACERT", false,
     "CA that etcd's certificate comes from (https endpoints; default: the system's CAs)", into(&Config::etcdCa)},
    {"etcd-cert", "GIPAM_ETCD_CERT", false, "Client certificate for etcd", into(&Config::etcdCertificate)},
    {"etcd-key", "GIPAM_ETCD_KEY", false, "Its private key", into(&Config::etcdKey)},
    {"reuse-delay", "GIPAM_REUSE_DELAY", true,
     "How long a released address cools before gipam hands it out again by itself (30s, 5m; 0: at once; a network's "
     "--ipam-opt gipam.reuse-delay wins)",
     raw(&Raw::reuseDelay)},
    {"reconcile-interval", "GIPAM_RECONCILE_INTERVAL", true,
     "Seconds between two reconciles of this node's claims in etcd with its lease file (1 to 86400)",
     into(&Config::reconcileSeconds)},
};

// The commands' own long flags, which take one dash too.
constexpr const char* kCommandFlags[] = {"json", "verbose", "docker-host", "reserve-missing", "metrics-file", "grace",
                                         "dry-run", "from-docker", "help", "version"};

bool isLongFlag(const std::string& name) {
    for (const auto& setting : kSettings) {
        if (name == setting.flag) return true;
    }
    return std::find(std::begin(kCommandFlags), std::end(kCommandFlags), name) != std::end(kCommandFlags);
}

// The Go flag package accepts -name as well as --name; CLI11 only the latter.
std::vector<std::string> normalizeGoFlags(std::vector<std::string> args) {
    for (std::size_t i = 1; i < args.size(); ++i) {
        auto& arg = args[i];
        if (arg == "--") break;
        if (arg.size() < 3 || arg[0] != '-' || arg[1] == '-') continue;
        const auto name = arg.substr(1, arg.find('=') - 1);
        if (isLongFlag(name)) arg.insert(0, "-");
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

// The commands that run instead of the daemon, with their own flags.
struct Commands {
    CLI::App *leases, *check, *gc, *rebuild, *nodeRemove;
};

Commands addCommands(CLI::App& app, Config& config, std::string& dockerHost, bool& fromDocker) {
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
    check->add_option("--metrics-file", config.metricsFile,
                      "Also write what was found as Prometheus metrics to this file (atomically), for "
                      "node_exporter's textfile collector and gipam's alert rules");
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
    rebuild->add_flag("--from-docker", fromDocker, "Required: the source is dockerd's view")->required();
    auto* node = app.add_subcommand("node", "Nodes sharing an address plan in etcd (--etcd-endpoints)");
    auto* nodeRemove = node->add_subcommand(
        "remove", "Free in etcd every block and address a node held: only for a node that is gone for good (stop its gipam first)");
    nodeRemove->add_option("NODE", config.removeNode, "The node's --node-id")->required();
    node->require_subcommand(1);
    for (auto* command : {leases, check, gc, rebuild, nodeRemove}) {
        command->footer("Also takes gipam's own flags, with their variables: -file (GIPAM_FILE), --socket, --name, "
                        "-v4, -v6, ... (gipam --help).");
    }
    return {leases, check, gc, rebuild, nodeRemove};
}

// Checks what was parsed and fills in what follows from it; UsageError naming the flag.
void finish(Config& config, const Raw& values, std::map<std::string, CLI::Option*>& options,
            const std::string& dockerHost, const std::vector<std::string>& args) {
    const bool talksToDocker = config.command == Command::Check || config.command == Command::Gc ||
                               config.command == Command::Rebuild;
    if (talksToDocker && (config.dockerSocket.empty() || config.dockerSocket.front() != '/')) {
        throw UsageError("--docker-host " + dockerHost + ": gipam talks to dockerd on a Unix socket (unix:///path)");
    }
    if (!log::parseLevel(values.logLevel, config.logLevel)) {
        throw UsageError("--log-level " + values.logLevel + ": use debug, info, warning or error");
    }
    if (config.reconcileSeconds < 1 || config.reconcileSeconds > 86400) {
        throw UsageError("--reconcile-interval " + std::to_string(config.reconcileSeconds) +
                         ": must be 1 to 86400 seconds");
    }
    const auto reuseDelay = ipam::parseDuration(values.reuseDelay);
    if (!reuseDelay || *reuseDelay > ipam::kMaxReuseDelay) {
        throw UsageError("--reuse-delay " + values.reuseDelay + ": give a duration from 0 to 24h, such as 30s, 5m or 1h");
    }
    config.reuseDelay = *reuseDelay;
    config.excludeGiven = options["exclude"]->count() > 0;
    try {
        config.excluded = ipam::parseExclusions(values.exclude, "--exclude");
    } catch (const ipam::IpamError& error) {
        throw UsageError(error.what());
    }
    // Looked up only when given: a managed plugin's rootfs has no /etc/group.
    if (!values.socketGroup.empty()) {
        const group* entry = ::getgrnam(values.socketGroup.c_str());
        if (!entry) throw UsageError("--socket-group " + values.socketGroup + ": no such group");
        config.socketGroup = entry->gr_gid;
    }
    if (config.name.empty() || config.name.find('/') != std::string::npos) {
        throw UsageError("--name '" + config.name + "': must be a non-empty file name");
    }
    checkTls(config);
    const auto& endpoints = values.etcdEndpoints;
    for (std::size_t start = 0; start < endpoints.size();) {
        const auto comma = std::min(endpoints.find(',', start), endpoints.size());
        const auto endpoint = endpoints.substr(start, comma - start);
        if (!endpoint.empty()) {
            if (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0) {
                throw UsageError("--etcd-endpoints " + endpoints + ": " + endpoint +
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
    config.v4 = parseSupernet(*options["v4"], *options["v4ab"], values.v4, values.v4ab, ip::Family::V4, args);
    config.v6 = parseSupernet(*options["v6"], *options["v6ab"], values.v6, values.v6ab, ip::Family::V6, args);
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
    Raw values;
    std::map<std::string, CLI::Option*> options;
    for (const auto& setting : kSettings) {
        auto* option = setting.bind(app, config, values, std::string("--") + setting.flag, setting.help);
        if (*setting.variable) option->envname(setting.variable);
        if (setting.showDefault) option->capture_default_str();
        options[setting.flag] = option;
    }
    app.set_version_flag("--version", std::string("gipam ") + GIPAM_VERSION);
    // Commands run instead of the daemon, with the daemon's flags (-file, --socket, --name, -v4...).
    app.fallthrough();
    std::string dockerHost = "unix://" + config.dockerSocket;
    bool fromDocker = false;
    const auto commands = addCommands(app, config, dockerHost, fromDocker);
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
    if (commands.leases->parsed()) config.command = Command::Leases;
    if (commands.check->parsed()) config.command = Command::Check;
    if (commands.gc->parsed()) config.command = Command::Gc;
    if (commands.rebuild->parsed()) config.command = Command::Rebuild;
    if (commands.nodeRemove->parsed()) config.command = Command::NodeRemove;
    config.dockerSocket = dockerHost.rfind("unix://", 0) == 0 ? dockerHost.substr(7) : dockerHost;
    try {
        finish(config, values, options, dockerHost, args);
    } catch (const UsageError& error) {
        std::cerr << "gipam: " << error.what() << "\n";
        return {std::nullopt, 2};
    }
    if (config.socketPath.empty()) config.socketPath = "/run/docker/plugins/" + config.name + ".sock";
    return {config, 0};
}

std::vector<SettingName> daemonSettings() {
    std::vector<SettingName> names;
    for (const auto& setting : kSettings) names.push_back({setting.flag, setting.variable});
    return names;
}

store::Leases initialLeases(const Config& config) {
    if (!config.v4.supernet && !config.v6.supernet) {
        throw UsageError("no supernet configured: give -v4 and/or -v6 (or GIPAM_V4/GIPAM_V6)");
    }
    store::Leases leases{config.v4.supernet, config.v6.supernet, {}};
    leases.excluded = config.excluded;
    return leases;
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
    if (config.excludeGiven && config.excluded != leases.excluded) {
        const auto text = [](const std::vector<store::AddressRun>& runs) {
            std::string out;
            for (const auto& run : runs) out += (out.empty() ? "" : ",") + store::exclusionText(run);
            return out.empty() ? std::string("none") : out;
        };
        differences.push_back("--exclude " + text(config.excluded) + " (lease file: " + text(leases.excluded) + ")");
    }
    return differences;
}

}  // namespace gipam::config
