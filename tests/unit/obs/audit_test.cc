#include "obs/audit.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace yg::obs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SysTime = std::chrono::system_clock::time_point;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/yg-audit-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string read(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), {}};
}

// A clock the test moves by hand (the daily rotation's "injected clock").
struct FakeClock {
  std::shared_ptr<SysTime> now = std::make_shared<SysTime>(
      std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 23h + 59min);
  WallClock fn() const {
    return [n = now] { return *n; };
  }
};

config::AuditFileConfig file_cfg(const fs::path& p, config::RotationPolicy policy,
                                 uint32_t backups) {
  config::AuditFileConfig c;
  c.path = p.string();
  c.max_file_size_mb = 1;
  c.max_backup_files = backups;
  c.rotation_policy = policy;
  return c;
}

TEST(FileSink, RotatesBySizeKeepingNBackups) {
  TempDir d;
  const auto p = d.path / "audit.log";
  FakeClock clock;
  FileSink sink(file_cfg(p, config::RotationPolicy::Size, 2), clock.fn());
  const std::string line(100 * 1024 - 1, 'x');  // 100 KiB with the newline
  for (int i = 0; i < 35; ++i) {                // 3.5 MiB: the live file, .1, .2; .3 deleted
    ASSERT_TRUE(sink.write(std::string(1, static_cast<char>('a' + i % 26)) + line.substr(1)));
    sink.flush();
  }
  EXPECT_TRUE(fs::exists(p));
  EXPECT_TRUE(fs::exists(d.path / "audit.log.1"));
  EXPECT_TRUE(fs::exists(d.path / "audit.log.2"));
  EXPECT_FALSE(fs::exists(d.path / "audit.log.3"));
  for (const auto& f : {p, d.path / "audit.log.1", d.path / "audit.log.2"}) {
    EXPECT_LE(fs::file_size(f), 1024u * 1024u) << f;
  }
  EXPECT_EQ(fs::file_size(d.path / "audit.log.1"), 10u * 100 * 1024);
  // The live file holds the newest lines.
  EXPECT_EQ(read(p).substr(0, 1), std::string(1, static_cast<char>('a' + 30 % 26)));
}

TEST(FileSink, RotatesAtUtcMidnightAndKeepsNDays) {
  TempDir d;
  const auto p = d.path / "audit.log";
  FakeClock clock;
  FileSink sink(file_cfg(p, config::RotationPolicy::Daily, 2), clock.fn());
  for (int day = 0; day < 4; ++day) {
    ASSERT_TRUE(sink.write("day" + std::to_string(day)));
    sink.flush();
    *clock.now += 24h;
  }
  ASSERT_TRUE(sink.write("day4"));
  sink.flush();
  // Days 0..3 were rotated to dated files; retention keeps the newest two.
  EXPECT_FALSE(fs::exists(d.path / "audit.log.2026-11-25"));
  EXPECT_FALSE(fs::exists(d.path / "audit.log.2026-11-26"));
  EXPECT_EQ(read(d.path / "audit.log.2026-11-27"), "day2\n");
  EXPECT_EQ(read(d.path / "audit.log.2026-11-28"), "day3\n");
  EXPECT_EQ(read(p), "day4\n");
}

TEST(FileSink, NoRotationWithinADay) {
  TempDir d;
  const auto p = d.path / "audit.log";
  FakeClock clock;
  *clock.now -= 23h;  // 00:59
  FileSink sink(file_cfg(p, config::RotationPolicy::Daily, 2), clock.fn());
  ASSERT_TRUE(sink.write("a"));
  *clock.now += 22h;
  ASSERT_TRUE(sink.write("b"));
  sink.flush();
  EXPECT_EQ(read(p), "a\nb\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path), fs::directory_iterator{}), 1);
}

TEST(FileSink, RefusesAnUnwritablePath) {
  FakeClock clock;
  EXPECT_THROW(
      FileSink(file_cfg("/nonexistent-dir/audit.log", config::RotationPolicy::Size, 1), clock.fn()),
      std::runtime_error);
}

TEST(Syslog, Rfc5424Format) {
  EXPECT_EQ(syslog_facility("local0"), 16);
  EXPECT_EQ(syslog_facility("local7"), 23);
  EXPECT_EQ(syslog_facility("kern"), -1);
  const SysTime t = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 1h + 2min + 3s;
  EXPECT_EQ(rfc5424(134, t, "host", "42", "{\"a\":1}"),
            "<134>1 2026-11-25T01:02:03.000Z host yatagarasu 42 audit - {\"a\":1}");
}

// A UDP and a TCP collector on loopback receive one framed message per line.
int listen_on(int type, uint16_t& port) {
  int fd = ::socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  if (type == SOCK_STREAM) {
    ::listen(fd, 1);
  }
  return fd;
}

TEST(Syslog, UdpDatagramPerLine) {
  uint16_t port = 0;
  const int fd = listen_on(SOCK_DGRAM, port);
  config::AuditSyslogConfig c;
  c.address = "127.0.0.1:" + std::to_string(port);
  c.facility = "local3";
  SyslogSink sink(c, [] { return std::chrono::system_clock::now(); });
  ASSERT_TRUE(sink.write("{\"x\":1}"));
  char buf[2048];
  const auto n = ::recv(fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  const std::string msg(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(msg.substr(0, 8), "<158>1 2");  // local3 (19) * 8 + info (6)
  EXPECT_NE(msg.find(" yatagarasu "), std::string::npos);
  EXPECT_EQ(msg.substr(msg.size() - 7), "{\"x\":1}");
  ::close(fd);
}

TEST(Syslog, TcpOctetCounting) {
  uint16_t port = 0;
  const int lfd = listen_on(SOCK_STREAM, port);
  config::AuditSyslogConfig c;
  c.address = "127.0.0.1:" + std::to_string(port);
  c.protocol = config::SyslogProtocol::Tcp;
  SyslogSink sink(c, [] { return std::chrono::system_clock::now(); });
  ASSERT_TRUE(sink.write("one"));
  ASSERT_TRUE(sink.write("two"));
  const int fd = ::accept(lfd, nullptr, nullptr);
  ASSERT_GE(fd, 0);
  std::string got;
  char buf[4096];
  while (got.find("two") == std::string::npos) {
    const auto n = ::recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  // "LEN SP MSG" twice, each LEN exact.
  std::size_t pos = 0;
  for (const char* body : {"one", "two"}) {
    const auto sp = got.find(' ', pos);
    const auto len = std::stoul(got.substr(pos, sp - pos));
    const auto msg = got.substr(sp + 1, len);
    EXPECT_EQ(msg.substr(0, 7), "<134>1 ");
    EXPECT_EQ(msg.substr(msg.size() - 3), body);
    pos = sp + 1 + len;
  }
  EXPECT_EQ(pos, got.size());
  ::close(fd);
  ::close(lfd);
}

// A sink the test can wedge, like a disk that stopped answering.
class GateSink final : public AuditSink {
 public:
  bool write(std::string_view line) override {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return open; });
    lines.emplace_back(line);
    return true;
  }
  std::string_view name() const override { return "gate"; }
  void release() {
    std::lock_guard lk(mu);
    open = true;
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::vector<std::string> lines;
};

TEST(AuditLog, AFullQueueDropsAndCountsInsteadOfBlocking) {
  auto sink = std::make_unique<GateSink>();
  GateSink* gate = sink.get();
  std::vector<std::unique_ptr<AuditSink>> sinks;
  sinks.push_back(std::move(sink));
  AuditLog log(std::move(sinks), 10);
  // The writer takes the first line and wedges on it; 10 more fill the queue.
  ASSERT_TRUE(log.submit("first"));
  while (log.stats().queued != 0) {
    std::this_thread::sleep_for(1ms);
  }
  const auto t0 = std::chrono::steady_clock::now();
  int accepted = 0;
  for (int i = 0; i < 100; ++i) {
    accepted += log.submit("line" + std::to_string(i)) ? 1 : 0;
  }
  // No wall-clock assertion: the property is that submit() returned at all while the sink is
  // wedged (it would deadlock here otherwise).
  (void)t0;
  EXPECT_EQ(accepted, 10);
  EXPECT_EQ(log.stats().dropped, 90u);
  gate->release();
  log.close(5s);
  EXPECT_EQ(log.stats().written, 11u);
  std::lock_guard lk(gate->mu);
  ASSERT_EQ(gate->lines.size(), 11u);
  EXPECT_EQ(gate->lines.front(), "first");
  EXPECT_EQ(gate->lines.back(), "line9");
}

TEST(AuditLog, CloseWritesEverythingQueued) {
  TempDir d;
  config::AuditLogConfig c;
  c.enabled = true;
  c.outputs = {config::AuditOutput::File};
  c.file = file_cfg(d.path / "a.log", config::RotationPolicy::Size, 1);
  c.queue_size = 100000;
  auto log = make_audit_log(c);
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(log->submit("{\"n\":" + std::to_string(i) + "}"));
  }
  log->close(10s);
  EXPECT_EQ(log->stats().written, 5000u);
  EXPECT_EQ(log->stats().dropped, 0u);
  const auto text = read(d.path / "a.log");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5000);
  EXPECT_NE(text.find("{\"n\":4999}\n"), std::string::npos);
  EXPECT_FALSE(log->submit("late")) << "closed: intake stopped";
}

// A full disk (/dev/full: every write fails with ENOSPC): the lines are counted as write
// errors, never as written.
TEST(AuditLog, FailedDiskWritesAreCountedNotWritten) {
  FakeClock clock;
  std::vector<std::unique_ptr<AuditSink>> sinks;
  sinks.push_back(std::make_unique<FileSink>(file_cfg("/dev/full", config::RotationPolicy::Size, 1),
                                             clock.fn()));
  AuditLog log(std::move(sinks), 100);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(log.submit("line"));
  }
  log.close(5s);
  EXPECT_EQ(log.stats().written, 0u);
  EXPECT_EQ(log.stats().write_errors, 3u);
}

// Each sink has its own lane: a wedged sink drops its own lines, the other keeps writing all.
TEST(AuditLog, AWedgedSinkDoesNotStarveTheOther) {
  TempDir d;
  FakeClock clock;
  auto gate_sink = std::make_unique<GateSink>();
  GateSink* gate = gate_sink.get();
  std::vector<std::unique_ptr<AuditSink>> sinks;
  sinks.push_back(std::move(gate_sink));
  sinks.push_back(std::make_unique<FileSink>(
      file_cfg(d.path / "a.log", config::RotationPolicy::Size, 1), clock.fn()));
  AuditLog log(std::move(sinks), 5);
  for (int i = 0; i < 50; ++i) {
    log.submit("l" + std::to_string(i));
    std::this_thread::sleep_for(1ms);  // the file lane keeps up
  }
  const auto per = log.sink_stats();
  ASSERT_EQ(per.size(), 2u);
  EXPECT_EQ(per[0].sink, "gate");
  EXPECT_GT(per[0].dropped, 0u);
  EXPECT_EQ(per[1].sink, "file");
  EXPECT_EQ(per[1].dropped, 0u);
  gate->release();
  log.close(5s);
  const auto text = read(d.path / "a.log");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 50);
}

TEST(AuditLog, CloseGivesUpOnAWedgedSink) {
  auto sink = std::make_unique<GateSink>();
  GateSink* gate = sink.get();
  std::vector<std::unique_ptr<AuditSink>> sinks;
  sinks.push_back(std::move(sink));
  auto log = std::make_unique<AuditLog>(std::move(sinks), 10);
  ASSERT_TRUE(log->submit("stuck"));
  log->close(50ms);  // returns although the sink never does
  EXPECT_EQ(log->stats().written, 0u);
  gate->release();  // let the detached writer finish before the test ends
  log.reset();
}

}  // namespace
}  // namespace yg::obs
