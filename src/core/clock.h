#pragma once
// Time is an input: pure code takes `now` as an argument (STYLE.md section 0.4).

#include <chrono>

namespace yg {

using SysClock = std::chrono::system_clock;
using SteadyClock = std::chrono::steady_clock;
using SysTime = SysClock::time_point;

}  // namespace yg
