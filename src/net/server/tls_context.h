#pragma once
// The TLS context of the client listener (OPS-6, docs/TLS.md): certificate chain and key from
// server.tls, protocol floor, cipher lists, ALPN http/1.1. Built with each runtime snapshot
// (start, SIGHUP reload, --test); connections keep the context they were accepted with.

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "config/config.h"

namespace yg::net {

// Reads the PEM files and checks that the key matches the certificate. Throws
// std::runtime_error naming the file and OpenSSL's reason (never any file content) when a file
// cannot be read or parsed, the key is encrypted or does not match, or a cipher list selects
// nothing. Startup/reload wiring only (blocking file reads); callable from any thread.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const config::TlsConfig& c);

}  // namespace yg::net
