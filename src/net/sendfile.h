#pragma once
// Zero-copy send of a byte range of a file to a TCP socket (Linux sendfile(2)): the disk
// cache's hits (cache/disk_backend.h hands out a FileBody: descriptor, offset, size). Plain TCP
// only; a TLS stream needs the copy path.
//
// Thread: runs on the socket's executor (one worker). The socket is switched to non-blocking
// mode; when its send buffer is full the coroutine waits for writability, at most
// `write_timeout` per wait (a timeout cancels the wait). sendfile reads the file inside the
// call, so a body that is not in the page cache costs the worker a disk read per chunk.
// sendfile has no MSG_NOSIGNAL: the process must ignore SIGPIPE (app/main.cc does; Asio's
// io_context does not on Linux), else a peer that reset the connection kills it.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>

#include "core/clock.h"

namespace yg::net {

enum class SendfileOutcome {
  Done,         // exactly `len` bytes sent
  WriteFailed,  // the socket failed, or accepted nothing for write_timeout
  ReadFailed,   // the file ended before `len` bytes, or reading it failed (EIO)
};

// Sends bytes [offset, offset + len) of `fd` to `sock`. `moved` counts bytes sent (valid
// whatever the outcome). The file's own offset is not used or changed.
boost::asio::awaitable<SendfileOutcome> sendfile_to(boost::asio::ip::tcp::socket& sock, int fd,
                                                    uint64_t offset, uint64_t len,
                                                    SteadyClock::duration write_timeout,
                                                    uint64_t& moved);

}  // namespace yg::net
