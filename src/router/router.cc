#include "router/router.h"

#include <algorithm>

namespace yg::router {
namespace {

// The segments of a prefix: leading and trailing slashes dropped, inner empty segments kept
// so "/a//b" only matches paths that have the same empty segment.
std::vector<std::string_view> prefix_segments(std::string_view prefix) {
  while (!prefix.empty() && prefix.front() == '/') {
    prefix.remove_prefix(1);
  }
  while (!prefix.empty() && prefix.back() == '/') {
    prefix.remove_suffix(1);
  }
  std::vector<std::string_view> out;
  if (prefix.empty()) {
    return out;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = prefix.find('/', start);
    out.push_back(prefix.substr(start, slash - start));
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  return out;
}

}  // namespace

RouteTable::RouteTable(const std::vector<std::string>& prefixes) : bucket_count_(prefixes.size()) {
  nodes_.emplace_back();
  for (std::size_t i = 0; i < prefixes.size(); ++i) {
    std::uint32_t at = 0;
    for (const std::string_view seg : prefix_segments(prefixes[i])) {
      auto& kids = nodes_[at].children;
      auto it = std::lower_bound(kids.begin(), kids.end(), seg,
                                 [](const auto& kid, std::string_view s) { return kid.first < s; });
      if (it != kids.end() && it->first == seg) {
        at = it->second;
        continue;
      }
      const auto next = static_cast<std::uint32_t>(nodes_.size());
      kids.emplace(it, std::string(seg), next);
      nodes_.emplace_back();  // may reallocate nodes_; `kids` is not used after this
      at = next;
    }
    if (nodes_[at].bucket == kNoBucket) {
      nodes_[at].bucket = static_cast<std::uint32_t>(i);
    }
  }
}

const RouteTable::Node* RouteTable::child(const Node& n, std::string_view segment) const {
  auto it = std::lower_bound(n.children.begin(), n.children.end(), segment,
                             [](const auto& kid, std::string_view s) { return kid.first < s; });
  if (it == n.children.end() || it->first != segment) {
    return nullptr;
  }
  return &nodes_[it->second];
}

std::optional<Match> RouteTable::match(std::string_view path) const {
  if (path.empty() || path.front() != '/') {
    return std::nullopt;
  }
  // Walk one segment at a time; `pos` is the index of the '/' that ends the part of the path
  // consumed so far (or path.size()). Remember the deepest node that carries a bucket.
  const Node* node = &nodes_[0];
  std::size_t pos = 0;
  std::uint32_t best = kNoBucket;
  std::size_t best_pos = 0;
  while (true) {
    if (node->bucket != kNoBucket) {
      best = node->bucket;
      best_pos = pos;
    }
    if (pos == path.size() || node->children.empty()) {
      break;
    }
    const std::size_t start = pos + 1;
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    node = child(*node, path.substr(start, end - start));
    if (node == nullptr) {
      break;
    }
    pos = end;
  }
  if (best == kNoBucket) {
    return std::nullopt;
  }
  // The key starts after the '/' that follows the prefix; "/pub" and "/pub/" give "".
  std::string key =
      best_pos >= path.size() ? std::string() : std::string(path.substr(best_pos + 1));
  return Match{best, std::move(key)};
}

}  // namespace yg::router
