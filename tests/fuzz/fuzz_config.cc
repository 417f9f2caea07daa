// libFuzzer target: arbitrary bytes -> config::load_string (no environment) -> dump_redacted.
// The loader must turn every problem into ConfigErrors: nothing may throw out of it, and the
// result must be consistent (a config exactly when there are no errors, every error says
// something). Seeds: tests/fuzz/corpus/fuzz_config/.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/loader.h"

namespace {

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

std::optional<std::string> no_env(std::string_view) {
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const yg::config::LoadResult r = yg::config::load_string(yaml, "fuzz.yaml", no_env);
  check(r.config.has_value() == r.errors.empty());
  for (const auto& e : r.errors) {
    check(!e.what.empty());
    check(e.line >= 0 && e.column >= 0);
    check(!e.to_string().empty());
  }
  if (r.config) {
    check(!yg::config::dump_redacted(*r.config).empty());
  }
  return 0;
}
