// The LeaseStore contract against the lease file's backend and the fake cluster.
#include "support/fake_cluster.h"
#include "support/lease_store_contract.h"
#include "store/snapshot_store.h"

namespace gipam::testing {
namespace {

// The lease file's backend, writing to memory instead of a file.
class SnapshotBackend : public StoreBackend {
public:
    explicit SnapshotBackend(const store::Leases& initial)
        : written_(initial), store_(initial, [this](const store::Leases& leases) { written_ = leases; }) {}
    store::LeaseStore& store() override { return store_; }
    store::Leases persisted() override { return written_; }

private:
    store::Leases written_;
    store::SnapshotStore store_;
};

class FakeClusterBackend : public StoreBackend {
public:
    explicit FakeClusterBackend(const store::Leases& initial) : store_(cluster_, "a", initial) {}
    store::LeaseStore& store() override { return store_; }
    store::Leases persisted() override { return store_.persisted(); }

private:
    FakeCluster cluster_;
    FakeNodeStore store_;
};

INSTANTIATE_TEST_SUITE_P(
    Backends, LeaseStoreContract,
    ::testing::Values(NamedBackend{"LeaseFile", [](const store::Leases& initial) -> std::unique_ptr<StoreBackend> {
                          return std::make_unique<SnapshotBackend>(initial);
                      }},
                      NamedBackend{"FakeCluster", [](const store::Leases& initial) -> std::unique_ptr<StoreBackend> {
                          return std::make_unique<FakeClusterBackend>(initial);
                      }}),
    backendName);

}  // namespace
}  // namespace gipam::testing
