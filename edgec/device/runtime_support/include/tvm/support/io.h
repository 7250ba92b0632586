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
 * \file tvm/support/io.h
 * \brief The binary stream interface (`tvm::support::Stream`) used by TVM's runtime sources.
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * under this include path. It exists because TVM's PyPI wheel ships the runtime sources
 * but not this header; it was written from how those sources use it.
 *
 * A Stream moves raw bytes through two virtual functions, `Read(void*, size_t)` and
 * `Write(const void*, size_t)`. On top of them, the template members `Write(const T&)`,
 * `Read(T*)`, `WriteArray` and `ReadArray` encode typed values with the matching
 * `tvm::support::Serializer<T>` (see serializer.h, which this header includes at its end, so
 * that including either header gives the whole interface).
 *
 * Derived classes that override the two virtual functions should add
 * `using Stream::Read; using Stream::Write;` to keep the typed helpers visible.
 */
#ifndef TVM_SUPPORT_IO_H_
#define TVM_SUPPORT_IO_H_

#include <cstddef>
#include <cstdint>

namespace tvm {
namespace support {

class Stream;

/*!
 * \brief Binary encoder/decoder of one type; specialized per type in serializer.h
 *  (and by user code such as tvm/runtime/vm/executable.h).
 *
 * A specialization provides `static constexpr bool enabled`,
 * `static void Write(Stream*, const T&)` and `static bool Read(Stream*, T*)`.
 */
template <typename T>
struct Serializer;

namespace detail {
// Array helpers; defined in serializer.h (they bulk-copy plain data types).
template <typename T>
void WriteArray(Stream* strm, const T* data, size_t num_elems);
template <typename T>
bool ReadArray(Stream* strm, T* data, size_t num_elems);
}  // namespace detail

/*! \brief A sequential binary stream. */
class Stream {
 public:
  virtual ~Stream() = default;

  /*!
   * \brief Read up to `size` bytes into `ptr`.
   * \return The number of bytes actually read (less than `size` only at end of stream).
   */
  virtual size_t Read(void* ptr, size_t size) = 0;

  /*!
   * \brief Write `size` bytes from `ptr`.
   * \return The number of bytes written.
   */
  virtual size_t Write(const void* ptr, size_t size) = 0;

  /*! \brief Write one value, encoded by `Serializer<T>`. */
  template <typename T>
  void Write(const T& data) {
    static_assert(Serializer<T>::enabled, "tvm::support::Serializer is not defined for this type");
    Serializer<T>::Write(this, data);
  }

  /*!
   * \brief Read one value, decoded by `Serializer<T>`.
   * \return Whether the value was read completely.
   */
  template <typename T>
  bool Read(T* out) {
    static_assert(Serializer<T>::enabled, "tvm::support::Serializer is not defined for this type");
    return Serializer<T>::Read(this, out);
  }

  /*!
   * \brief Write `num_elems` values stored contiguously at `data`, without a count prefix.
   *  The encoding is the same as writing them one by one.
   */
  template <typename T>
  void WriteArray(const T* data, size_t num_elems) {
    detail::WriteArray<T>(this, data, num_elems);
  }

  /*!
   * \brief Read `num_elems` values into `data` (no count prefix), the inverse of WriteArray.
   * \return Whether all values were read completely.
   */
  template <typename T>
  bool ReadArray(T* data, size_t num_elems) {
    return detail::ReadArray<T>(this, data, num_elems);
  }
};

}  // namespace support
}  // namespace tvm

// The Serializer specializations and the array helpers.
#include <tvm/support/serializer.h>

#endif  // TVM_SUPPORT_IO_H_
