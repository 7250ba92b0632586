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
 * \file tvm/support/serializer.h
 * \brief `tvm::support::Serializer<T>`: the binary encoding of values written to a Stream.
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * under this include path. It exists because TVM's PyPI wheel ships the runtime sources
 * but not this header; it was written from how those sources use it.
 *
 * The encoding must match, byte for byte, what TVM writes on a 64-bit little-endian host,
 * because artifacts compiled on x86-64 are loaded by 32-bit runtimes:
 *
 *  - Plain data (arithmetic types, enums, DLDataType, DLDevice): their little-endian bytes,
 *    i.e. `sizeof(T)` bytes (an enum is the bytes of its underlying integer type).
 *  - Every length or count prefix is a `uint64_t`, never `size_t` (4 bytes on 32-bit ARM).
 *  - std::string, ffi::String, ffi::Bytes: uint64 length, then the bytes.
 *  - std::vector<T>, ffi::Array<T>: uint64 count, then the elements (for plain data, their
 *    bytes back to back; otherwise each element encoded by its own Serializer).
 *  - std::pair<A, B>: A, then B.
 *  - std::map, std::unordered_map, ffi::Map: uint64 count, then key and value of each entry
 *    (in iteration order).
 *
 * Other types (for example structs that merely happen to be trivially copyable) are
 * deliberately not encoded as raw bytes: their `enabled` is false, and writing them fails to
 * compile until someone adds a specialization that spells out their layout.
 */
#ifndef TVM_SUPPORT_SERIALIZER_H_
#define TVM_SUPPORT_SERIALIZER_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/endian.h>
#include <tvm/ffi/string.h>
#include <tvm/support/io.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tvm {
namespace support {
namespace detail {

/*!
 * \brief Whether T is encoded as its own bytes (in little-endian order).
 *
 * `long double` is excluded because its size differs between platforms; `long` would be
 * too, but on the platforms we target it is only ever reached through the fixed-width
 * typedefs used by the writers.
 */
template <typename T>
struct IsPlainData
    : std::integral_constant<bool, (std::is_arithmetic<T>::value || std::is_enum<T>::value) &&
                                       !std::is_same<T, long double>::value> {};
template <>
struct IsPlainData<DLDataType> : std::true_type {};
template <>
struct IsPlainData<DLDevice> : std::true_type {};

static_assert(sizeof(DLDataType) == 4, "DLDataType must be 4 bytes to match the wire format");
static_assert(sizeof(DLDevice) == 8, "DLDevice must be 8 bytes to match the wire format");

/*!
 * \brief Convert `n` plain values in place between host order and the (little-endian) wire
 *  order. A no-op on little-endian hosts; the conversion is its own inverse.
 */
template <typename T>
inline void SwapWireOrder(T* data, size_t n) {
  if constexpr (!TVM_FFI_IO_NO_ENDIAN_SWAP) {
    if constexpr (std::is_same<T, DLDataType>::value) {
      for (size_t i = 0; i < n; ++i) ffi::ByteSwap(&data[i].lanes, sizeof(data[i].lanes), 1);
    } else if constexpr (std::is_same<T, DLDevice>::value) {
      for (size_t i = 0; i < n; ++i) {
        ffi::ByteSwap(&data[i].device_type, sizeof(data[i].device_type), 1);
        ffi::ByteSwap(&data[i].device_id, sizeof(data[i].device_id), 1);
      }
    } else {
      ffi::ByteSwap(data, sizeof(T), n);
    }
  } else {
    (void)data;
    (void)n;
  }
}

/*! \brief Write plain values as their wire bytes. */
template <typename T>
inline void WritePlain(Stream* strm, const T* data, size_t n) {
  if constexpr (TVM_FFI_IO_NO_ENDIAN_SWAP) {
    if (n != 0) strm->Write(static_cast<const void*>(data), n * sizeof(T));
  } else {
    for (size_t i = 0; i < n; ++i) {
      T tmp = data[i];
      SwapWireOrder(&tmp, 1);
      strm->Write(static_cast<const void*>(&tmp), sizeof(T));
    }
  }
}

/*! \brief Read plain values from their wire bytes; false on a short read. */
template <typename T>
inline bool ReadPlain(Stream* strm, T* data, size_t n) {
  if (n == 0) return true;
  if (n > std::numeric_limits<size_t>::max() / sizeof(T)) return false;
  size_t nbytes = n * sizeof(T);
  if (strm->Read(static_cast<void*>(data), nbytes) != nbytes) return false;
  SwapWireOrder(data, n);
  return true;
}

/*! \brief Write a length/count prefix: always a uint64_t. */
inline void WriteCount(Stream* strm, size_t count) {
  uint64_t wire = static_cast<uint64_t>(count);
  WritePlain(strm, &wire, 1);
}

/*!
 * \brief Read a length/count prefix; false on a short read or when the count does not fit
 *  in this platform's size_t.
 */
inline bool ReadCount(Stream* strm, size_t* count) {
  uint64_t wire;
  if (!ReadPlain(strm, &wire, 1)) return false;
  if (wire > static_cast<uint64_t>(std::numeric_limits<size_t>::max())) return false;
  *count = static_cast<size_t>(wire);
  return true;
}

/*! \brief Read `len` bytes into a std::string. */
inline bool ReadBytes(Stream* strm, size_t len, std::string* out) {
  out->resize(len);
  if (len == 0) return true;
  return strm->Read(&(*out)[0], len) == len;
}

// Definitions of the helpers declared in io.h.
template <typename T>
void WriteArray(Stream* strm, const T* data, size_t num_elems) {
  if constexpr (IsPlainData<T>::value) {
    WritePlain(strm, data, num_elems);
  } else {
    for (size_t i = 0; i < num_elems; ++i) Serializer<T>::Write(strm, data[i]);
  }
}

template <typename T>
bool ReadArray(Stream* strm, T* data, size_t num_elems) {
  if constexpr (IsPlainData<T>::value) {
    return ReadPlain(strm, data, num_elems);
  } else {
    for (size_t i = 0; i < num_elems; ++i) {
      if (!Serializer<T>::Read(strm, &data[i])) return false;
    }
    return true;
  }
}

/*! \brief Shared encoding of associative containers: count, then key/value pairs. */
template <typename MapType, typename K, typename V>
struct MapSerializer {
  static constexpr bool enabled = Serializer<K>::enabled && Serializer<V>::enabled;
  static void Write(Stream* strm, const MapType& data) {
    WriteCount(strm, data.size());
    for (const auto& kv : data) {
      Serializer<K>::Write(strm, kv.first);
      Serializer<V>::Write(strm, kv.second);
    }
  }
  static bool Read(Stream* strm, MapType* data) {
    size_t count;
    if (!ReadCount(strm, &count)) return false;
    MapType result;
    for (size_t i = 0; i < count; ++i) {
      K key;
      V value;
      if (!Serializer<K>::Read(strm, &key)) return false;
      if (!Serializer<V>::Read(strm, &value)) return false;
      result[std::move(key)] = std::move(value);
    }
    *data = std::move(result);
    return true;
  }
};

}  // namespace detail

/*!
 * \brief Primary template: plain data (arithmetic, enum, DLDataType, DLDevice) as raw
 *  little-endian bytes; every other type is disabled unless specialized.
 */
template <typename T>
struct Serializer {
  static constexpr bool enabled = detail::IsPlainData<T>::value;
  static void Write(Stream* strm, const T& data) {
    static_assert(enabled, "tvm::support::Serializer is not defined for this type");
    detail::WritePlain(strm, &data, 1);
  }
  static bool Read(Stream* strm, T* data) {
    static_assert(enabled, "tvm::support::Serializer is not defined for this type");
    return detail::ReadPlain(strm, data, 1);
  }
};

/*! \brief std::string: uint64 length, then the bytes. */
template <>
struct Serializer<std::string> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const std::string& data) {
    detail::WriteCount(strm, data.size());
    if (!data.empty()) strm->Write(data.data(), data.size());
  }
  static bool Read(Stream* strm, std::string* data) {
    size_t len;
    if (!detail::ReadCount(strm, &len)) return false;
    return detail::ReadBytes(strm, len, data);
  }
};

/*! \brief std::vector<T>: uint64 count, then the elements. */
template <typename T, typename Alloc>
struct Serializer<std::vector<T, Alloc>> {
  static constexpr bool enabled = Serializer<T>::enabled;
  // std::vector<bool> is not contiguous, so it takes the element-by-element path.
  static constexpr bool kBulk = detail::IsPlainData<T>::value && !std::is_same<T, bool>::value;

  static void Write(Stream* strm, const std::vector<T, Alloc>& data) {
    detail::WriteCount(strm, data.size());
    if constexpr (kBulk) {
      detail::WritePlain(strm, data.data(), data.size());
    } else {
      for (const auto& elem : data) Serializer<T>::Write(strm, elem);
    }
  }
  static bool Read(Stream* strm, std::vector<T, Alloc>* data) {
    size_t count;
    if (!detail::ReadCount(strm, &count)) return false;
    if constexpr (kBulk) {
      if (count > std::numeric_limits<size_t>::max() / sizeof(T)) return false;
      data->resize(count);
      return detail::ReadPlain(strm, data->data(), count);
    } else {
      data->clear();
      for (size_t i = 0; i < count; ++i) {
        T elem;
        if (!Serializer<T>::Read(strm, &elem)) return false;
        data->push_back(std::move(elem));
      }
      return true;
    }
  }
};

/*! \brief std::pair<A, B>: first, then second. */
template <typename A, typename B>
struct Serializer<std::pair<A, B>> {
  static constexpr bool enabled = Serializer<A>::enabled && Serializer<B>::enabled;
  static void Write(Stream* strm, const std::pair<A, B>& data) {
    Serializer<A>::Write(strm, data.first);
    Serializer<B>::Write(strm, data.second);
  }
  static bool Read(Stream* strm, std::pair<A, B>* data) {
    return Serializer<A>::Read(strm, &data->first) && Serializer<B>::Read(strm, &data->second);
  }
};

/*! \brief std::map: uint64 count, then (key, value) of each entry. */
template <typename K, typename V, typename Cmp, typename Alloc>
struct Serializer<std::map<K, V, Cmp, Alloc>>
    : public detail::MapSerializer<std::map<K, V, Cmp, Alloc>, K, V> {};

/*! \brief std::unordered_map: uint64 count, then (key, value) of each entry. */
template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
struct Serializer<std::unordered_map<K, V, Hash, Eq, Alloc>>
    : public detail::MapSerializer<std::unordered_map<K, V, Hash, Eq, Alloc>, K, V> {};

/*! \brief ffi::String: same encoding as std::string. */
template <>
struct Serializer<ffi::String> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const ffi::String& data) {
    detail::WriteCount(strm, data.size());
    if (data.size() != 0) strm->Write(data.data(), data.size());
  }
  static bool Read(Stream* strm, ffi::String* data) {
    std::string tmp;
    if (!Serializer<std::string>::Read(strm, &tmp)) return false;
    *data = ffi::String(std::move(tmp));
    return true;
  }
};

/*! \brief ffi::Bytes: same encoding as std::string. */
template <>
struct Serializer<ffi::Bytes> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const ffi::Bytes& data) {
    detail::WriteCount(strm, data.size());
    if (data.size() != 0) strm->Write(data.data(), data.size());
  }
  static bool Read(Stream* strm, ffi::Bytes* data) {
    std::string tmp;
    if (!Serializer<std::string>::Read(strm, &tmp)) return false;
    *data = ffi::Bytes(std::move(tmp));
    return true;
  }
};

/*! \brief ffi::Array<T>: uint64 count, then each element. */
template <typename T>
struct Serializer<ffi::Array<T>> {
  static constexpr bool enabled = Serializer<T>::enabled;
  static void Write(Stream* strm, const ffi::Array<T>& data) {
    detail::WriteCount(strm, data.size());
    for (size_t i = 0; i < data.size(); ++i) {
      T elem = data[i];
      Serializer<T>::Write(strm, elem);
    }
  }
  static bool Read(Stream* strm, ffi::Array<T>* data) {
    size_t count;
    if (!detail::ReadCount(strm, &count)) return false;
    ffi::Array<T> result;
    for (size_t i = 0; i < count; ++i) {
      T elem;
      if (!Serializer<T>::Read(strm, &elem)) return false;
      result.push_back(std::move(elem));
    }
    *data = std::move(result);
    return true;
  }
};

/*! \brief ffi::Map<K, V>: uint64 count, then (key, value) of each entry. */
template <typename K, typename V>
struct Serializer<ffi::Map<K, V>> {
  static constexpr bool enabled = Serializer<K>::enabled && Serializer<V>::enabled;
  static void Write(Stream* strm, const ffi::Map<K, V>& data) {
    detail::WriteCount(strm, data.size());
    for (const auto& kv : data) {
      Serializer<K>::Write(strm, kv.first);
      Serializer<V>::Write(strm, kv.second);
    }
  }
  static bool Read(Stream* strm, ffi::Map<K, V>* data) {
    size_t count;
    if (!detail::ReadCount(strm, &count)) return false;
    ffi::Map<K, V> result;
    for (size_t i = 0; i < count; ++i) {
      K key;
      V value;
      if (!Serializer<K>::Read(strm, &key)) return false;
      if (!Serializer<V>::Read(strm, &value)) return false;
      result.Set(std::move(key), std::move(value));
    }
    *data = std::move(result);
    return true;
  }
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_SERIALIZER_H_
