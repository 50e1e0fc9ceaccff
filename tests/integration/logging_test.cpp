// Logging never stops a request: a stream nobody reads (a full pipe, a stalled journald) drops
// lines instead of blocking the threads that log.
#include <unistd.h>

#include <chrono>

#include "integration/fixture.h"

namespace gipam::testing {
namespace {

TEST(LoggingTest, FullLogPipeDoesNotStopRequests) {
    TempDir dir;
    const auto socket = dir / "s.sock";
    // stdout and stderr into a pipe whose reader never reads: it is full after 64 KiB.
    GipamProcess gipam({"-v4", "198.18.0.0/16", "-file", (dir / "l.json").string(), "--socket", socket.string()},
                       dir / "log", socket, {}, [] {
                           int ends[2];
                           if (::pipe(ends) != 0) ::_exit(126);
                           ::dup2(ends[1], STDOUT_FILENO);
                           ::dup2(ends[1], STDERR_FILENO);
                       });
    ASSERT_TRUE(gipam.running());
    auto connection = HttpConnection::unix(socket);
    const auto pool = jsonField(connection.post("/IpamDriver.RequestPool", requestPoolBody()).body, "PoolID");
    ASSERT_FALSE(pool.empty());
    // Each request and release logs a line of about 80 bytes: 4000 of them overfill the pipe.
    const auto began = std::chrono::steady_clock::now();
    int answered = 0;
    for (int i = 0; i < 2000; ++i) {
        const auto granted = connection.post("/IpamDriver.RequestAddress", requestAddressBody(pool));
        const auto address = jsonField(granted.body, "Address");
        ASSERT_EQ(granted.status, 200) << granted.body;
        ASSERT_EQ(connection.post("/IpamDriver.ReleaseAddress",
                                  releaseAddressBody(pool, address.substr(0, address.find('/'))))
                      .status,
                  200);
        answered += 2;
    }
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    std::cout << "[ logging ] " << answered << " requests answered in " << seconds << " s with a full log pipe"
              << std::endl;
    EXPECT_EQ(gipam.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace gipam::testing
