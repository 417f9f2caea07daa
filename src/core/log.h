#pragma once
// Logging: spdlog, one logger per module, JSON or text lines on stderr. Secrets are never
// passed to a logger (yg::Secret formats as "***").
//
// The server runs the loggers asynchronously (init(..., async = true) before the first get()):
// a request thread formats its line and queues it; one spdlog thread writes. When the queue is
// full the oldest line is overwritten, never waited for, and counted (dropped()).

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
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

// At most one line per `interval` for a recurring condition (an engine outage, a failing
// dependency): allow() says whether to log now and how many occurrences were suppressed since
// the last line. Lock-free; shared by every thread that meets the condition.
class Throttle {
 public:
  explicit Throttle(std::chrono::milliseconds interval = std::chrono::seconds(1))
      : interval_ms_(interval.count()) {}
  bool allow(uint64_t& suppressed) noexcept {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    int64_t next = next_ms_.load(std::memory_order_relaxed);
    if (now < next || !next_ms_.compare_exchange_strong(next, now + interval_ms_)) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }

 private:
  int64_t interval_ms_;
  std::atomic<int64_t> next_ms_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace yg::log
