#include "server/listening_socket.h"

#include <Poco/Exception.h>
#include <Poco/Net/ServerSocketImpl.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <sys/socket.h>

#include <cerrno>
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

private:
    std::chrono::seconds deadline_;
    std::optional<Clock::time_point> requestStart_;
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
