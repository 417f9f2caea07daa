#include "core/log.h"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <mutex>
#include <set>

#include "core/json_escape.h"

namespace yg::log {
namespace {

std::mutex g_mu;
spdlog::sink_ptr g_sink;
spdlog::sink_ptr g_structured_sink;
spdlog::level::level_enum g_level = spdlog::level::info;
std::atomic<Format> g_format{Format::Text};  // read per access line, lock-free
bool g_async = false;
std::shared_ptr<spdlog::details::thread_pool> g_pool;
std::set<std::string, std::less<>> g_structured;  // logger names using the structured patterns
constexpr std::size_t kAsyncQueue = 16384;

// JSON lines: the message is escaped by the '%*' flag below, so any text a caller logs (an S3
// error code, an OpenSSL reason) still yields one valid JSON object per line.
constexpr const char* kJsonPattern =
    R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","module":"%n","msg":"%*"})";

class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    append_json_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %-5l [%n] %v";
// Structured messages carry their own members / key=value pairs.
constexpr const char* kJsonStructuredPattern =
    R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","module":"%n",%v})";

void apply(const std::shared_ptr<spdlog::logger>& lg) {
  lg->set_level(g_level);
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<JsonEscapedMessage>('*');
  const bool structured = g_structured.count(lg->name()) != 0;
  if (g_format == Format::Json) {
    f->set_pattern(structured ? kJsonStructuredPattern : kJsonPattern);
  } else {
    f->set_pattern(kTextPattern);
  }
  lg->set_formatter(std::move(f));
}

// Called with g_mu held.
std::shared_ptr<spdlog::logger> make_logger(const std::string& module) {
  // A sink holds one formatter, set by whichever logger set it last: loggers with the
  // structured pattern get a sink of their own. Both write whole lines to stderr.
  auto& sink = g_structured.count(module) != 0 ? g_structured_sink : g_sink;
  if (!sink) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  std::shared_ptr<spdlog::logger> lg;
  if (g_async) {
    if (!g_pool) {
      g_pool = std::make_shared<spdlog::details::thread_pool>(kAsyncQueue, 1);
    }
    lg = std::make_shared<spdlog::async_logger>(module, sink, g_pool,
                                                spdlog::async_overflow_policy::overrun_oldest);
  } else {
    lg = std::make_shared<spdlog::logger>(module, sink);
  }
  apply(lg);
  spdlog::register_logger(lg);
  return lg;
}

}  // namespace

bool init(std::string_view level, Format format, bool async) {
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
  g_async = g_async || async;
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
  return make_logger(module);
}

std::shared_ptr<spdlog::logger> get_structured(const std::string& module) {
  if (auto lg = spdlog::get(module)) {
    return lg;
  }
  std::lock_guard lk(g_mu);
  if (auto lg = spdlog::get(module)) {
    return lg;
  }
  g_structured.insert(module);
  return make_logger(module);
}

Format format() {
  return g_format.load(std::memory_order_relaxed);
}

uint64_t dropped() {
  std::lock_guard lk(g_mu);
  return g_pool ? g_pool->overrun_counter() : 0;
}

void shutdown() {
  std::lock_guard lk(g_mu);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& lg) { lg->flush(); });
  // Dropping the registry's loggers and our pool reference runs the pool's destructor: it writes
  // the queued lines and joins its thread. Async loggers held elsewhere (function statics) keep
  // only a weak reference to the pool: nothing may log through them after this.
  spdlog::drop_all();
  g_pool.reset();
}

}  // namespace yg::log
