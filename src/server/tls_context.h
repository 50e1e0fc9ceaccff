// The TLS context gipam serves with on TCP: mutual TLS, TLS 1.2 or later.
#pragma once

#include <Poco/Net/Context.h>

#include "server/plugin_server.h"

namespace gipam::server {

/// gipam's certificate and key, and clients only with a certificate of the CA; ListenError naming
/// the files when they do not make a context.
Poco::Net::Context::Ptr tlsContext(const TlsConfig& tls);

}  // namespace gipam::server
