#include "unit/s3/vectors.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace yg::s3::test {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string read_vector(const std::string& path) {
  std::string s = read_file(path);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

bool file_exists(const std::string& path) {
  return std::filesystem::exists(path);
}

std::string vectors_dir() {
  return std::string(YG_TEST_VECTORS_DIR) + "/sigv4";
}

SysTime utc(int y, unsigned mon, unsigned d, int h, int min, int s) {
  using namespace std::chrono;
  return sys_days{year{y} / month{mon} / day{d}} + hours{h} + minutes{min} + seconds{s};
}

std::string camel(const std::string& s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0) {
      up = true;
      continue;
    }
    out.push_back(up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
    up = false;
  }
  return out;
}

HeaderList split_query(const std::string& q) {
  HeaderList out;
  std::size_t pos = 0;
  while (pos <= q.size() && !q.empty()) {
    std::size_t amp = q.find('&', pos);
    if (amp == std::string::npos) {
      amp = q.size();
    }
    const std::string part = q.substr(pos, amp - pos);
    const std::size_t eq = part.find('=');
    if (eq == std::string::npos) {
      out.emplace_back(part, "");
    } else {
      out.emplace_back(part.substr(0, eq), part.substr(eq + 1));
    }
    pos = amp + 1;
  }
  return out;
}

}  // namespace yg::s3::test
