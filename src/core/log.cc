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

// JSON lines: the message is escaped by the '%*' flag below, so any text a caller logs (an S3
// error code, an OpenSSL reason) still yields one valid JSON object per line.
constexpr const char* kJsonPattern =
    R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","module":"%n","msg":"%*"})";

class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char ch : msg.payload) {
      const auto c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\r':
          dest.append(std::string_view("\\r"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (c < 0x20) {
            const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
            dest.append(esc, esc + sizeof(esc));
          } else {
            dest.push_back(ch);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %-5l [%n] %v";

void apply(const std::shared_ptr<spdlog::logger>& lg) {
  lg->set_level(g_level);
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<JsonEscapedMessage>('*');
  f->set_pattern(g_format == Format::Json ? kJsonPattern : kTextPattern);
  lg->set_formatter(std::move(f));
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
