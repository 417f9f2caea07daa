#pragma once
// Request ids (FEATURES.md HTTP-4): the client's X-Request-ID when it is sane, else a new one.

#include <cstddef>
#include <string>
#include <string_view>

namespace yg::obs {

// Sane = 1..128 chars of [A-Za-z0-9._:-]. Anything else is replaced, never echoed.
bool is_sane_request_id(std::string_view id) noexcept;

// Fills `n` bytes from a per-thread generator seeded with 256 bits from the OS (request, trace
// and span ids: unique enough to correlate, not secrets).
void random_bytes(unsigned char* out, std::size_t n);

// 32 lowercase hex chars from a per-thread generator seeded from the OS. Not a secret; unique
// enough to correlate logs. Thread-safe (thread-local state).
std::string new_request_id();

// The client's id if sane, else a new one.
std::string request_id_for(std::string_view client_value);

}  // namespace yg::obs
