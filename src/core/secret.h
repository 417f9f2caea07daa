#pragma once
// A secret value (S3 secret key, JWT secret, API token). It never prints itself: formatting
// and logging show "***", so a secret cannot leak through a log line or a config dump.

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace yg {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string v) : value_(std::move(v)) {}
  // The only way to read the value; grep for reveal() to audit every use.
  const std::string& reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }
  friend bool operator==(const Secret&, const Secret&) = default;

 private:
  std::string value_;
};

}  // namespace yg

template <>
struct fmt::formatter<yg::Secret> : fmt::formatter<std::string_view> {
  auto format(const yg::Secret& s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(s.empty() ? "" : "***", ctx);
  }
};
