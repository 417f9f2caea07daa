#pragma once
// --pid-file FILE: refuse to start when FILE names a live process, write our pid once the
// listeners are bound, remove it on exit (only if it still holds our pid).

#include <string>

namespace yg::app {

class PidFile {
 public:
  PidFile() = default;
  // Checks `path` (absolute): throws std::runtime_error when it names a live process other than
  // this one. A stale file (dead pid, or no pid in it) is replaced by write().
  explicit PidFile(std::string path);
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  // Writes "<pid>\n" atomically (temp file + rename). Throws std::runtime_error naming the path.
  void write();

 private:
  std::string path_;
  bool written_ = false;
};

}  // namespace yg::app
