#pragma once
// The schema walk, one function per YAML section. Internal to the config module:
// loader.cc holds the top level and the server/cache/logging/observability sections,
// sections_bucket.cc the buckets (s3, auth, jwt, authorization, cache overrides, ip_filter).

#include <yaml-cpp/yaml.h>

#include <string>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace yg::config::detail {

// Runs `fn(reader)` on the mapping under `key` when present, then reports its unknown keys.
// (In recording mode also when absent: see yaml_reader.h.)
template <class Fn>
void with_section(MapReader& parent, std::string_view key, Fn&& fn) {
  if (auto n = parent.get_section(key, false)) {
    MapReader m(parent.ctx(), *n, parent.child_path(key), parent.key_pos(key));
    if (m.ok()) {
      fn(m);
      m.finish();
    }
  }
}

// Calls `fn(reader, index)` for each mapping in the list under `key`. (In recording mode an
// absent list is walked as one empty item.)
template <class Fn>
void for_each_item(MapReader& parent, std::string_view key, Fn&& fn) {
  auto n = parent.get_section(key, true);
  if (!n) {
    return;
  }
  const std::string path = parent.child_path(key);
  if (!n->IsSequence()) {
    parent.ctx().error(pos_of(*n).line ? pos_of(*n) : parent.key_pos(key), path,
                       "expected a list, got " + std::string(kind_name(*n)));
    return;
  }
  size_t i = 0;
  for (auto it = n->begin(); it != n->end(); ++it, ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    parent.ctx().remember(item_path, pos_of(*it));
    MapReader m(parent.ctx(), *it, item_path);
    fn(m, i);
    if (m.ok()) {
      m.finish();
    }
  }
}

void parse_buckets(MapReader& root, Config& c);
void parse_jwt(MapReader& m, JwtConfig& jwt);
void parse_rate_limit_rule(MapReader& m, RateLimitRule& r);

// The recording walk (schema.cc): parse_root over `yaml` with `recorder` set; the walk's errors
// (expected ones, like missing values) go to `errors`.
void record_schema(std::string_view yaml, SchemaRecorder& recorder,
                   std::vector<ConfigError>& errors);

}  // namespace yg::config::detail
