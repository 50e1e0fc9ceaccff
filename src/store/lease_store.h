// The interface the IPAM service persists through.
#pragma once

#include <stdexcept>

#include "store/leases.h"

namespace gipam::store {

/// Thrown when state cannot be made durable; the message says what failed and where.
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Durable storage for Leases. save() returns only once the state survives a crash, and
/// throws StoreError (leaving the previous state intact) if it cannot.
class LeaseStore {
public:
    virtual ~LeaseStore() = default;
    virtual void save(const Leases& leases) = 0;
};

}  // namespace gipam::store
