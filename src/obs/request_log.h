#pragma once
// What one request did, and the lines written about it: the access log line (OBS-3) and the
// audit record (OBS-4). The proxy fills a RequestRecord when a request ends; this module only
// formats, so formats are unit-tested without a server.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace yg::obs {

struct RequestRecord {
  std::chrono::system_clock::time_point time;  // when the request head arrived
  std::string_view request_id;
  std::string_view trace_id;
  std::string_view client_ip;
  std::string_view user;  // JWT sub; empty: anonymous
  std::string_view bucket;
  std::string_view key;
  std::string_view method;
  std::string_view path;  // as received, without the query (a query may hold presigned secrets)
  unsigned status = 0;
  uint64_t bytes_sent = 0;  // body bytes actually written
  double duration_ms = 0;
  std::optional<double> ttfb_ms;      // unset if nothing was written
  std::optional<double> upstream_ms;  // S3 time to response head, if S3 was asked
  std::string_view cache_status;      // "hit" | "miss" | "bypass" | "stale" | "revalidated"
  std::string_view replica;           // replica that served, if any
  std::string_view user_agent;
  std::string_view referer;
  std::string_view error;  // our error code for error responses ("NoSuchKey", ...)
  bool aborted = false;    // the body was cut short (client left or S3 failed mid-body)
};

// RFC 3339 UTC with milliseconds: 2026-11-25T01:02:03.456Z
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

// The access line's members, `"k":v,...` for the JSON structured logger.
std::string access_json_members(const RequestRecord& r);
// The access line as `k=v ...` for the text format (values with spaces or quotes are quoted).
std::string access_text(const RequestRecord& r);
// One OBS-4 audit line: a JSON object, no trailing newline.
std::string audit_json(const RequestRecord& r);

}  // namespace yg::obs
