#pragma once
// RESP2 reply parser: hiredis's reader (read.h) with our own object functions, so replies are
// built directly as yg::redis::Reply (no redisReply tree to copy from). Bulk strings are copied
// once, from hiredis's input buffer into Reply::str.
//
// Size limit: a reply whose bulk strings and array slots add up to more than max_reply_bytes is
// a protocol error, detected from the bulk length header before its bytes are buffered, so an
// oversized value never sits in memory whole. One reader per connection; not thread-safe.

#include <cstddef>
#include <string>

#include "redis/client.h"

struct redisReader;

namespace yg::redis {

class ReplyReader {
 public:
  explicit ReplyReader(std::size_t max_reply_bytes);
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  enum class Status { Reply, NeedMore, Error };

  // Appends received bytes. False when the reader is in error (see error()).
  bool feed(const char* data, std::size_t n);
  // Takes the next complete reply out of what was fed.
  Status next(Reply& out);
  // Why the reader failed; too_large() when it was the size limit.
  const std::string& error() const noexcept { return error_; }
  bool too_large() const noexcept { return too_large_; }

  // Used by the hiredis callbacks (reply_reader.cc).
  bool charge(std::size_t bytes) noexcept;

 private:
  bool check_pending_bulk();

  redisReader* r_;
  std::size_t max_;
  std::size_t used_ = 0;  // bytes charged to the reply being parsed
  bool too_large_ = false;
  std::string error_;
};

}  // namespace yg::redis
