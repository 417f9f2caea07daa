#pragma once
// Logging: spdlog, one logger per module, JSON or text lines on stderr. Secrets are never
// passed to a logger (yg::Secret formats as "***").

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace yg::log {

enum class Format { Text, Json };

// Sets up the process-wide sink and level ("trace".."critical", "off"). Safe to call again
// (hot reload of logging.level). Returns false for an unknown level name.
bool init(std::string_view level, Format format);

// The named module logger ("server", "s3", ...), created on first use.
std::shared_ptr<spdlog::logger> get(const std::string& module);

}  // namespace yg::log
