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
 * \file support/base64.h (installed by the build as <build>/src/support/base64.h)
 * \brief Streams that encode to / decode from standard base64 (RFC 4648 alphabet, '='
 *  padding) on top of another Stream.
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * from "src/support/base64.h". It exists because TVM's PyPI wheel ships the runtime
 * sources but not this header; it was written from how those sources use it
 * (src/runtime/tensor.cc stores tensors inside JSON as base64 text).
 */
#ifndef TVM_SUPPORT_BASE64_H_
#define TVM_SUPPORT_BASE64_H_

#include <tvm/ffi/error.h>
#include <tvm/support/io.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace tvm {
namespace support {
namespace base64 {

/*! \brief The RFC 4648 alphabet. */
inline const char* EncodeTable() {
  return "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

/*! \brief Value of one alphabet character, or -1 if it is not one. */
inline int DecodeChar(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/*! \brief Whether the character is white space, which the decoder skips. */
inline bool IsSpace(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

}  // namespace base64

/*!
 * \brief Encodes everything written to it as base64 text and writes the text to another
 *  stream. Call Finish() after the last Write to emit the final group and its padding.
 */
class Base64OutStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  /*! \param out The stream that receives the text; it must outlive this one. */
  explicit Base64OutStream(Stream* out) : out_(out) {}

  size_t Write(const void* ptr, size_t size) final {
    const unsigned char* in = static_cast<const unsigned char*>(ptr);
    for (size_t i = 0; i < size; ++i) {
      group_[group_len_++] = in[i];
      if (group_len_ == 3) {
        EmitGroup();
        if (text_.size() >= kFlushSize) FlushText();
      }
    }
    return size;
  }

  size_t Read(void* /*ptr*/, size_t /*size*/) final {
    TVM_FFI_THROW(InternalError) << "Base64OutStream is write-only";
    return 0;
  }

  /*! \brief Encode the remaining 1 or 2 bytes (with '=' padding) and flush all text. */
  void Finish() {
    if (group_len_ != 0) EmitGroup();
    FlushText();
  }

 private:
  static constexpr size_t kFlushSize = 4096;

  // Encode group_[0, group_len_) as 4 characters, padding with '=' when group_len_ < 3.
  void EmitGroup() {
    const char* table = base64::EncodeTable();
    uint32_t bits = static_cast<uint32_t>(group_[0]) << 16;
    if (group_len_ > 1) bits |= static_cast<uint32_t>(group_[1]) << 8;
    if (group_len_ > 2) bits |= static_cast<uint32_t>(group_[2]);
    text_.push_back(table[(bits >> 18) & 63]);
    text_.push_back(table[(bits >> 12) & 63]);
    text_.push_back(group_len_ > 1 ? table[(bits >> 6) & 63] : '=');
    text_.push_back(group_len_ > 2 ? table[bits & 63] : '=');
    group_len_ = 0;
  }

  void FlushText() {
    if (!text_.empty()) out_->Write(text_.data(), text_.size());
    text_.clear();
  }

  Stream* out_;
  unsigned char group_[3] = {0, 0, 0};
  size_t group_len_{0};
  std::string text_;
};

/*!
 * \brief Decodes base64 text read from another stream. White space in the text is skipped;
 *  decoding stops at the first '=' or at the end of the underlying stream.
 *
 * The underlying stream is read in chunks, so it may be consumed beyond the end of the
 * base64 text; use this class when the text runs to the end of that stream.
 */
class Base64InStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  /*! \param in The stream that supplies the text; it must outlive this one. */
  explicit Base64InStream(Stream* in) : in_(in) {}

  /*!
   * \brief Prepare for reading: skip white space before the first base64 character. Call
   *  once, before the first Read.
   */
  void InitPosition() {
    char c;
    while (PeekChar(&c) && base64::IsSpace(c)) ++buf_pos_;
  }

  size_t Read(void* ptr, size_t size) final {
    unsigned char* out = static_cast<unsigned char*>(ptr);
    size_t n = 0;
    while (n < size) {
      if (decoded_pos_ == decoded_len_ && !DecodeGroup()) break;
      while (n < size && decoded_pos_ < decoded_len_) out[n++] = decoded_[decoded_pos_++];
    }
    return n;
  }

  size_t Write(const void* /*ptr*/, size_t /*size*/) final {
    TVM_FFI_THROW(InternalError) << "Base64InStream is read-only";
    return 0;
  }

 private:
  static constexpr size_t kChunkSize = 4096;

  // Look at the next text character without consuming it; false at end of input.
  bool PeekChar(char* c) {
    if (buf_pos_ == buf_.size()) {
      buf_.resize(kChunkSize);
      size_t got = in_->Read(&buf_[0], kChunkSize);
      buf_.resize(got);
      buf_pos_ = 0;
      if (got == 0) return false;
    }
    *c = buf_[buf_pos_];
    return true;
  }

  // Next non-space character, consumed; false at end of input.
  bool NextChar(char* c) {
    while (PeekChar(c)) {
      ++buf_pos_;
      if (!base64::IsSpace(*c)) return true;
    }
    return false;
  }

  // Decode the next group of up to 4 characters into decoded_; false when no byte is left.
  bool DecodeGroup() {
    decoded_pos_ = decoded_len_ = 0;
    if (finished_) return false;
    int vals[4];
    int count = 0;
    char c;
    while (count < 4 && NextChar(&c)) {
      if (c == '=') {
        finished_ = true;
        break;
      }
      int v = base64::DecodeChar(c);
      TVM_FFI_ICHECK(v >= 0) << "Base64InStream: invalid base64 character '" << c << "'";
      vals[count++] = v;
    }
    if (count < 4) finished_ = true;
    TVM_FFI_ICHECK(count != 1) << "Base64InStream: truncated base64 group";
    if (count == 0) return false;
    uint32_t bits = 0;
    for (int i = 0; i < count; ++i) bits |= static_cast<uint32_t>(vals[i]) << (18 - 6 * i);
    decoded_[0] = static_cast<unsigned char>((bits >> 16) & 0xFF);
    decoded_[1] = static_cast<unsigned char>((bits >> 8) & 0xFF);
    decoded_[2] = static_cast<unsigned char>(bits & 0xFF);
    decoded_len_ = static_cast<size_t>(count - 1);  // 2 chars -> 1 byte, 3 -> 2, 4 -> 3
    return true;
  }

  Stream* in_;
  std::string buf_;
  size_t buf_pos_{0};
  unsigned char decoded_[3] = {0, 0, 0};
  size_t decoded_len_{0};
  size_t decoded_pos_{0};
  bool finished_{false};
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_BASE64_H_
