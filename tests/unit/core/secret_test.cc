#include "core/secret.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace yg {
namespace {

// A Secret formats as *** so it cannot leak through a log line or a config dump.
TEST(Secret, FormatsRedacted) {
  Secret s("wJalrXUtnFEMI/K7MDENG");
  EXPECT_EQ(fmt::format("{}", s), "***");
  EXPECT_EQ(s.reveal(), "wJalrXUtnFEMI/K7MDENG");
}

// An empty secret formats as empty, so "not configured" stays visible in dumps.
TEST(Secret, EmptyFormatsEmpty) {
  EXPECT_EQ(fmt::format("{}", Secret{}), "");
}

}  // namespace
}  // namespace yg
