#include "core/http_text.h"

#include <ctime>
#include <string>

namespace yg {

std::optional<SysTime> parse_http_date(std::string_view s) {
  const std::string str(trim_ows(s));
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850
      "%a %b %e %H:%M:%S %Y",       // asctime
  };
  for (const char* fmt : kFormats) {
    std::tm tm{};
    const char* end = strptime(str.c_str(), fmt, &tm);
    if (end != nullptr && *end == '\0') {
      return SysClock::from_time_t(timegm(&tm));
    }
  }
  return std::nullopt;
}

}  // namespace yg
