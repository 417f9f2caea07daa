// Wiring only: parse the command line, load and validate the config, build the runtime, start
// the workers, handle signals, drain, exit.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

#include "config/loader.h"
#include "core/log.h"
#include "net/server/tls_context.h"
#include "obs/audit.h"
#include "obs/metrics.h"
#include "proxy/cache_phase.h"
#include "proxy/runtime.h"
#include "proxy/server.h"

namespace {

constexpr const char* kUsage = R"(Usage: yatagarasu --config FILE [--test]
       yatagarasu --version | --help

A read-only S3 proxy: GET/HEAD /<prefix>/<key> is routed to the bucket whose path_prefix
matches, signed with AWS SigV4 and streamed back from S3.

Options:
  -c, --config FILE   configuration file (YAML, the Rust Yatagarasu schema; see
                      docs/configuration.md). ${VAR} and ${VAR:-default} are substituted.
  -t, --test          check the configuration (and server.tls's certificate and key files)
                      and exit: 0 if valid, 1 with every error as "file:line: key.path: what"
                      on stderr
  -V, --version       print the version and exit
  -h, --help          print this help and exit

Signals: SIGTERM/SIGINT drain gracefully (shutdown.timeout_seconds) and flush the audit
log, SIGHUP reloads the configuration file (an invalid file changes nothing).
Endpoints: /health (liveness), /ready (readiness), /metrics (Prometheus; also on
metrics.port when set), /admin/ (live dashboard), /admin/stats (its JSON).
Logs: one line per event on stderr (logging.format text|json, logging.level), one access
line per request (logging.access_log); audit lines go to audit_log's file/syslog sinks.
)";

struct Args {
  std::string config;
  bool test = false;
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
    if (s == "-t" || s == "--test") {
      a.test = true;
    } else if ((s == "-c" || s == "--config") && i + 1 < argc) {
      a.config = argv[++i];
    } else if (s.starts_with("--config=")) {
      a.config = std::string(s.substr(9));
    } else {
      std::fprintf(stderr, "yatagarasu: unknown or incomplete option '%s'\n%s", argv[i], kUsage);
      exit_code = 2;
      return false;
    }
  }
  if (a.config.empty()) {
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

void reload(yg::proxy::Server& server, const std::string& path) {
  auto lg = yg::log::get("reload");
  auto r = yg::config::load_file(path);
  if (!r.errors.empty()) {
    for (const auto& e : r.errors) {
      lg->error("reload refused, configuration unchanged: {}", e.to_string());
    }
    yg::obs::metrics().reload_result(false);
    return;
  }
  const auto& old = server.runtime()->config.server;
  if (r.config->server.tls.has_value() != old.tls.has_value()) {
    // The listener's protocol is fixed at start, like its address (docs/TLS.md).
    lg->error(
        "reload refused, configuration unchanged: server.tls was {}; turning TLS on or off "
        "needs a restart",
        old.tls ? "removed" : "added");
    yg::obs::metrics().reload_result(false);
    return;
  }
  if (r.config->server.address != old.address || r.config->server.port != old.port ||
      r.config->server.threads != old.threads ||
      r.config->metrics_port != server.runtime()->config.metrics_port) {
    lg->warn(
        "server.address/port/threads and metrics.port changed: these take effect only after a "
        "restart");
  }
  {
    // The cache's layers were built at start (docs/CACHE.md): a reload keeps them as they are.
    const auto& oc = server.runtime()->config.cache;
    const auto& nc = r.config->cache;
    if (nc.enabled != oc.enabled || nc.cache_layers != oc.cache_layers ||
        nc.memory.max_cache_size_mb != oc.memory.max_cache_size_mb ||
        nc.memory.max_item_size_mb != oc.memory.max_item_size_mb ||
        nc.disk.enabled != oc.disk.enabled || nc.disk.cache_dir != oc.disk.cache_dir ||
        nc.disk.max_disk_cache_size_mb != oc.disk.max_disk_cache_size_mb ||
        nc.stale_if_error_seconds != oc.stale_if_error_seconds) {
      lg->warn(
          "cache.enabled, cache_layers, layer sizes, cache_dir and stale_if_error_seconds changed: "
          "the cache keeps its start settings until a restart (ttls and per-bucket settings "
          "apply now)");
    }
    const auto& orr = oc.redis;
    const auto& nr = nc.redis;
    if (nr.enabled != orr.enabled || nr.redis_url != orr.redis_url ||
        nr.redis_password != orr.redis_password || nr.redis_username != orr.redis_username ||
        nr.redis_db != orr.redis_db || nr.redis_key_prefix != orr.redis_key_prefix ||
        nr.redis_ttl_seconds != orr.redis_ttl_seconds || nr.pool_size != orr.pool_size ||
        nr.connect_timeout_ms != orr.connect_timeout_ms ||
        nr.command_timeout_ms != orr.command_timeout_ms ||
        nr.max_value_size_mb != orr.max_value_size_mb || nr.cluster != orr.cluster ||
        nr.tls_ca_file != orr.tls_ca_file || nr.purge_propagation != orr.purge_propagation ||
        nr.fill_lock_ms != orr.fill_lock_ms) {
      lg->warn("cache.redis changed: the Redis layer keeps its start settings until a restart");
    }
  }
  const auto& lc = r.config->logging;
  const bool json = lc.format == "json";
  try {
    auto rt = yg::proxy::build_runtime(std::move(*r.config), server.runtime().get());
    yg::log::init(rt->config.logging.level, json ? yg::log::Format::Json : yg::log::Format::Text);
    const auto before = server.runtime();
    server.swap_runtime(rt);
    if (auto* cache = server.cache()) {
      // The cache key is the bucket's name: a bucket now fetching from another origin must not
      // keep serving the old origin's objects.
      for (const auto& name : yg::proxy::purge_changed_origins(*cache, *before, *rt)) {
        lg->info("bucket {}: origin changed, its cached objects were purged", name);
      }
    }
    yg::obs::metrics().reload_result(true);
    lg->info("configuration reloaded from {} (generation {})", path,
             yg::obs::metrics().config_generation());
  } catch (const std::exception& e) {
    yg::obs::metrics().reload_result(false);
    lg->error("reload refused, configuration unchanged: {}", e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  int exit_code = 0;
  if (!parse_args(argc, argv, args, exit_code)) {
    return exit_code;
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
  yg::log::init(cfg->logging.level,
                cfg->logging.format == "json" ? yg::log::Format::Json : yg::log::Format::Text,
                /*async=*/true);
  auto lg = yg::log::get("main");
  const auto shutdown_timeout = std::chrono::seconds(cfg->shutdown_timeout_secs);
  std::unique_ptr<yg::obs::AuditLog> audit;
  int rc = 0;
  try {
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
    boost::asio::io_context signals_io;
    boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGHUP);
    std::signal(SIGPIPE, SIG_IGN);
    server.start();
    lg->info("yatagarasu {} started", YG_VERSION);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int sig) {
          if (ec) {
            return;
          }
          if (sig == SIGHUP) {
            reload(server, args.config);
            signals.async_wait(on_signal);
            return;
          }
          lg->info("signal {} received: draining (up to {} s)", sig, shutdown_timeout.count());
          server.drain(shutdown_timeout);
        };
    signals.async_wait(on_signal);
    signals_io.run();
    server.join();
  } catch (const std::exception& e) {
    lg->critical("startup failed: {}", e.what());
    rc = 1;
  }
  if (audit) {
    // Every request has ended: write what is queued (bounded, a wedged disk cannot hold exit).
    audit->close(shutdown_timeout);
    const auto st = audit->stats();
    lg->info("audit log closed: {} written, {} dropped, {} write errors", st.written, st.dropped,
             st.write_errors);
    audit.reset();  // before the loggers stop: it may still log
  }
  if (rc == 0) {
    lg->info("stopped");
  }
  yg::log::shutdown();
  return rc;
}
