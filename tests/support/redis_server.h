#pragma once
// Real redis-server processes for tests (no mocks): RedisServer starts one on a free port in its
// own temp dir and kills it (by PID) in the destructor; RedisCluster starts six and makes them
// 3 masters + 3 replicas with `redis-cli --cluster create`. Helpers freeze (SIGSTOP), thaw,
// kill -9 and restart a server on the same port, and run redis-cli against it.
//
// Children get PR_SET_PDEATHSIG, so a crashed test binary leaves no server behind.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace yg::test {

inline const char* kRedisServerBin = "/usr/bin/redis-server";
inline const char* kRedisCliBin = "/usr/bin/redis-cli";

inline bool port_is_free(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A port p on 127.0.0.1 that is free, with p + 10000 free too (a cluster node's bus port).
// Ports come from a random start in [20000, 30000) so parallel test binaries rarely collide.
inline uint16_t free_port() {
  static std::atomic<uint16_t> next{[] {
    std::random_device rd;
    return static_cast<uint16_t>(20000 + rd() % 9000);
  }()};
  for (int tries = 0; tries < 2000; ++tries) {
    uint16_t p = next.fetch_add(1);
    if (p >= 30000) {
      next.store(20000);
      continue;
    }
    if (port_is_free(p) && port_is_free(static_cast<uint16_t>(p + 10000))) {
      return p;
    }
  }
  throw std::runtime_error("no free port");
}

// Runs argv, returns what it wrote to stdout and stderr.
inline std::string run_capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe(fds) != 0) {
    throw std::runtime_error("pipe failed");
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

struct RedisServerOptions {
  std::vector<std::string> args;      // extra redis-server arguments ("--requirepass", "pw", ...)
  bool tls = false;                   // the port is a TLS port (--port 0 --tls-port <port>)
  std::vector<std::string> cli_args;  // extra redis-cli arguments (--tls --cacert ..., -a pw)
  uint16_t port = 0;                  // 0: a free one
  bool start = true;                  // false: pick the port and dir only (start() later)
};

class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions o = {}) : o_(std::move(o)) {
    char tmpl[] = "/tmp/yg-redis-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    dir_ = tmpl;
    port_ = o_.port != 0 ? o_.port : free_port();
    if (o_.start) {
      start();
    }
  }
  ~RedisServer() {
    terminate_process();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  void start() {
    if (pid_ > 0) {
      return;
    }
    std::vector<std::string> argv{kRedisServerBin};
    if (o_.tls) {
      argv.insert(argv.end(), {"--port", "0", "--tls-port", std::to_string(port_)});
    } else {
      argv.insert(argv.end(), {"--port", std::to_string(port_)});
    }
    argv.insert(argv.end(), {"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                             dir_, "--logfile", dir_ + "/redis.log"});
    argv.insert(argv.end(), o_.args.begin(), o_.args.end());
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(1);
      }
      const int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      std::vector<char*> args;
      for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
      }
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    wait_ready();
  }

  // SIGKILL and reap.
  void kill9() { kill_process(); }
  // Kill -9 (if running) and start again on the same port (with an empty dataset).
  void restart() {
    kill_process();
    start();
  }
  void freeze() {
    if (pid_ > 0) {
      ::kill(pid_, SIGSTOP);
    }
  }
  void thaw() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);
    }
  }

  // redis-cli -h 127.0.0.1 -p <port> [cli_args] args...
  std::string cli(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{kRedisCliBin, "-h", "127.0.0.1", "-p", std::to_string(port_)};
    argv.insert(argv.end(), o_.cli_args.begin(), o_.cli_args.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return run_capture(argv);
  }

  std::string log_tail() const {
    std::ifstream f(dir_ + "/redis.log");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
  }

 private:
  // SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL if it lingers; reaps it.
  void terminate_process() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill_process();
  }
  void kill_process() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Up when the port accepts and (plain TCP) answers PING with any reply (+PONG, -NOAUTH...).
  void wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at start: " + log_tail());
      }
      if (probe()) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("redis-server did not start: " + log_tail());
  }
  bool probe() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (ok && !o_.tls) {
      timeval tv{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ok = ::write(fd, "PING\r\n", 6) == 6;
      char c = 0;
      ok = ok && ::read(fd, &c, 1) == 1 && (c == '+' || c == '-');
    }
    ::close(fd);
    return ok;
  }

  RedisServerOptions o_;
  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Six cluster-enabled servers made into 3 masters + 3 replicas (cluster-node-timeout 2000).
class RedisCluster {
 public:
  // Each node's bus port is chosen explicitly (--cluster-port) from the same range as the
  // client ports, not left at port + 10000, which can fall among the ephemeral ports other
  // tests' connections use. A setup that still loses a port race is retried with new ports.
  RedisCluster() {
    for (int attempt = 1;; ++attempt) {
      try {
        build();
        return;
      } catch (const std::exception&) {
        nodes.clear();
        if (attempt == 3) {
          throw;
        }
      }
    }
  }

  void build() {
    std::vector<std::string> create{kRedisCliBin, "--cluster", "create"};
    for (int i = 0; i < 6; ++i) {
      RedisServerOptions o;
      o.args = {
          "--cluster-enabled",      "yes",  "--cluster-config-file", "nodes.conf",
          "--cluster-node-timeout", "2000", "--cluster-port",        std::to_string(free_port())};
      nodes.push_back(std::make_unique<RedisServer>(o));
      create.push_back("127.0.0.1:" + std::to_string(nodes.back()->port()));
    }
    create.insert(create.end(), {"--cluster-replicas", "1", "--cluster-yes"});
    const std::string out = run_capture(create);
    if (out.find("[OK] All 16384 slots covered") == std::string::npos) {
      throw std::runtime_error("redis-cli --cluster create failed: " + out);
    }
    if (!wait_ok(std::chrono::seconds(20))) {
      throw std::runtime_error("cluster did not reach cluster_state:ok");
    }
  }

  // Every running node says cluster_state:ok, knows all 6 nodes and sees 3 of them as replicas.
  bool wait_ok(std::chrono::milliseconds budget) const {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (const auto& n : nodes) {
        if (!n->running()) {
          continue;
        }
        const std::string info = n->cli({"CLUSTER", "INFO"});
        if (info.find("cluster_state:ok") == std::string::npos ||
            info.find("cluster_known_nodes:6") == std::string::npos) {
          all = false;
          break;
        }
        // ... and sees the 3 replicas as replicas (gossip after `--cluster create`).
        int replicas = 0;
        for (const auto& t : topology(*n)) {
          replicas += t.master ? 0 : 1;
        }
        if (replicas != 3) {
          all = false;
          break;
        }
      }
      if (all) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  RedisServer& by_port(uint16_t port) const {
    for (const auto& n : nodes) {
      if (n->port() == port) {
        return *n;
      }
    }
    throw std::runtime_error("no node on port " + std::to_string(port));
  }

  // CLUSTER NODES as seen by `from`, one entry per node.
  struct NodeInfo {
    std::string id;
    uint16_t port = 0;
    bool master = false;
    std::string master_id;  // replicas
  };
  std::vector<NodeInfo> topology(const RedisServer& from) const {
    std::vector<NodeInfo> out;
    std::istringstream in(from.cli({"CLUSTER", "NODES"}));
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      NodeInfo n;
      std::string addr, flags;
      ls >> n.id >> addr >> flags >> n.master_id;
      if (n.id.empty()) {
        continue;
      }
      const auto colon = addr.find(':');
      const auto at = addr.find('@');
      if (colon == std::string::npos) {
        continue;
      }
      n.port = static_cast<uint16_t>(std::stoi(addr.substr(colon + 1, at - colon - 1)));
      n.master = flags.find("master") != std::string::npos;
      if (n.master_id == "-") {
        n.master_id.clear();
      }
      out.push_back(n);
    }
    return out;
  }

  std::vector<std::unique_ptr<RedisServer>> nodes;
};

}  // namespace yg::test
