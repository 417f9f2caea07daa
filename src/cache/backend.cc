#include "cache/backend.h"

#include <unistd.h>

namespace yg::cache {

FileBody::~FileBody() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

}  // namespace yg::cache
