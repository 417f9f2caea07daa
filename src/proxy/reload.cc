#include "proxy/reload.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <exception>

#include "config/loader.h"
#include "core/log.h"
#include "obs/metrics.h"
#include "proxy/cache_phase.h"
#include "proxy/runtime.h"
#include "proxy/server.h"

namespace yg::proxy {
namespace asio = boost::asio;

namespace {

// Settings read once at start. A reload that changes one of them still applies everything
// else; each changed one becomes a warning naming the key (never its value).
std::vector<std::string> restart_only_changes(const config::Config& o, const config::Config& n) {
  std::vector<std::string> w;
  auto note = [&w](bool changed, std::string_view key, std::string_view extra = {}) {
    if (changed) {
      std::string s(key);
      s += " changed: takes effect only after a restart";
      s += extra;
      w.push_back(std::move(s));
    }
  };
  note(n.server.address != o.server.address, "server.address");
  note(n.server.port != o.server.port, "server.port");
  note(n.server.threads != o.server.threads, "server.threads");
  note(n.metrics_port != o.metrics_port, "metrics.port");

  // The cache's layers were built at start (docs/CACHE.md): a reload keeps them as they are;
  // ttls and per-bucket cache settings apply at once.
  const auto& oc = o.cache;
  const auto& nc = n.cache;
  note(nc.enabled != oc.enabled, "cache.enabled");
  note(nc.cache_layers != oc.cache_layers, "cache.cache_layers");
  note(nc.memory.max_cache_size_mb != oc.memory.max_cache_size_mb ||
           nc.memory.max_item_size_mb != oc.memory.max_item_size_mb,
       "cache.memory sizes");
  note(nc.disk.enabled != oc.disk.enabled || nc.disk.cache_dir != oc.disk.cache_dir ||
           nc.disk.max_disk_cache_size_mb != oc.disk.max_disk_cache_size_mb,
       "cache.disk (enabled, cache_dir, max_disk_cache_size_mb)");
  note(nc.stale_if_error_seconds != oc.stale_if_error_seconds, "cache.stale_if_error_seconds");
  const auto& orr = oc.redis;
  const auto& nr = nc.redis;
  note(nr.enabled != orr.enabled || nr.redis_url != orr.redis_url ||
           nr.redis_password != orr.redis_password || nr.redis_username != orr.redis_username ||
           nr.redis_db != orr.redis_db || nr.redis_key_prefix != orr.redis_key_prefix ||
           nr.redis_ttl_seconds != orr.redis_ttl_seconds || nr.pool_size != orr.pool_size ||
           nr.connect_timeout_ms != orr.connect_timeout_ms ||
           nr.command_timeout_ms != orr.command_timeout_ms ||
           nr.max_value_size_mb != orr.max_value_size_mb || nr.cluster != orr.cluster ||
           nr.tls_ca_file != orr.tls_ca_file || nr.purge_propagation != orr.purge_propagation ||
           nr.fill_lock_ms != orr.fill_lock_ms,
       "cache.redis", " (the Redis layer keeps its start settings)");

  // The audit writer is built at start (docs/observability.md).
  const auto& oa = o.audit_log;
  const auto& na = n.audit_log;
  bool audit = na.enabled != oa.enabled || na.outputs != oa.outputs ||
               na.log_level != oa.log_level || na.queue_size != oa.queue_size ||
               na.file.has_value() != oa.file.has_value() ||
               na.syslog.has_value() != oa.syslog.has_value();
  if (!audit && na.file && oa.file) {
    audit = na.file->path != oa.file->path ||
            na.file->max_file_size_mb != oa.file->max_file_size_mb ||
            na.file->max_backup_files != oa.file->max_backup_files ||
            na.file->rotation_policy != oa.file->rotation_policy ||
            na.file->buffer_size != oa.file->buffer_size;
  }
  if (!audit && na.syslog && oa.syslog) {
    audit = na.syslog->address != oa.syslog->address ||
            na.syslog->protocol != oa.syslog->protocol ||
            na.syslog->facility != oa.syslog->facility;
  }
  note(audit, "audit_log");
  return w;
}

asio::awaitable<ReloadOutcome> run_reload(Reloader* r, std::string trigger) {
  co_return r->reload(trigger);
}

}  // namespace

boost::json::object to_json(const ReloadOutcome& o) {
  boost::json::object j;
  j["status"] = o.ok ? "reloaded" : (o.shutting_down ? "unavailable" : "refused");
  j["generation"] = o.generation;
  boost::json::array w;
  for (const auto& s : o.warnings) {
    w.emplace_back(s);
  }
  j["warnings"] = std::move(w);
  boost::json::array e;
  for (const auto& s : o.errors) {
    e.emplace_back(s);
  }
  j["errors"] = std::move(e);
  return j;
}

Reloader::Reloader(Server& server, std::string path, asio::any_io_executor exec)
    : server_(server),
      start_(server.runtime()->config),
      path_(std::move(path)),
      exec_(std::move(exec)) {}

ReloadOutcome Reloader::reload(const std::string& trigger) {
  std::lock_guard lk(mu_);
  if (server_.draining()) {
    ReloadOutcome out;
    out.shutting_down = true;
    out.generation = obs::metrics().config_generation();
    out.errors.emplace_back("the proxy is shutting down");
    log::get("reload")->warn("reload ({}) ignored: the proxy is shutting down", trigger);
    return out;
  }
  if (begin_) {
    begin_();
  }
  ReloadOutcome out = reload_locked(trigger);
  if (end_) {
    end_(out);
  }
  return out;
}

ReloadOutcome Reloader::reload_locked(const std::string& trigger) {
  auto lg = log::get("reload");
  ReloadOutcome out;
  auto refuse = [&] {
    obs::metrics().reload_result(false);
    out.generation = obs::metrics().config_generation();
    for (const auto& e : out.errors) {
      lg->error("reload ({}) refused, configuration unchanged: {}", trigger, e);
    }
    return out;
  };
  auto r = config::load_file(path_);
  if (!r.errors.empty()) {
    for (const auto& e : r.errors) {
      out.errors.push_back(e.to_string());
    }
    return refuse();
  }
  const auto before = server_.runtime();
  if (r.config->server.tls.has_value() != before->config.server.tls.has_value()) {
    // The listener's protocol is fixed at start, like its address (docs/TLS.md).
    out.errors.push_back(std::string("server.tls was ") +
                         (before->config.server.tls ? "removed" : "added") +
                         ": turning TLS on or off needs a restart");
    return refuse();
  }
  out.warnings = restart_only_changes(start_, *r.config);
  const bool json = r.config->logging.format == "json";
  std::shared_ptr<const Runtime> rt;
  try {
    rt = build_runtime(std::move(*r.config), before.get());
  } catch (const std::exception& e) {
    out.errors.emplace_back(e.what());
    out.warnings.clear();
    return refuse();
  }
  for (const auto& w : out.warnings) {
    lg->warn("reload ({}): {}", trigger, w);
  }
  log::init(rt->config.logging.level, json ? log::Format::Json : log::Format::Text);
  server_.swap_runtime(rt);
  if (auto* cache = server_.cache()) {
    // The cache key is the bucket's name: a bucket now fetching from another origin must not
    // keep serving the old origin's objects.
    for (const auto& name : purge_changed_origins(*cache, *before, *rt)) {
      lg->info("bucket {}: origin changed, its cached objects were purged", name);
    }
  }
  obs::metrics().reload_result(true);
  out.ok = true;
  out.generation = obs::metrics().config_generation();
  lg->info("configuration reloaded from {} ({}): generation {}, {} bucket(s), {} warning(s)", path_,
           trigger, out.generation, rt->buckets.size(), out.warnings.size());
  return out;
}

asio::awaitable<ReloadOutcome> Reloader::async_reload(std::string trigger) {
  co_return co_await asio::co_spawn(exec_, run_reload(this, std::move(trigger)),
                                    asio::use_awaitable);
}

}  // namespace yg::proxy
