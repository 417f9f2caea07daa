#pragma once
// Typed, position-aware reading of yaml-cpp nodes, shared by the schema walk (loader.cc) and
// the rule checks (validate.cc). Internal to the config module.
//
// ParseContext collects every error of one load together with the position of every key seen,
// so rules that run after parsing can still point at a line. MapReader reads one YAML mapping:
// each key the schema knows is asked for through a getter, and finish() reports the keys no
// getter asked for (with a "did you mean" hint), so a typo can never be ignored silently.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/loader.h"

namespace yg::config::detail {

struct Pos {
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

Pos pos_of(const YAML::Node& n);
Pos pos_of(const YAML::Mark& m);

class ParseContext {
 public:
  ParseContext(std::string file, const EnvLookup& env) : file_(std::move(file)), env_(env) {}

  // Records an error at `pos` about `path`, and marks `path` as broken so later rule checks
  // do not pile a second message on the same value.
  void error(Pos pos, std::string path, std::string what);
  // Rule-check form: position looked up from the source map; skipped for broken paths.
  void rule_error(const std::string& path, std::string what);

  void remember(const std::string& path, Pos pos) { positions_.emplace(path, pos); }
  // Position of `path`, else of its nearest parent that has one.
  Pos position_of(std::string_view path) const;
  bool has_position(const std::string& path) const { return positions_.count(path) != 0; }
  // True when `path` or one of its parents failed to parse.
  bool is_broken(std::string_view path) const;
  void mark_broken(std::string path) { broken_.insert(std::move(path)); }

  const std::string& file() const { return file_; }
  const EnvLookup& env() const { return env_; }
  bool has_errors() const { return !errors_.empty(); }
  // All errors, sorted by position (file order); errors without a position come first.
  std::vector<ConfigError> take_errors();

  // Buckets whose s3 section used the single-backend (legacy) fields: their replicas[0]
  // lives at "buckets[i].s3" in the file.
  std::set<size_t> legacy_s3_buckets;
  // Where each bucket's authorization was configured ("buckets[i].authorization" or
  // "buckets[i].auth.opa" / ".auth.openfga"), for messages about it.
  std::map<size_t, std::string> bucket_authz_paths;

 private:
  std::string file_;
  const EnvLookup& env_;
  std::vector<ConfigError> errors_;
  std::unordered_map<std::string, Pos> positions_;
  std::set<std::string, std::less<>> broken_;
};

// Scalar reading (also used for sequence items). Each returns nullopt after reporting an
// error; env substitution happens before conversion.
std::optional<std::string> read_string(ParseContext& ctx, const YAML::Node& n,
                                       const std::string& path);
std::optional<bool> read_bool(ParseContext& ctx, const YAML::Node& n, const std::string& path);
std::optional<uint64_t> read_uint(ParseContext& ctx, const YAML::Node& n, const std::string& path,
                                  uint64_t min, uint64_t max);
std::optional<double> read_double(ParseContext& ctx, const YAML::Node& n, const std::string& path);

std::string_view kind_name(const YAML::Node& n);  // "a mapping", "a list", "a value", ...

class MapReader {
 public:
  // `n` must be a mapping (else one error is reported and ok() is false). `key_pos` is where
  // the mapping's own key sits; "missing key" errors point there.
  MapReader(ParseContext& ctx, const YAML::Node& n, std::string path,
            std::optional<Pos> key_pos = std::nullopt);

  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  Pos pos() const { return pos_; }
  ParseContext& ctx() { return ctx_; }
  std::string child_path(std::string_view key) const;

  // Marks `key` known and returns its value; a null value (`key:` or `key: ~`) is absent.
  std::optional<YAML::Node> get(std::string_view key);
  // Present (even if null); marks nothing.
  bool contains(std::string_view key) const;
  // Position of a present key, else of this mapping.
  Pos key_pos(std::string_view key) const;

  // Typed getters: true when the key was present and valid (then `out` is assigned).
  bool get_string(std::string_view key, std::string& out);
  bool get_secret(std::string_view key, Secret& out);
  bool get_bool(std::string_view key, bool& out);
  bool get_double(std::string_view key, double& out);
  template <class T>
  bool get_uint(std::string_view key, T& out, uint64_t min = 0,
                uint64_t max = std::numeric_limits<T>::max()) {
    auto n = get(key);
    if (!n) {
      return false;
    }
    auto v = read_uint(ctx_, *n, child_path(key), min, max);
    if (!v) {
      return false;
    }
    out = static_cast<T>(*v);
    return true;
  }
  // A list of strings; a single string is accepted as a one-item list.
  bool get_string_list(std::string_view key, std::vector<std::string>& out);
  // One of the listed names (exact, lower case as in the reference).
  template <class E>
  bool get_enum(std::string_view key, E& out,
                std::initializer_list<std::pair<std::string_view, E>> names) {
    std::string s;
    if (!get_string(key, s)) {
      return false;
    }
    for (const auto& [name, value] : names) {
      if (s == name) {
        out = value;
        return true;
      }
    }
    std::string list;
    for (const auto& [name, value] : names) {
      list += list.empty() ? "" : ", ";
      list += name;
    }
    error_at(key, "'" + s + "' is not one of: " + list);
    return false;
  }
  // A mapping or list child: the node, or nullopt when absent (type not checked).
  std::optional<YAML::Node> get_node(std::string_view key) { return get(key); }

  // Error about a present key's value.
  void error_at(std::string_view key, std::string what);
  // "missing required key" when absent (or null).
  bool require(std::string_view key);
  // A key that is recognised but refused (e.g. a reference feature this proxy does not have).
  void refuse(std::string_view key, std::string why);

  // Reports every key no getter asked for. Call once, after all getters.
  void finish();

 private:
  struct Entry {
    std::string key;
    Pos key_pos;
    YAML::Node value;
    bool used = false;
  };
  Entry* find(std::string_view key);
  const Entry* find(std::string_view key) const;

  ParseContext& ctx_;
  std::string path_;
  Pos pos_;
  bool ok_ = false;
  std::vector<Entry> entries_;                        // file order
  std::map<std::string, size_t, std::less<>> index_;  // key -> entries_ index
  std::vector<std::string> known_;
};

}  // namespace yg::config::detail
