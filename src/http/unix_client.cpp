#include "http/unix_client.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>

#include <sstream>

namespace gipam::http {

Reply overUnixSocket(const std::filesystem::path& socket, const std::string& method, const std::string& path,
                       const std::string& body, int seconds) {
    try {
        Poco::Net::StreamSocket stream;
        stream.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, socket.string()),
                       Poco::Timespan(seconds, 0));
        Poco::Net::HTTPClientSession session(stream);
        session.setTimeout(Poco::Timespan(seconds, 0));
        Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
        // dockerd and gipam both take this Host on a Unix socket.
        request.setHost("plugin.moby.localhost");
        if (!body.empty()) {
            request.setContentType("application/json");
            request.setContentLength(static_cast<std::streamsize>(body.size()));
        }
        session.sendRequest(request) << body;
        Poco::Net::HTTPResponse response;
        std::istream& in = session.receiveResponse(response);
        std::ostringstream text;
        Poco::StreamCopier::copyStream(in, text);
        return {static_cast<int>(response.getStatus()), text.str()};
    } catch (const Poco::Exception& error) {
        throw UnreachableError("cannot talk to " + socket.string() + ": " + error.displayText());
    }
}

}  // namespace gipam::http
