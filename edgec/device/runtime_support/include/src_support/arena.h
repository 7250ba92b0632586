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
 * \file support/arena.h (installed by the build as <build>/src/support/arena.h)
 * \brief A bump allocator for short-lived, trivially destructible objects.
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * from "src/support/arena.h". It exists because TVM's PyPI wheel ships the runtime sources
 * but not this header; it was written from how src/runtime/rpc/rpc_endpoint.cc uses it:
 * `allocate_<T>(count)` returns uninitialized storage for `count` objects of a trivial type,
 * valid until `RecycleAll()`, which makes all the memory reusable for the next request.
 * (TVM's minrpc also uses a GenericArena/ArenaPageHeader from this header; edgec does not
 * build minrpc, so they are not provided.)
 */
#ifndef TVM_SUPPORT_ARENA_H_
#define TVM_SUPPORT_ARENA_H_

#include <tvm/ffi/error.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

namespace tvm {
namespace support {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  /*!
   * \brief Storage for `count` objects of type T, suitably aligned and uninitialized.
   *  Valid until RecycleAll() or the arena's destruction; never freed individually.
   */
  template <typename T>
  T* allocate_(size_t count) {
    static_assert(std::is_trivially_destructible<T>::value,
                  "Arena never runs destructors; T must be trivially destructible");
    TVM_FFI_ICHECK_LE(count, std::numeric_limits<size_t>::max() / sizeof(T))
        << "Arena: allocation size overflows";
    return static_cast<T*>(Allocate(count * sizeof(T), alignof(T)));
  }

  /*!
   * \brief Make all memory handed out so far reusable. Standard-size pages are kept for
   *  the next round; oversized pages (made for single large requests) are released.
   */
  void RecycleAll() {
    size_t kept = 0;
    for (size_t i = 0; i < pages_.size(); ++i) {
      if (pages_[i].size <= kPageSize) {
        pages_[i].used = 0;
        if (kept != i) pages_[kept] = std::move(pages_[i]);
        ++kept;
      }
    }
    pages_.resize(kept);
    current_ = 0;
  }

 private:
  static constexpr size_t kPageSize = 16 * 1024;

  struct Page {
    std::unique_ptr<char[]> data;
    size_t size{0};
    size_t used{0};
  };

  // Offset at which an allocation of `nbytes` aligned to `align` fits in `page`, or
  // SIZE_MAX if it does not.
  static size_t FitOffset(const Page& page, size_t nbytes, size_t align) {
    uintptr_t base = reinterpret_cast<uintptr_t>(page.data.get());
    uintptr_t at = (base + page.used + align - 1) / align * align;
    size_t offset = static_cast<size_t>(at - base);
    if (offset > page.size || page.size - offset < nbytes) {
      return std::numeric_limits<size_t>::max();
    }
    return offset;
  }

  void* Allocate(size_t nbytes, size_t align) {
    align = std::max(align, alignof(std::max_align_t));
    // Try the current page, then the pages kept from earlier rounds.
    for (; current_ < pages_.size(); ++current_) {
      size_t offset = FitOffset(pages_[current_], nbytes, align);
      if (offset != std::numeric_limits<size_t>::max()) {
        pages_[current_].used = offset + nbytes;
        return pages_[current_].data.get() + offset;
      }
    }
    // New page: standard size, or a dedicated one for a large request.
    Page page;
    page.size = std::max(kPageSize, nbytes + align);
    page.data.reset(new char[page.size]);
    pages_.push_back(std::move(page));
    current_ = pages_.size() - 1;
    size_t offset = FitOffset(pages_[current_], nbytes, align);
    pages_[current_].used = offset + nbytes;
    return pages_[current_].data.get() + offset;
  }

  std::vector<Page> pages_;
  size_t current_{0};
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_ARENA_H_
