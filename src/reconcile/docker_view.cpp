#include "reconcile/docker_view.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include "http/unix_client.h"

namespace gipam::reconcile {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

std::string text(const Object::Ptr& object, const std::string& key) {
    return object && object->has(key) && !object->isNull(key) ? object->getValue<std::string>(key) : "";
}

// "198.18.0.2/24" or "198.18.0.2" to an address; nullopt for "" or junk (Docker shows "" for none).
std::optional<ip::Address> addressOf(const std::string& value) {
    if (value.empty()) return std::nullopt;
    try {
        return ip::Address::parse(value.substr(0, value.find('/')));
    } catch (const ip::ParseError&) {
        return std::nullopt;
    }
}

Poco::Dynamic::Var getJson(const std::filesystem::path& socket, const std::string& path) {
    const auto reply = http::overUnixSocket(socket, "GET", path);
    if (reply.status != 200) {
        throw std::runtime_error("dockerd on " + socket.string() + " answered " + std::to_string(reply.status) +
                                 " to GET " + path + ": " + reply.body.substr(0, 200));
    }
    try {
        return Poco::JSON::Parser().parse(reply.body);
    } catch (const Poco::Exception& error) {
        throw std::runtime_error("dockerd on " + socket.string() + " sent invalid JSON for " + path + ": " +
                                 error.displayText());
    }
}

bool isOurs(const std::string& ipamDriver, const std::string& driver) {
    return ipamDriver == driver || ipamDriver.rfind(driver + ":", 0) == 0;
}

void add(std::vector<DockerPool>& pools, const std::optional<ip::Address>& address, const std::string& user) {
    if (!address) return;
    for (auto& pool : pools) {
        if (pool.subnet.contains(*address)) pool.addresses.push_back({*address, user});
    }
}

}  // namespace

std::vector<DockerPool> readDockerPools(const std::filesystem::path& dockerSocket, const std::string& driver) {
    std::vector<DockerPool> all;
    const auto networks = getJson(dockerSocket, "/networks").extract<Array::Ptr>();
    for (std::size_t i = 0; i < networks->size(); ++i) {
        const auto summary = networks->getObject(static_cast<unsigned>(i));
        const auto ipam = summary->getObject("IPAM");
        if (!ipam || !isOurs(text(ipam, "Driver"), driver)) continue;
        // The summary lacks endpoints; verbose shows a swarm network's services and tasks.
        const auto network = getJson(dockerSocket, "/networks/" + text(summary, "Id") + "?verbose=true")
                                 .extract<Object::Ptr>();
        const std::string name = text(network, "Name");
        const bool swarm = text(network, "Scope") == "swarm";
        std::vector<DockerPool> pools;
        const auto configs = network->getObject("IPAM")->getArray("Config");
        for (std::size_t c = 0; configs && c < configs->size(); ++c) {
            const auto config = configs->getObject(static_cast<unsigned>(c));
            try {
                DockerPool pool{name, swarm, ip::Prefix::parse(text(config, "Subnet")), std::nullopt, {}};
                if (const auto range = text(config, "IPRange"); !range.empty()) pool.subPool = ip::Prefix::parse(range);
                const auto gateway = addressOf(text(config, "Gateway"));
                pool.gatewayShown = gateway.has_value();
                pools.push_back(pool);
                add(pools, gateway, "gateway");
                if (const auto aux = config->getObject("AuxiliaryAddresses")) {
                    for (const auto& [key, value] : *aux) add(pools, addressOf(value.toString()), "aux " + key);
                }
            } catch (const ip::ParseError& error) {
                throw std::runtime_error("network " + name + " has an IPAM config gipam cannot read: " + error.what());
            }
        }
        if (const auto containers = network->getObject("Containers")) {
            for (const auto& [id, value] : *containers) {
                const auto endpoint = value.extract<Object::Ptr>();
                const std::string user = "container " + (text(endpoint, "Name").empty() ? id.substr(0, 12) : text(endpoint, "Name"));
                add(pools, addressOf(text(endpoint, "IPv4Address")), user);
                add(pools, addressOf(text(endpoint, "IPv6Address")), user);
            }
        }
        if (const auto services = network->getObject("Services")) {
            for (const auto& [service, value] : *services) {
                const auto entry = value.extract<Object::Ptr>();
                add(pools, addressOf(text(entry, "VIP")), "VIP of service " + service);
                if (const auto tasks = entry->getArray("Tasks")) {
                    for (std::size_t t = 0; t < tasks->size(); ++t) {
                        const auto task = tasks->getObject(static_cast<unsigned>(t));
                        add(pools, addressOf(text(task, "EndpointIP")), "task " + text(task, "Name"));
                    }
                }
            }
        }
        all.insert(all.end(), pools.begin(), pools.end());
    }
    return all;
}

}  // namespace gipam::reconcile
