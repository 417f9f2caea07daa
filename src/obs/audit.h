#pragma once
// The audit log (FEATURES.md OBS-4): one JSON line per request, written off the request path.
//
// Each sink (a rotating file, RFC 5424 syslog over UDP or TCP) has its own lane: a bounded
// queue and a writer thread. Requests hand their line to every lane and go on; a slow disk or a
// dead collector delays only its own lane: when that queue is full, new lines are dropped for
// that sink and counted, never waited for, and the other sinks are not affected. close() stops
// intake and writes what is queued, bounded by a timeout so a wedged sink cannot hold the
// process at exit.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace yg::obs {

using WallClock = std::function<std::chrono::system_clock::time_point()>;

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Writes one line (no trailing newline). False on failure (counted; the line is lost).
  virtual bool write(std::string_view line) = 0;
  // End of a batch: push buffered bytes out. Returns how many lines accepted by write() since
  // the last flush() were lost after all (a failed disk write).
  virtual std::size_t flush() { return 0; }
  virtual std::string_view name() const = 0;
};

// A file that rotates by size (path -> path.1 -> ... -> path.N) or by UTC day
// (path -> path.YYYY-MM-DD), keeping `max_backups` old files.
class FileSink final : public AuditSink {
 public:
  FileSink(const config::AuditFileConfig& cfg, WallClock clock);
  ~FileSink() override;
  bool write(std::string_view line) override;
  std::size_t flush() override;
  std::string_view name() const override { return "file"; }

 private:
  bool write_buffer();  // false: the buffered lines were lost
  bool open_file();
  void rotate_by_size();
  void rotate_by_day(const std::string& day);
  void close_file();

  std::string path_;
  uint64_t max_bytes_;
  uint32_t max_backups_;
  config::RotationPolicy policy_;
  WallClock clock_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string day_;  // UTC date of the open file (daily policy)
  std::string buf_;  // lines of the current batch
  std::size_t buffered_lines_ = 0;
  std::size_t lost_lines_ = 0;  // since the last flush()
};

// RFC 5424 messages to a syslog collector: UDP (one datagram per line) or TCP with octet-
// counting framing (RFC 6587). Connects (resolve + connect, 2 s timeout) on its writer thread,
// reconnects after a failure at most once a second; lines in between fail fast and are counted.
class SyslogSink final : public AuditSink {
 public:
  SyslogSink(const config::AuditSyslogConfig& cfg, WallClock clock);
  ~SyslogSink() override;
  bool write(std::string_view line) override;
  std::string_view name() const override { return "syslog"; }

 private:
  bool connect();
  void disconnect();
  std::string host_, port_;
  bool tcp_;
  int pri_;
  WallClock clock_;
  std::string hostname_;
  std::string procid_;
  int fd_ = -1;
  std::chrono::steady_clock::time_point next_attempt_{};
};

// "local0".."local7" -> 16..23; -1 for anything else.
int syslog_facility(std::string_view name) noexcept;
// One RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
std::string rfc5424(int pri, std::chrono::system_clock::time_point t, std::string_view hostname,
                    std::string_view procid, std::string_view msg);

struct AuditStats {
  std::string sink;           // "file", "syslog"; empty for the sum over sinks
  uint64_t queued = 0;        // lines waiting now
  uint64_t written = 0;       // lines written
  uint64_t dropped = 0;       // lines refused because the queue was full
  uint64_t write_errors = 0;  // lines a sink failed to write (lost)
};

class AuditLog {
 public:
  AuditLog(std::vector<std::unique_ptr<AuditSink>> sinks, std::size_t capacity);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Never blocks on I/O: takes a short lock per sink to queue the line. False if any sink
  // dropped it.
  bool submit(std::string line);
  // Stops intake and writes what is queued, waiting at most `timeout` in all. Idempotent.
  void close(std::chrono::milliseconds timeout);
  AuditStats stats() const;                    // summed over sinks
  std::vector<AuditStats> sink_stats() const;  // one per sink

 private:
  struct Lane;
  std::vector<std::shared_ptr<Lane>> lanes_;
  bool closed_ = false;
};

// Builds the audit log from config: the sinks `outputs` names. Throws std::runtime_error for a
// sink that cannot start (unwritable directory).
std::unique_ptr<AuditLog> make_audit_log(const config::AuditLogConfig& cfg, WallClock clock = {});

}  // namespace yg::obs
