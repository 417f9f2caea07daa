#include "config/env.h"

#include <cstdlib>

namespace yg::config {

std::optional<std::string> process_env(std::string_view name) {
  // getenv needs a NUL-terminated name.
  const std::string n(name);
  if (const char* v = std::getenv(n.c_str())) {
    return std::string(v);
  }
  return std::nullopt;
}

namespace detail {
namespace {

bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

bool is_valid_name(std::string_view n) {
  if (n.empty() || !is_name_start(n.front())) {
    return false;
  }
  for (char c : n) {
    if (!is_name_char(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<std::string> substitute_env(std::string_view in, const EnvLookup& env,
                                        std::string& out) {
  std::vector<std::string> problems;
  out.clear();
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    if (c != '$') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (in.substr(i, 3) == "$${") {
      out.append("${");
      i += 3;
      continue;
    }
    if (in.substr(i, 2) != "${") {
      out.push_back('$');
      ++i;
      continue;
    }
    const size_t close = in.find('}', i + 2);
    if (close == std::string_view::npos) {
      problems.push_back("unterminated '${' (missing '}'; write '$${' for a literal '${')");
      break;
    }
    const std::string_view body = in.substr(i + 2, close - i - 2);
    const size_t sep = body.find(":-");
    const std::string_view name = sep == std::string_view::npos ? body : body.substr(0, sep);
    if (!is_valid_name(name)) {
      problems.push_back("invalid environment variable reference '${" + std::string(body) +
                         "}' (names are letters, digits and '_')");
      i = close + 1;
      continue;
    }
    std::optional<std::string> value = env ? env(name) : std::nullopt;
    if (sep != std::string_view::npos && (!value || value->empty())) {
      value = std::string(body.substr(sep + 2));
    }
    if (!value) {
      problems.push_back("environment variable " + std::string(name) + " is not set (use ${" +
                         std::string(name) + ":-default} to give a default)");
    } else {
      out.append(*value);
    }
    i = close + 1;
  }
  return problems;
}

}  // namespace detail
}  // namespace yg::config
