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

/// Durable storage for Leases. save() returns once the new state has replaced the old one, so
/// that a restart reads it; it throws StoreError, leaving the previous state intact, if it cannot.
/// It never throws after the replacement: a change a restart would find is never reported as
/// failed. (The lease file logs a directory sync that still fails after the replacement.)
class LeaseStore {
public:
    virtual ~LeaseStore() = default;
    virtual void save(const Leases& leases) = 0;
};

}  // namespace gipam::store
