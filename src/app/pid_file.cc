#include "app/pid_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace yg::app {
namespace {

// The pid in `path`, 0 when the file is missing or holds no pid.
pid_t read_pid(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0 || pid > 0x3fffffff) {
    return 0;
  }
  return static_cast<pid_t>(pid);
}

bool alive(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

}  // namespace

PidFile::PidFile(std::string path) : path_(std::move(path)) {
  const pid_t pid = read_pid(path_);
  if (pid != 0 && pid != ::getpid() && alive(pid)) {
    throw std::runtime_error("pid file " + path_ + " names a running process (" +
                             std::to_string(pid) + "): is another yatagarasu running?");
  }
}

PidFile::~PidFile() {
  if (written_ && read_pid(path_) == ::getpid()) {
    ::unlink(path_.c_str());
  }
}

void PidFile::write() {
  if (path_.empty()) {
    return;
  }
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("pid file " + path_ + ": " + std::strerror(errno));
  }
  const std::string text = std::to_string(::getpid()) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("pid file " + path_ + ": " + std::strerror(err));
  }
  written_ = true;
}

}  // namespace yg::app
