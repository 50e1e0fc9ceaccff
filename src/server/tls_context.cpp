#include "server/tls_context.h"

#include <Poco/Net/SSLManager.h>

namespace gipam::server {

Poco::Net::Context::Ptr tlsContext(const TlsConfig& tls) {
    try {
        Poco::Net::initializeSSL();
        Poco::Net::Context::Ptr context =
            new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, tls.key.string(), tls.certificate.string(),
                                   tls.ca.string(), Poco::Net::Context::VERIFY_STRICT);
        context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
        // A client certificate names dockerd's host, not the address it happens to connect from.
        context->enableExtendedCertificateVerification(false);
        return context;
    } catch (const Poco::Exception& error) {
        throw ListenError("cannot serve TLS with certificate " + tls.certificate.string() + ", key " + tls.key.string() +
                          " and CA " + tls.ca.string() + ": " + error.displayText());
    }
}

}  // namespace gipam::server
