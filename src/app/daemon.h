#pragma once
// -d/--daemon: detach from the terminal (fork, setsid, fork again, chdir /, stdin from
// /dev/null, stdout/stderr to the log file or /dev/null). The process that was started waits
// until the daemon reports that its listeners are bound (exit 0) or that start-up failed (its
// error on stderr, exit 1), through a pipe.

#include <string_view>

namespace yg::app {

class Daemon {
 public:
  Daemon() = default;  // not detached: ready()/failed() do nothing
  // Call before any thread exists. Returns only in the daemon; the starting process exits in
  // here. `log_fd` becomes the daemon's stdout and stderr (-1: /dev/null).
  static Daemon detach(int log_fd);
  Daemon(Daemon&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Daemon& operator=(Daemon&&) = delete;
  Daemon(const Daemon&) = delete;
  ~Daemon();

  void ready();                   // listeners bound: the starting process exits 0
  void failed(std::string_view);  // start-up failed: it prints this and exits 1

 private:
  explicit Daemon(int fd) : fd_(fd) {}
  int fd_ = -1;  // write end of the start-up pipe
};

}  // namespace yg::app
