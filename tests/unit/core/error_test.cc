#include "core/error.h"

#include <gtest/gtest.h>

#include "core/result.h"

namespace yg {
namespace {

// An Error built from errc compares equal to that errc and carries its source.
TEST(Error, OfKeepsCodeSourceAndRetryable) {
  Error e = Error::of(errc::upstream_timeout, Source::Upstream, true);
  EXPECT_TRUE(e.is(errc::upstream_timeout));
  EXPECT_FALSE(e.is(errc::upstream_unreachable));
  EXPECT_EQ(e.source, Source::Upstream);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.message(), "storage backend timed out");
}

// Result<T>::value() on an error throws, so tests can use value() directly.
TEST(Result, ValueOnErrorThrows) {
  Result<int> r = Error::of(errc::internal);
  EXPECT_FALSE(r.has_value());
  EXPECT_THROW((void)r.value(), std::exception);
}

// Every errc has a message of its own (no "unknown error" gaps in the table).
TEST(Error, EveryCodeHasAMessage) {
  for (int i = 0; i <= static_cast<int>(errc::overloaded); ++i) {
    EXPECT_NE(make_error_code(static_cast<errc>(i)).message(), "unknown error") << i;
  }
}

}  // namespace
}  // namespace yg
