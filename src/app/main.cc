// Wiring only: parse the command line, load and validate the config, build the runtime, start
// the workers, handle signals, drain, exit.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "app/daemon.h"
#include "app/pid_file.h"
#include "app/sd_notify.h"
#include "config/loader.h"
#include "config/schema.h"
#include "core/log.h"
#include "net/server/tls_context.h"
#include "obs/audit.h"
#include "obs/metrics.h"
#include "proxy/cache_phase.h"
#include "proxy/reload.h"
#include "proxy/runtime.h"
#include "proxy/server.h"

namespace {

constexpr const char* kUsage =
    R"(Usage: yatagarasu --config FILE [-d] [--pid-file FILE] [--log-file FILE]
       yatagarasu --config FILE --test
       yatagarasu --config-schema
       yatagarasu --version | --help

A read-only S3 proxy: GET/HEAD /<prefix>/<key> is routed to the bucket whose path_prefix
matches, signed with AWS SigV4 and streamed back from S3.

Options:
  -c, --config FILE   configuration file (YAML, the Rust Yatagarasu schema; see
                      docs/configuration.md). ${VAR} and ${VAR:-default} are substituted.
  -t, --test          check the configuration (and server.tls's certificate and key files)
                      and exit: 0 if valid, 1 with every error as "file:line: key.path: what"
                      on stderr
      --config-schema print every configuration key the schema knows, one JSON object a
                      line: path (list items as "[]"), type, required, default, and min/max,
                      values (enums) or reason (refused keys) when they apply; exit 1 if the
                      list has holes (docs/configuration.md is checked against it)
  -d, --daemon        run in the background: fork, setsid, chdir /, stdin/stdout/stderr to
                      /dev/null (or --log-file). The command exits 0 once the listeners are
                      bound, or 1 with the start-up error on stderr. Relative paths inside
                      the configuration then resolve against /.
      --pid-file FILE write the pid to FILE once the listeners are bound, remove it on exit;
                      refuse to start if FILE names a running process (with or without -d)
      --log-file FILE append the log (stdout and stderr) to FILE instead of the terminal
  -V, --version       print the version and exit
  -h, --help          print this help and exit

Signals:
  SIGHUP              reload the configuration file (same as POST /admin/reload); an
                      invalid file changes nothing and the error is logged
  SIGTERM, SIGINT     graceful shutdown: /ready answers 503 (on metrics.port), the listener
                      closes, in-flight requests finish (up to shutdown.timeout_seconds, then
                      they are cut), the audit log is flushed; exit 0. A second SIGTERM/SIGINT
                      during the drain cuts every connection at once and exits 1.
systemd: with $NOTIFY_SOCKET set, READY=1 is sent once serving, RELOADING=1/READY=1 around
reloads and STOPPING=1 at shutdown (Type=notify; see deploy/yatagarasu.service).
Endpoints: /health (liveness), /ready (readiness), /metrics (Prometheus; also on
metrics.port when set), /admin/ (live dashboard), /admin/stats (its JSON), POST /admin/reload.
Logs: one line per event on stderr (logging.format text|json, logging.level), one access
line per request (logging.access_log); audit lines go to audit_log's file/syslog sinks.
)";

struct Args {
  std::string config;
  std::string pid_file;
  std::string log_file;
  bool test = false;
  bool daemon = false;
  bool schema = false;
};

// Returns false after printing to stderr for a bad command line.
bool parse_args(int argc, char** argv, Args& a, int& exit_code) {
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-h" || s == "--help") {
      std::fputs(kUsage, stdout);
      exit_code = 0;
      return false;
    }
    if (s == "-V" || s == "--version") {
      std::printf("yatagarasu %s\n", YG_VERSION);
      exit_code = 0;
      return false;
    }
    if (s == "--config-schema") {
      a.schema = true;
    } else if (s == "-t" || s == "--test") {
      a.test = true;
    } else if (s == "-d" || s == "--daemon") {
      a.daemon = true;
    } else if ((s == "-c" || s == "--config") && i + 1 < argc) {
      a.config = argv[++i];
    } else if (s.starts_with("--config=")) {
      a.config = std::string(s.substr(9));
    } else if (s == "--pid-file" && i + 1 < argc) {
      a.pid_file = argv[++i];
    } else if (s.starts_with("--pid-file=")) {
      a.pid_file = std::string(s.substr(11));
    } else if (s == "--log-file" && i + 1 < argc) {
      a.log_file = argv[++i];
    } else if (s.starts_with("--log-file=")) {
      a.log_file = std::string(s.substr(11));
    } else {
      std::fprintf(stderr, "yatagarasu: unknown or incomplete option '%s'\n%s", argv[i], kUsage);
      exit_code = 2;
      return false;
    }
  }
  if (a.config.empty() && !a.schema) {
    std::fprintf(stderr, "yatagarasu: --config FILE is required\n%s", kUsage);
    exit_code = 2;
    return false;
  }
  return true;
}

std::optional<yg::config::Config> load(const std::string& path) {
  auto r = yg::config::load_file(path);
  if (!r.errors.empty()) {
    for (const auto& e : r.errors) {
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    }
    return std::nullopt;
  }
  return std::move(*r.config);
}

// Paths given on the command line stay valid after -d changes directory to /.
std::string absolute(const std::string& p) {
  if (p.empty()) {
    return p;
  }
  std::error_code ec;
  auto a = std::filesystem::absolute(p, ec);
  return ec ? p : a.string();
}

// Raises the open-files soft limit to the hard limit (as nginx's worker_rlimit_nofile and Go's
// runtime do): every client connection, pooled upstream connection and disk-cache file is a
// descriptor, and distributions start processes at a soft limit of 1024. Returns {old, new};
// new is 0 when setrlimit failed (errno says why).
std::pair<rlim_t, rlim_t> raise_nofile_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return {0, 0};
  }
  const rlim_t old = rl.rlim_cur;
  rlim_t want = rl.rlim_max;
  if (want == RLIM_INFINITY) {
    // The kernel refuses more than fs.nr_open descriptors per process.
    want = 1 << 20;
    if (std::FILE* f = std::fopen("/proc/sys/fs/nr_open", "r")) {
      unsigned long long nr_open = 0;
      if (std::fscanf(f, "%llu", &nr_open) == 1 && nr_open > 0) {
        want = static_cast<rlim_t>(nr_open);
      }
      std::fclose(f);
    }
  }
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      return {old, 0};  // the caller warns
    }
  }
  return {old, rl.rlim_cur};
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  int exit_code = 0;
  if (!parse_args(argc, argv, args, exit_code)) {
    return exit_code;
  }
  if (args.schema) {
    const auto schema = yg::config::config_schema();
    for (const auto& k : schema.keys) {
      std::printf("%s\n", yg::config::to_json(k).c_str());
    }
    for (const auto& p : schema.problems) {
      std::fprintf(stderr, "yatagarasu: --config-schema: %s\n", p.c_str());
    }
    return schema.problems.empty() ? 0 : 1;
  }
  auto cfg = load(args.config);
  if (!cfg) {
    std::fprintf(stderr, "yatagarasu: configuration %s is invalid\n", args.config.c_str());
    return 1;
  }
  if (args.test) {
    if (cfg->server.tls) {
      // The TLS files are part of what --test checks (as nginx -t does): a certificate that
      // would fail startup fails here, with the file named.
      try {
        yg::net::make_server_tls_context(*cfg->server.tls);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: server.tls: %s\nyatagarasu: configuration %s is invalid\n",
                     args.config.c_str(), e.what(), args.config.c_str());
        return 1;
      }
    }
    std::printf("configuration %s is valid\n", args.config.c_str());
    return 0;
  }
  args.config = absolute(args.config);
  args.pid_file = absolute(args.pid_file);
  int log_fd = -1;
  if (!args.log_file.empty()) {
    log_fd =
        ::open(absolute(args.log_file).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0) {
      std::fprintf(stderr, "yatagarasu: --log-file %s: %s\n", args.log_file.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  // Before any thread exists (the async logger starts one).
  yg::app::Daemon daemon = args.daemon ? yg::app::Daemon::detach(log_fd) : yg::app::Daemon();
  if (!args.daemon && log_fd >= 0 &&
      (::dup2(log_fd, STDOUT_FILENO) < 0 || ::dup2(log_fd, STDERR_FILENO) < 0)) {
    std::fprintf(stderr, "yatagarasu: --log-file %s: %s\n", args.log_file.c_str(),
                 std::strerror(errno));
    return 1;
  }
  if (log_fd > STDERR_FILENO) {
    ::close(log_fd);
  }
  yg::log::init(cfg->logging.level,
                cfg->logging.format == "json" ? yg::log::Format::Json : yg::log::Format::Text,
                /*async=*/true);
  auto lg = yg::log::get("main");
  if (const auto [before, after] = raise_nofile_limit(); after == 0) {
    lg->warn("could not raise the open files limit above {}: {}", before, std::strerror(errno));
  } else if (after != before) {
    lg->info("open files limit raised from {} to {}", before, after);
  }
  auto shutdown_timeout = std::chrono::seconds(cfg->shutdown_timeout_secs);
  std::unique_ptr<yg::obs::AuditLog> audit;
  int rc = 0;
  bool forced = false;  // a second signal cut the drain short
  try {
    yg::app::PidFile pid_file =
        args.pid_file.empty() ? yg::app::PidFile() : yg::app::PidFile(args.pid_file);
    if (cfg->audit_log.enabled) {
      // Read at start: audit_log changes take effect after a restart (docs/observability.md).
      audit = yg::obs::make_audit_log(cfg->audit_log);
      lg->info("audit log on ({} sink(s), queue {} lines)", cfg->audit_log.outputs.size(),
               cfg->audit_log.queue_size);
    }
    // The cache is built from the settings at start; reloads keep it (docs/CACHE.md).
    auto cache = yg::proxy::make_cache_runtime(*cfg);
    yg::obs::metrics().set_tls_listener(cfg->server.tls.has_value());
    yg::proxy::Server server(yg::proxy::build_runtime(std::move(*cfg)));
    server.set_audit(audit.get());
    server.set_cache(std::move(cache));
    // The main thread's loop: signals, reloads (SIGHUP and POST /admin/reload, never on a
    // worker) and the drain's progress.
    boost::asio::io_context main_io;
    yg::proxy::Reloader reloader(server, args.config, main_io.get_executor());
    reloader.set_hooks([] { yg::app::sd_notify_reloading(); },
                       [](const yg::proxy::ReloadOutcome& o) {
                         yg::app::sd_notify(o.ok ? "READY=1\nSTATUS=serving"
                                                 : "READY=1\nSTATUS=serving; the last reload "
                                                   "was refused (see the log)");
                       });
    server.set_reloader(&reloader);
    boost::asio::signal_set signals(main_io, SIGINT, SIGTERM, SIGHUP);
    boost::asio::steady_timer drain_timer(main_io);
    std::signal(SIGPIPE, SIG_IGN);
    server.start();
    pid_file.write();
    daemon.ready();
    yg::app::sd_notify("READY=1\nSTATUS=serving\nMAINPID=" + std::to_string(::getpid()));
    lg->info("yatagarasu {} started (pid {})", YG_VERSION, ::getpid());

    std::chrono::steady_clock::time_point drain_start;
    std::function<void(const boost::system::error_code&)> poll_drain =
        [&](const boost::system::error_code& ec) {
          if (ec) {
            return;  // cancelled by a second signal
          }
          const std::size_t open = server.open_connections();
          const auto elapsed = std::chrono::steady_clock::now() - drain_start;
          const double secs = std::chrono::duration<double>(elapsed).count();
          if (open != 0 && elapsed < shutdown_timeout) {
            drain_timer.expires_after(std::chrono::milliseconds(20));
            drain_timer.async_wait(poll_drain);
            return;
          }
          if (open == 0) {
            lg->info("drained in {:.2f} s: every connection finished", secs);
          } else {
            lg->warn("shutdown timeout ({} s): closing {} connection(s) still open",
                     shutdown_timeout.count(), open);
          }
          server.stop();
          signals.cancel();
        };
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int sig) {
          if (ec) {
            return;
          }
          if (sig == SIGHUP) {
            if (server.draining()) {
              lg->warn("SIGHUP during the shutdown: ignored");
            } else {
              reloader.reload("SIGHUP");
            }
            signals.async_wait(on_signal);
            return;
          }
          if (!server.draining()) {
            // The timeout in force now (shutdown.timeout_seconds reloads like the rest).
            shutdown_timeout = std::chrono::seconds(server.runtime()->config.shutdown_timeout_secs);
            drain_start = std::chrono::steady_clock::now();
            yg::app::sd_notify("STOPPING=1\nSTATUS=draining");
            lg->info(
                "signal {} received: draining (up to {} s): listener closed, /ready 503, {} "
                "connection(s) open; a second SIGTERM/SIGINT exits at once",
                sig, shutdown_timeout.count(), server.open_connections());
            server.begin_drain();
            drain_timer.expires_after(std::chrono::milliseconds(0));
            drain_timer.async_wait(poll_drain);
            signals.async_wait(on_signal);
            return;
          }
          forced = true;
          lg->error(
              "signal {} received again during the drain: exiting now, cutting {} "
              "connection(s) (exit code 1)",
              sig, server.open_connections());
          // Whatever the teardown meets (a wedged disk), the process is gone within 5 s.
          std::thread([] {
            std::this_thread::sleep_for(std::chrono::seconds(5));
            std::_Exit(1);
          }).detach();
          drain_timer.cancel();
          server.stop();
        };
    signals.async_wait(on_signal);
    main_io.run();
    server.join();
  } catch (const std::exception& e) {
    lg->critical("startup failed: {}", e.what());
    daemon.failed(e.what());
    rc = 1;
  }
  if (audit) {
    // Every request has ended: write what is queued (bounded, a wedged disk cannot hold exit).
    audit->close(forced ? std::chrono::seconds(1) : shutdown_timeout);
    const auto st = audit->stats();
    lg->info("audit log closed: {} written, {} dropped, {} write errors", st.written, st.dropped,
             st.write_errors);
    audit.reset();  // before the loggers stop: it may still log
  }
  if (forced) {
    rc = 1;
  }
  if (rc == 0) {
    lg->info("stopped");
  }
  yg::log::shutdown();
  return rc;
}
