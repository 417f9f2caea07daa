#include "core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace yg::log {
namespace {

std::mutex g_mu;
spdlog::sink_ptr g_sink;
spdlog::level::level_enum g_level = spdlog::level::info;
Format g_format = Format::Text;

// JSON lines: message text is produced by callers with fmt; here we frame it. Callers only log
// values they escaped (see obs/access_log for the structured access line).
constexpr const char* kJsonPattern =
    R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","module":"%n","msg":"%v"})";
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %-5l [%n] %v";

void apply(const std::shared_ptr<spdlog::logger>& lg) {
  lg->set_level(g_level);
  lg->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      g_format == Format::Json ? kJsonPattern : kTextPattern, spdlog::pattern_time_type::utc));
}

}  // namespace

bool init(std::string_view level, Format format) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return false;
  }
  std::lock_guard lk(g_mu);
  if (!g_sink) {
    g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  g_level = lvl;
  g_format = format;
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& lg) { apply(lg); });
  return true;
}

std::shared_ptr<spdlog::logger> get(const std::string& module) {
  if (auto lg = spdlog::get(module)) {
    return lg;
  }
  std::lock_guard lk(g_mu);
  if (auto lg = spdlog::get(module)) {
    return lg;
  }
  if (!g_sink) {
    g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto lg = std::make_shared<spdlog::logger>(module, g_sink);
  apply(lg);
  spdlog::register_logger(lg);
  return lg;
}

}  // namespace yg::log
