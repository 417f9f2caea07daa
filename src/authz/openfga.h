#pragma once
// OpenFGA (FEATURES.md AUTHZ-2): POST {endpoint}/stores/{store_id}/check with
//   {"tuple_key": {"user": "user:<claim>", "relation": "viewer", "object": "file:<bucket>/<key>"},
//    "contextual_tuples": {"tuple_keys": [<the object's parent chain>]},
//    "authorization_model_id": <when configured>}
// and `Authorization: Bearer <openfga_api_token>` when configured. The answer is
// {"allowed": bool}. Object ids: `file:<bucket>/<key>`, `folder:<bucket>/<dir>/` (a key ending
// in '/'), `bucket:<bucket>`; the parent chain links each to the folder above it and the top
// folder (or a top-level file) to the bucket, with the relation `parent`, so a model where
// viewers of a folder or bucket view what is inside (docs/AUTHORIZATION.md) works without
// parent tuples in the store.

#include <string>
#include <string_view>
#include <vector>

#include "authz/authorizer.h"

namespace yg::authz {

struct FgaTuple {
  std::string user, relation, object;
};

// The object id for `key` in `bucket`, and (when `parents`) its parent chain as tuples from the
// nearest parent up to the bucket.
struct FgaObject {
  std::string object;
  std::vector<FgaTuple> parents;
};
FgaObject openfga_object(std::string_view bucket, std::string_view key, bool parents);

// The check request body.
std::string openfga_check_body(const FgaTuple& check, const std::vector<FgaTuple>& contextual,
                               std::string_view model_id);

// "user:<id>" from the claim at `claim_path` (dot path): a non-empty string or an integer.
std::optional<std::string> openfga_user(const boost::json::object* claims,
                                        std::string_view claim_path);

Result openfga_interpret(std::string_view body);

class OpenFgaAuthorizer final : public Authorizer {
 public:
  // OpenFGA's limits on a Check (v1.22, measured): an object "type:id" up to 256 characters
  // (code points), a user up to 512 characters in the checked tuple and 512 bytes in a
  // contextual one, at most 100 contextual tuples. A request beyond them is denied here with a
  // reason, never sent (OpenFGA would answer 400, which is no outage).
  static constexpr std::size_t kMaxObjectChars = 256;
  static constexpr std::size_t kMaxUserChars = 512;
  static constexpr std::size_t kMaxContextualUserBytes = 512;
  static constexpr std::size_t kMaxContextualTuples = 100;

  OpenFgaAuthorizer(const config::AuthorizationConfig& cfg, std::shared_ptr<DecisionCache> cache);
  std::string_view engine() const noexcept override { return "openfga"; }
  Prepared prepare(const Input& in, bool want_key) const override;

 protected:
  std::string body(const Input& in) const override;
  const std::string& target() const noexcept override { return target_; }
  Result interpret(std::string_view body) const override;
  std::string authorization_header() const override;

 private:
  std::string target_;
};

}  // namespace yg::authz
