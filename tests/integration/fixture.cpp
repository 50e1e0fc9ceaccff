#include "integration/fixture.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

namespace gipam::testing {

std::string jsonField(const std::string& body, const std::string& key) {
    const auto object = Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
    return object->has(key) ? object->getValue<std::string>(key) : "";
}

std::string requestPoolBody(const std::string& pool, bool v6, const std::string& subPool, const std::string& options) {
    return R"({"AddressSpace":"gipam-local","Pool":")" + pool + R"(","SubPool":")" + subPool + R"(","Options":)" +
           options + R"(,"V6":)" + (v6 ? "true" : "false") + "}";
}

std::string requestAddressBody(const std::string& poolId, const std::string& address, const std::string& options) {
    return R"({"PoolID":")" + poolId + R"(","Address":")" + address + R"(","Options":)" + options + "}";
}

std::string releaseAddressBody(const std::string& poolId, const std::string& address) {
    return R"({"PoolID":")" + poolId + R"(","Address":")" + address + R"("})";
}

std::string releasePoolBody(const std::string& poolId) {
    return R"({"PoolID":")" + poolId + R"("})";
}

std::vector<std::string> GipamTest::arguments(const std::vector<std::string>& extra) const {
    std::vector<std::string> args{"-v4",        "198.18.0.0/16",         "-v6",      "2001:db8:100::/56",
                                  "-file",      leaseFile().string(),    "--socket", socket().string(),
                                  "--spec-dir", (dir_ / "spec").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

void GipamTest::start(const std::vector<std::string>& extra) {
    gipam_ = std::make_unique<GipamProcess>(arguments(extra), dir_ / "gipam.log", socket());
    ASSERT_TRUE(gipam_->running()) << gipam_->log();
}

void GipamTest::restart(int signal) {
    gipam_->stop(signal);
    start();
}

HttpResponse GipamTest::post(const std::string& path, const std::string& body) {
    return HttpConnection::unix(socket()).post(path, body);
}

std::string GipamTest::requestPool(const std::string& pool, bool v6) {
    const auto response = post("/IpamDriver.RequestPool", requestPoolBody(pool, v6));
    EXPECT_EQ(response.status, 200) << response.body;
    return jsonField(response.body, "PoolID");
}

std::string GipamTest::requestAddress(const std::string& poolId, const std::string& address) {
    const auto response = post("/IpamDriver.RequestAddress", requestAddressBody(poolId, address));
    EXPECT_EQ(response.status, 200) << response.body;
    return jsonField(response.body, "Address");
}

void GipamTest::TearDown() {
    if (gipam_ && HasFailure()) std::cerr << "--- gipam log ---\n" << gipam_->log();
    if (gipam_) gipam_->stop(SIGKILL);
}

}  // namespace gipam::testing
