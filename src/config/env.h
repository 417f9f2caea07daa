#pragma once
// ${VAR} / ${VAR:-default} substitution inside one YAML scalar (CONF-3). Internal to the
// config module: the loader calls it on each scalar value after YAML parsing, so comments and
// keys are never touched and a substituted value can never change the YAML structure.

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"

namespace yg::config::detail {

// Expands every ${NAME} and ${NAME:-default} in `in` into `out`:
// - NAME is [A-Za-z_][A-Za-z0-9_]*;
// - the default is used when NAME is unset or empty (as in POSIX sh);
// - "$${" is an escaped, literal "${";
// - any other '$' is literal; substituted text is not scanned again.
// Returns the problems found (unset variable without default, unterminated or malformed
// reference), one message per problem; `out` is only meaningful when none were found.
std::vector<std::string> substitute_env(std::string_view in, const EnvLookup& env,
                                        std::string& out);

}  // namespace yg::config::detail
