// The LeaseStore contract against ClusterStore on a real etcd (one member per test).
#include "integration/etcd_testing.h"
#include "support/lease_store_contract.h"

namespace gipam::testing {
namespace {

class EtcdBackend : public StoreBackend {
public:
    explicit EtcdBackend(const store::Leases& initial) : initial_(initial) {
        log::setLevel(log::Level::Error);
        if (!EtcdCluster::installed() || !etcd_.waitHealthy()) throw std::runtime_error("etcd did not start");
        host_ = std::make_unique<Host>(etcd_.endpoints(), "a", initial_);
    }
    store::LeaseStore& store() override { return host_->cluster; }
    store::Leases persisted() override { return host_->written; }

private:
    store::Leases initial_;
    EtcdCluster etcd_{1};
    std::unique_ptr<Host> host_;
};

INSTANTIATE_TEST_SUITE_P(Backends, LeaseStoreContract,
                         ::testing::Values(NamedBackend{"Etcd", [](const store::Leases& initial) -> std::unique_ptr<StoreBackend> {
                             return std::make_unique<EtcdBackend>(initial);
                         }}),
                         backendName);

}  // namespace
}  // namespace gipam::testing
