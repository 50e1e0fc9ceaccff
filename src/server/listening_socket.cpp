#include "server/listening_socket.h"

#include <Poco/Exception.h>
#include <Poco/Net/ServerSocketImpl.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>

namespace gipam::server {
namespace {

using Clock = std::chrono::steady_clock;

// A connection that knows when the current request began: at the first byte received after
// the previous response was sent.
class DeadlineConnectionImpl : public Poco::Net::StreamSocketImpl {
public:
    DeadlineConnectionImpl(poco_socket_t fd, std::chrono::seconds deadline)
        : StreamSocketImpl(fd), deadline_(deadline) {}

    int receiveBytes(void* buffer, int length, int flags) override {
        if (requestStart_ && Clock::now() - *requestStart_ > deadline_) {
            throw Poco::TimeoutException("request not complete within " + std::to_string(deadline_.count()) + " s");
        }
        const int received = StreamSocketImpl::receiveBytes(buffer, length, flags);
        if (received > 0 && !requestStart_) requestStart_ = Clock::now();
        return received;
    }

    int sendBytes(const void* buffer, int length, int flags) override {
        requestStart_.reset();
        return StreamSocketImpl::sendBytes(buffer, length, flags);
    }

    // POCO polls through a fresh epoll instance per call, four system calls where one does; it
    // polls before every request on a kept-alive connection.
    bool poll(const Poco::Timespan& timeout, int mode) override {
        pollfd watched{sockfd(), 0, 0};
        if (mode & SELECT_READ) watched.events |= POLLIN;
        if (mode & SELECT_WRITE) watched.events |= POLLOUT;
        if (mode & SELECT_ERROR) watched.events |= POLLPRI;
        const auto deadline = Clock::now() + std::chrono::microseconds(timeout.totalMicroseconds());
        for (;;) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
            const int ready = ::poll(&watched, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
            if (ready >= 0) return ready > 0;
            if (errno != EINTR) error(errno);
        }
    }

    // POCO asks for both addresses on every request; they do not change while connected.
    Poco::Net::SocketAddress address() override {
        if (!localAddress_) localAddress_ = StreamSocketImpl::address();
        return *localAddress_;
    }
    Poco::Net::SocketAddress peerAddress() override {
        if (!peerAddress_) peerAddress_ = StreamSocketImpl::peerAddress();
        return *peerAddress_;
    }

private:
    std::chrono::seconds deadline_;
    std::optional<Clock::time_point> requestStart_;
    std::optional<Poco::Net::SocketAddress> localAddress_;
    std::optional<Poco::Net::SocketAddress> peerAddress_;
};

class ListeningSocketImpl : public Poco::Net::ServerSocketImpl {
public:
    ListeningSocketImpl(std::chrono::seconds deadline, int fd) : deadline_(deadline) {
        if (fd >= 0) reset(fd);
    }

    Poco::Net::SocketImpl* acceptConnection(Poco::Net::SocketAddress& clientAddress) override {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        int fd;
        do {
            fd = ::accept4(sockfd(), reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) error();
        if (address.ss_family == AF_INET || address.ss_family == AF_INET6) {
            clientAddress = Poco::Net::SocketAddress(reinterpret_cast<sockaddr*>(&address), length);
        }
        return new DeadlineConnectionImpl(fd, deadline_);
    }

private:
    std::chrono::seconds deadline_;
};

}  // namespace

ListeningSocket::ListeningSocket(std::chrono::seconds requestDeadline)
    : ServerSocket(new ListeningSocketImpl(requestDeadline, -1), true) {}

ListeningSocket::ListeningSocket(std::chrono::seconds requestDeadline, int listeningFd)
    : ServerSocket(new ListeningSocketImpl(requestDeadline, listeningFd), true) {}

}  // namespace gipam::server
