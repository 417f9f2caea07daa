#pragma once
// The last step of every request (DESIGN.md section 1: "access log, audit log, metrics"), and
// the endpoints that show what was recorded: /metrics (Prometheus text) and /admin/stats (the
// dashboard's JSON).

#include <boost/json/object.hpp>
#include <string>

#include "proxy/exchange.h"
#include "proxy/worker.h"

namespace yg::proxy {

// Records `ex` once it is answered: metrics (this worker's shard), one access line, one audit
// line, a slow-request warning. Cheap when logging is off; never blocks.
void finish_exchange(Exchange& ex, Worker& w);

// The Prometheus exposition (text format 0.0.4).
std::string render_metrics(const Shared& shared);

// The dashboard's stats document (docs/METRICS.md, "Dashboard").
boost::json::object stats_json(const Shared& shared);

}  // namespace yg::proxy
