#pragma once
// JSON string escaping for hand-built log lines (access, audit, JSON log pattern): quotes,
// backslashes and control characters are escaped, valid UTF-8 passes through, and each byte
// of an invalid UTF-8 sequence (a Latin-1 User-Agent, a raw 0xFF in a path) becomes U+FFFD, so
// every line is valid JSON in valid UTF-8.

#include <cstddef>
#include <string_view>

namespace yg {

// Length of the valid UTF-8 sequence starting at s[i] (2..4), or 0 if it is not one (overlong
// forms, surrogates and code points past U+10FFFF are invalid).
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xc0) == 0x80; };
  const unsigned char c = b(0);
  if (c >= 0xc2 && c <= 0xdf) {
    return cont(1) ? 2 : 0;
  }
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) {
      return 0;
    }
    if ((c == 0xe0 && b(1) < 0xa0) || (c == 0xed && b(1) >= 0xa0)) {
      return 0;  // overlong, or a UTF-16 surrogate
    }
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) {
      return 0;
    }
    if ((c == 0xf0 && b(1) < 0x90) || (c == 0xf4 && b(1) >= 0x90)) {
      return 0;  // overlong, or past U+10FFFF
    }
    return 4;
  }
  return 0;
}

// Appends `s` escaped (without the surrounding quotes) to `out`, any container with
// push_back(char) and append(const char*, const char*) (std::string, fmt::memory_buffer).
template <class Out>
void append_json_escaped(Out& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;  // start of the pending run of bytes that need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      continue;
    }
    if (c >= 0x80) {
      if (const std::size_t n = utf8_sequence_length(s, i); n != 0) {
        i += n - 1;  // a valid multi-byte character: part of the run
        continue;
      }
      out.append(s.data() + run, s.data() + i);
      run = i + 1;
      constexpr std::string_view kReplacement = "\\ufffd";
      out.append(kReplacement.data(), kReplacement.data() + kReplacement.size());
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
