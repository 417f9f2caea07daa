#pragma once
// Longest-prefix routing of a decoded request path to a bucket (FEATURES.md ROUTE-1).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace yg::router {

struct Match {
  std::size_t bucket_index;  // index into the prefixes given to RouteTable (= config order)
  std::string key;           // decoded rest of the path after "<prefix>/"; may be empty
};

// Maps decoded paths to buckets by their path_prefix. Prefixes are compared segment by
// segment, so "/pub" matches "/pub", "/pub/" and "/pub/k" but never "/pubx/k", and the
// longest matching prefix wins. Prefix "/" is allowed and catches every path that no longer
// prefix matches.
//
// Immutable after construction: build one per config snapshot and share it between workers
// through std::shared_ptr<const RouteTable>; match() may be called from any thread.
class RouteTable {
 public:
  // prefixes[i] is bucket i's path_prefix as written in the config: "/products", "/a/b",
  // "/x/" (trailing slashes ignored), "/" (catch-all). A missing leading '/' is assumed.
  // Prefixes are literal, not percent-encoded. If two buckets normalise to the same prefix the
  // first one wins; config validation is expected to reject that case.
  explicit RouteTable(const std::vector<std::string>& prefixes);

  // `decoded_path` comes from decode_path(), so it starts with '/' and has no dot segments.
  // Returns nullopt when no prefix matches (-> 404). A match with an empty key ("/pub" or
  // "/pub/") is returned as such; the caller answers 404 and never lists the bucket.
  // Allocates only the returned key.
  std::optional<Match> match(std::string_view decoded_path) const;

  std::size_t size() const noexcept { return bucket_count_; }

 private:
  static constexpr std::uint32_t kNoBucket = UINT32_MAX;

  // A trie over path segments. Children are sorted by segment so lookup is a binary search
  // with a string_view, which needs no allocation.
  struct Node {
    std::vector<std::pair<std::string, std::uint32_t>> children;  // segment -> node index
    std::uint32_t bucket = kNoBucket;
  };

  const Node* child(const Node& n, std::string_view segment) const;

  std::vector<Node> nodes_;  // nodes_[0] is the root, i.e. prefix "/"
  std::size_t bucket_count_ = 0;
};

}  // namespace yg::router
