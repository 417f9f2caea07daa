// config_schema(): the schema walk in recording mode (yaml_reader.h), over documents that
// switch on the branches an empty document does not reach.

#include "config/schema.h"

#include <string_view>

#include "config/sections.h"
#include "config/yaml_reader.h"

namespace yg::config {
namespace {

// Absent sections and lists are walked anyway (as an empty mapping / one empty item); these
// documents only need the keys whose *presence* picks a branch. Scalars in them are never
// read (getters note the key and report it absent), so their values do not matter. A key
// here that the walk no longer knows is reported as a problem, so they cannot go stale.
constexpr std::string_view kBranchDocuments[] = {
    // An empty document: every section walked once, s3 without backend keys, jwt with the
    // default token source and `claims`.
    "{}",
    // Top-level jwt: token_sources, claims_verification, claims spelled `name`.
    // Bucket 0: the legacy single-backend s3 keys, auth.jwt with the same branches.
    // Bucket 1: s3 replicas, and authorization given inside auth (auth.opa / auth.openfga),
    // which is only read when there is no `authorization` section.
    R"(
jwt:
  token_sources: [{}]
  claims_verification: [{claim: x}, {name: x}]
  admin_claims: [{claim: x}, {name: x}]
buckets:
  - s3: {bucket: x}
    auth:
      jwt:
        token_sources: [{}]
        claims_verification: [{claim: x}, {name: x}]
        admin_claims: [{claim: x}, {name: x}]
  - s3: {replicas: [{}]}
    authorization: ~
    auth:
      opa: {}
      openfga: {}
      jwt:
        claims: [{claim: x}, {name: x}]
)",
    // Top-level `claims` spelled `name`.
    "jwt: {claims: [{claim: x}, {name: x}]}",
};

bool is_section(const SchemaKey& k) {
  return k.type == "mapping" || k.type == "list of mappings";
}

}  // namespace

Schema config_schema() {
  detail::SchemaRecorder recorder;
  Schema out;
  for (const std::string_view doc : kBranchDocuments) {
    std::vector<ConfigError> errors;
    detail::record_schema(doc, recorder, errors);
    for (const auto& e : errors) {
      // Other errors are expected (required keys are "present" but hold nothing).
      if (e.what.starts_with("unknown key") || e.what.starts_with("YAML") ||
          e.what.starts_with("cannot walk")) {
        out.problems.push_back("built-in schema document: " + e.to_string());
      }
    }
  }
  out.keys = recorder.take();
  for (const auto& k : out.keys) {
    if (k.type == "any") {
      out.problems.push_back(k.path +
                             ": never read by a typed getter (a branch the built-in documents "
                             "in src/config/schema.cc do not reach?)");
    }
    if (is_section(k)) {
      const std::string inside = k.path + (k.type == "mapping" ? "." : "[].");
      bool has_keys = false;
      for (const auto& c : out.keys) {
        has_keys = has_keys || c.path.starts_with(inside);
      }
      if (!has_keys) {
        out.problems.push_back(k.path + ": a section whose keys were never walked");
      }
    }
  }
  return out;
}

std::string to_json(const SchemaKey& k) {
  std::string s =
      "{\"path\":" + detail::json_string(k.path) + ",\"type\":" + detail::json_string(k.type) +
      ",\"required\":" + (k.required ? "true" : "false") + ",\"default\":" + k.default_json;
  if (k.min) {
    s += ",\"min\":" + std::to_string(*k.min);
  }
  if (k.max) {
    s += ",\"max\":" + std::to_string(*k.max);
  }
  if (!k.values.empty()) {
    s += ",\"values\":" + detail::json_value(k.values);
  }
  if (!k.reason.empty()) {
    s += ",\"reason\":" + detail::json_string(k.reason);
  }
  return s + "}";
}

}  // namespace yg::config
