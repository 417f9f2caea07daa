#include "config/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "config/env.h"

namespace yg::config::detail {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Edit distance for "did you mean" hints; inputs are short config keys.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Path components are ".key" or "[i]"; the parent of "a.b[2]" is "a.b", of "a.b" is "a".
std::string_view parent_path(std::string_view p) {
  const size_t cut = p.find_last_of(".[");
  return cut == std::string_view::npos ? std::string_view{} : p.substr(0, cut);
}

}  // namespace

Pos pos_of(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0) {
    return {};
  }
  return Pos{m.line + 1, m.column + 1};
}

Pos pos_of(const YAML::Node& n) {
  return n.IsDefined() ? pos_of(n.Mark()) : Pos{};
}

std::string_view kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a value";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// ---------------------------------------------------------------------------------------------
// Recording mode

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_value(const std::vector<std::string>& list) {
  std::string out = "[";
  for (const auto& item : list) {
    out += out.size() > 1 ? "," : "";
    out += json_string(item);
  }
  return out + "]";
}

SchemaKey& SchemaRecorder::note(std::string_view path, std::string_view type,
                                std::optional<std::string> default_json) {
  // "a[3].b" -> "a[].b": every item of a list has the same keys.
  std::string p;
  p.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    p += path[i];
    if (path[i] == '[') {
      while (i + 1 < path.size() && path[i + 1] != ']') {
        ++i;
      }
    }
  }
  auto it = index_.find(p);
  if (it == index_.end()) {
    it = index_.emplace(p, keys_.size()).first;
    keys_.push_back(SchemaKey{p, std::string(type)});
  }
  SchemaKey& k = keys_[it->second];
  if (k.type == "any" && type != "any") {
    k.type = std::string(type);
  }
  if (default_json && defaulted_.insert(p).second) {
    k.default_json = std::move(*default_json);
  }
  return k;
}

// ---------------------------------------------------------------------------------------------
// ParseContext

void ParseContext::error(Pos pos, std::string path, std::string what) {
  errors_.push_back(ConfigError{file_, pos.line, pos.column, path, std::move(what)});
  broken_.insert(std::move(path));
}

void ParseContext::rule_error(const std::string& path, std::string what) {
  if (is_broken(path)) {
    return;
  }
  const Pos pos = position_of(path);
  errors_.push_back(ConfigError{file_, pos.line, pos.column, path, std::move(what)});
}

Pos ParseContext::position_of(std::string_view path) const {
  std::string_view p = path;
  while (true) {
    if (auto it = positions_.find(std::string(p)); it != positions_.end()) {
      return it->second;
    }
    if (p.empty()) {
      return {};
    }
    p = parent_path(p);
  }
}

bool ParseContext::is_broken(std::string_view path) const {
  std::string_view p = path;
  while (!p.empty()) {
    if (broken_.find(p) != broken_.end()) {
      return true;
    }
    p = parent_path(p);
  }
  return false;
}

std::vector<ConfigError> ParseContext::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    if (a.line != b.line) {
      return a.line < b.line;
    }
    return a.column < b.column;
  });
  return std::move(errors_);
}

// ---------------------------------------------------------------------------------------------
// Scalars

std::optional<std::string> read_string(ParseContext& ctx, const YAML::Node& n,
                                       const std::string& path) {
  if (!n.IsScalar()) {
    ctx.error(pos_of(n), path, "expected a value, got " + std::string(kind_name(n)));
    return std::nullopt;
  }
  std::string out;
  const auto problems = substitute_env(n.Scalar(), ctx.env(), out);
  if (!problems.empty()) {
    for (const auto& p : problems) {
      ctx.error(pos_of(n), path, p);
    }
    return std::nullopt;
  }
  return out;
}

std::optional<bool> read_bool(ParseContext& ctx, const YAML::Node& n, const std::string& path) {
  auto s = read_string(ctx, n, path);
  if (!s) {
    return std::nullopt;
  }
  // Only true/false: "yes", "on" or a typo like "ture" must not quietly mean something.
  const std::string v = lower(trim(*s));
  if (v == "true") {
    return true;
  }
  if (v == "false") {
    return false;
  }
  ctx.error(pos_of(n), path, "expected true or false, got '" + *s + "'");
  return std::nullopt;
}

std::optional<uint64_t> read_uint(ParseContext& ctx, const YAML::Node& n, const std::string& path,
                                  uint64_t min, uint64_t max) {
  auto s = read_string(ctx, n, path);
  if (!s) {
    return std::nullopt;
  }
  const std::string_view t = trim(*s);
  if (!t.empty() && t.front() == '-') {
    ctx.error(pos_of(n), path, "must not be negative, got '" + *s + "'");
    return std::nullopt;
  }
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || (ec != std::errc{} && ec != std::errc::result_out_of_range) ||
      end != t.data() + t.size()) {
    ctx.error(pos_of(n), path, "expected a whole number, got '" + *s + "'");
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || v < min || v > max) {
    std::string what = "must be ";
    if (max >= std::numeric_limits<uint32_t>::max()) {  // "no upper bound" for the user
      what += "at least " + std::to_string(min);
    } else {
      what += "between " + std::to_string(min) + " and " + std::to_string(max);
    }
    ctx.error(pos_of(n), path, what + ", got " + std::string(t));
    return std::nullopt;
  }
  return v;
}

std::optional<double> read_double(ParseContext& ctx, const YAML::Node& n, const std::string& path) {
  auto s = read_string(ctx, n, path);
  if (!s) {
    return std::nullopt;
  }
  const std::string t(trim(*s));
  char* end = nullptr;
  const double v = t.empty() ? 0 : std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v)) {
    ctx.error(pos_of(n), path, "expected a number, got '" + *s + "'");
    return std::nullopt;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// MapReader

MapReader::MapReader(ParseContext& ctx, const YAML::Node& n, std::string path,
                     std::optional<Pos> key_pos)
    : ctx_(ctx), path_(std::move(path)), pos_(key_pos.value_or(pos_of(n))) {
  if (!n.IsMap()) {
    ctx_.error(pos_of(n).line ? pos_of(n) : pos_, path_,
               "expected a mapping (key: value lines), got " + std::string(kind_name(n)));
    return;
  }
  ok_ = true;
  for (auto it = n.begin(); it != n.end(); ++it) {
    // Copies: yaml-cpp's iterator `->` yields a temporary proxy, so a reference into
    // it->first would dangle.
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    const Pos kp = pos_of(k);
    if (!k.IsScalar()) {
      ctx_.error(kp, path_, "keys must be plain names, got " + std::string(kind_name(k)));
      continue;
    }
    const std::string key = k.Scalar();
    if (const Entry* first = find(key)) {
      ctx_.error(kp, child_path(key),
                 "duplicate key (first given at line " + std::to_string(first->key_pos.line) + ")");
      continue;
    }
    index_.emplace(key, entries_.size());
    entries_.push_back(Entry{key, kp, v, false});
    ctx_.remember(child_path(key), kp);
  }
}

std::string MapReader::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

MapReader::Entry* MapReader::find(std::string_view key) {
  const auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const MapReader::Entry* MapReader::find(std::string_view key) const {
  const auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

SchemaKey& MapReader::note(std::string_view key, std::string_view type,
                           std::optional<std::string> default_json) const {
  return ctx_.recorder()->note(child_path(key), type, std::move(default_json));
}

void MapReader::describe(std::string_view key, std::string_view type, std::string default_json) {
  if (recording()) {
    note(key, type, std::move(default_json));
  }
}

std::optional<YAML::Node> MapReader::get(std::string_view key, std::string_view type) {
  known_.emplace_back(key);
  if (recording()) {
    note(key, type);
  }
  Entry* e = find(key);
  if (e == nullptr) {
    return std::nullopt;
  }
  e->used = true;
  if (e->value.IsNull()) {
    return std::nullopt;
  }
  return e->value;
}

bool MapReader::contains(std::string_view key) const {
  if (recording()) {
    note(key, "any");
  }
  return find(key) != nullptr;
}

std::optional<YAML::Node> MapReader::get_section(std::string_view key, bool list) {
  auto n = get(key, list ? "list of mappings" : "mapping");
  if (!n && recording() && find(key) == nullptr) {
    if (!list) {
      return YAML::Node(YAML::NodeType::Map);
    }
    YAML::Node seq(YAML::NodeType::Sequence);
    seq.push_back(YAML::Node(YAML::NodeType::Map));
    return seq;
  }
  return n;
}

Pos MapReader::key_pos(std::string_view key) const {
  const Entry* e = find(key);
  return e != nullptr ? e->key_pos : pos_;
}

bool MapReader::get_string(std::string_view key, std::string& out) {
  if (recording()) {
    note(key, "string", json_string(out));
    get(key);
    return false;
  }
  auto n = get(key);
  if (!n) {
    return false;
  }
  auto v = read_string(ctx_, *n, child_path(key));
  if (!v) {
    return false;
  }
  out = std::move(*v);
  return true;
}

bool MapReader::get_secret(std::string_view key, Secret& out) {
  if (recording()) {
    note(key, "secret", "null");  // a secret's default is never shown (it is always empty)
    get(key);
    return false;
  }
  std::string s;
  if (!get_string(key, s)) {
    return false;
  }
  out = Secret(std::move(s));
  return true;
}

bool MapReader::get_bool(std::string_view key, bool& out) {
  if (recording()) {
    note(key, "bool", out ? "true" : "false");
    get(key);
    return false;
  }
  auto n = get(key);
  if (!n) {
    return false;
  }
  auto v = read_bool(ctx_, *n, child_path(key));
  if (!v) {
    return false;
  }
  out = *v;
  return true;
}

bool MapReader::get_double(std::string_view key, double& out) {
  if (recording()) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, out);
    note(key, "number", std::string(buf, r.ptr));
    get(key);
    return false;
  }
  auto n = get(key);
  if (!n) {
    return false;
  }
  auto v = read_double(ctx_, *n, child_path(key));
  if (!v) {
    return false;
  }
  out = *v;
  return true;
}

bool MapReader::get_string_list(std::string_view key, std::vector<std::string>& out) {
  if (recording()) {
    note(key, "list", json_value(out));
    get(key);
    return false;
  }
  auto n = get(key);
  if (!n) {
    return false;
  }
  const std::string path = child_path(key);
  if (n->IsScalar()) {
    auto v = read_string(ctx_, *n, path);
    if (!v) {
      return false;
    }
    out = {std::move(*v)};
    return true;
  }
  if (!n->IsSequence()) {
    ctx_.error(pos_of(*n), path, "expected a list, got " + std::string(kind_name(*n)));
    return false;
  }
  std::vector<std::string> items;
  bool ok = true;
  size_t i = 0;
  for (auto it = n->begin(); it != n->end(); ++it, ++i) {
    const YAML::Node& item = *it;
    const std::string ip = path + "[" + std::to_string(i) + "]";
    ctx_.remember(ip, pos_of(item));
    auto v = read_string(ctx_, item, ip);
    if (!v) {
      ok = false;
      continue;
    }
    items.push_back(std::move(*v));
  }
  if (ok) {
    out = std::move(items);
  }
  return ok;
}

void MapReader::error_at(std::string_view key, std::string what) {
  const Entry* e = find(key);
  Pos p = pos_;
  if (e != nullptr) {
    p = e->value.IsScalar() ? pos_of(e->value) : e->key_pos;
  }
  ctx_.error(p, child_path(key), std::move(what));
}

bool MapReader::require(std::string_view key) {
  known_.emplace_back(key);
  if (recording()) {
    note(key, "any").required = true;
    if (Entry* e = find(key)) {
      e->used = true;
    }
    return true;  // so the walk goes on into what the key guards
  }
  Entry* e = find(key);
  if (e != nullptr) {
    e->used = true;
  }
  if (e != nullptr && !e->value.IsNull()) {
    return true;
  }
  if (ok_) {
    ctx_.error(e != nullptr ? e->key_pos : pos_, child_path(key), "missing required key");
  }
  return false;
}

void MapReader::refuse(std::string_view key, std::string why) {
  known_.emplace_back(key);
  if (recording()) {
    note(key, "refused").reason = why;
  }
  if (Entry* e = find(key)) {
    e->used = true;
    ctx_.error(e->key_pos, child_path(key), std::move(why));
  }
}

void MapReader::finish() {
  for (const auto& e : entries_) {
    if (e.used) {
      continue;
    }
    std::string what = "unknown key";
    // Suggest the closest known key when the difference looks like a typo.
    const std::string* best = nullptr;
    size_t best_d = 0;
    for (const auto& k : known_) {
      const size_t d = edit_distance(lower(e.key), k);
      if (best == nullptr || d < best_d) {
        best = &k;
        best_d = d;
      }
    }
    if (best != nullptr && best_d > 0 && best_d <= std::max<size_t>(2, best->size() / 4)) {
      what += " (did you mean '" + *best + "'?)";
    }
    ctx_.error(e.key_pos, child_path(e.key), what);
  }
}

}  // namespace yg::config::detail
