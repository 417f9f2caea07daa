#include "obs/request_id.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace yg::obs {
namespace {

// HTTP-4: a sane client id (<=128 chars of [A-Za-z0-9._:-]) is kept as is.
TEST(RequestId, KeepsSaneClientId) {
  EXPECT_EQ(request_id_for("abc-123_X.y:z"), "abc-123_X.y:z");
  EXPECT_EQ(request_id_for(std::string(128, 'a')), std::string(128, 'a'));
}

// HTTP-4: anything else is replaced by a fresh id, never echoed.
TEST(RequestId, ReplacesInsaneClientId) {
  for (std::string bad :
       {std::string(""), std::string(129, 'a'), std::string("a b"), std::string("<script>"),
        std::string("id\r\nX-Evil: 1"), std::string("caf\xc3\xa9")}) {
    auto id = request_id_for(bad);
    EXPECT_NE(id, bad);
    EXPECT_TRUE(is_sane_request_id(id));
    EXPECT_EQ(id.size(), 32u);
  }
}

// Generated ids are distinct.
TEST(RequestId, GeneratedIdsAreDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    seen.insert(new_request_id());
  }
  EXPECT_EQ(seen.size(), 10000u);
}

}  // namespace
}  // namespace yg::obs
