#include "obs/audit.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
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
#include <utility>

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

namespace {
// Sort key of a dated backup "<name>.YYYY-MM-DD[.N]": the date, then N as a number.
std::pair<std::string, unsigned long> dated_key(const std::string& name, std::size_t stem) {
  const std::string date = name.substr(stem, 10);
  unsigned long n = 0;
  if (name.size() > stem + 11) {
    n = std::strtoul(name.c_str() + stem + 11, nullptr, 10);
  }
  return {date, n};
}
}  // namespace

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
  std::vector<std::pair<std::pair<std::string, unsigned long>, fs::path>> dated;
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  // error_code overloads throughout: this runs on the writer thread, where an exception would
  // end the process.
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.size() >= stem.size() + 10 && n.compare(0, stem.size(), stem) == 0 &&
        std::isdigit(static_cast<unsigned char>(n[stem.size()]))) {
      dated.emplace_back(dated_key(n, stem.size()), it->path());
    }
  }
  std::sort(dated.begin(), dated.end());
  for (std::size_t i = 0; i + max_backups_ < dated.size(); ++i) {
    fs::remove(dated[i].second, ec);
  }
  day_ = day;
  open_file();
  day_ = day;
}

bool FileSink::write(std::string_view line) {
  if (policy_ == config::RotationPolicy::Daily) {
    const std::string today = utc_day(clock_());
    if (today != day_) {
      write_buffer();
      rotate_by_day(today);
    }
  } else if (size_ + buf_.size() > 0 && size_ + buf_.size() + line.size() + 1 > max_bytes_) {
    write_buffer();
    rotate_by_size();
  }
  if (fd_ < 0 && !open_file()) {
    return false;
  }
  buf_.append(line);
  buf_ += '\n';
  ++buffered_lines_;
  if (buf_.size() >= 64 * 1024) {
    write_buffer();
  }
  return true;
}

bool FileSink::write_buffer() {
  if (buf_.empty()) {
    return true;
  }
  bool ok = fd_ >= 0 || open_file();
  if (ok && write_all(fd_, buf_.data(), buf_.size())) {
    size_ += buf_.size();
  } else {
    // ENOSPC and friends: these lines are lost (flush() reports them); reopen next time.
    ok = false;
    lost_lines_ += buffered_lines_;
    close_file();
  }
  buf_.clear();
  buffered_lines_ = 0;
  return ok;
}

std::size_t FileSink::flush() {
  write_buffer();
  return std::exchange(lost_lines_, 0);
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
  // Connecting happens on the writer thread (write()): a collector that is slow to resolve or
  // to answer must not delay start-up, and one that is down now may be up later.
}

SyslogSink::~SyslogSink() {
  disconnect();
}

void SyslogSink::disconnect() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool SyslogSink::connect() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_attempt_) {
    return false;  // failed less than a second ago: fail fast, counted
  }
  next_attempt_ = now + std::chrono::seconds(1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = tcp_ ? SOCK_STREAM : SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res) != 0 || res == nullptr) {
    return false;
  }
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      continue;
    }
    // Connect with a 2 s bound (a collector behind a packet-dropping firewall would otherwise
    // hold this lane for the kernel's SYN retries), then back to blocking sends with a 2 s
    // send timeout: a collector that stops reading stalls this lane at most that long per line.
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof(err);
      const bool connected = ::poll(&pfd, 1, 2000) == 1 &&
                             ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
      rc = connected ? 0 : -1;
    }
    if (rc == 0) {
      const int flags = ::fcntl(fd, F_GETFL);
      ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
      timeval tv{2, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
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
    disconnect();
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// AuditLog

struct AuditLog::Lane {
  std::mutex mu;
  std::condition_variable wake;     // writer: lines arrived or closing
  std::condition_variable drained;  // close(): the queue is empty and written
  std::deque<std::string> queue;
  std::size_t capacity = 1;
  bool closing = false;
  bool idle = true;             // the writer holds no batch
  bool writer_waiting = false;  // submit() wakes the writer only when it sleeps
  std::unique_ptr<AuditSink> sink;
  std::atomic<uint64_t> written{0}, dropped{0}, write_errors{0};

  bool submit(std::string line) {
    {
      std::lock_guard lk(mu);
      if (closing || queue.size() >= capacity) {
        dropped.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      queue.push_back(std::move(line));
      if (!writer_waiting) {
        return true;  // the writer is busy and takes this line with its next batch
      }
    }
    wake.notify_one();
    return true;
  }

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
      std::size_t failed = 0;
      for (const auto& line : batch) {
        failed += sink->write(line) ? 0 : 1;
      }
      failed = std::min(batch.size(), failed + sink->flush());
      written.fetch_add(batch.size() - failed, std::memory_order_relaxed);
      write_errors.fetch_add(failed, std::memory_order_relaxed);
      batch.clear();
    }
  }

  // Stops intake and waits until `deadline` for the lane to be empty and idle.
  bool wait_drained(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lk(mu);
    if (!closing) {
      closing = true;
      wake.notify_one();
    }
    return drained.wait_until(lk, deadline, [&] { return queue.empty() && idle; });
  }

  AuditStats stats() {
    AuditStats st;
    st.sink = std::string(sink->name());
    {
      std::lock_guard lk(mu);
      st.queued = queue.size();
    }
    st.written = written.load(std::memory_order_relaxed);
    st.dropped = dropped.load(std::memory_order_relaxed);
    st.write_errors = write_errors.load(std::memory_order_relaxed);
    return st;
  }
};

AuditLog::AuditLog(std::vector<std::unique_ptr<AuditSink>> sinks, std::size_t capacity) {
  for (auto& sink : sinks) {
    auto lane = std::make_shared<Lane>();
    lane->capacity = std::max<std::size_t>(capacity, 1);
    lane->sink = std::move(sink);
    // The thread holds the lane, so a close() that gives up on a wedged sink leaves nothing
    // dangling.
    std::thread([lane] { lane->run(); }).detach();
    lanes_.push_back(std::move(lane));
  }
}

AuditLog::~AuditLog() {
  if (!closed_) {
    close(std::chrono::seconds(5));
  }
}

bool AuditLog::submit(std::string line) {
  bool all = true;
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    // The last lane takes the line itself; the others a copy.
    all = lanes_[i]->submit(i + 1 == lanes_.size() ? std::move(line) : line) && all;
  }
  return all;
}

void AuditLog::close(std::chrono::milliseconds timeout) {
  closed_ = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& lane : lanes_) {
    if (!lane->wait_drained(deadline)) {
      const auto st = lane->stats();
      log::get("audit")->warn(
          "audit log: the {} sink did not finish within {} ms (stuck); {} queued line(s) and "
          "the batch being written are lost",
          st.sink, timeout.count(), st.queued);
    }
  }
}

AuditStats AuditLog::stats() const {
  AuditStats sum;
  for (const auto& st : sink_stats()) {
    sum.queued += st.queued;
    sum.written += st.written;
    sum.dropped += st.dropped;
    sum.write_errors += st.write_errors;
  }
  return sum;
}

std::vector<AuditStats> AuditLog::sink_stats() const {
  std::vector<AuditStats> out;
  for (const auto& lane : lanes_) {
    out.push_back(lane->stats());
  }
  return out;
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
