#include "obs/request_log.h"

#include <fmt/format.h>

#include <charconv>

#include "core/json_escape.h"

namespace yg::obs {
namespace {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  void str(std::string_view k, std::string_view v) {
    key(k);
    out_ += '"';
    append_json_escaped(out_, v);
    out_ += '"';
  }
  // Empty strings become null: "no user", "no referer".
  void str_or_null(std::string_view k, std::string_view v) {
    if (v.empty()) {
      key(k);
      out_ += "null";
    } else {
      str(k, v);
    }
  }
  void num(std::string_view k, uint64_t v) {
    key(k);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_.append(buf, r.ptr);
  }
  void ms(std::string_view k, std::optional<double> v) {
    key(k);
    if (v) {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof(buf), *v, std::chars_format::fixed, 3);
      out_.append(buf, r.ptr);
    } else {
      out_ += "null";
    }
  }
  void boolean(std::string_view k, bool v) {
    key(k);
    out_ += v ? "true" : "false";
  }

 private:
  void key(std::string_view k) {
    if (!first_) {
      out_ += ',';
    }
    first_ = false;
    out_ += '"';
    out_.append(k);
    out_ += "\":";
  }
  std::string& out_;
  bool first_ = true;
};

void text_value(std::string& out, std::string_view k, std::string_view v) {
  if (!out.empty()) {
    out += ' ';
  }
  out.append(k);
  out += '=';
  if (v.empty()) {
    out += '-';
    return;
  }
  const bool quote = v.find_first_of(" \"=\\") != std::string_view::npos;
  if (quote) {
    out += '"';
  }
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  if (quote) {
    out += '"';
  }
}

}  // namespace

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  // YYYY-MM-DDTHH:MM:SS.mmmZ, digits written directly (this runs once per audit line).
  char b[] = "0000-00-00T00:00:00.000Z";
  auto put = [&b](int pos, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      b[pos + i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  put(0, static_cast<unsigned>(static_cast<int>(ymd.year())), 4);
  put(5, static_cast<unsigned>(ymd.month()), 2);
  put(8, static_cast<unsigned>(ymd.day()), 2);
  put(11, static_cast<unsigned>(hms.hours().count()), 2);
  put(14, static_cast<unsigned>(hms.minutes().count()), 2);
  put(17, static_cast<unsigned>(hms.seconds().count()), 2);
  put(20, static_cast<unsigned>(hms.subseconds().count()), 3);
  return std::string(b, sizeof(b) - 1);
}

std::string access_json_members(const RequestRecord& r) {
  std::string out;
  out.reserve(384);
  JsonWriter w(out);
  w.str("msg", "access");
  w.str("request_id", r.request_id);
  w.str("trace_id", r.trace_id);
  w.str("client_ip", r.client_ip);
  w.str("method", r.method);
  w.str("path", r.path);
  w.str_or_null("bucket", r.bucket);
  w.str_or_null("key", r.key);
  w.num("status", r.status);
  w.num("bytes", r.bytes_sent);
  w.ms("duration_ms", r.duration_ms);
  w.ms("ttfb_ms", r.ttfb_ms);
  w.ms("upstream_ms", r.upstream_ms);
  w.str("cache_status", r.cache_status);
  w.str_or_null("replica", r.replica);
  w.str_or_null("user", r.user);
  w.str_or_null("error", r.error);
  w.boolean("aborted", r.aborted);
  return out;
}

std::string access_text(const RequestRecord& r) {
  std::string out;
  out.reserve(256);
  text_value(out, "request_id", r.request_id);
  text_value(out, "trace_id", r.trace_id);
  text_value(out, "client_ip", r.client_ip);
  text_value(out, "method", r.method);
  text_value(out, "path", r.path);
  text_value(out, "bucket", r.bucket);
  text_value(out, "key", r.key);
  text_value(out, "status", std::to_string(r.status));
  text_value(out, "bytes", std::to_string(r.bytes_sent));
  text_value(out, "duration_ms", fmt::format("{:.3f}", r.duration_ms));
  text_value(out, "ttfb_ms", r.ttfb_ms ? fmt::format("{:.3f}", *r.ttfb_ms) : "");
  text_value(out, "upstream_ms", r.upstream_ms ? fmt::format("{:.3f}", *r.upstream_ms) : "");
  text_value(out, "cache", r.cache_status);
  text_value(out, "replica", r.replica);
  text_value(out, "user", r.user);
  text_value(out, "error", r.error);
  if (r.aborted) {
    text_value(out, "aborted", "true");
  }
  return out;
}

std::string audit_json(const RequestRecord& r) {
  std::string out = "{";
  out.reserve(512);
  JsonWriter w(out);
  w.str("timestamp", rfc3339_utc(r.time));
  w.str("request_id", r.request_id);
  w.str("trace_id", r.trace_id);
  w.str("client_ip", r.client_ip);
  w.str_or_null("user", r.user);
  w.str("bucket", r.bucket);
  w.str("object_key", r.key);
  w.str("method", r.method);
  w.str("path", r.path);
  w.num("status", r.status);
  w.num("response_size_bytes", r.bytes_sent);
  w.ms("duration_ms", r.duration_ms);
  w.str("cache_status", r.cache_status);
  w.str_or_null("user_agent", r.user_agent);
  w.str_or_null("referer", r.referer);
  w.str_or_null("replica", r.replica);
  w.boolean("complete", !r.aborted);
  out += '}';
  return out;
}

}  // namespace yg::obs
