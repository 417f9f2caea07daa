#pragma once
// OPA (FEATURES.md AUTHZ-1): POST {opa_url}/v1/data/{policy path} with
//   {"input": {"jwt_claims", "bucket", "path", "key", "method", "client_ip", "request_id",
//              "headers"}}
// The result is `true` / `false`, or {"allow": bool, "reason": string}; an undefined result
// (no "result" member: the policy path names nothing, or no rule matched without a default)
// denies, as does any other shape. Non-200 statuses and unparseable bodies are errors.

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "authz/authorizer.h"

namespace yg::authz {

// "/v1/data/" + the policy path with dots as slashes ("yatagarasu.authz.allow" and
// "yatagarasu/authz/allow" name the same rule), after the URL's own base path.
std::string opa_target(std::string_view base_path, std::string_view policy_path);

// The policy input. Without `request_id` it is the decision cache key: the request id changes
// every time and a policy must not decide on it.
boost::json::object opa_input(const Input& in, const std::vector<std::string>& header_names,
                              bool with_request_id);

Result opa_interpret(std::string_view body);

class OpaAuthorizer final : public Authorizer {
 public:
  OpaAuthorizer(const config::AuthorizationConfig& cfg, std::shared_ptr<DecisionCache> cache);
  std::string_view engine() const noexcept override { return "opa"; }
  Prepared prepare(const Input& in, bool want_key) const override;

 protected:
  std::string body(const Input& in) const override;
  const std::string& target() const noexcept override { return target_; }
  Result interpret(std::string_view body) const override;

 private:
  std::string target_;
};

}  // namespace yg::authz
