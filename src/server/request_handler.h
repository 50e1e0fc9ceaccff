// How the plugin server answers one HTTP request: the filter for what dockerd never sends, the
// admin API's check of who asks, the body's limits, then the PluginApi.
#pragma once

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include <cstddef>
#include <string>
#include <vector>

#include "server/listening_socket.h"
#include "server/plugin_api.h"

namespace gipam::server {

/// Bodies over this are refused with 413.
inline constexpr std::size_t kMaxBodyBytes = 1 << 20;
/// dockerd on a Unix socket sends an empty Host (20.10) or this one (23.0.7 and later).
inline constexpr char kDockerUnixHost[] = "plugin.moby.localhost";

/// Why a request on TCP is not from dockerd ("" if it may be): an Origin or Sec-Fetch-* header (a
/// web page's), or a Host not among `hosts` (DNS rebinding carries the attacker's name).
std::string foreignRequest(const Poco::Net::HTTPRequest& request, const std::vector<std::string>& hosts);

/// The handlers POCO's server calls for each request. With `tcpHosts` (TCP), foreign requests get
/// 403; the admin API is for root on the Unix socket and, on TCP, only with `tls` (a client
/// certificate). GET /metrics gets the metrics page; every refusal is counted and logged.
Poco::Net::HTTPRequestHandlerFactory::Ptr requestHandlers(PluginApi& api, const ListeningSocket& socket,
                                                         std::vector<std::string> tcpHosts, bool tls);

}  // namespace gipam::server
