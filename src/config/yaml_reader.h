#pragma once
// Typed, position-aware reading of yaml-cpp nodes, shared by the schema walk (loader.cc) and
// the rule checks (validate.cc). Internal to the config module.
//
// ParseContext collects every error of one load together with the position of every key seen,
// so rules that run after parsing can still point at a line. MapReader reads one YAML mapping:
// each key the schema knows is asked for through a getter, and finish() reports the keys no
// getter asked for (with a "did you mean" hint), so a typo can never be ignored silently.
//
// Recording mode (config_schema(), schema.h): with a SchemaRecorder set on the ParseContext,
// every getter notes its key, type and the default it would leave in place, and then reports
// the key absent without reading the value, so no default is overwritten during the walk;
// require() answers "present", and absent sections and lists are walked as if present.

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
#include "config/schema.h"

namespace yg::config::detail {

struct Pos {
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

Pos pos_of(const YAML::Node& n);
Pos pos_of(const YAML::Mark& m);

// The keys one recording walk has seen, by normalised path ("buckets[].s3"), in walk order.
class SchemaRecorder {
 public:
  // Notes `path` ("buckets[2].s3" is stored as "buckets[].s3"). A typed note replaces the type
  // "any" (keys only asked for by contains() or require()); the first default given stays.
  SchemaKey& note(std::string_view path, std::string_view type,
                  std::optional<std::string> default_json = std::nullopt);
  std::vector<SchemaKey> take() { return std::move(keys_); }

 private:
  std::vector<SchemaKey> keys_;
  std::map<std::string, size_t, std::less<>> index_;
  std::set<std::string, std::less<>> defaulted_;
};

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

  // Recording mode (see the top of this file); nullptr when loading a real file.
  SchemaRecorder* recorder() const { return recorder_; }
  void set_recorder(SchemaRecorder* r) { recorder_ = r; }

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
  SchemaRecorder* recorder_ = nullptr;
};

// JSON spellings of defaults, for the recorder.
std::string json_string(std::string_view s);
std::string json_value(const std::vector<std::string>& list);

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
  // `type` is what the recording mode notes for a key read with get() alone.
  std::optional<YAML::Node> get(std::string_view key, std::string_view type = "any");
  // Present (even if null); marks nothing (the recording mode notes the key).
  bool contains(std::string_view key) const;
  // A mapping (`list` false) or a list of mappings under `key`, as get(); in recording mode
  // an absent key yields an empty mapping / a list of one empty mapping, so it is walked.
  std::optional<YAML::Node> get_section(std::string_view key, bool list);

  bool recording() const { return ctx_.recorder() != nullptr; }
  // Recording mode only (else nothing): notes `key` with `type` and `default_json`, for keys
  // whose getter cannot tell (a local with no meaningful value, an inherited setting). Call
  // before the getter: the first default noted stays.
  void describe(std::string_view key, std::string_view type, std::string default_json);
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
    if (recording()) {
      SchemaKey& k = note(key, "uint", std::to_string(out));
      if (min > 0 && !k.min) {
        k.min = min;
      }
      // A narrow field's own limit is worth showing (ports); 2^32-1 and above are not.
      if ((max < std::numeric_limits<T>::max() || sizeof(T) < 4) && !k.max) {
        k.max = max;
      }
      get(key);
      return false;
    }
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
    if (recording()) {
      std::string current = "null";
      for (const auto& [name, value] : names) {
        if (value == out) {
          current = json_string(name);
        }
      }
      SchemaKey& k = note(key, "enum", current);
      if (k.values.empty()) {
        for (const auto& [name, value] : names) {
          k.values.emplace_back(name);
        }
      }
      get(key);
      return false;
    }
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
  // Recording mode: notes the key (see SchemaRecorder::note). Only call when recording().
  SchemaKey& note(std::string_view key, std::string_view type,
                  std::optional<std::string> default_json = std::nullopt) const;

  ParseContext& ctx_;
  std::string path_;
  Pos pos_;
  bool ok_ = false;
  std::vector<Entry> entries_;                        // file order
  std::map<std::string, size_t, std::less<>> index_;  // key -> entries_ index
  std::vector<std::string> known_;
};

}  // namespace yg::config::detail
