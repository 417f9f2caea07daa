#pragma once
// Test-only entry point: load_string with the feature gate switchable, so unit tests can check
// how gated sections (jwt, authorization, cache, ...) parse before the issues that enable them
// land. Production code calls load_string / load_file.

#include <string_view>

#include "config/loader.h"

namespace yg::config::detail {

LoadResult load_string_with_gate(std::string_view yaml, std::string_view source_name,
                                 const EnvLookup& env, bool apply_gate);

}  // namespace yg::config::detail
