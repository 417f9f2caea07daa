#pragma once
// The list of every configuration key the schema walk knows (`yatagarasu --config-schema`,
// the reference tables of docs/configuration.md, scripts/check-config-reference.py).
//
// Nothing here is a hand-kept list: config_schema() runs the schema walk itself (loader.cc,
// sections_bucket.cc) in a recording mode, where each MapReader getter notes the key it asks
// for, its type, range and the default it would leave in place, instead of reading a value.
// Absent sections and lists are walked as if present (one empty item per list); a few small
// built-in documents switch on the branches that depend on which keys are present (legacy s3
// keys vs replicas, auth.opa, claims_verification, token_sources, ...).
// Values are never read, so a getter reached only when another key has a particular value
// would be missed: the walk asks for every key unconditionally and checks combinations after.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace yg::config {

struct SchemaKey {
  std::string path;  // "buckets[].s3.region": list items are "[]"
  // string, secret, bool, uint, number, list (of values), enum, value (a claim value),
  // mapping, list of mappings, refused (recognised and always an error), any (never typed).
  std::string type;
  bool required = false;
  std::string default_json = "null";  // JSON; null = none (unset, inherited or required)
  std::optional<uint64_t> min;        // uint: only when above 0
  std::optional<uint64_t> max;        // uint: only when below the field type's maximum
  std::vector<std::string> values;    // enum: the accepted names
  std::string reason;                 // refused: the message a file using the key gets
};

struct Schema {
  std::vector<SchemaKey> keys;  // in walk order, each path once
  // Holes in the walk: a section whose keys were never listed, a key never typed, a key of
  // the built-in documents the walk did not know. Empty when the list is complete.
  std::vector<std::string> problems;
};

Schema config_schema();

// One JSON object on one line: {"path":...,"type":...,"required":...,"default":...}, plus
// "min", "max", "values", "reason" when set.
std::string to_json(const SchemaKey& k);

}  // namespace yg::config
