#pragma once
// Expected failures are values (STYLE.md section 4): Result<T> = value or Error.

#include <boost/system/result.hpp>

#include "core/error.h"

namespace yg {

template <class T>
using Result = boost::system::result<T, Error>;

}  // namespace yg
