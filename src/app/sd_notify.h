#pragma once
// systemd's readiness protocol (sd_notify(3)), without libsystemd: one datagram of
// "KEY=VALUE\n..." lines to the unix socket named by $NOTIFY_SOCKET ("@name": abstract).

#include <string_view>

namespace yg::app {

// Sends `state` (e.g. "READY=1"). No-op returning false when NOTIFY_SOCKET is unset; false when
// the send fails (logged by nobody: systemd not listening is not an error for the proxy).
bool sd_notify(std::string_view state);

// "RELOADING=1\nMONOTONIC_USEC=<now>" as Type=notify-reload expects.
bool sd_notify_reloading();

}  // namespace yg::app
