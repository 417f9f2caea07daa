#pragma once
// Logging: spdlog, one logger per module, JSON or text lines on stderr. Secrets are never
// passed to a logger (yg::Secret formats as "***").
//
// The server runs the loggers asynchronously (init(..., async = true) before the first get()):
// a request thread formats its line and queues it; one spdlog thread writes. When the queue is
// full the oldest line is overwritten, never waited for, and counted (dropped()).

#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace yg::log {

enum class Format { Text, Json };

// Sets up the process-wide sink and level ("trace".."critical", "off"). Safe to call again
// (hot reload of logging.level/format). `async` takes effect for loggers created afterwards,
// so the server sets it before anything logs. Returns false for an unknown level name.
bool init(std::string_view level, Format format, bool async = false);

// The named module logger ("server", "s3", ...), created on first use.
std::shared_ptr<spdlog::logger> get(const std::string& module);

// A logger whose messages are already structured: in JSON format the message is a list of
// JSON members (`"k":v,...`) spliced into the line's object; in text format it is `k=v ...`.
// Used for access lines.
std::shared_ptr<spdlog::logger> get_structured(const std::string& module);

Format format();

// Lines overwritten because the async queue was full.
uint64_t dropped();

// Writes what is queued and stops the async thread (end of main).
void shutdown();

}  // namespace yg::log
