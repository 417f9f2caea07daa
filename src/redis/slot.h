#pragma once
// Redis Cluster key -> hash slot (cluster spec, "Key distribution model" and "Hash tags"):
// HASH_SLOT = CRC16(key) mod 16384, where CRC16 is CRC-16/XMODEM, and only the part between
// the first '{' and the next '}' is hashed when that part is non-empty. Pure functions.

#include <cstdint>
#include <string_view>

namespace yg::redis {

inline constexpr uint16_t kSlots = 16384;

// CRC-16/XMODEM (poly 0x1021, init 0, no reflection): crc16("123456789") == 0x31C3.
uint16_t crc16(std::string_view data) noexcept;

// The hash slot of `key`, honouring {hash tags}.
uint16_t key_slot(std::string_view key) noexcept;

}  // namespace yg::redis
