#pragma once
// JSON string escaping for hand-built log lines (access, audit, JSON log pattern): quotes,
// backslashes and control characters are escaped; other bytes pass through unchanged.

#include <string_view>

namespace yg {

// Appends `s` escaped (without the surrounding quotes) to `out`, any container with
// push_back(char) and append(const char*, const char*) (std::string, fmt::memory_buffer).
template <class Out>
void append_json_escaped(Out& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;  // start of the pending run of bytes that need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
      continue;
    }
    out.append(s.data() + run, s.data() + i);
    run = i + 1;
    const char* esc = nullptr;
    switch (c) {
      case '"':
        esc = "\\\"";
        break;
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      default:
        break;
    }
    if (esc != nullptr) {
      out.append(esc, esc + 2);
    } else {
      const char u[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      out.append(u, u + sizeof(u));
    }
  }
  out.append(s.data() + run, s.data() + s.size());
}

}  // namespace yg
