#include "store/store_metrics.h"

namespace gipam::store {

WriteMetrics& writeMetrics() {
    static WriteMetrics instance;
    return instance;
}

void WriteMetrics::appendTo(std::string& out) const {
    metrics::appendHelp(out, "gipam_durable_write_duration_seconds", "histogram",
                        "Time to write the state durably (write, fsync, rename, directory fsync).");
    seconds.appendTo(out, "gipam_durable_write_duration_seconds", "");
    metrics::appendHelp(out, "gipam_changes_per_durable_write", "histogram",
                        "Changes one durable write carried (group commit).");
    changesPerWrite.appendTo(out, "gipam_changes_per_durable_write", "");
    metrics::appendHelp(out, "gipam_durable_write_failures_total", "counter",
                        "Durable writes that failed; their changes were undone.");
    out += "gipam_durable_write_failures_total " + std::to_string(failures.load(std::memory_order_relaxed)) + "\n";
}

SharedStoreMetrics& sharedStoreMetrics() {
    static SharedStoreMetrics instance;
    return instance;
}

void SharedStoreMetrics::appendTo(std::string& out) const {
    const int value = up.load(std::memory_order_relaxed);
    if (value < 0) return;
    metrics::appendHelp(out, "gipam_shared_store_up", "gauge",
                        "1 if etcd answered this node's last liveness renewal (every few seconds), else 0.");
    out += "gipam_shared_store_up " + std::to_string(value) + "\n";
}

}  // namespace gipam::store
