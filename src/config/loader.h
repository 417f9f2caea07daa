#pragma once
// Loading a YAML configuration into config::Config (FEATURES.md CONF-1..CONF-4).
//
// load_file / load_string never throw for bad input: every problem (YAML syntax, unknown key,
// wrong type, broken rule, unset ${VAR}, feature not available in this build) becomes a
// ConfigError with the file position of the offending node, and all of them are reported at
// once, in file order. The functions are pure apart from reading the file and calling `env`,
// so they may run on any thread (start, --test, reload).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace yg::config {

struct ConfigError {
  std::string file;
  int line = 0;          // 1-based; 0 = unknown
  int column = 0;        // 1-based; 0 = unknown
  std::string key_path;  // e.g. "buckets[1].s3.endpoint"; empty for the whole file
  std::string what;
  // "file:line: key.path: what" (parts that are unknown are left out).
  std::string to_string() const;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// getenv(), for production use.
std::optional<std::string> process_env(std::string_view name);

struct LoadResult {
  std::optional<Config> config;     // set iff errors is empty
  std::vector<ConfigError> errors;  // ALL errors found, in file order
};

LoadResult load_file(const std::string& path, const EnvLookup& env = process_env);
LoadResult load_string(std::string_view yaml, std::string_view source_name,
                       const EnvLookup& env = process_env);

// Human-readable YAML of the effective configuration (defaults filled in). Every secret is
// shown as "***", and passwords inside URLs are masked too.
std::string dump_redacted(const Config& c);

}  // namespace yg::config
