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
 * \file support/ring_buffer.h (installed by the build as <build>/src/support/ring_buffer.h)
 * \brief A growable FIFO byte queue, used by the RPC endpoint for its socket buffers.
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * from "src/support/ring_buffer.h". It exists because TVM's PyPI wheel ships the runtime
 * sources but not this header; it was written from how src/runtime/rpc/rpc_endpoint.{h,cc}
 * use it:
 *
 *  - Write(data, n) appends n bytes; Read(data, n) removes the n oldest bytes (n must not
 *    exceed bytes_available()).
 *  - ReadWithCallback(fsend, max) hands the oldest bytes (one contiguous piece of at most
 *    `max` bytes) to `size_t fsend(const void* data, size_t size)`, which returns how many it
 *    actually sent; those are removed and the count is returned.
 *  - WriteWithCallback(frecv, max) hands free space (one contiguous piece of at most `max`
 *    bytes, growing the buffer if needed) to `size_t frecv(void* data, size_t size)`, which
 *    returns how many bytes it stored there (0 meaning the peer closed); those become
 *    readable and the count is returned.
 *  - Reserve(n) makes room for at least n bytes in total.
 */
#ifndef TVM_SUPPORT_RING_BUFFER_H_
#define TVM_SUPPORT_RING_BUFFER_H_

#include <tvm/ffi/error.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace tvm {
namespace support {

class RingBuffer {
 public:
  RingBuffer() : ring_(kInitialCapacity) {}

  /*! \return The number of bytes stored and not yet read. */
  size_t bytes_available() const { return size_; }

  /*! \return The current capacity in bytes. */
  size_t capacity() const { return ring_.size(); }

  /*!
   * \brief Make sure the buffer can hold at least `n` bytes in total. When the buffer has
   *  grown far beyond what is requested and holds little, it is shrunk back.
   */
  void Reserve(size_t n) {
    if (n > ring_.size()) {
      Reallocate(std::max(n, ring_.size() * 2));
    } else if (ring_.size() > kShrinkThreshold && n < ring_.size() / 4 && size_ <= n) {
      Reallocate(std::max(n * 2, static_cast<size_t>(kInitialCapacity)));
    }
  }

  /*! \brief Remove the `size` oldest bytes, copying them to `data`. */
  void Read(void* data, size_t size) {
    TVM_FFI_ICHECK_LE(size, size_) << "RingBuffer: reading more bytes than available";
    char* out = static_cast<char*>(data);
    while (size != 0) {
      size_t chunk = std::min(size, ContiguousReadable());
      std::memcpy(out, &ring_[head_], chunk);
      Consume(chunk);
      out += chunk;
      size -= chunk;
    }
  }

  /*! \brief Append `size` bytes from `data`, growing the buffer as needed. */
  void Write(const void* data, size_t size) {
    Reserve(size_ + size);
    const char* in = static_cast<const char*>(data);
    while (size != 0) {
      size_t chunk = std::min(size, ContiguousWritable());
      std::memcpy(&ring_[Tail()], in, chunk);
      size_ += chunk;
      in += chunk;
      size -= chunk;
    }
  }

  /*!
   * \brief Pass up to `max_nbytes` of the oldest bytes to `fsend(const void*, size_t)`, then
   *  remove as many as it reports sent.
   * \return The number of bytes sent (and removed).
   */
  template <typename FSend>
  size_t ReadWithCallback(FSend fsend, size_t max_nbytes) {
    size_t n = std::min(max_nbytes, ContiguousReadable());
    if (n == 0) return 0;
    size_t sent = fsend(static_cast<const void*>(&ring_[head_]), n);
    TVM_FFI_ICHECK_LE(sent, n) << "RingBuffer: callback reports more bytes than given";
    Consume(sent);
    return sent;
  }

  /*!
   * \brief Offer free space for up to `max_nbytes` bytes to `frecv(void*, size_t)`, then
   *  keep as many bytes as it reports received.
   * \return The number of bytes received (and now readable).
   */
  template <typename FRecv>
  size_t WriteWithCallback(FRecv frecv, size_t max_nbytes) {
    if (max_nbytes == 0) return 0;
    Reserve(size_ + max_nbytes);
    size_t n = std::min(max_nbytes, ContiguousWritable());
    size_t got = frecv(static_cast<void*>(&ring_[Tail()]), n);
    TVM_FFI_ICHECK_LE(got, n) << "RingBuffer: callback reports more bytes than given";
    size_ += got;
    return got;
  }

 private:
  static constexpr size_t kInitialCapacity = 1024;
  static constexpr size_t kShrinkThreshold = 1 << 20;

  // Position one past the newest byte (where the next byte goes).
  size_t Tail() const {
    size_t t = head_ + size_;
    return t >= ring_.size() ? t - ring_.size() : t;
  }
  // Stored bytes from head_ that are contiguous in memory.
  size_t ContiguousReadable() const { return std::min(size_, ring_.size() - head_); }
  // Free bytes from Tail() that are contiguous in memory.
  size_t ContiguousWritable() const {
    size_t tail = Tail();
    size_t free_total = ring_.size() - size_;
    return std::min(free_total, ring_.size() - tail);
  }
  void Consume(size_t n) {
    head_ += n;
    if (head_ >= ring_.size()) head_ -= ring_.size();
    size_ -= n;
    if (size_ == 0) head_ = 0;  // keep free space contiguous when empty
  }
  // Move the stored bytes to the start of a new buffer of `new_capacity` bytes.
  void Reallocate(size_t new_capacity) {
    std::vector<char> next(new_capacity);
    size_t first = ContiguousReadable();
    if (first != 0) std::memcpy(next.data(), &ring_[head_], first);
    if (size_ > first) std::memcpy(next.data() + first, ring_.data(), size_ - first);
    ring_.swap(next);
    head_ = 0;
  }

  std::vector<char> ring_;
  size_t head_{0};
  size_t size_{0};
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_RING_BUFFER_H_
