#include "redis/reply_reader.h"

#include <hiredis/hiredis.h>

#include <charconv>
#include <memory>
#include <new>
#include <string>

// The pending-bulk check below reads redisReader's task stack (rstack/ridx), which is the
// layout of hiredis 0.x (Debian 12 ships 0.14.1); hiredis 1.x replaced it with `task`.
static_assert(HIREDIS_MAJOR == 0, "reply_reader.cc reads hiredis 0.x reader internals");

namespace yg::redis {
namespace {

ReplyReader* owner(const redisReadTask* t) {
  return static_cast<ReplyReader*>(t->privdata);
}

// Where the object for task `t` lives: a slot of its parent array (sized when the array was
// created, so the address is stable), or a new root that the caller takes ownership of.
Reply* place(const redisReadTask* t) {
  if (t->parent != nullptr) {
    auto* parent = static_cast<Reply*>(t->parent->obj);
    return &parent->elements[static_cast<std::size_t>(t->idx)];
  }
  return new Reply();
}

void* create_string(const redisReadTask* t, char* str, size_t len) {
  if (!owner(t)->charge(len)) {
    return nullptr;
  }
  try {
    Reply* r = place(t);
    switch (t->type) {
      case REDIS_REPLY_ERROR:
        r->type = Reply::Type::Error;
        break;
      case REDIS_REPLY_STATUS:
        r->type = Reply::Type::Status;
        break;
      default:
        r->type = Reply::Type::String;
        break;
    }
    r->str.assign(str, len);
    return r;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void* create_array(const redisReadTask* t, int elements) {
  const auto n = static_cast<std::size_t>(elements < 0 ? 0 : elements);
  if (!owner(t)->charge(n * sizeof(Reply))) {
    return nullptr;
  }
  try {
    Reply* r = place(t);
    r->type = Reply::Type::Array;
    r->elements.resize(n);
    return r;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void* create_integer(const redisReadTask* t, long long v) {
  try {
    Reply* r = place(t);
    r->type = Reply::Type::Integer;
    r->integer = v;
    return r;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void* create_nil(const redisReadTask* t) {
  try {
    Reply* r = place(t);
    r->type = Reply::Type::Nil;
    return r;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

// hiredis frees only roots (the reply it hands out, or a half-built one on error); children
// live inside their parent.
void free_object(void* obj) {
  delete static_cast<Reply*>(obj);
}

redisReplyObjectFunctions g_functions = {create_string, create_array, create_integer, create_nil,
                                         free_object};

}  // namespace

ReplyReader::ReplyReader(std::size_t max_reply_bytes)
    : r_(redisReaderCreateWithFunctions(&g_functions)), max_(max_reply_bytes) {
  if (r_ == nullptr) {
    throw std::bad_alloc();
  }
  r_->privdata = this;
  // Keep hiredis's default maxbuf (16 KiB): once a large reply is consumed, its buffer is
  // released instead of being kept per connection.
}

ReplyReader::~ReplyReader() {
  redisReaderFree(r_);
}

bool ReplyReader::charge(std::size_t bytes) noexcept {
  if (bytes > max_ || used_ > max_ - bytes) {
    too_large_ = true;
    return false;
  }
  used_ += bytes;
  return true;
}

bool ReplyReader::feed(const char* data, std::size_t n) {
  if (!error_.empty()) {
    return false;
  }
  if (redisReaderFeed(r_, data, n) != REDIS_OK) {
    error_ = r_->errstr[0] != '\0' ? r_->errstr : "reader error";
    return false;
  }
  return true;
}

// When the reader waits for the rest of a bulk string, its length line sits unconsumed at
// buf+pos ("<len>\r\n", the '$' already read). Refuse it as soon as the header is in.
bool ReplyReader::check_pending_bulk() {
  if (r_->ridx < 0 || r_->rstack[r_->ridx].type != REDIS_REPLY_STRING || r_->buf == nullptr) {
    return true;
  }
  const char* p = r_->buf + r_->pos;
  const char* end = r_->buf + r_->len;
  long long len = 0;
  auto [ptr, ec] = std::from_chars(p, end, len);
  if (ec != std::errc() || ptr == end || *ptr != '\r' || len < 0) {
    return true;  // incomplete header (or nil): hiredis decides
  }
  if (static_cast<unsigned long long>(len) > max_ || used_ > max_ - static_cast<std::size_t>(len)) {
    too_large_ = true;
    return false;
  }
  return true;
}

ReplyReader::Status ReplyReader::next(Reply& out) {
  if (!error_.empty()) {
    return Status::Error;
  }
  void* obj = nullptr;
  if (redisReaderGetReply(r_, &obj) != REDIS_OK) {
    error_ = too_large_ ? "reply larger than max_reply_bytes (" + std::to_string(max_) + ")"
                        : std::string(r_->errstr[0] != '\0' ? r_->errstr : "reader error");
    return Status::Error;
  }
  if (obj == nullptr) {
    if (!check_pending_bulk()) {
      error_ = "reply larger than max_reply_bytes (" + std::to_string(max_) + ")";
      return Status::Error;
    }
    return Status::NeedMore;
  }
  std::unique_ptr<Reply> root(static_cast<Reply*>(obj));
  out = std::move(*root);
  used_ = 0;
  return Status::Reply;
}

}  // namespace yg::redis
