#include "core/log.h"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "core/json_escape.h"

namespace yg::log {
namespace {

// stderr, buffered: spdlog's stderr sink flushes every line (one write(2) per request for the
// access log). This one writes when 64 KiB are buffered, when its last write is 100 ms old, on
// flush() (lines at warn and above flush at once; a flusher thread writes idle tails every
// 100 ms), and when it is destroyed. Sync loggers (tools, unit tests) flush every line.
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  ~BufferedStderrSink() override {
    std::lock_guard lk(mutex_);
    write_out();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    buf_.append(formatted.data(), formatted.data() + formatted.size());
    const auto now = std::chrono::steady_clock::now();
    if (buf_.size() >= 64 * 1024 || now - last_write_ >= std::chrono::milliseconds(100)) {
      write_out();
    }
  }
  void flush_() override { write_out(); }

 private:
  void write_out() {
    const char* p = buf_.data();
    std::size_t n = buf_.size();
    while (n > 0) {
      const ssize_t w = ::write(STDERR_FILENO, p, n);
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w <= 0) {
        break;  // stderr is gone: nothing better to do with a log line
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    buf_.clear();
    last_write_ = std::chrono::steady_clock::now();
  }
  std::string buf_;
  std::chrono::steady_clock::time_point last_write_{};
};

std::mutex g_mu;
spdlog::sink_ptr g_sink;
spdlog::sink_ptr g_structured_sink;
spdlog::level::level_enum g_level = spdlog::level::info;
std::atomic<Format> g_format{Format::Text};  // read per access line, lock-free
bool g_async = false;
std::shared_ptr<spdlog::details::thread_pool> g_pool;
std::set<std::string, std::less<>> g_structured;  // logger names using the structured patterns
constexpr std::size_t kAsyncQueue = 16384;

// Writes what the sinks buffered every 100 ms, so an idle log's last lines appear promptly.
std::thread g_flusher;
std::mutex g_flusher_mu;
std::condition_variable g_flusher_cv;
bool g_flusher_stop = false;

void start_flusher() {
  g_flusher = std::thread([] {
    std::unique_lock lk(g_flusher_mu);
    while (
        !g_flusher_cv.wait_for(lk, std::chrono::milliseconds(100), [] { return g_flusher_stop; })) {
      spdlog::sink_ptr sinks[2];
      {
        std::lock_guard glk(g_mu);
        sinks[0] = g_sink;
        sinks[1] = g_structured_sink;
      }
      for (auto& s : sinks) {
        if (s) {
          s->flush();
        }
      }
    }
  });
}

void stop_flusher() {
  {
    std::lock_guard lk(g_flusher_mu);
    g_flusher_stop = true;
  }
  g_flusher_cv.notify_all();
  if (g_flusher.joinable()) {
    g_flusher.join();
  }
}

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
  lg->flush_on(g_async ? spdlog::level::warn : spdlog::level::trace);
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
    sink = std::make_shared<BufferedStderrSink>();
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
    g_sink = std::make_shared<BufferedStderrSink>();
  }
  g_level = lvl;
  g_format = format;
  if (async && !g_async) {
    g_async = true;
    start_flusher();
  }
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
  stop_flusher();  // before g_mu: the flusher takes it
  std::lock_guard lk(g_mu);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& lg) { lg->flush(); });
  // Dropping the registry's loggers and our pool reference runs the pool's destructor: it writes
  // the queued lines and joins its thread. Async loggers held elsewhere (function statics) keep
  // only a weak reference to the pool: nothing may log through them after this.
  spdlog::shutdown();  // drops the registry's loggers
  g_pool.reset();
  for (auto& sink : {g_sink, g_structured_sink}) {
    if (sink) {
      sink->flush();  // what the pool thread wrote last
    }
  }
}

}  // namespace yg::log
