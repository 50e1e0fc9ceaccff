// A running gipam on a temporary socket and lease file, for integration tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "support/gipam_process.h"

namespace gipam::testing {

/// The value of a top-level string field of a JSON object ("" if absent).
std::string jsonField(const std::string& body, const std::string& key);

std::string requestPoolBody(const std::string& pool = "", bool v6 = false, const std::string& subPool = "",
                            const std::string& options = "{}");
std::string requestAddressBody(const std::string& poolId, const std::string& address = "",
                               const std::string& options = "null");
std::string releaseAddressBody(const std::string& poolId, const std::string& address);
std::string releasePoolBody(const std::string& poolId);

/// Starts gipam with -v4 198.18.0.0/16 -v6 2001:db8:100::/56 on temp paths.
class GipamTest : public ::testing::Test {
protected:
    std::filesystem::path socket() const { return dir_ / "gipam.sock"; }
    std::filesystem::path leaseFile() const { return dir_ / "leases.json"; }

    /// The standard arguments plus `extra`.
    std::vector<std::string> arguments(const std::vector<std::string>& extra = {}) const;
    /// (Re)starts the daemon and waits until it accepts connections.
    void start(const std::vector<std::string>& extra = {});
    void restart(int signal = SIGTERM);
    HttpResponse post(const std::string& path, const std::string& body = "");
    /// RequestPool that must succeed; returns the PoolID.
    std::string requestPool(const std::string& pool = "", bool v6 = false);
    /// RequestAddress that must succeed; returns "address/len".
    std::string requestAddress(const std::string& poolId, const std::string& address = "");

    void TearDown() override;

    TempDir dir_;
    std::unique_ptr<GipamProcess> gipam_;
};

}  // namespace gipam::testing
