// Command line and environment: what the user asked gipam to do.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "log/log.h"
#include "store/leases.h"

namespace gipam::config {

/// Thrown for an invalid flag or variable; the message is one line naming it and its value.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A supernet setting and where it came from, to compare with the lease file.
struct SupernetSetting {
    std::optional<store::Supernet> supernet;
    int blockLength = 0;            // as given or defaulted, even without a supernet
    bool prefixGiven = false;       // -v4/-v6 or its variable was set
    bool blockLengthGiven = false;  // -v4ab/-v6ab or its variable was set
};

/// What gipam was asked to do: serve (the default), or a command that does one thing and exits.
enum class Command { Serve, Leases, Check, Gc, Rebuild, NodeRemove };

struct Config {
    Command command = Command::Serve;
    bool verbose = false;         // leases: the held addresses too
    bool json = false;            // leases, check: JSON instead of text
    std::string dockerSocket = "/var/run/docker.sock";  // check, gc, rebuild: the Engine API
    bool reserveMissing = false;  // check: hold what Docker uses and gipam does not
    std::string metricsFile;      // check: also write the counts there, for node_exporter's textfile collector
    int graceSeconds = 300;       // gc: between the two looks
    bool dryRun = false;          // gc: say, do not release
    std::string metricsAddress;  // serve GET /metrics on this TCP "host:port" too
    std::string address;  // TCP "host:port"; empty = Unix socket
    std::string file = "leases.json";
    SupernetSetting v4;
    SupernetSetting v6;
    std::vector<store::AddressRun> excluded;  // --exclude, for a new lease file
    bool excludeGiven = false;                // --exclude or its variable was set
    std::string socketPath;
    std::optional<unsigned> socketGroup;  // group owning the Unix socket (mode 0660); default: ours
    std::string specDir = "/etc/docker/plugins";
    std::string name = "gipam";
    log::Level logLevel = log::Level::Info;
    bool logSplit = false;  // info and debug on stdout, the rest on stderr (managed plugin)
    // Mutual TLS on TCP: gipam's certificate, key and the CA its clients' certificates come from,
    // and dockerd's client certificate and key for the .json spec file. All empty: plain TCP.
    std::string tlsCertificate, tlsKey, tlsCa, dockerTlsCertificate, dockerTlsKey;
    // Several hosts, one address plan: etcd's client URLs (empty: the lease file alone), this
    // host's name there, the key prefix, and TLS to etcd.
    std::vector<std::string> etcdEndpoints;
    std::string nodeId;
    std::string etcdPrefix = "/gipam";
    std::string etcdCa, etcdCertificate, etcdKey;
    int reconcileSeconds = 60;  // between two reconciles with etcd
    std::chrono::milliseconds reuseDelay{0};  // how long a released address cools (--reuse-delay)
    std::string removeNode;  // node remove: the host whose blocks and addresses to free
};

/// Parsed command line, or the exit status when the program should stop right away
/// (0 after --help/--version, 2 after a usage error already printed).
struct ParseResult {
    std::optional<Config> config;
    int exitCode = 0;
};

/// Parses flags (Go style: -flag, --flag, with "=value" or a separate value) and GIPAM_*
/// variables; flags win over variables. Prints help, version and errors itself.
ParseResult parseCommandLine(std::vector<std::string> args);

/// A daemon setting's flag (without dashes) and variable ("" for none), in the order of --help.
struct SettingName {
    std::string flag, variable;
};
std::vector<SettingName> daemonSettings();

/// The supernets for a new lease file. Throws UsageError if neither family is configured.
store::Leases initialLeases(const Config& config);

/// Names every explicitly set flag/variable whose value differs from the lease file's
/// (empty if none): the lease file wins once it exists.
std::vector<std::string> differencesFromLeases(const Config& config, const store::Leases& leases);

}  // namespace gipam::config
