#include "authz/opa.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace yg::authz {
namespace json = boost::json;

std::string opa_target(std::string_view base_path, std::string_view policy_path) {
  while (!policy_path.empty() && (policy_path.front() == '/' || policy_path.front() == '.')) {
    policy_path.remove_prefix(1);
  }
  while (!policy_path.empty() && (policy_path.back() == '/' || policy_path.back() == '.')) {
    policy_path.remove_suffix(1);
  }
  std::string t(base_path);
  t += "/v1/data/";
  for (char c : policy_path) {
    t += c == '.' ? '/' : c;
  }
  return t;
}

json::object opa_input(const Input& in, const std::vector<std::string>& header_names,
                       bool with_request_id) {
  json::object o;
  if (in.claims != nullptr) {
    o["jwt_claims"] = *in.claims;
  } else {
    o["jwt_claims"] = nullptr;
  }
  o["bucket"] = in.bucket;
  o["path"] = in.path;
  o["key"] = in.key;
  o["method"] = in.method;
  o["client_ip"] = in.client_ip;
  if (with_request_id) {
    o["request_id"] = in.request_id;
  }
  json::object headers;
  for (const auto& name : header_names) {
    const std::string_view v = in.header ? in.header(name) : std::string_view{};
    if (!v.empty()) {
      headers[name] = v;
    }
  }
  o["headers"] = std::move(headers);
  return o;
}

Result opa_interpret(std::string_view body) {
  Result r;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    r.decision = Decision::Error;
    r.reason = "OPA answered with something other than a JSON object";
    r.errors[static_cast<std::size_t>(obs::AuthzError::BadResponse)] = 1;
    return r;
  }
  const json::object& o = v.get_object();
  const json::value* result = o.if_contains("result");
  if (result == nullptr) {
    r.decision = Decision::Deny;
    r.reason = "policy result undefined";
    return r;
  }
  if (result->is_bool()) {
    r.decision = result->get_bool() ? Decision::Allow : Decision::Deny;
    return r;
  }
  if (const json::object* ro = result->if_object()) {
    const json::value* allow = ro->if_contains("allow");
    if (allow != nullptr && allow->is_bool()) {
      r.decision = allow->get_bool() ? Decision::Allow : Decision::Deny;
      if (const json::value* reason = ro->if_contains("reason"); reason && reason->is_string()) {
        // At most 512 bytes, cut on a UTF-8 character boundary (it goes into JSON responses).
        std::string_view text = reason->get_string();
        if (text.size() > 512) {
          std::size_t cut = 512;
          while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
            --cut;
          }
          text = text.substr(0, cut);
        }
        r.reason = std::string(text);
      }
      return r;
    }
  }
  r.decision = Decision::Deny;
  r.reason = "policy result is neither a boolean nor {\"allow\": boolean}";
  return r;
}

OpaAuthorizer::OpaAuthorizer(const config::AuthorizationConfig& cfg,
                             std::shared_ptr<DecisionCache> cache)
    : Authorizer(cfg, std::move(cache), net::parse_service_url(cfg.opa_url, "opa"),
                 std::chrono::milliseconds(cfg.opa_timeout_ms)),
      target_(opa_target(svc_.base_path, cfg.opa_policy_path)) {}

Authorizer::Prepared OpaAuthorizer::prepare(const Input& in, bool want_key) const {
  Prepared p;
  if (want_key) {
    p.key = json::serialize(opa_input(in, cfg_.opa_input_headers, false));
  }
  return p;
}

std::string OpaAuthorizer::body(const Input& in) const {
  json::object o;
  o["input"] = opa_input(in, cfg_.opa_input_headers, true);
  return json::serialize(o);
}

Result OpaAuthorizer::interpret(std::string_view body) const {
  return opa_interpret(body);
}

}  // namespace yg::authz
