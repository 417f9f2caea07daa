#include "app/daemon.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace yg::app {
namespace {

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "yatagarasu: --daemon: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// The starting process: waits for the daemon's word on the pipe, then exits.
[[noreturn]] void wait_for_daemon(int rfd, pid_t middle) {
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(rfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  int st = 0;
  ::waitpid(middle, &st, 0);
  if (got.starts_with("R")) {
    std::exit(0);
  }
  if (got.starts_with("E")) {
    std::fprintf(stderr, "yatagarasu: start-up failed: %s\n", got.c_str() + 1);
  } else {
    std::fprintf(stderr, "yatagarasu: the daemon exited during start-up (see its log)\n");
  }
  std::exit(1);
}

}  // namespace

Daemon Daemon::detach(int log_fd) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    die("pipe");
  }
  std::fflush(nullptr);
  const pid_t middle = ::fork();
  if (middle < 0) {
    die("fork");
  }
  if (middle > 0) {
    ::close(p[1]);
    wait_for_daemon(p[0], middle);
  }
  ::close(p[0]);
  if (::setsid() < 0) {
    die("setsid");
  }
  // Fork again: the daemon is not a session leader, so it can never acquire a terminal.
  const pid_t daemon = ::fork();
  if (daemon < 0) {
    die("fork");
  }
  if (daemon > 0) {
    ::_exit(0);
  }
  if (::chdir("/") != 0) {
    die("chdir /");
  }
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    die("/dev/null");
  }
  const int out = log_fd >= 0 ? log_fd : null_fd;
  if (::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 ||
      ::dup2(out, STDERR_FILENO) < 0) {
    die("dup2");
  }
  ::close(null_fd);
  return Daemon(p[1]);
}

Daemon::~Daemon() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void Daemon::ready() {
  if (fd_ >= 0) {
    write_all(fd_, "R");
    ::close(fd_);
    fd_ = -1;
  }
}

void Daemon::failed(std::string_view why) {
  if (fd_ >= 0) {
    write_all(fd_, "E");
    write_all(fd_, why);
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace yg::app
