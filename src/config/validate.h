#pragma once
// Configuration rules. Internal to the config module.
//
// Two kinds: checks of one value (URL shape, regex, address), which the loader calls while it
// still holds the YAML node so the error points at the value; and rules between values
// (uniqueness, required combinations) plus the feature gate, which run on the whole parsed
// Config and find positions through ParseContext's source map.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace yg::config::detail {

// Each returns what is wrong, or nullopt when the value is fine.
std::optional<std::string> check_http_url(std::string_view url);  // http(s)://host[:port][/...]
std::optional<std::string> check_redis_url(std::string_view url);
std::optional<std::string> check_path_prefix(std::string_view prefix);
std::optional<std::string> check_log_level(std::string_view level);
std::optional<std::string> check_jwt_algorithm(std::string_view alg);
std::optional<std::string> check_regex(std::string_view pattern);
std::optional<std::string> check_ip_or_cidr(std::string_view entry);
std::optional<std::string> check_host_port(std::string_view host_port);

// server.tls (docs/TLS.md). min_version: "1.2" or "1.3" ("TLSv1.2"/"TLSv1.3" also accepted);
// TLS 1.0 and 1.1 are refused (RFC 8996). The cipher strings are checked for shape here and
// against OpenSSL when the runtime builds the TLS context.
std::optional<TlsVersion> parse_tls_version(std::string_view v);
std::optional<std::string> check_tls_min_version(std::string_view v);
std::optional<std::string> check_tls_cipher_list(std::string_view list);   // TLS 1.2 ciphers
std::optional<std::string> check_tls_ciphersuites(std::string_view list);  // TLS 1.3 suites

// Splits server.address: "host", "host:port", "[v6]" or "[v6]:port". Returns what is wrong,
// or nullopt with host and (if present) port filled in.
std::optional<std::string> split_listen_address(std::string_view address, std::string& host,
                                                std::optional<uint16_t>& port);

bool is_hmac_algorithm(std::string_view alg);

// Rules between values of the parsed config.
void validate_config(const Config& c, ParseContext& ctx);

// Sections this build parses and checks but cannot run yet. One row per feature; the issue
// that implements a feature deletes its row.
void gate_unavailable_features(const Config& c, ParseContext& ctx);

}  // namespace yg::config::detail
