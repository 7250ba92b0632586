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
 * \file support/bytes_io.h (installed by the build as <build>/src/support/bytes_io.h)
 * \brief In-memory streams: BytesInStream reads a byte blob, BytesOutStream appends to a
 *  std::string.
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * from "src/support/bytes_io.h". It exists because TVM's PyPI wheel ships the runtime
 * sources but not this header; it was written from how those sources use it.
 */
#ifndef TVM_SUPPORT_BYTES_IO_H_
#define TVM_SUPPORT_BYTES_IO_H_

#include <tvm/ffi/error.h>
#include <tvm/ffi/string.h>
#include <tvm/support/io.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace tvm {
namespace support {

/*!
 * \brief Reads sequentially from a byte blob held in memory.
 *
 * The stream does not copy the bytes. When built from a std::string (or a pointer and a
 * size), that storage must outlive the stream; when built from an ffi::Bytes or ffi::String,
 * the stream keeps its own reference to it.
 */
class BytesInStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  /*! \brief Read from `size` bytes at `data` (not copied). */
  BytesInStream(const void* data, size_t size)
      : data_(static_cast<const char*>(data)), size_(size) {}
  /*! \brief Read from the bytes of `blob` (not copied; it must outlive the stream). */
  explicit BytesInStream(const std::string& blob) : BytesInStream(blob.data(), blob.size()) {}
  /*! \brief A temporary string would be gone before the stream is read. */
  explicit BytesInStream(std::string&& blob) = delete;
  /*! \brief Read from an ffi::Bytes; the stream holds a reference to it. */
  explicit BytesInStream(const ffi::Bytes& blob) : bytes_holder_(blob) {
    data_ = bytes_holder_.data();
    size_ = bytes_holder_.size();
  }
  /*! \brief Read from an ffi::String; the stream holds a reference to it. */
  explicit BytesInStream(const ffi::String& blob) : string_holder_(blob) {
    data_ = string_holder_.data();
    size_ = string_holder_.size();
  }
  // The data pointer may point into the holders, so the stream stays where it is.
  BytesInStream(const BytesInStream&) = delete;
  BytesInStream& operator=(const BytesInStream&) = delete;

  size_t Read(void* ptr, size_t size) final {
    size_t n = std::min(size, size_ - pos_);
    if (n != 0) std::memcpy(ptr, data_ + pos_, n);
    pos_ += n;
    return n;
  }

  size_t Write(const void* /*ptr*/, size_t /*size*/) final {
    TVM_FFI_THROW(InternalError) << "BytesInStream is read-only";
    return 0;
  }

  /*! \return The number of bytes consumed so far. */
  size_t Tell() const { return pos_; }
  /*! \return Whether every byte has been consumed. */
  bool AtEnd() const { return pos_ == size_; }

 private:
  ffi::Bytes bytes_holder_;
  ffi::String string_holder_;
  const char* data_{nullptr};
  size_t size_{0};
  size_t pos_{0};
};

/*! \brief Appends everything written to a std::string owned by the caller. */
class BytesOutStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  /*! \param out The string to append to; it must outlive the stream. */
  explicit BytesOutStream(std::string* out) : out_(out) {}

  size_t Write(const void* ptr, size_t size) final {
    if (size != 0) out_->append(static_cast<const char*>(ptr), size);
    return size;
  }

  size_t Read(void* /*ptr*/, size_t /*size*/) final {
    TVM_FFI_THROW(InternalError) << "BytesOutStream is write-only";
    return 0;
  }

 private:
  std::string* out_;
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_BYTES_IO_H_
