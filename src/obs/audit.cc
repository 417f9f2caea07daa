#include "obs/audit.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/log.h"
#include "obs/request_log.h"

namespace yg::obs {
namespace fs = std::filesystem;
namespace {

std::string utc_day(std::chrono::system_clock::time_point t) {
  return rfc3339_utc(t).substr(0, 10);
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// FileSink

FileSink::FileSink(const config::AuditFileConfig& cfg, WallClock clock)
    : path_(cfg.path),
      max_bytes_(std::max<uint64_t>(cfg.max_file_size_mb, 1) * 1024 * 1024),
      max_backups_(cfg.max_backup_files),
      policy_(cfg.rotation_policy),
      clock_(std::move(clock)) {
  if (!open_file()) {
    throw std::runtime_error("audit_log.file.path: cannot open " + path_ + ": " +
                             std::strerror(errno));
  }
}

FileSink::~FileSink() {
  flush();
  close_file();
}

bool FileSink::open_file() {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    return false;
  }
  struct stat st {};
  size_ = ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  // A file carried over from an earlier run belongs to the day it was last written.
  day_ =
      size_ > 0
          ? utc_day(std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec)))
          : utc_day(clock_());
  return true;
}

void FileSink::close_file() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void FileSink::rotate_by_size() {
  close_file();
  std::error_code ec;
  if (max_backups_ == 0) {
    fs::remove(path_, ec);
  } else {
    fs::remove(path_ + "." + std::to_string(max_backups_), ec);
    for (uint32_t i = max_backups_; i > 1; --i) {
      fs::rename(path_ + "." + std::to_string(i - 1), path_ + "." + std::to_string(i), ec);
    }
    fs::rename(path_, path_ + ".1", ec);
  }
  open_file();
}

void FileSink::rotate_by_day(const std::string& day) {
  close_file();
  std::error_code ec;
  // path.<old day>, or path.<old day>.N if that exists (a restart on the same day).
  std::string target = path_ + "." + day_;
  for (int i = 1; fs::exists(target, ec); ++i) {
    target = path_ + "." + day_ + "." + std::to_string(i);
  }
  if (max_backups_ == 0) {
    fs::remove(path_, ec);
  } else {
    fs::rename(path_, target, ec);
  }
  // Retention: keep the newest max_backups_ dated files (names sort by date).
  const fs::path p(path_);
  const std::string stem = p.filename().string() + ".";
  std::vector<std::string> dated;
  for (const auto& e :
       fs::directory_iterator(p.parent_path().empty() ? "." : p.parent_path(), ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() >= stem.size() + 10 && n.compare(0, stem.size(), stem) == 0 &&
        std::isdigit(static_cast<unsigned char>(n[stem.size()]))) {
      dated.push_back(e.path().string());
    }
  }
  std::sort(dated.begin(), dated.end());
  while (dated.size() > max_backups_) {
    fs::remove(dated.front(), ec);
    dated.erase(dated.begin());
  }
  day_ = day;
  open_file();
  day_ = day;
}

bool FileSink::write(std::string_view line) {
  if (policy_ == config::RotationPolicy::Daily) {
    const std::string today = utc_day(clock_());
    if (today != day_) {
      flush();
      rotate_by_day(today);
    }
  } else if (size_ + buf_.size() > 0 && size_ + buf_.size() + line.size() + 1 > max_bytes_) {
    flush();
    rotate_by_size();
  }
  if (fd_ < 0 && !open_file()) {
    return false;
  }
  buf_.append(line);
  buf_ += '\n';
  if (buf_.size() >= 64 * 1024) {
    flush();
  }
  return true;
}

void FileSink::flush() {
  if (buf_.empty()) {
    return;
  }
  if (fd_ < 0 && !open_file()) {
    buf_.clear();
    return;
  }
  if (write_all(fd_, buf_.data(), buf_.size())) {
    size_ += buf_.size();
  } else {
    // ENOSPC and friends: the batch is lost (counted by the caller); reopen next time.
    close_file();
  }
  buf_.clear();
}

// ---------------------------------------------------------------------------------------------
// Syslog

int syslog_facility(std::string_view name) noexcept {
  if (name.size() == 6 && name.substr(0, 5) == "local" && name[5] >= '0' && name[5] <= '7') {
    return 16 + (name[5] - '0');
  }
  return -1;
}

std::string rfc5424(int pri, std::chrono::system_clock::time_point t, std::string_view hostname,
                    std::string_view procid, std::string_view msg) {
  std::string s = "<" + std::to_string(pri) + ">1 " + rfc3339_utc(t) + " ";
  s.append(hostname.empty() ? std::string_view("-") : hostname);
  s += " yatagarasu ";
  s.append(procid);
  s += " audit - ";
  s.append(msg);
  return s;
}

SyslogSink::SyslogSink(const config::AuditSyslogConfig& cfg, WallClock clock)
    : tcp_(cfg.protocol == config::SyslogProtocol::Tcp), clock_(std::move(clock)) {
  const auto colon = cfg.address.rfind(':');
  if (colon == std::string::npos) {
    throw std::runtime_error("audit_log.syslog.address: expected host:port, got " + cfg.address);
  }
  host_ = cfg.address.substr(0, colon);
  if (host_.size() > 2 && host_.front() == '[' && host_.back() == ']') {
    host_ = host_.substr(1, host_.size() - 2);
  }
  port_ = cfg.address.substr(colon + 1);
  const int facility = syslog_facility(cfg.facility);
  pri_ = (facility < 0 ? 16 : facility) * 8 + 6;  // severity: informational
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) == 0) {
    hostname_ = host;
  }
  procid_ = std::to_string(::getpid());
  connect();  // a collector that is down now may be up later: not fatal
}

SyslogSink::~SyslogSink() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool SyslogSink::connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = tcp_ ? SOCK_STREAM : SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res) != 0 || res == nullptr) {
    return false;
  }
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      continue;
    }
    // Bounded waits: a collector that stops reading stalls this thread at most this long per
    // line, and the queue absorbs (or drops) meanwhile.
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
      break;
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return fd_ >= 0;
}

bool SyslogSink::write(std::string_view line) {
  if (fd_ < 0 && !connect()) {
    return false;
  }
  std::string msg = rfc5424(pri_, clock_(), hostname_, procid_, line);
  bool ok = false;
  if (tcp_) {
    msg = std::to_string(msg.size()) + " " + msg;  // RFC 6587 octet counting
    ok = write_all(fd_, msg.data(), msg.size());
  } else {
    ok = ::send(fd_, msg.data(), msg.size(), 0) == static_cast<ssize_t>(msg.size());
  }
  if (!ok) {
    ::close(fd_);
    fd_ = -1;
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// AuditLog

struct AuditLog::State {
  std::mutex mu;
  std::condition_variable wake;     // writer: lines arrived or closing
  std::condition_variable drained;  // close(): the queue is empty and written
  std::deque<std::string> queue;
  std::size_t capacity;
  bool closing = false;
  bool idle = true;             // the writer holds no batch
  bool writer_waiting = false;  // submit() wakes the writer only when it sleeps
  std::vector<std::unique_ptr<AuditSink>> sinks;
  std::atomic<uint64_t> written{0}, dropped{0}, write_errors{0};

  void run() {
    std::deque<std::string> batch;
    for (;;) {
      {
        std::unique_lock lk(mu);
        idle = true;
        drained.notify_all();
        writer_waiting = true;
        wake.wait(lk, [&] { return closing || !queue.empty(); });
        writer_waiting = false;
        if (queue.empty()) {
          return;  // closing and nothing left
        }
        batch.swap(queue);
        idle = false;
      }
      for (const auto& line : batch) {
        bool ok = true;
        for (auto& s : sinks) {
          if (!s->write(line)) {
            ok = false;
            write_errors.fetch_add(1, std::memory_order_relaxed);
          }
        }
        if (ok) {
          written.fetch_add(1, std::memory_order_relaxed);
        }
      }
      for (auto& s : sinks) {
        s->flush();
      }
      batch.clear();
    }
  }
};

AuditLog::AuditLog(std::vector<std::unique_ptr<AuditSink>> sinks, std::size_t capacity)
    : state_(std::make_shared<State>()) {
  state_->capacity = std::max<std::size_t>(capacity, 1);
  state_->sinks = std::move(sinks);
  // The thread holds the state, so a close() that gives up on a wedged sink leaves nothing
  // dangling.
  std::thread([s = state_] { s->run(); }).detach();
}

AuditLog::~AuditLog() {
  close(std::chrono::seconds(5));
}

bool AuditLog::submit(std::string line) {
  auto& s = *state_;
  {
    std::lock_guard lk(s.mu);
    if (s.closing || s.queue.size() >= s.capacity) {
      s.dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    s.queue.push_back(std::move(line));
    if (!s.writer_waiting) {
      return true;  // the writer is busy and takes this line with its next batch
    }
  }
  s.wake.notify_one();
  return true;
}

void AuditLog::close(std::chrono::milliseconds timeout) {
  auto& s = *state_;
  std::unique_lock lk(s.mu);
  if (!s.closing) {
    s.closing = true;
    s.wake.notify_one();
  }
  const bool done = s.drained.wait_for(lk, timeout, [&] { return s.queue.empty() && s.idle; });
  if (!done) {
    log::get("audit")->warn(
        "audit log: the writer did not finish within {} ms (a sink is stuck); {} queued line(s) "
        "and the batch being written are lost",
        timeout.count(), s.queue.size());
  }
}

AuditStats AuditLog::stats() const {
  auto& s = *state_;
  AuditStats st;
  {
    std::lock_guard lk(s.mu);
    st.queued = s.queue.size();
  }
  st.written = s.written.load(std::memory_order_relaxed);
  st.dropped = s.dropped.load(std::memory_order_relaxed);
  st.write_errors = s.write_errors.load(std::memory_order_relaxed);
  return st;
}

std::unique_ptr<AuditLog> make_audit_log(const config::AuditLogConfig& cfg, WallClock clock) {
  if (!clock) {
    clock = [] { return std::chrono::system_clock::now(); };
  }
  std::vector<std::unique_ptr<AuditSink>> sinks;
  for (auto out : cfg.outputs) {
    if (out == config::AuditOutput::File && cfg.file) {
      sinks.push_back(std::make_unique<FileSink>(*cfg.file, clock));
    } else if (out == config::AuditOutput::Syslog && cfg.syslog) {
      sinks.push_back(std::make_unique<SyslogSink>(*cfg.syslog, clock));
    }
  }
  return std::make_unique<AuditLog>(std::move(sinks), cfg.queue_size);
}

}  // namespace yg::obs
