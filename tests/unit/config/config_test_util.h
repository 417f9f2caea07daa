#pragma once
// Helpers shared by the config unit tests: load YAML with a fixed environment and look at
// the errors as "file:line: key.path: what" strings.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "config/testing.h"

namespace yg::config::test {

using Env = std::map<std::string, std::string, std::less<>>;

inline EnvLookup env_of(Env vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) {
      return it->second;
    }
    return std::nullopt;
  };
}

inline LoadResult load(std::string_view yaml, Env env = {}) {
  return load_string(yaml, "test.yaml", env_of(std::move(env)));
}

// Loads without the feature gate, to inspect sections that later issues switch on.
inline LoadResult load_ungated(std::string_view yaml, Env env = {}) {
  return detail::load_string_with_gate(yaml, "test.yaml", env_of(std::move(env)), false);
}

inline std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) {
    out.push_back(e.to_string());
  }
  return out;
}

inline std::string joined(const LoadResult& r) {
  std::string s;
  for (const auto& m : messages(r)) {
    s += m + "\n";
  }
  return s;
}

// A valid bucket list (lines 1-8 when it starts the file).
inline constexpr std::string_view kBucket =
    "buckets:\n"
    "  - name: a\n"
    "    path_prefix: /a\n"
    "    s3:\n"
    "      bucket: b\n"
    "      region: us-east-1\n"
    "      access_key: AK\n"
    "      secret_key: SK\n";

inline std::string with_bucket(std::string_view rest) {
  return std::string(kBucket) + std::string(rest);
}

}  // namespace yg::config::test

// Expects exactly one error, with this full text.
#define EXPECT_ONLY_ERROR(result, text)                                \
  do {                                                                 \
    const auto& r_ = (result);                                         \
    EXPECT_FALSE(r_.config.has_value());                               \
    ASSERT_EQ(r_.errors.size(), 1u) << ::yg::config::test::joined(r_); \
    EXPECT_EQ(r_.errors[0].to_string(), (text));                       \
  } while (0)

// Expects exactly one error at `line` about `path` whose text contains `part`.
#define EXPECT_ONLY_ERROR_AT(result, line_, path_, part)                             \
  do {                                                                               \
    const auto& r_ = (result);                                                       \
    EXPECT_FALSE(r_.config.has_value());                                             \
    ASSERT_EQ(r_.errors.size(), 1u) << ::yg::config::test::joined(r_);               \
    EXPECT_EQ(r_.errors[0].line, (line_)) << r_.errors[0].to_string();               \
    EXPECT_EQ(r_.errors[0].key_path, (path_)) << r_.errors[0].to_string();           \
    EXPECT_NE(r_.errors[0].what.find(part), std::string::npos) << r_.errors[0].what; \
  } while (0)

#define ASSERT_LOADS(result)                                                      \
  ASSERT_TRUE((result).config.has_value()) << ::yg::config::test::joined(result); \
  ASSERT_TRUE((result).errors.empty())
