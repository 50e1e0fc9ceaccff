#include "server/listening_socket.h"

#include <Poco/Exception.h>
#include <Poco/Net/ServerSocketImpl.h>
#include <Poco/Net/SecureStreamSocketImpl.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <type_traits>

#if defined(__SANITIZE_THREAD__)
#define GIPAM_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GIPAM_THREAD_SANITIZER 1
#endif
#endif
#ifdef GIPAM_THREAD_SANITIZER
extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);
#endif

namespace gipam::server {
namespace {

using Clock = std::chrono::steady_clock;

// A connection is used on its server thread and destroyed on whichever thread drops POCO's last
// reference to it. POCO's reference counts are atomics in a library ThreadSanitizer does not
// instrument, so it cannot see that order and would report every connection as a race. Each use
// ends with a release on the connection, which its destructor acquires: exactly the order the
// reference count gives, made visible, with no suppression that could hide our own races.
class UseEnds {
public:
    explicit UseEnds([[maybe_unused]] void* object) : object_(object) {}
    ~UseEnds() {
#ifdef GIPAM_THREAD_SANITIZER
        __tsan_release(object_);
#endif
    }
    UseEnds(const UseEnds&) = delete;
    UseEnds& operator=(const UseEnds&) = delete;

private:
    [[maybe_unused]] void* object_;
};

void lastUseSeen([[maybe_unused]] void* object) {
#ifdef GIPAM_THREAD_SANITIZER
    __tsan_acquire(object);
#endif
}

// What a listening socket and its connections share.
struct ConnectionTracker {
    ConnectionTracker() : drainFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        if (drainFd < 0) throw Poco::IOException(std::string("cannot create an eventfd: ") + std::strerror(errno));
    }
    ~ConnectionTracker() { ::close(drainFd); }
    ConnectionTracker(const ConnectionTracker&) = delete;
    ConnectionTracker& operator=(const ConnectionTracker&) = delete;

    std::atomic<bool> draining{false};
    std::atomic<int> accepting{0};  // 1 from a poll() that found a connection until its accept ends
    std::atomic<int> open{0};
    const int drainFd;  // readable once draining, so that idle connections wake
};

// A connection that knows when the current request began (at the first byte received after the
// previous response was sent), and ends between requests when the server drains. `Base` is
// StreamSocketImpl or, for TLS, SecureStreamSocketImpl.
template <typename Base>
class Connection : public Base {
public:
    static constexpr bool kTls = std::is_same_v<Base, Poco::Net::SecureStreamSocketImpl>;

    template <typename... Args>
    Connection(std::shared_ptr<ConnectionTracker> tracker, std::chrono::seconds deadline, Args&&... args)
        : Base(std::forward<Args>(args)...), tracker_(std::move(tracker)), deadline_(deadline) {
        if constexpr (kTls) this->acceptSSL();
        ++tracker_->open;
    }
    ~Connection() override {
        lastUseSeen(this);
        --tracker_->open;
    }

    int receiveBytes(void* buffer, int length, int flags) override {
        const UseEnds use(this);
        if (requestStart_ && Clock::now() - *requestStart_ > deadline_) {
            throw Poco::TimeoutException("request not complete within " + std::to_string(deadline_.count()) + " s");
        }
        const int received = Base::receiveBytes(buffer, length, flags);
        if (received > 0 && !requestStart_) requestStart_ = Clock::now();
        return received;
    }

    int sendBytes(const void* buffer, int length, int flags) override {
        const UseEnds use(this);
        requestStart_.reset();
        answered_ = true;
        return Base::sendBytes(buffer, length, flags);
    }

    // POCO polls through a fresh epoll instance per call, four system calls where one does; it
    // polls before every request on a kept-alive connection. Waiting for the next request is also
    // where a kept-alive connection ends when the server drains; a fresh one gets its first
    // request served, since its client sends it right after connecting.
    bool poll(const Poco::Timespan& timeout, int mode) override {
        const UseEnds use(this);
        if constexpr (kTls) {
            if ((mode & Poco::Net::Socket::SELECT_READ) && this->available() > 0) return true;  // decrypted, unread
        }
        pollfd watched[2] = {{this->sockfd(), 0, 0}, {tracker_->drainFd, POLLIN, 0}};
        if (mode & Poco::Net::Socket::SELECT_READ) watched[0].events |= POLLIN;
        if (mode & Poco::Net::Socket::SELECT_WRITE) watched[0].events |= POLLOUT;
        if (mode & Poco::Net::Socket::SELECT_ERROR) watched[0].events |= POLLPRI;
        const nfds_t count = mode == Poco::Net::Socket::SELECT_READ && answered_ ? 2 : 1;
        const auto deadline = Clock::now() + std::chrono::microseconds(timeout.totalMicroseconds());
        for (;;) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
            const int ready = ::poll(watched, count, static_cast<int>(std::max<std::int64_t>(0, left.count())));
            if (ready > 0) return watched[0].revents != 0;  // else only the drain woke an idle connection
            if (ready == 0) return false;
            if (errno != EINTR) this->error(errno);
        }
    }

    // POCO asks for both addresses on every request; they do not change while connected.
    Poco::Net::SocketAddress address() override {
        const UseEnds use(this);
        if (!localAddress_) localAddress_ = Base::address();
        return *localAddress_;
    }
    Poco::Net::SocketAddress peerAddress() override {
        const UseEnds use(this);
        if (!peerAddress_) peerAddress_ = Base::peerAddress();
        return *peerAddress_;
    }

private:
    std::shared_ptr<ConnectionTracker> tracker_;
    std::chrono::seconds deadline_;
    std::optional<Clock::time_point> requestStart_;
    bool answered_ = false;
    std::optional<Poco::Net::SocketAddress> localAddress_;
    std::optional<Poco::Net::SocketAddress> peerAddress_;
};

class ListeningSocketImpl : public Poco::Net::ServerSocketImpl {
public:
    ListeningSocketImpl(std::chrono::seconds deadline, std::optional<int> fd, Poco::Net::Context::Ptr tls)
        : deadline_(deadline), tls_(std::move(tls)) {
        if (fd) reset(*fd);
    }

    // TCPServer accepts, on its one thread, exactly when poll() found a connection: counting from
    // that poll() to the end of the accept lets drain() know when no accept can still happen.
    bool poll(const Poco::Timespan& timeout, int mode) override {
        if (tracker_->draining) {
            // Briefly, so that TCPServer sees its stop soon: a restart waits for it.
            std::this_thread::sleep_for(
                std::min<std::chrono::microseconds>(std::chrono::milliseconds(5), std::chrono::microseconds(timeout.totalMicroseconds())));
            return false;
        }
        if (!ServerSocketImpl::poll(timeout, mode)) return false;
        ++tracker_->accepting;
        if (!tracker_->draining) return true;
        --tracker_->accepting;
        return false;
    }

    Poco::Net::SocketImpl* acceptConnection(Poco::Net::SocketAddress& clientAddress) override {
        struct AcceptEnds {
            std::atomic<int>& accepting;
            ~AcceptEnds() {
                if (accepting > 0) --accepting;
            }
        } ends{tracker_->accepting};
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
        if (!tls_) return new Connection<Poco::Net::StreamSocketImpl>(tracker_, deadline_, fd);
        // The TLS socket takes its own reference to the plain one; `plain` drops ours.
        const Poco::Net::StreamSocket plain(new Poco::Net::StreamSocketImpl(fd));
        return new Connection<Poco::Net::SecureStreamSocketImpl>(
            tracker_, deadline_, static_cast<Poco::Net::StreamSocketImpl*>(plain.impl()), tls_);
    }

    const std::shared_ptr<ConnectionTracker>& tracker() const { return tracker_; }

private:
    std::chrono::seconds deadline_;
    Poco::Net::Context::Ptr tls_;
    std::shared_ptr<ConnectionTracker> tracker_ = std::make_shared<ConnectionTracker>();
};

ConnectionTracker& trackerOf(const Poco::Net::Socket& socket) {
    return *static_cast<ListeningSocketImpl*>(socket.impl())->tracker();
}

}  // namespace

ListeningSocket::ListeningSocket(std::chrono::seconds requestDeadline, std::optional<int> listeningFd,
                                 Poco::Net::Context::Ptr tls)
    : ServerSocket(new ListeningSocketImpl(requestDeadline, listeningFd, std::move(tls)), true) {}

void ListeningSocket::drain() {
    auto& tracker = trackerOf(*this);
    tracker.draining = true;
    const std::uint64_t one = 1;
    // Adding 1 to a fresh eventfd cannot fail.
    [[maybe_unused]] const auto written = ::write(tracker.drainFd, &one, sizeof one);
    while (tracker.accepting > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

bool ListeningSocket::draining() const {
    return trackerOf(*this).draining;
}

int ListeningSocket::openConnections() const {
    return trackerOf(*this).open;
}

}  // namespace gipam::server
