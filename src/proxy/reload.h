#pragma once
// Hot reload (FEATURES.md OPS-4): the configuration file is read again, validated, and a whole
// new Runtime is built from it (routes, S3 credentials and replicas, JWT keys, authorizers,
// limits) and published at once; requests in flight finish on the snapshot they started with.
// An invalid file, or one build_runtime() refuses, changes nothing.
//
// Two triggers, one Reloader: SIGHUP (main thread) and POST /admin/reload (a worker). reload()
// is serialized by a mutex, so two reloads never interleave. It reads files and may block, so
// a worker never runs it: async_reload() hands it to the reload executor (the main thread's
// io_context, which also waits for signals) and resumes the worker when it is done.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"

namespace yg::proxy {

class Server;

struct ReloadOutcome {
  bool ok = false;
  bool shutting_down = false;  // refused because the proxy is draining (not counted as a failure)
  uint64_t generation = 0;     // the running configuration's generation afterwards
  std::vector<std::string> warnings;  // restart-only settings that changed (names, no values)
  // Why the file was refused: "file:line: key.path: what" per loader error, or build_runtime's
  // message. Never a secret value.
  std::vector<std::string> errors;
};

// {"status":"reloaded"|"refused","generation":N,"warnings":[...],"errors":[...]}
boost::json::object to_json(const ReloadOutcome& o);

class Reloader {
 public:
  // `exec` runs async_reload()'s work; `path` is the configuration file (absolute, so a
  // daemon that changed directory still finds it).
  Reloader(Server& server, std::string path, boost::asio::any_io_executor exec);
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // Called around every reload attempt on the reloading thread (systemd's RELOADING=1 and
  // READY=1). Set before the first reload.
  void set_hooks(std::function<void()> begin, std::function<void(const ReloadOutcome&)> end) {
    begin_ = std::move(begin);
    end_ = std::move(end);
  }

  // Reloads now, on the calling thread (blocking). `trigger` says who asked, for the log.
  ReloadOutcome reload(const std::string& trigger);

  // reload() on the reload executor; completes on the caller's executor.
  boost::asio::awaitable<ReloadOutcome> async_reload(std::string trigger);

  const std::string& path() const noexcept { return path_; }

 private:
  ReloadOutcome reload_locked(const std::string& trigger);

  Server& server_;
  // The settings at start: restart-only keys are compared with these (what really runs), not
  // with the last reload's file.
  config::Config start_;
  std::string path_;
  boost::asio::any_io_executor exec_;
  std::mutex mu_;  // one reload at a time
  std::function<void()> begin_;
  std::function<void(const ReloadOutcome&)> end_;
};

}  // namespace yg::proxy
