#include "authz/openfga.h"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "auth/claims.h"

namespace yg::authz {
namespace json = boost::json;

namespace {

constexpr std::string_view kRelation = "viewer";  // GET and HEAD read the object

// OpenFGA ids hold no whitespace, ':' or '#' (those separate type, id and relation). Such bytes,
// and '%' itself, are percent-encoded (upper-case hex); everything else, UTF-8 included, is kept.
void append_id(std::string& out, std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : raw) {
    if (c <= 0x20 || c == 0x7f || c == ':' || c == '#' || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    } else {
      out += static_cast<char>(c);
    }
  }
}

// Code points in valid UTF-8 (OpenFGA's length limits count characters): bytes that do not
// continue a sequence.
std::size_t utf8_chars(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    n += (c & 0xC0) != 0x80 ? 1 : 0;
  }
  return n;
}

json::object tuple_json(const FgaTuple& t) {
  json::object o;
  o["user"] = t.user;
  o["relation"] = t.relation;
  o["object"] = t.object;
  return o;
}

Result deny(std::string reason) {
  Result r;
  r.decision = Decision::Deny;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

FgaObject openfga_object(std::string_view bucket, std::string_view key, bool parents) {
  std::string b;
  append_id(b, bucket);
  auto id_of = [&](std::string_view type, std::string_view prefix) {
    std::string id(type);
    id += ':';
    id += b;
    id += '/';
    append_id(id, prefix);
    return id;
  };
  FgaObject o;
  const bool folder = !key.empty() && key.back() == '/';
  o.object = id_of(folder ? "folder" : "file", key);
  if (!parents) {
    return o;
  }
  // Parent folders: every prefix of the key that ends in '/', nearest first.
  std::string child = o.object;
  std::size_t end = folder ? key.size() - 1 : key.size();
  for (;;) {
    const auto slash = key.rfind('/', end == 0 ? 0 : end - 1);
    if (end == 0 || slash == std::string_view::npos) {
      break;
    }
    std::string parent = id_of("folder", key.substr(0, slash + 1));
    o.parents.push_back(FgaTuple{parent, "parent", child});
    child = std::move(parent);
    end = slash;
  }
  o.parents.push_back(FgaTuple{"bucket:" + b, "parent", child});
  return o;
}

std::string openfga_check_body(const FgaTuple& check, const std::vector<FgaTuple>& contextual,
                               std::string_view model_id) {
  json::object o;
  o["tuple_key"] = tuple_json(check);
  if (!contextual.empty()) {
    json::array keys;
    keys.reserve(contextual.size());
    for (const auto& t : contextual) {
      keys.push_back(tuple_json(t));
    }
    json::object ct;
    ct["tuple_keys"] = std::move(keys);
    o["contextual_tuples"] = std::move(ct);
  }
  if (!model_id.empty()) {
    o["authorization_model_id"] = model_id;
  }
  return json::serialize(o);
}

std::optional<std::string> openfga_user(const json::object* claims, std::string_view claim_path) {
  if (claims == nullptr) {
    return std::nullopt;
  }
  const json::value* v = auth::claim_at(*claims, claim_path);
  if (v == nullptr) {
    return std::nullopt;
  }
  std::string user = "user:";
  if (v->is_string() && !v->get_string().empty()) {
    append_id(user, v->get_string());
  } else if (v->is_int64()) {
    user += std::to_string(v->get_int64());
  } else if (v->is_uint64()) {
    user += std::to_string(v->get_uint64());
  } else {
    return std::nullopt;
  }
  return user;
}

Result openfga_interpret(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  const json::value* allowed = nullptr;
  if (!ec && v.is_object()) {
    allowed = v.get_object().if_contains("allowed");
  }
  Result r;
  if (allowed == nullptr || !allowed->is_bool()) {
    r.decision = Decision::Error;
    r.reason = "OpenFGA answered without a boolean \"allowed\"";
    r.errors[static_cast<std::size_t>(obs::AuthzError::BadResponse)] = 1;
    return r;
  }
  r.decision = allowed->get_bool() ? Decision::Allow : Decision::Deny;
  if (r.decision == Decision::Deny) {
    r.reason = "no relation grants viewer";
  }
  return r;
}

OpenFgaAuthorizer::OpenFgaAuthorizer(const config::AuthorizationConfig& cfg,
                                     std::shared_ptr<DecisionCache> cache)
    : Authorizer(cfg, std::move(cache), net::parse_service_url(cfg.openfga_endpoint, "openfga"),
                 std::chrono::milliseconds(cfg.openfga_timeout_ms)),
      target_(svc_.base_path + "/stores/" + cfg.openfga_store_id + "/check") {}

Authorizer::Prepared OpenFgaAuthorizer::prepare(const Input& in, bool want_key) const {
  Prepared p;
  const auto user = openfga_user(in.claims, cfg_.openfga_user_claim);
  if (!user) {
    p.answer = deny("the token has no usable '" + cfg_.openfga_user_claim + "' claim for OpenFGA");
    return p;
  }
  if (utf8_chars(*user) > kMaxUserChars) {
    p.answer = deny("the user id is longer than OpenFGA accepts");
    return p;
  }
  const auto obj = openfga_object(in.bucket, in.key, cfg_.openfga_parent_tuples);
  if (utf8_chars(obj.object) > kMaxObjectChars) {
    p.answer = deny("the object id is longer than OpenFGA accepts (" +
                    std::to_string(kMaxObjectChars) + " characters)");
    return p;
  }
  if (obj.parents.size() > kMaxContextualTuples) {
    p.answer = deny("the key nests deeper than OpenFGA's contextual tuple limit");
    return p;
  }
  for (const auto& t : obj.parents) {
    // A parent is the "user" of its contextual tuple, and an object (shorter than the checked
    // one, so within its limit) of the next.
    if (t.user.size() > kMaxContextualUserBytes) {
      p.answer = deny("a parent folder id is longer than OpenFGA accepts");
      return p;
    }
  }
  if (want_key) {
    // The contextual tuples follow from the object; model and store are fixed per authorizer.
    p.key = *user;
    p.key += '\n';
    p.key += kRelation;
    p.key += '\n';
    p.key += obj.object;
  }
  return p;
}

std::string OpenFgaAuthorizer::body(const Input& in) const {
  const auto obj = openfga_object(in.bucket, in.key, cfg_.openfga_parent_tuples);
  return openfga_check_body(FgaTuple{*openfga_user(in.claims, cfg_.openfga_user_claim),
                                     std::string(kRelation), obj.object},
                            obj.parents, cfg_.openfga_authorization_model_id);
}

Result OpenFgaAuthorizer::interpret(std::string_view body) const {
  return openfga_interpret(body);
}

std::string OpenFgaAuthorizer::authorization_header() const {
  if (cfg_.openfga_api_token.empty()) {
    return {};
  }
  return "Bearer " + cfg_.openfga_api_token.reveal();
}

}  // namespace yg::authz
