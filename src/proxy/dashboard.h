#pragma once
// The admin dashboard (FEATURES.md OBS-5): one self-contained HTML page, embedded in the binary
// at build time from src/proxy/dashboard.html (no CDN, no external asset).

#include <string_view>

namespace yg::proxy {

std::string_view dashboard_html() noexcept;

}  // namespace yg::proxy
