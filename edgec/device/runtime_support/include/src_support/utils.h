/*
 * Copyright the edgec authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*!
 * \file support/utils.h (installed by the build as <build>/src/support/utils.h)
 * \brief Small string and environment helpers used by TVM's runtime sources.
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * from "src/support/utils.h". It exists because TVM's PyPI wheel ships the runtime sources
 * but not this header; it was written from how those sources use it. The runtime uses
 * IsNumber (thread_pool.cc) and StartsWith (rpc/rpc_endpoint.cc); the remaining helpers are
 * small conveniences of the same kind.
 */
#ifndef TVM_SUPPORT_UTILS_H_
#define TVM_SUPPORT_UTILS_H_

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tvm {
namespace support {

/*! \brief Whether `str` is a non-empty run of decimal digits. */
inline bool IsNumber(const std::string& str) {
  if (str.empty()) return false;
  for (char c : str) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

/*! \brief Whether `str` begins with `prefix`. */
inline bool StartsWith(std::string_view str, std::string_view prefix) {
  return str.size() >= prefix.size() && str.compare(0, prefix.size(), prefix) == 0;
}
inline bool StartsWith(const std::string& str, const char* prefix) {
  return StartsWith(std::string_view(str), std::string_view(prefix));
}

/*! \brief Whether `str` ends with `suffix`. */
inline bool EndsWith(std::string_view str, std::string_view suffix) {
  return str.size() >= suffix.size() &&
         str.compare(str.size() - suffix.size(), suffix.size(), suffix) == 0;
}
inline bool EndsWith(const std::string& str, const char* suffix) {
  return EndsWith(std::string_view(str), std::string_view(suffix));
}

/*! \brief Split `str` at every occurrence of `delim` (empty pieces are kept). */
inline std::vector<std::string> Split(const std::string& str, char delim) {
  std::vector<std::string> pieces;
  size_t begin = 0;
  while (true) {
    size_t end = str.find(delim, begin);
    if (end == std::string::npos) {
      pieces.push_back(str.substr(begin));
      return pieces;
    }
    pieces.push_back(str.substr(begin, end - begin));
    begin = end + 1;
  }
}

/*!
 * \brief Read an environment variable as a value of type T (std::string, bool or an
 *  integer type), or return `default_value` when it is unset or empty. A bool is true
 *  unless the value is "0", "false" or "False".
 */
template <typename T>
inline T GetEnv(const char* name, T default_value) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return default_value;
  std::string s(value);
  if constexpr (std::is_same<T, std::string>::value) {
    return s;
  } else if constexpr (std::is_same<T, bool>::value) {
    return !(s == "0" || s == "false" || s == "False");
  } else {
    static_assert(std::is_integral<T>::value, "GetEnv supports std::string, bool and integers");
    return static_cast<T>(std::strtoll(value, nullptr, 10));
  }
}

/*! \brief Combine a hash value into a running seed (64-bit golden-ratio mixing). */
inline uint64_t HashCombine(uint64_t seed, uint64_t value) {
  return seed ^ (value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_UTILS_H_
