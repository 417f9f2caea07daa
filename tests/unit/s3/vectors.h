#pragma once
// Helpers shared by the s3 tests: reading vector files and building fixed instants.

#include <chrono>
#include <string>
#include <vector>

#include "core/clock.h"
#include "s3/sigv4.h"

namespace yg::s3::test {

// Whole file as bytes; empty string if it does not exist.
std::string read_file(const std::string& path);
// The same, without trailing CR/LF: vector texts end without a newline, and an editor adding one
// must not change what is compared.
std::string read_vector(const std::string& path);
bool file_exists(const std::string& path);
std::string vectors_dir();  // YG_TEST_VECTORS_DIR + "/sigv4"

// UTC instant from calendar fields.
SysTime utc(int y, unsigned mon, unsigned d, int h = 0, int min = 0, int s = 0);

// "a-b-c" -> "ABC" style names for parameterised tests (GoogleTest names are alphanumeric).
std::string camel(const std::string& s);

// Splits "a=b&c=d" (no decoding) into pairs.
HeaderList split_query(const std::string& q);

}  // namespace yg::s3::test
